package gateway_test

import (
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/bluenviron/gortsplib/v5"
	"github.com/bluenviron/gortsplib/v5/pkg/base"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/streamgate/streamgate/gateway"
	"github.com/streamgate/streamgate/web"
)

// send makes one API request with an optional JSON body and returns its
// status and body.
func (c *apiClient) send(method, path, body string) (int, string) {
	c.t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequestWithContext(c.ctx, method, c.base+path, rd)
	require.NoError(c.t, err)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(c.t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(c.t, err)
	return resp.StatusCode, string(b)
}

// sessionsOf lists the sessions of one kind on path.
func sessionsOf(c *apiClient, kind, path string) []web.SessionStatus {
	var out []web.SessionStatus
	for _, s := range getJSON[struct{ Items []web.SessionStatus }](c, "/api/v1/sessions").Items {
		if s.Kind == kind && s.Path == path {
			out = append(out, s)
		}
	}
	return out
}

func TestAPISessionsListAndKick(t *testing.T) {
	g := startGateway(t, apiConfig)
	c := newAPIClient(t, g)
	ctx := e2eCtx(t)
	r := mustReader(t, g.url("demo"), gortsplib.ProtocolTCP)
	r.waitPackets(t, ctx, 10)
	ended := make(chan error, 1)
	go func() { ended <- r.c.Wait() }()

	list := sessionsOf(c, web.SessionRTSPRead, "demo")
	require.Len(t, list, 1, "the reader is listed")
	s := list[0]
	assert.True(t, strings.HasPrefix(s.ID, "rtsp-"), "id %q", s.ID)
	assert.True(t, strings.HasPrefix(s.Remote, "127.0.0.1:"), "remote %q", s.Remote)
	assert.WithinDuration(t, time.Now(), s.Since, time.Minute)
	require.NotNil(t, s.BytesSent)
	assert.Positive(t, *s.BytesSent, "the reader got media")

	status, body := c.send(http.MethodDelete, "/api/v1/sessions/"+s.ID, "")
	require.Equal(t, http.StatusNoContent, status, body)
	err := waitChan(t, ctx, ended, "the kicked reader's connection to close")
	assert.Error(t, err, "the client sees its session end")

	status, body = c.send(http.MethodDelete, "/api/v1/sessions/"+s.ID, "")
	assert.Equal(t, http.StatusNotFound, status, body)
	assert.Contains(t, body, "no session")
	status, _ = c.send(http.MethodDelete, "/api/v1/sessions/whep-nope", "")
	assert.Equal(t, http.StatusNotFound, status)
	assert.Empty(t, sessionsOf(c, web.SessionRTSPRead, "demo"), "the kicked session is gone from the list")
}

func TestAPIPathEdits(t *testing.T) {
	g := startGateway(t, apiConfig)
	c := newAPIClient(t, g)
	ctx := e2eCtx(t)
	// A reader of another path must not notice any edit.
	r := mustReader(t, g.url("demo"), gortsplib.ProtocolTCP)
	r.waitPackets(t, ctx, 10)

	announce := func(path string) error {
		pub := &gortsplib.Client{Protocol: new(gortsplib.ProtocolTCP)}
		defer pub.Close()
		return pub.StartRecording(g.url(path), e2eDesc(e2eSPS))
	}
	require.Equal(t, base.StatusNotFound, statusCode(announce("added")), "an unknown path refuses publishers")

	status, body := c.send(http.MethodPost, "/api/v1/paths/added", `{"source":"publisher","maxReaders":3}`)
	require.Equal(t, http.StatusCreated, status, body)
	added := getJSON[web.PathStatus](c, "/api/v1/paths/added")
	assert.Equal(t, "publisher", added.Source.Type)
	require.NoError(t, announce("added"), "the added path takes a publisher")

	status, body = c.send(http.MethodPost, "/api/v1/paths/added", `{}`)
	assert.Equal(t, http.StatusConflict, status, body)

	// PATCH: the failing always-on pull becomes on-demand.
	require.False(t, getJSON[web.PathStatus](c, "/api/v1/paths/dead").OnDemand)
	status, body = c.send(http.MethodPatch, "/api/v1/paths/dead", `{"onDemand":true}`)
	require.Equal(t, http.StatusOK, status, body)
	assert.True(t, getJSON[web.PathStatus](c, "/api/v1/paths/dead").OnDemand)
	status, body = c.send(http.MethodPatch, "/api/v1/paths/nope", `{"onDemand":true}`)
	assert.Equal(t, http.StatusNotFound, status, body)

	status, body = c.send(http.MethodDelete, "/api/v1/paths/added", "")
	require.Equal(t, http.StatusNoContent, status, body)
	status, _ = c.get("/api/v1/paths/added")
	assert.Equal(t, http.StatusNotFound, status)
	status, _ = c.send(http.MethodDelete, "/api/v1/paths/added", "")
	assert.Equal(t, http.StatusNotFound, status)

	// The demo reader kept receiving through every edit.
	before, _ := r.packets()
	r.waitPackets(t, ctx, len(before)+10)
}

func TestAPIPathEditsRefuseInvalid(t *testing.T) {
	g := startGateway(t, apiConfig)
	c := newAPIClient(t, g)
	tests := []struct {
		name, method, path, body string
		status                   int
		errPart                  string
	}{
		{"wrong type", http.MethodPost, "/api/v1/paths/x", `{"onDemand":"yes"}`, 400, "paths.x.onDemand: got the string"},
		{"bad value", http.MethodPost, "/api/v1/paths/x", `{"hlsVariant":"hd"}`, 400, "paths.x.hlsVariant"},
		{"unknown key", http.MethodPost, "/api/v1/paths/x", `{"sourceUrl":"rtsp://a/b"}`, 400, "paths.x.sourceUrl: unknown key"},
		{"key in the wrong case", http.MethodPatch, "/api/v1/paths/cam", `{"ondemand":true}`, 400, "expected onDemand"},
		{"on-demand publisher", http.MethodPatch, "/api/v1/paths/site/door", `{"onDemand":true}`, 400, "paths.site/door.onDemand"},
		{"bad duration", http.MethodPatch, "/api/v1/paths/cam", `{"outageGrace":"soon"}`, 400, "invalid duration"},
		{"not an object", http.MethodPost, "/api/v1/paths/x", `["source"]`, 400, "one JSON object"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			status, body := c.send(tc.method, tc.path, tc.body)
			assert.Equal(t, tc.status, status, body)
			assert.Contains(t, body, tc.errPart)
		})
	}
	status, _ := c.get("/api/v1/paths/x")
	assert.Equal(t, http.StatusNotFound, status, "a refused path is not added")
	assert.True(t, getJSON[web.PathStatus](c, "/api/v1/paths/cam").OnDemand, "a refused patch changes nothing")
}

