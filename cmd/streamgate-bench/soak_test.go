package main

import (
	"context"
	"io"
	"log/slog"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestSoakShort is the soak in short form: 30 s with one RTSP, one WebRTC
// and one HLS reader while the camera drops the gateway's pull every 10 s,
// sampled every 2 s. The gateway runs in this process, so the figures are
// the process's (gateway, camera and readers together); the test checks
// that the scenario samples, judges growth and keeps the readers served,
// not a size.
func TestSoakShort(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a camera, a gateway and three readers for ~35 s")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	cam, g := startInProcess(t, logger)

	b := &bench{
		RTSPURL: "rtsp://" + g.RTSPAddr().String() + "/{path}", HTTPURL: "http://" + g.HTTPAddr().String() + "/{path}/",
		Path: "bench", Transport: "tcp", Readers: 3,
		Duration: 30 * time.Second, ConnectTimeout: 15 * time.Second,
		SoakInterval: 2 * time.Second, DropEvery: 10 * time.Second,
		Camera: cam, Proc: &procWatch{PID: os.Getpid()},
		Params: map[string]string{}, Logger: logger, dialer: newDialer(false),
	}
	rep, err := b.run(ctx, "soak")
	logReport(t, rep)
	// No error means enough samples to judge (a starved host may skip a
	// few of the 15 ticks) and no growth.
	require.NoError(t, err)
	last := rep.Samples[len(rep.Samples)-1]
	assert.GreaterOrEqual(t, last.CameraDrops, uint64(2), "the camera dropped the pull every 10 s")
	assert.Positive(t, last.Goroutines, "goroutines from /metrics")
	assert.Positive(t, last.OpenFiles)
	assert.Equal(t, 3, last.Readers, "every reader receiving at the end")
	// Packets keep arriving across the drops.
	mid := rep.Samples[len(rep.Samples)/2]
	assert.Greater(t, last.Packets, mid.Packets, "packets after the middle of the run")
	var table strings.Builder
	require.NoError(t, rep.writeTable(&table))
	assert.Contains(t, table.String(), "goroutines")
}

// TestJudgeSoak: a flat run passes; RSS, goroutines or files that keep
// growing past the margin fail it; too few samples cannot be judged.
func TestJudgeSoak(t *testing.T) {
	flat := func(n int) []SoakSample {
		out := make([]SoakSample, n)
		for i := range out {
			out[i] = SoakSample{At: float64(i), RSSMiB: 100, Goroutines: 200, OpenFiles: 40, Packets: uint64(i + 1)}
		}
		return out
	}
	for _, tc := range []struct {
		name    string
		samples []SoakSample
		change  func(s []SoakSample)
		wantErr string
	}{
		{"flat", flat(20), nil, ""},
		{"one spike at the end", flat(20), func(s []SoakSample) { s[19].RSSMiB = 900 }, ""},
		{"RSS keeps growing", flat(20), func(s []SoakSample) {
			for i := range s {
				s[i].RSSMiB = 100 + 10*float64(i)
			}
		}, "RSS grew"},
		{"goroutines leak", flat(20), func(s []SoakSample) {
			for i := range s {
				s[i].Goroutines = 200 + 20*i
			}
		}, "goroutines grew"},
		{"files leak", flat(20), func(s []SoakSample) {
			for i := 15; i < 20; i++ {
				s[i].OpenFiles = 80
			}
		}, "open files grew"},
		{"too few samples", flat(5), nil, "too few"},
		{"nothing received", flat(20), func(s []SoakSample) {
			for i := range s {
				s[i].Packets = 0
			}
		}, "received nothing"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.change != nil {
				tc.change(tc.samples)
			}
			err := judgeSoak(&Report{}, tc.samples, 3)
			if tc.wantErr == "" {
				require.NoError(t, err)
			} else {
				require.ErrorContains(t, err, tc.wantErr)
			}
		})
	}
}

func TestParseMetrics(t *testing.T) {
	m, err := parseMetrics(strings.NewReader(`# HELP go_goroutines Number of goroutines.
# TYPE go_goroutines gauge
go_goroutines 42
streamgate_path_reader_drops_total{path="a"} 3
streamgate_path_reader_drops_total{path="b c}"} 4
bad line
`))
	require.NoError(t, err)
	assert.Equal(t, 42.0, m["go_goroutines"])
	assert.Equal(t, 7.0, m["streamgate_path_reader_drops_total"])
}
