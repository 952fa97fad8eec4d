package gateway

// rtspPathStats is what the open RTSP sessions of one path add up to.
type rtspPathStats struct {
	// readers counts the reading (not publishing) sessions.
	readers int
	// lost sums the packets the publishing sessions lost on the way in;
	// it covers the current publishers only.
	lost uint64
	// bytesSent sums the bytes sent to the reading sessions; it covers
	// the current sessions only, so it drops when one leaves.
	bytesSent uint64
}

// rtspByPath reads the RTSP server's sessions once and sums them per path.
func (g *Gateway) rtspByPath() map[string]rtspPathStats {
	out := map[string]rtspPathStats{}
	if g.rtsp == nil {
		return out
	}
	for _, se := range g.rtsp.Sessions() {
		if se.Path == "" {
			continue
		}
		s := out[se.Path]
		if se.Publishing {
			s.lost += se.PacketsLost
		} else {
			s.readers++
			s.bytesSent += se.BytesSent
		}
		out[se.Path] = s
	}
	return out
}

// sourcePacketsLost is the packets the path's source lost on the way in:
// the pull's total for a pulled path, the current RTSP publishers' sum for
// a publisher path; false for other sources.
func sourcePacketsLost(pc *PathConfig, ps pathState, rtsp map[string]rtspPathStats) (uint64, bool) {
	switch {
	case pc.Pulled():
		return ps.pull.PacketsLost, true
	case pc.Source == SourcePublisher:
		return rtsp[pc.Name].lost, true
	}
	return 0, false
}