func TestAPIReloadWithoutReadableFile(t *testing.T) {
	g := startGateway(t, apiConfig)
	c := newAPIClient(t, g)
	// startGateway parses text it calls test.yml; no such file exists.
	status, body := c.send(http.MethodPost, "/api/v1/config/reload", "")
	assert.Equal(t, http.StatusBadRequest, status, body)
	assert.Contains(t, body, "test.yml")
}

// TestAPIReloadFromFile edits the -config file and applies it over the API.
func TestAPIReloadFromFile(t *testing.T) {
	file := filepath.Join(t.TempDir(), "streamgate.yml")
	base := e2eConfigYAML(e2eFreeUDPPair(t), "paths:\n  demo:\n    source: demo\n")
	require.NoError(t, os.WriteFile(file, []byte(base), 0o600))
	conf, err := gateway.ParseConfig(file, []byte(base), nil)
	require.NoError(t, err)
	gw := &gateway.Gateway{Config: conf, Logger: discardLogger()}
	require.NoError(t, gw.Start())
	t.Cleanup(gw.Close)
	c := newAPIClient(t, &e2eGateway{Gateway: gw, log: &e2eLog{}, host: gw.RTSPAddr().String()})

	status, _ := c.get("/api/v1/paths/extra")
	require.Equal(t, http.StatusNotFound, status)
	require.NoError(t, os.WriteFile(file, []byte(base+"  extra:\n    source: publisher\n"), 0o600))
	status, body := c.send(http.MethodPost, "/api/v1/config/reload", "")
	require.Equal(t, http.StatusOK, status, body)
	require.JSONEq(t, `{"reloaded":true}`, body)
	status, body = c.get("/api/v1/paths/extra")
	require.Equal(t, http.StatusOK, status, body)
}
