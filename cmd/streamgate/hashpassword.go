package main

import (
	"bufio"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/streamgate/streamgate/auth"
)

// maxPasswordLine bounds what hash-password reads from stdin.
const maxPasswordLine = 4096

// hashPassword runs `streamgate hash-password`: it reads one password line
// from stdin (or, discouraged, -password) and prints the argon2id hash for
// a user's password key; with -digest-user NAME it prints a YAML fragment
// that also holds the digestHA1 RTSP Digest needs.
func hashPassword(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("streamgate hash-password", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: streamgate hash-password [-digest-user NAME] < password-line")
		fs.PrintDefaults()
	}
	flagPass := fs.String("password", "", "the `password` (discouraged: it stays in shell history and the process list)")
	digestUser := fs.String("digest-user", "", "also print digestHA1 for user `NAME`, needed for RTSP Digest")
	if err := fs.Parse(args); err != nil {
		return exitConfig
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "streamgate hash-password: unexpected argument %q\n", fs.Arg(0))
		return exitConfig
	}
	if strings.ContainsAny(*digestUser, ":\"\\") {
		fmt.Fprintln(stderr, `streamgate hash-password: -digest-user must not contain ':', '"' or '\'`)
		return exitConfig
	}

	pass := *flagPass
	if pass != "" {
		fmt.Fprintln(stderr, "warning: -password leaves the password in shell history and the process list; prefer stdin")
	} else {
		if isTerminal(stdin) {
			fmt.Fprint(stderr, "password (shown as you type): ")
		}
		var err error
		if pass, err = readPasswordLine(stdin); err != nil {
			fmt.Fprintf(stderr, "streamgate hash-password: %v\n", err)
			return exitConfig
		}
	}

	hash, err := auth.HashPassword(pass)
	if err != nil {
		fmt.Fprintf(stderr, "streamgate hash-password: %v\n", err)
		return exitFailed
	}
	if *digestUser == "" {
		fmt.Fprintln(stdout, hash)
		return exitOK
	}
	fmt.Fprintf(stdout, "name: %q\npassword: %q\ndigestHA1: %q\n", *digestUser, hash, auth.DigestHA1(*digestUser, pass))
	return exitOK
}

// readPasswordLine reads the first line of r without its line ending.
func readPasswordLine(r io.Reader) (string, error) {
	line, err := bufio.NewReader(io.LimitReader(r, maxPasswordLine+1)).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return "", fmt.Errorf("reading the password: %w", err)
	}
	if len(line) > maxPasswordLine {
		return "", fmt.Errorf("password line longer than %d bytes", maxPasswordLine)
	}
	line = strings.TrimSuffix(strings.TrimSuffix(line, "\n"), "\r")
	if line == "" {
		return "", errors.New("empty password: give it as one line on stdin")
	}
	return line, nil
}

// isTerminal reports whether r is an interactive terminal, to prompt.
func isTerminal(r io.Reader) bool {
	f, ok := r.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}
