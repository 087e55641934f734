package main

import (
	"context"
	"fmt"
	"os"
	"text/tabwriter"

	"github.com/pivotua/pivotua/bench/internal/genwindow"
)

// runStreams runs the streams level: for each N, N calls whose audio is carried by a bidirectional
// media stream (<Connect><Stream>) to bench/cmd/streamecho, which sends the caller's audio back, so
// what rtpgen hears is its own tone after the tap, the socket both ways and pivotua's playback
// queue. Beside it, unless the conc mode measured it in this run, a plain level of N calls playing
// the prompt, just before, so both meet the box in the same minutes.
func runStreams(ctx context.Context, o options, bin, gen, work, resDir string, res *Result) {
	for _, n := range o.streamLevels {
		if ctx.Err() != nil {
			return
		}
		plain := false
		for _, c := range res.Concurrency {
			plain = plain || c.N == n
		}
		if !plain {
			fmt.Printf("== streams N=%d: plain playback first\n", n)
			cr, err := runConcurrency(ctx, o, bin, gen, work, resDir, n, kindPlain)
			if err != nil {
				res.Notes = append(res.Notes, fmt.Sprintf("streams %d (plain): %v", n, err))
				fmt.Fprintln(os.Stderr, "streams (plain):", err)
			}
			if cr != nil {
				res.Concurrency = append(res.Concurrency, *cr)
				printConc([]ConcResult{*cr})
			}
		}
		fmt.Printf("== streams N=%d: every call a bidirectional stream to the echo application\n", n)
		cr, err := runConcurrency(ctx, o, bin, gen, work, resDir, n, kindStream)
		if err != nil {
			res.Notes = append(res.Notes, fmt.Sprintf("streams %d: %v", n, err))
			fmt.Fprintln(os.Stderr, "streams:", err)
		}
		if cr != nil {
			res.Streams = append(res.Streams, *cr)
			printConc([]ConcResult{*cr})
			printStreams(&Result{Streams: []ConcResult{*cr}, Concurrency: res.Concurrency})
		}
		if err != nil || (cr != nil && cr.Limit != "") {
			return
		}
	}
}

// cpuPerCall is ms of CPU per second of one call: % of a core over N calls.
func cpuPerCall(corePct float64, n int) float64 {
	if n == 0 {
		return 0
	}
	return round(corePct*10/float64(n), 3)
}

// printStreams sets each streamed level beside the plain level of the same N: CPU per call of
// pivotua and of the application, what the caller heard (pacing, gaps) and what the application
// measured (the caller's frames' regularity at its read, its marks' round trips).
func printStreams(res *Result) {
	if len(res.Streams) == 0 {
		return
	}
	w := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(w, "N\tplain ms/call·s\tstream ms/call·s\techo ms/call·s\tKB/call plain/stream\tp99 dev ms plain/stream\tgaps heard\tapp in p50/p99/p99.9 dev ms\tmarks back\tmark p50/p99/max ms\tstreams failed\t")
	for _, s := range res.Streams {
		var plain *ConcResult
		for i := range res.Concurrency {
			if res.Concurrency[i].N == s.N {
				plain = &res.Concurrency[i]
			}
		}
		pc, pk, pp := "-", "-", "-"
		if plain != nil {
			pc = fmt.Sprintf("%.3f", cpuPerCall(plain.CPU.UACorePct, plain.N))
			pk = fmt.Sprintf("%.1f", plain.KBPerCall)
			if plain.Pacing != nil {
				pp = fmt.Sprintf("%.2f", plain.Pacing.DevP99Ms)
			}
		}
		sp := "-"
		if s.Pacing != nil {
			sp = fmt.Sprintf("%.2f", s.Pacing.DevP99Ms)
		}
		gaps := "-"
		if s.Gen != nil {
			gaps = fmt.Sprintf("%d/%d", s.Gen.SilentFrames, s.Gen.RxAudio)
		}
		e := s.Echo
		if e == nil {
			e = new(genwindow.Echo)
		}
		fmt.Fprintf(w, "%d\t%s\t%.3f\t%.3f\t%s/%.1f\t%s/%s\t%s\t%.3f/%.3f/%.3f\t%d/%d\t%.1f/%.1f/%.1f\t%d\t\n",
			s.N, pc, cpuPerCall(s.CPU.UACorePct, s.N), cpuPerCall(s.CPU.EchoCorePct, s.N), pk, s.KBPerCall, pp, sp, gaps,
			e.DevP50Ms, e.DevP99Ms, e.DevP999Ms, e.MarksBack, e.MarksSent, e.MarkP50Ms, e.MarkP99Ms, e.MarkMaxMs, e.Errors)
	}
	w.Flush()
	for _, s := range res.Streams {
		if s.Echo != nil && s.Echo.FirstErrMsg != "" {
			fmt.Printf("  N=%d first stream error: %s\n", s.N, s.Echo.FirstErrMsg)
		}
	}
	fmt.Println()
}
