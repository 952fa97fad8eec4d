package web

import (
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestOfferLimiter: a burst of perSecond offers passes, the next is refused
// with the wait until a token returns, other addresses are not affected,
// and idle addresses are forgotten.
func TestOfferLimiter(t *testing.T) {
	l := newOfferLimiter(2, slog.New(slog.DiscardHandler))
	t0 := time.Unix(1000, 0)
	for i := range 2 {
		if ok, _ := l.allow("10.0.0.1", "cam", t0); !ok {
			t.Fatalf("offer %d of the burst refused", i)
		}
	}
	ok, wait := l.allow("10.0.0.1", "cam", t0)
	if ok || wait != 500*time.Millisecond {
		t.Fatalf("third offer: ok %v wait %v, want refused for 500ms", ok, wait)
	}
	if ok, _ := l.allow("10.0.0.2", "cam", t0); !ok {
		t.Fatal("another address was refused")
	}
	if ok, _ := l.allow("10.0.0.1", "cam", t0.Add(500*time.Millisecond)); !ok {
		t.Fatal("refused after a token returned")
	}
	l.allow("10.0.0.3", "cam", t0.Add(2*offerIdle))
	if n := len(l.buckets); n != 1 {
		t.Fatalf("%d buckets kept after the others went idle, want 1", n)
	}
}

// TestAPIBodyTooLarge: a path body over 64 KiB gets 413, like every other
// request body over its limit.
func TestAPIBodyTooLarge(t *testing.T) {
	h := newAPIServer(t, testAPIPaths(), nil, nil).Handler()
	big := `{"source":"publisher","x":"` + strings.Repeat("a", maxPathBody) + `"}`
	for _, m := range []string{http.MethodPost, http.MethodPatch} {
		rec := doBody(t, h, m, "/api/v1/paths/cam9", big)
		if rec.Code != http.StatusRequestEntityTooLarge {
			t.Errorf("%s with a %d-byte body: %d %s", m, len(big), rec.Code, rec.Body.String())
		}
	}
}
