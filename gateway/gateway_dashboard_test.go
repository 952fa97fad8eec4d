package gateway_test

import (
	"encoding/json"
	"os"
	"regexp"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestGrafanaDashboardQueriesKnownMetrics checks that every query of the
// sample dashboard in configs/ names metrics the gateway exports, so the
// dashboard does not rot when metrics are renamed.
func TestGrafanaDashboardQueriesKnownMetrics(t *testing.T) {
	data, err := os.ReadFile("../configs/grafana-dashboard.json")
	require.NoError(t, err)
	var dash struct {
		Panels []struct {
			Title   string `json:"title"`
			Targets []struct {
				Expr string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
	}
	require.NoError(t, json.Unmarshal(data, &dash))
	require.NotEmpty(t, dash.Panels)
	name := regexp.MustCompile(`\b(streamgate_[a-z_]+|process_[a-z_]+)`)
	want := map[string]string{} // metric → the panel that queries it
	for _, p := range dash.Panels {
		require.NotEmpty(t, p.Targets, p.Title)
		for _, target := range p.Targets {
			metrics := name.FindAllString(target.Expr, -1)
			require.NotEmpty(t, metrics, "%s: %s", p.Title, target.Expr)
			for _, m := range metrics {
				want[m] = p.Title
			}
		}
	}

	// Some series appear once there is something to report (a second
	// keyframe for the interval, a first request for the counter).
	g := startGateway(t, apiConfig)
	c := newAPIClient(t, g)
	var missing []string
	require.Eventually(t, func() bool {
		families := c.scrape()
		missing = missing[:0]
		for m, panel := range want {
			if _, ok := families[m]; !ok {
				missing = append(missing, m+" ("+panel+")")
			}
		}
		return len(missing) == 0
	}, e2eTimeout, 100*time.Millisecond, "metrics the dashboard queries are not exported: %v", &missing)
}
