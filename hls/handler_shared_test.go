package hls

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestSharedBlockingReload checks that viewers waiting on the same blocking
// reload share one gohlslib answer, and that the first of them leaving does
// not take the answer away from the others.
func TestSharedBlockingReload(t *testing.T) {
	h := newTestHub(t)
	s := newTestServer(t, h, Settings{Variant: VariantLowLatency})
	src := publishClip(t, h, "cam", clips.Get(t, clipFPS))
	src.live(3 * time.Second)
	url := "/cam/video1_stream.m3u8"
	pl := primedPlaylist(t, s, url)
	next := url + "?_HLS_msn=" + strconv.Itoa(pl.MediaSequence+len(pl.Segments)+1)

	s.mu.Lock()
	m := s.muxers["cam"]
	s.mu.Unlock()
	require.NotNil(t, m)
	waiting := func() int {
		m.callsMu.Lock()
		defer m.callsMu.Unlock()
		return len(m.calls)
	}

	// The first viewer, which leaves before the answer.
	firstCtx, leave := context.WithCancel(context.Background())
	firstDone := make(chan int, 1)
	go func() {
		rec := httptest.NewRecorder()
		mux(s).ServeHTTP(rec, httptest.NewRequestWithContext(firstCtx, http.MethodGet, next, nil))
		firstDone <- rec.Code
	}()
	eventually(t, "the first request waiting", func() bool { return waiting() == 1 })

	const viewers = 20
	bodies := make([]string, viewers)
	codes := make([]int, viewers)
	var wg sync.WaitGroup
	for i := range viewers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rec := get(t, s, next)
			codes[i], bodies[i] = rec.Code, rec.Body.String()
		}()
	}
	leave()
	select {
	case <-firstDone:
	case <-time.After(testDeadline):
		t.Fatal("the request whose client left did not return")
	}
	require.LessOrEqual(t, waiting(), 1, "identical requests share one call")
	wg.Wait()
	for i := range viewers {
		require.Equal(t, http.StatusOK, codes[i], bodies[i])
		require.Equal(t, bodies[0], bodies[i], "viewer %d got another answer", i)
	}
	require.Contains(t, bodies[0], "#EXTM3U")
	eventually(t, "the call to end", func() bool { return waiting() == 0 })
}

func TestDoneCacheKeepsTheLast(t *testing.T) {
	var c doneCache
	recs := make([]*recorder, doneCacheSize+3)
	for i := range recs {
		recs[i] = &recorder{status: http.StatusOK}
		c.put("part"+strconv.Itoa(i), recs[i])
	}
	c.put("part5", &recorder{}) // present: kept as it was
	c.put("next", &recorder{})  // evicts the oldest left, part3
	for i := range recs {
		got := c.get("part" + strconv.Itoa(i))
		if i <= 3 {
			require.Nil(t, got, "part%d is one of the oldest", i)
			continue
		}
		require.Same(t, recs[i], got, "part%d", i)
	}
	require.NotNil(t, c.get("next"))
}
