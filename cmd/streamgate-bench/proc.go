package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"time"
)

// procSample is what /proc tells about the gateway at one instant.
type procSample struct {
	ticks int // clock ticks per second used
	At    time.Time
	CPU   time.Duration // utime + stime
	RSS   int64         // resident set size in bytes
}

// procWatch reads the CPU time and RSS of one process (Linux only).
type procWatch struct {
	PID     int
	ClkTck  int    // clock ticks per second; 0 means ask getconf (100 if that fails)
	ProcDir string // defaults to /proc
}

func (w *procWatch) sample() (procSample, error) {
	dir := w.ProcDir
	if dir == "" {
		dir = "/proc"
	}
	if w.ClkTck == 0 {
		w.ClkTck = clockTicks()
	}
	base := fmt.Sprintf("%s/%d/", dir, w.PID)
	at := time.Now()
	stat, err := os.ReadFile(base + "stat")
	if err != nil {
		return procSample{}, fmt.Errorf("gateway pid %d: %w", w.PID, err)
	}
	cpu, err := parseStatCPU(string(stat), w.ClkTck)
	if err != nil {
		return procSample{}, fmt.Errorf("gateway pid %d: %s: %w", w.PID, base+"stat", err)
	}
	status, err := os.ReadFile(base + "status")
	if err != nil {
		return procSample{}, fmt.Errorf("gateway pid %d: %w", w.PID, err)
	}
	rss, err := parseStatusRSS(string(status))
	if err != nil {
		return procSample{}, fmt.Errorf("gateway pid %d: %s: %w", w.PID, base+"status", err)
	}
	return procSample{ticks: w.ClkTck, At: at, CPU: cpu, RSS: rss}, nil
}

// parseStatCPU returns utime+stime (fields 14 and 15 of /proc/PID/stat).
// The command name (field 2) may hold spaces and parentheses, so fields are
// counted from the last ')'.
func parseStatCPU(stat string, clkTck int) (time.Duration, error) {
	end := strings.LastIndexByte(stat, ')')
	if end < 0 {
		return 0, errors.New("no command name in stat")
	}
	f := strings.Fields(stat[end+1:])
	// f[0] is field 3 (state); utime is field 14, stime field 15.
	if len(f) < 13 {
		return 0, fmt.Errorf("stat has %d fields after the name, want at least 13", len(f))
	}
	utime, err := strconv.ParseUint(f[11], 10, 64)
	if err != nil {
		return 0, fmt.Errorf("utime: %w", err)
	}
	stime, err := strconv.ParseUint(f[12], 10, 64)
	if err != nil {
		return 0, fmt.Errorf("stime: %w", err)
	}
	if clkTck <= 0 {
		return 0, fmt.Errorf("clock ticks %d", clkTck)
	}
	ticks := utime + stime
	return time.Duration(ticks) * time.Second / time.Duration(clkTck), nil
}

// parseStatusRSS returns VmRSS from /proc/PID/status in bytes.
func parseStatusRSS(status string) (int64, error) {
	for line := range strings.Lines(status) {
		rest, ok := strings.CutPrefix(line, "VmRSS:")
		if !ok {
			continue
		}
		f := strings.Fields(rest)
		if len(f) != 2 || f[1] != "kB" {
			return 0, fmt.Errorf("VmRSS line %q", strings.TrimSpace(line))
		}
		kb, err := strconv.ParseInt(f[0], 10, 64)
		if err != nil {
			return 0, fmt.Errorf("VmRSS: %w", err)
		}
		return kb * 1024, nil
	}
	return 0, errors.New("no VmRSS (a kernel thread or a zombie?)")
}

// clockTicks is the kernel's USER_HZ from getconf CLK_TCK, 100 if unknown.
func clockTicks() int {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, "getconf", "CLK_TCK").Output()
	if err != nil {
		return 100
	}
	n, err := strconv.Atoi(string(bytes.TrimSpace(out)))
	if err != nil || n <= 0 {
		return 100
	}
	return n
}

// procUsage is the gateway's use over a measured window.
type procUsage struct {
	CPU      time.Duration
	Window   time.Duration
	RSSStart int64
	RSSEnd   int64
}

func usageBetween(a, b procSample) procUsage {
	return procUsage{CPU: b.CPU - a.CPU, Window: b.At.Sub(a.At), RSSStart: a.RSS, RSSEnd: b.RSS}
}

// cores is the average number of cores the gateway kept busy.
func (u procUsage) cores() float64 {
	if u.Window <= 0 {
		return 0
	}
	return u.CPU.Seconds() / u.Window.Seconds()
}

// perClientSecond is the CPU in milliseconds per client per second.
func (u procUsage) perClientSecond(clients int) float64 {
	if clients <= 0 || u.Window <= 0 {
		return 0
	}
	return u.CPU.Seconds() * 1000 / (float64(clients) * u.Window.Seconds())
}

// udpRcvbufErrors is the host's count of UDP datagrams dropped because a
// socket's receive buffer was full (/proc/net/snmp), or false if unknown.
func udpRcvbufErrors() (uint64, bool) {
	data, err := os.ReadFile("/proc/net/snmp")
	if err != nil {
		return 0, false
	}
	return parseSNMPRcvbufErrors(string(data))
}

func parseSNMPRcvbufErrors(snmp string) (uint64, bool) {
	var names []string
	for line := range strings.Lines(snmp) {
		rest, ok := strings.CutPrefix(line, "Udp:")
		if !ok {
			continue
		}
		f := strings.Fields(rest)
		if names == nil {
			names = f
			continue
		}
		for i, n := range names {
			if n == "RcvbufErrors" && i < len(f) {
				v, err := strconv.ParseUint(f[i], 10, 64)
				return v, err == nil
			}
		}
		return 0, false
	}
	return 0, false
}

// hostCPU is the host's total busy CPU time so far (/proc/stat, all cores).
func hostCPU(clkTck int) (time.Duration, bool) {
	data, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, false
	}
	return parseHostBusy(string(data), clkTck)
}

// parseHostBusy sums the "cpu" line's fields except idle and iowait.
func parseHostBusy(stat string, clkTck int) (time.Duration, bool) {
	for line := range strings.Lines(stat) {
		rest, ok := strings.CutPrefix(line, "cpu ")
		if !ok {
			continue
		}
		var busy uint64
		for i, f := range strings.Fields(rest) {
			v, err := strconv.ParseUint(f, 10, 64)
			if err != nil {
				return 0, false
			}
			// user nice system idle iowait irq softirq steal guest guest_nice;
			// guest time is already counted in user.
			if i == 3 || i == 4 || i >= 8 {
				continue
			}
			busy += v
		}
		if clkTck <= 0 {
			clkTck = 100
		}
		return time.Duration(busy) * time.Second / time.Duration(clkTck), true
	}
	return 0, false
}
