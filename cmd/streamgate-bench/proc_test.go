package main

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// A /proc/PID/stat line whose command name holds spaces and parentheses.
const statLine = "4242 (sg (bench) x) S 1 4242 4242 0 -1 4194560 2800 0 0 0 " +
	"1234 567 0 0 20 0 12 0 1000 1234567890 6543 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0\n"

const statusText = "Name:\tsg\nState:\tS (sleeping)\nVmPeak:\t  900000 kB\nVmRSS:\t   30512 kB\nThreads:\t12\n"

func TestParseStatCPU(t *testing.T) {
	cpu, err := parseStatCPU(statLine, 100)
	require.NoError(t, err)
	require.Equal(t, 18010*time.Millisecond, cpu) // (1234+567) ticks at 100 Hz

	cpu, err = parseStatCPU(statLine, 250)
	require.NoError(t, err)
	require.Equal(t, 7204*time.Millisecond, cpu)

	for _, bad := range []string{"", "4242 sg S 1", "4242 (sg) S 1 2 3", "4242 (sg) S 1 2 3 4 5 6 7 8 9 10 x 567"} {
		_, err := parseStatCPU(bad, 100)
		require.Error(t, err, "%q", bad)
	}
}

func TestParseStatusRSS(t *testing.T) {
	rss, err := parseStatusRSS(statusText)
	require.NoError(t, err)
	require.Equal(t, int64(30512*1024), rss)
	_, err = parseStatusRSS("Name:\tkthreadd\n")
	require.Error(t, err)
	_, err = parseStatusRSS("VmRSS:\t12 MB\n")
	require.Error(t, err)
}

func TestProcWatch(t *testing.T) {
	dir := t.TempDir()
	require.NoError(t, os.MkdirAll(filepath.Join(dir, "4242"), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "4242", "stat"), []byte(statLine), 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "4242", "status"), []byte(statusText), 0o644))
	w := &procWatch{PID: 4242, ClkTck: 100, ProcDir: dir}
	s, err := w.sample()
	require.NoError(t, err)
	require.Equal(t, 18010*time.Millisecond, s.CPU)
	require.Equal(t, int64(30512*1024), s.RSS)

	_, err = (&procWatch{PID: 4243, ClkTck: 100, ProcDir: dir}).sample()
	require.Error(t, err)

	u := usageBetween(procSample{At: s.At, CPU: time.Second}, procSample{At: s.At.Add(10 * time.Second), CPU: 3 * time.Second})
	require.InDelta(t, 0.2, u.cores(), 1e-9)
	require.InDelta(t, 10, u.perClientSecond(20), 1e-9) // 2000 ms / (20 readers * 10 s)
}

func TestProcWatchSelf(t *testing.T) {
	s, err := (&procWatch{PID: os.Getpid()}).sample()
	require.NoError(t, err)
	require.Positive(t, s.RSS)
}

func TestParseSNMPRcvbufErrors(t *testing.T) {
	snmp := "Ip: Forwarding DefaultTTL\nIp: 1 64\n" +
		"Udp: InDatagrams NoPorts InErrors OutDatagrams RcvbufErrors SndbufErrors\n" +
		"Udp: 2109289 261 356161 2461736 356160 0\n" +
		"UdpLite: InDatagrams NoPorts InErrors OutDatagrams RcvbufErrors SndbufErrors\nUdpLite: 0 0 0 0 7 0\n"
	v, ok := parseSNMPRcvbufErrors(snmp)
	require.True(t, ok)
	require.Equal(t, uint64(356160), v)
	_, ok = parseSNMPRcvbufErrors("Ip: a\nIp: 1\n")
	require.False(t, ok)
}

func TestParseHostBusy(t *testing.T) {
	stat := "cpu  100 5 50 1000 20 1 2 3 7 0\ncpu0 50 2 25 500 10 0 1 1 0 0\n"
	busy, ok := parseHostBusy(stat, 100)
	require.True(t, ok)
	require.Equal(t, 1610*time.Millisecond, busy) // 100+5+50+1+2+3 ticks
	_, ok = parseHostBusy("intr 1 2 3\n", 100)
	require.False(t, ok)
}
