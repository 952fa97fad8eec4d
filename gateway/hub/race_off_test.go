//go:build !race

package hub

// raceEnabled is set when the race detector runs: it makes sync.Pool drop
// items on purpose, so allocation counts mean nothing.
const raceEnabled = false
