package web

import (
	"context"
	"encoding/base64"
	"net/http"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/streamgate/streamgate/auth"
)

// apiOnlyAuth lets "admin" use the API and nobody else.
type apiOnlyAuth struct{}

func (apiOnlyAuth) Authorize(_ context.Context, req auth.Request) (auth.Decision, *auth.Identity, error) {
	switch {
	case req.User == "admin" && req.Action == auth.ActionAPI:
		return auth.Allow, &auth.Identity{Name: "admin"}, nil
	case req.User != "":
		return auth.Forbidden, nil, nil
	}
	return auth.Unauthorized, nil, nil
}

func TestPprof(t *testing.T) {
	basic := func(user string) []string {
		return []string{"Authorization", "Basic " + base64.StdEncoding.EncodeToString([]byte(user+":x"))}
	}
	for _, tc := range []struct {
		name   string
		on     bool
		target string
		header []string
		status int
	}{
		{"off: index", false, "/debug/pprof/", basic("admin"), http.StatusNotFound},
		{"off: heap", false, "/debug/pprof/heap", basic("admin"), http.StatusNotFound},
		{"on: anonymous", true, "/debug/pprof/", nil, http.StatusUnauthorized},
		{"on: without the api permission", true, "/debug/pprof/heap", basic("viewer"), http.StatusForbidden},
		{"on: index", true, "/debug/pprof/", basic("admin"), http.StatusOK},
		{"on: heap", true, "/debug/pprof/heap?debug=1", basic("admin"), http.StatusOK},
		{"on: goroutine", true, "/debug/pprof/goroutine?debug=1", basic("admin"), http.StatusOK},
		{"on: cmdline", true, "/debug/pprof/cmdline", basic("admin"), http.StatusOK},
		{"on: unknown profile", true, "/debug/pprof/nothing", basic("admin"), http.StatusNotFound},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := (&Server{Paths: testPaths(), HLS: &fakeHLS{}, Extra: APIRoutes{Auth: apiOnlyAuth{}, Pprof: tc.on}.Mount}).Handler()
			rec := do(t, h, http.MethodGet, tc.target, tc.header...)
			require.Equal(t, tc.status, rec.Code, "body: %s", rec.Body.String())
		})
	}
}
