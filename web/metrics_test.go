package web

import (
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestCountRequestsClasses(t *testing.T) {
	m := &fakeMetrics{}
	h := newAPIServer(t, testAPIPaths(), m, promhttp.HandlerFor(prometheus.NewRegistry(), promhttp.HandlerOpts{})).Handler()
	tests := []struct {
		name, method, target string
		want                 observation
	}{
		{"list page", "GET", "/", observation{ClassPage, 200}},
		{"player page", "GET", "/cam1/", observation{ClassPage, 200}},
		{"redirect", "GET", "/cam1", observation{ClassPage, 301}},
		{"missing page", "GET", "/nope/", observation{ClassPage, 404}},
		{"bad url", "GET", "/a//b/", observation{ClassPage, 400}},
		{"playlist", "GET", "/cam1/index.m3u8", observation{ClassMedia, 200}},
		{"segment of nested path", "GET", "/site/door/seg1.mp4", observation{ClassMedia, 200}},
		{"whep", "POST", "/cam1/whep", observation{ClassWebRTC, 404}},
		{"whip session", "DELETE", "/site/door/whip/abc", observation{ClassWebRTC, 404}},
		{"api", "GET", "/api/v1/paths", observation{ClassAPI, 200}},
		{"api missing", "GET", "/api/v1/nope", observation{ClassAPI, 404}},
		{"api root", "GET", "/api", observation{ClassAPI, 404}},
		{"metrics", "GET", "/metrics", observation{ClassOther, 200}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			do(t, h, tc.method, tc.target)
			assert.Equal(t, []observation{tc.want}, m.take())
		})
	}
}

func TestStatusClass(t *testing.T) {
	for status, want := range map[int]string{101: "1xx", 200: "2xx", 204: "2xx", 301: "3xx", 404: "4xx", 503: "5xx", 0: "other", 600: "other", 99: "other"} {
		assert.Equal(t, want, StatusClass(status), "status %d", status)
	}
}

// promMetrics is Metrics on a private registry, as the gateway does it.
type promMetrics struct{ requests *prometheus.CounterVec }

func (p promMetrics) ObserveHTTP(class string, status int) {
	p.requests.WithLabelValues(class, StatusClass(status)).Inc()
}

func TestMetricsEndpoint(t *testing.T) {
	reg := prometheus.NewRegistry()
	pm := promMetrics{prometheus.NewCounterVec(prometheus.CounterOpts{Name: "test_http_requests_total", Help: "Requests."}, []string{"route", "status"})}
	reg.MustRegister(pm.requests)
	h := newAPIServer(t, testAPIPaths(), pm, promhttp.HandlerFor(reg, promhttp.HandlerOpts{})).Handler()

	do(t, h, "GET", "/api/v1/paths")
	do(t, h, "GET", "/api/v1/paths/nope")
	do(t, h, "GET", "/cam1/index.m3u8")
	do(t, h, "GET", "/cam1/index.m3u8")
	rec := do(t, h, "GET", "/metrics")
	require.Equal(t, 200, rec.Code)
	assert.True(t, strings.HasPrefix(rec.Header().Get("Content-Type"), "text/plain"), "text exposition by default, got %q", rec.Header().Get("Content-Type"))

	fams := parseMetrics(t, rec.Body.String())
	fam := fams["test_http_requests_total"]
	require.NotNil(t, fam, "families: %v", fams)
	got := map[string]float64{}
	for _, m := range fam.GetMetric() {
		labels := map[string]string{}
		for _, l := range m.GetLabel() {
			labels[l.GetName()] = l.GetValue()
		}
		got[labels["route"]+" "+labels["status"]] = m.GetCounter().GetValue()
	}
	// The scrape itself is counted once it is answered, so it is not in
	// its own output.
	assert.Equal(t, map[string]float64{"api 2xx": 1, "api 4xx": 1, "media 2xx": 2}, got)

	rec = do(t, h, "HEAD", "/metrics")
	assert.Equal(t, 200, rec.Code)
	rec = do(t, h, "POST", "/metrics")
	assert.Equal(t, 404, rec.Code, "/metrics takes GET and HEAD only")
}

// parseMetrics parses the Prometheus text exposition format.
func parseMetrics(t *testing.T, text string) map[string]*dto.MetricFamily {
	t.Helper()
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(strings.NewReader(text))
	require.NoError(t, err, "exposition:\n%s", text)
	return fams
}
