package web

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// get fetches url with a bounded context and returns status and body.
func get(t *testing.T, url string) (int, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	require.NoError(t, err)
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	res, err := client.Do(req)
	require.NoError(t, err)
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	require.NoError(t, err)
	return res.StatusCode, string(body)
}

func TestStartServeClose(t *testing.T) {
	s, h := newTestServer(t)
	s.Address = "127.0.0.1:0"
	assert.Nil(t, s.Addr())
	require.NoError(t, s.Start())
	defer s.Close()
	base := "http://" + s.Addr().String()

	status, body := get(t, base+"/healthz")
	assert.Equal(t, http.StatusOK, status)
	assert.Equal(t, "ok", body)
	status, _ = get(t, base+"/readyz")
	assert.Equal(t, http.StatusOK, status)
	status, body = get(t, base+"/site/door/index.m3u8")
	assert.Equal(t, http.StatusOK, status)
	assert.Equal(t, "#EXTM3U\n", body)
	assert.Equal(t, []hlsCall{{"site/door", "index.m3u8"}}, h.Calls())

	require.ErrorContains(t, s.Start(), "already started")
	s.Close()
	assert.Equal(t, http.StatusServiceUnavailable, do(t, s.Handler(), http.MethodGet, "/readyz").Code)
	_, err := net.DialTimeout("tcp", s.Addr().String(), time.Second)
	assert.Error(t, err, "listener closed")
}

func TestCloseIdempotent(t *testing.T) {
	s := &Server{Address: "127.0.0.1:0"}
	require.NoError(t, s.Start())
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s.Close()
		}()
	}
	wg.Wait()
	s.Close()
	require.ErrorContains(t, s.Start(), "closed")
}

func TestCloseBeforeStart(t *testing.T) {
	s := &Server{Address: "127.0.0.1:0"}
	s.Close()
	s.Close()
	require.Error(t, s.Start())
	assert.Nil(t, s.Addr())
}

func TestStartAddressInUse(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	s := &Server{Address: ln.Addr().String()}
	err = s.Start()
	require.Error(t, err)
	assert.Contains(t, err.Error(), ln.Addr().String())
	s.Close()
}

// blockingHLS holds a playlist request open until its context ends, like an
// LL-HLS blocking reload.
type blockingHLS struct {
	entered chan struct{}
	ended   chan error
}

func (b *blockingHLS) ServeHLS(w http.ResponseWriter, r *http.Request, path, file string) {
	close(b.entered)
	<-r.Context().Done()
	b.ended <- r.Context().Err()
}

func TestCloseWakesBlockingRequests(t *testing.T) {
	b := &blockingHLS{entered: make(chan struct{}), ended: make(chan error, 1)}
	s := &Server{Address: "127.0.0.1:0", HLS: b}
	require.NoError(t, s.Start())
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()

	clientDone := make(chan error, 1)
	go func() {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+s.Addr().String()+"/cam1/index.m3u8?_HLS_msn=9", nil)
		if err != nil {
			clientDone <- err
			return
		}
		client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
		res, err := client.Do(req)
		if err == nil {
			_, _ = io.Copy(io.Discard, res.Body)
			res.Body.Close()
		}
		clientDone <- err
	}()
	select {
	case <-b.entered:
	case <-ctx.Done():
		t.Fatal("request never reached HLS")
	}

	start := time.Now()
	s.Close()
	assert.Less(t, time.Since(start), shutdownTimeout, "Close did not wait for the shutdown timeout")
	select {
	case err := <-b.ended:
		assert.True(t, errors.Is(err, context.Canceled), "handler saw %v", err)
	case <-ctx.Done():
		t.Fatal("handler not woken")
	}
	select {
	case <-clientDone:
	case <-ctx.Done():
		t.Fatal("client never finished")
	}
}
