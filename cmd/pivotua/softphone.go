package main

// `pivotua call`: its flags and exit codes. The softphone itself (one call
// with the project's own SIP stack and RTP engine, a WAV as its voice, RFC
// 4733 digits, a recording of what it hears, a timeline) is package softphone.

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/pivotua/pivotua/softphone"
)

const softphoneUsage = `usage: pivotua call URI [flags]

Places one call, prints its timeline and exits 0 when it was answered and RTP
came back; 1 on failure (no 2xx answer, a transport error, no RTP received);
2 on bad usage. URI is e.g. sip:3004@127.0.0.1:5060 ("sip:" may be left out).

Flags:
`

// runCall is `pivotua call`: it parses the flags, places the call and maps
// the outcome to the exit code.
func runCall(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("call", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), softphoneUsage)
		fs.PrintDefaults()
	}
	o := softphone.Options{UserAgent: "pivotua-call/" + version}
	fs.StringVar(&o.Play, "play", "", "WAV `file` to send as our voice (any rate, resampled to 8 kHz); default silence")
	fs.StringVar(&o.Record, "record", "", "write what we heard to this `file` (8 kHz 16-bit mono WAV)")
	fs.StringVar(&o.DTMF, "dtmf", "", "`keys` to send as RFC 4733 events, e.g. \"1234#\" ('w' pauses 0.5 s)")
	fs.DurationVar(&o.DTMFDelay, "dtmf-delay", time.Second, "send --dtmf this long after the answer")
	fs.DurationVar(&o.Duration, "duration", 10*time.Second, "hang up this long after the answer")
	fs.DurationVar(&o.RingTimeout, "ring-timeout", 30*time.Second, "give up (CANCEL) when not answered in time")
	fs.StringVar(&o.From, "from", "pivotua-call", "caller `user` in the From header")
	fs.StringVar(&o.Transport, "transport", "udp", "signalling transport: udp or tcp")
	fs.StringVar(&o.Local, "local", "127.0.0.1:0", "bind `IP[:PORT]` for SIP (and IP for RTP)")

	if len(args) > 0 && isHelpFlag(args[0]) {
		fs.SetOutput(stdout)
		fs.Usage()
		return 0
	}
	// The URI may come before or after the flags.
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		o.Target, args = args[0], args[1:]
	}
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if o.Target == "" && fs.NArg() == 1 {
		o.Target = fs.Arg(0)
	} else if o.Target == "" || fs.NArg() != 0 {
		fs.Usage()
		return 2
	}

	// sipgo logs through the default logger; only its errors matter here.
	slog.SetDefault(slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelError})))
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	err := softphone.Call(ctx, o, stdout)
	var (
		usageErr *softphone.UsageError
		shown    *softphone.ShownError
	)
	switch {
	case errors.As(err, &usageErr):
		fmt.Fprintln(stderr, "pivotua call:", err)
		return 2
	case errors.As(err, &shown):
		return 1
	case err != nil:
		fmt.Fprintln(stderr, "pivotua call: FAILED:", err)
		return 1
	}
	return 0
}
