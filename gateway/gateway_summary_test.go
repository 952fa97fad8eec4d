package gateway_test

import (
	"log/slog"
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/streamgate/streamgate/gateway"
	"github.com/streamgate/streamgate/web"
)

func TestPathSummaryLogged(t *testing.T) {
	logs := &e2eLog{}
	conf, err := gateway.ParseConfig("test.yml", []byte(e2eConfigYAML(e2eFreeUDPPair(t), apiConfig)), nil)
	require.NoError(t, err)
	gw := &gateway.Gateway{Config: conf, SummaryPeriod: 50 * time.Millisecond,
		Logger: slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))}
	require.NoError(t, gw.Start())
	t.Cleanup(gw.Close)
	g := &e2eGateway{Gateway: gw, log: logs}

	re := regexp.MustCompile(`level=INFO msg="path summary" path=demo readers=(\d+) bytesPerSecond=(\d+) drops=(\d+)`)
	require.Eventually(t, func() bool {
		for _, m := range re.FindAllStringSubmatch(g.log.String(), -1) {
			if rate, _ := strconv.Atoi(m[2]); rate > 0 {
				return true
			}
		}
		return false
	}, e2eTimeout, 20*time.Millisecond, "the demo's summary shows bytes flowing")
	assert.NotContains(t, g.log.String(), `msg="path summary" path=cam `, "a path without a stream has no summary")

	// The API shows the bitrate the last summary measured, only for streams.
	c := newAPIClient(t, g)
	require.Eventually(t, func() bool {
		d := getJSON[web.PathStatus](c, "/api/v1/paths/demo")
		return d.Bitrate != nil && *d.Bitrate > 0
	}, e2eTimeout, 20*time.Millisecond, "the demo's bitrate is known")
	assert.Nil(t, getJSON[web.PathStatus](c, "/api/v1/paths/cam").Bitrate, "no stream, no bitrate")

	g.Close()
	n := len(re.FindAllString(g.log.String(), -1))
	time.Sleep(150 * time.Millisecond)
	assert.Equal(t, n, len(re.FindAllString(g.log.String(), -1)), "Close stops the summaries")
}
