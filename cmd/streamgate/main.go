// Command streamgate runs the RTSP-to-HTTP streaming gateway.
//
//	streamgate                      # built-in defaults: serves the demo stream
//	streamgate -config FILE         # run with a YAML config
//	streamgate -check-config FILE   # validate a config and exit
//	streamgate hash-password        # hash a password (read from stdin) for the config
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/streamgate/streamgate/gateway"
)

// Exit codes: 0 after a clean stop, 1 for a runtime failure, 2 for a bad
// command line or config.
const (
	exitOK     = 0
	exitFailed = 1
	exitConfig = 2
)

func main() {
	os.Exit(run(os.Args[1:], os.Stderr))
}

func run(args []string, stderr io.Writer) int {
	if len(args) > 0 && args[0] == "hash-password" {
		return hashPassword(args[1:], os.Stdin, os.Stdout, stderr)
	}
	fs := flag.NewFlagSet("streamgate", flag.ContinueOnError)
	fs.SetOutput(stderr)
	configFile := fs.String("config", "", "YAML config `file` (default: built-in defaults with the demo stream)")
	checkFile := fs.String("check-config", "", "validate the config `file` and exit")
	if err := fs.Parse(args); err != nil {
		return exitConfig
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "streamgate: unexpected argument %q\n", fs.Arg(0))
		return exitConfig
	}

	if *checkFile != "" {
		if _, err := gateway.LoadConfig(*checkFile); err != nil {
			fmt.Fprintln(stderr, err)
			return exitConfig
		}
		fmt.Fprintf(stderr, "%s: ok\n", *checkFile)
		return exitOK
	}

	conf, err := gateway.LoadConfig(*configFile)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return exitConfig
	}
	logger := newLogger(conf.Log, stderr)

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	// SIGHUP applies the config file again; so does a change of the file.
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	if err := gateway.Run(ctx, conf, logger, hup); err != nil {
		logger.Error("streamgate stopped", "error", err)
		return exitFailed
	}
	return exitOK
}

func newLogger(lc gateway.LogConfig, w io.Writer) *slog.Logger {
	opts := &slog.HandlerOptions{Level: lc.SlogLevel()}
	if lc.Format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}
