// Command pivotua is a SIP user agent that runs Kazoo Pivot (JSON) and TwiML
// call scripts fetched over HTTP. It parses flags, reads the config file and
// wires the packages together; the logic lives in flow, sip, media, codec,
// httpfetch, debugapi, recordings and softphone.
//
// Each package owns its settings: its section of the config file is that
// package's Settings type (YAML keys, defaults, checks that name the path of
// what is wrong). This command reads the file (config.go: unknown keys, wrong
// types and keys set twice, by path and line, from the types' YAML tags),
// hands each package its section, checks what spans sections (callflows and
// trunks name accounts), and owns only what it serves itself: node,
// shutdown_grace, http and log.
package main

import (
	"context"
	_ "embed"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"
)

// serveGCPercent is the GC's heap growth target while serving, unless GOGC
// is set. pivotua's heap is mostly call state that lives as long as the call,
// and it allocates nothing per RTP packet, so collections are rare and cheap:
// Go's default of 100 % would let the heap double the live call state (and
// grow by the goroutine stacks) between them. At 1,000 calls (make bench, two
// rounds each) 25 % costs 46 KB of RSS a call against 52 at 50 %, for 1.6 %
// of a core in GC marking against 0.9, and no pacing change the box's noise
// shows.
const serveGCPercent = 25

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

//go:embed default.yaml
var defaultConfigYAML []byte

const usage = `pivotua: a SIP user agent that runs Kazoo Pivot and TwiML call scripts.

Usage:
  pivotua [serve] [--config FILE]   run (without --config: the embedded demo config)
  pivotua check-config FILE         validate a config file and every callflow in it
  pivotua call URI [flags]          a test softphone: place one call, print its timeline
  pivotua version                   print the version (also --version)
  pivotua help [COMMAND]            this text, or one command's flags (also -h, --help)
`

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	cmd := "serve"
	if len(args) > 0 {
		switch a := args[0]; {
		case isHelpFlag(a):
			cmd, args = "help", args[1:]
		case a == "-version" || a == "--version":
			cmd, args = "version", args[1:]
		case a != "" && a[0] != '-':
			cmd, args = a, args[1:]
		}
	}
	switch cmd {
	case "serve":
		return runServe(args, stdout, stderr)
	case "check-config":
		return runCheckConfig(args, stdout, stderr)
	case "call":
		return runCall(args, stdout, stderr)
	case "version":
		fmt.Fprintln(stdout, "pivotua", version)
		return 0
	case "help":
		return runHelp(args, stdout, stderr)
	default:
		fmt.Fprintf(stderr, "pivotua: unknown command %q\n\n%s", cmd, usage)
		return 2
	}
}

func isHelpFlag(a string) bool { return a == "-h" || a == "-help" || a == "--help" }

// runHelp prints the overview, or one command's own help as `COMMAND -h` would.
func runHelp(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stdout, usage)
		return 0
	}
	switch args[0] {
	case "serve", "check-config", "call":
		return run([]string{args[0], "-h"}, stdout, stderr)
	case "version", "help":
		fmt.Fprint(stdout, usage)
		return 0
	}
	fmt.Fprintf(stderr, "pivotua help: unknown command %q\n\n%s", args[0], usage)
	return 2
}

// runCheckConfig exits 0 printing "ok", 1 with one line per problem, 2 when unreadable.
func runCheckConfig(args []string, stdout, stderr io.Writer) int {
	if len(args) == 1 && isHelpFlag(args[0]) {
		fmt.Fprint(stdout, checkConfigUsage)
		return 0
	}
	if len(args) != 1 {
		fmt.Fprintln(stderr, "usage: pivotua check-config FILE")
		return 2
	}
	settings, errs := loadConfigFile(args[0])
	if len(errs) == 0 {
		for _, w := range settings.Warnings {
			fmt.Fprintln(stderr, "warning:", w)
		}
		fmt.Fprintln(stdout, "ok")
		return 0
	}
	code := 1
	for _, err := range errs {
		if errors.Is(err, errUnreadable) {
			code = 2
		}
		fmt.Fprintln(stderr, err)
	}
	return code
}

const checkConfigUsage = `Usage: pivotua check-config FILE

Validates a config file (YAML or JSON) and every callflow in it. Prints "ok" and exits 0, or prints one
line per problem naming its path (callflows[0].flow.data.voice_url: ...) and exits 1; exits 2 when the file
cannot be read or is not YAML.
`

const serveUsage = `Usage: pivotua [serve] [--config FILE]

Runs pivotua: SIP, RTP and the HTTP API. Without --config it runs the embedded demo config (SIP on
127.0.0.1:5060, HTTP on 127.0.0.1:8000, data in ./data). SIGTERM drains live calls; a second one stops at once.

Flags:
`

func runServe(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	configPath := fs.String("config", "", "config `file` (YAML or JSON); default: the embedded demo config")
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), serveUsage)
		fs.PrintDefaults()
	}
	if len(args) == 1 && isHelpFlag(args[0]) {
		fs.SetOutput(stdout)
		fs.Usage()
		return 0
	}
	if err := fs.Parse(args); err != nil {
		return 2
	}
	var (
		settings *Settings
		errs     []error
	)
	if *configPath == "" {
		settings, errs = loadConfig(defaultConfigYAML, "")
	} else {
		settings, errs = loadConfigFile(*configPath)
	}
	if len(errs) > 0 {
		for _, err := range errs {
			fmt.Fprintln(stderr, "pivotua: config:", err)
		}
		return 1
	}
	log, flushLog := newLogger(stderr, settings.LogLevel, settings.LogFormat)
	defer flushLog()
	slog.SetDefault(log) // libraries (sipgo) log through the default logger
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(serveGCPercent)
	}
	startPprof(log)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	// After the first signal starts the drain, a second one kills at once.
	go func() { <-ctx.Done(); stop() }()
	if err := serve(ctx, settings, log, stdout); err != nil {
		log.Error("pivotua stopped", "error", err)
		return 1
	}
	return 0
}

// newLogger is serve's logger, writing to w on a goroutine of its own (newQueuedHandler); flush
// returns once every line logged before it is written.
func newLogger(w io.Writer, level, format string) (log *slog.Logger, flush func()) {
	var lv slog.Level
	_ = lv.UnmarshalText([]byte(level))
	opts := &slog.HandlerOptions{Level: lv}
	var h slog.Handler = slog.NewTextHandler(w, opts)
	if format == "json" {
		h = slog.NewJSONHandler(w, opts)
	}
	h, flush = newQueuedHandler(h)
	return slog.New(h), flush
}
