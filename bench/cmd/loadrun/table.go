package main

import (
	"fmt"
	"os"
	"sort"
	"strings"
	"text/tabwriter"
)

func printMicro(res *Result) {
	if len(res.Micro) == 0 {
		return
	}
	w := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(w, "package\tbenchmark\tns/op\tB/op\tallocs/op\tper-packet\tmetrics\t")
	for _, m := range res.Micro {
		pp := ""
		if m.PerPacket {
			pp = "yes"
			if m.AllocsOp > 0 {
				pp = "ALLOCS"
			}
		}
		var ms []string
		for u, v := range m.Metrics {
			ms = append(ms, fmt.Sprintf("%g %s", v, u))
		}
		sort.Strings(ms)
		fmt.Fprintf(w, "%s\t%s\t%.1f\t%d\t%d\t%s\t%s\t\n", m.Package, m.Name, m.NsOp, m.BOp, m.AllocsOp, pp, strings.Join(ms, ", "))
	}
	w.Flush()
	if len(res.MicroFlags) == 0 {
		fmt.Println("per-packet path: 0 allocs/op everywhere")
	}
	for _, f := range res.MicroFlags {
		fmt.Println("FLAG:", f)
	}
	fmt.Println()
}

func printConc(cs []ConcResult) {
	if len(cs) == 0 {
		return
	}
	w := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(w, "server\tN\tup@win/end\tcore %\tuser/sys s\tus/pkt\tRSS MB\tKB/call\tsipp %\tgen %\tother %\tsteal %\tok\tfailed\tloss out\tloss in\tdrops srv/gen\tp50 dev ms\tp99 dev ms\tp99.9 ms\tmax Δ ms\trunq %/µs\tlimit\tmissed\t")
	for _, c := range cs {
		p := c.Pacing
		if p == nil {
			p = &Pacing{}
		}
		var genDrops int64
		if c.Gen != nil {
			genDrops = max(c.Gen.Drops, c.GenProcDrops)
		}
		lossIn := "-"
		if strings.HasPrefix(c.Server, "pivotua") {
			lossIn = fmt.Sprintf("%.0f/%.0f", c.EchoLost, c.EchoLost+c.EchoReceived)
		}
		fmt.Fprintf(w, "%s\t%d\t%d/%d\t%.1f\t%.2f/%.2f\t%.2f\t%.1f\t%.1f\t%.1f\t%.1f\t%.1f\t%.1f\t%d\t%d\t%d/%d\t%s\t%d/%d\t%.3f\t%.3f\t%.3f\t%.2f\t%.1f/%.0f\t%s\t%s\t\n",
			c.Server, c.N, c.ConcAtWindow, c.ConcAtEnd, c.CPU.UACorePct, c.CPU.UAUserS, c.CPU.UASysS, c.UsPerPkt,
			float64(c.RSSKB)/1024, c.KBPerCall, c.CPU.SIPpCorePct, c.CPU.GenCorePct, c.CPU.OtherPct, c.CPU.StealPct, c.Successful, c.Failed,
			p.Lost, p.Expected, lossIn, c.ServerSocketDrops, genDrops, p.DevP50Ms, p.DevP99Ms, p.DevP999Ms, p.MaxDeltaMs, c.Runq.Pct, c.Runq.PerSliceUs, c.Limit, strings.Join(c.Misses, ", "))
	}
	w.Flush()
	for _, c := range cs {
		if g := c.Gen; g != nil {
			fmt.Printf("  %s %d rtpgen: %d streams, rx %d, tx %d (%d refused), avg recv batch %.1f, %d late ticks (max lag %.2f ms, %d skipped), rcvbuf %d KiB\n",
				c.Server, c.N, g.Streams, g.RxPackets, g.TxPackets, g.TxFailed, g.AvgBatch, g.LateTicks, g.MaxLagMs, g.SkippedTicks, g.RcvBuf>>10)
		}
		if l := c.ClockLate; l != nil {
			fmt.Printf("  %s %d clocks: %d ticks served, mean %.0f µs late, over 1 / 2 / 5 ms late: %.2f / %.2f / %.3f %%, p99 <= %s\n",
				c.Server, c.N, l.Ticks, l.MeanUs, l.Over1Pct, l.Over2Pct, l.Over5Pct, l.P99)
		}
		if p := c.CapturePacing; p != nil {
			fmt.Printf("  %s %d capture cross-check: loss %d/%d, p50/p99/p99.9 %.3f/%.3f/%.3f ms, max Δ %.2f ms %s\n",
				c.Server, c.N, p.Lost, p.Expected, p.DevP50Ms, p.DevP99Ms, p.DevP999Ms, p.MaxDeltaMs, p.Dropped)
			if q := c.GenAtCapture; q != nil {
				fmt.Printf("  %s %d rtpgen over the capture: loss %d/%d, p50/p99/p99.9 %.3f/%.3f/%.3f ms, max Δ %.2f ms\n",
					c.Server, c.N, q.Lost, q.Expected, q.DevP50Ms, q.DevP99Ms, q.DevP999Ms, q.MaxDeltaMs)
			}
		}
	}
	fmt.Println()
}

func printSetup(res *Result) {
	if len(res.Setup) == 0 {
		return
	}
	w := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(w, "calls/s\tplaced/s\tcalls\tok\tfailed\tINVITE->100 p99 ms\tINVITE->200 p50 ms\tp99 ms\tmax ms\tretx INVITE/200/BYE\tpivot mean ms\t>10 ms %\tcore %\tSIPp %\twatchdog\trtpgen %\thook %\tother %\tsteal %\tdrops srv/SIPp/cap\t")
	for _, s := range res.Setup {
		wire := setupWire{}
		if s.Wire != nil {
			wire = *s.Wire
		}
		fmt.Fprintf(w, "%d\t%.0f\t%d\t%d\t%d\t%.2f\t%.2f\t%.2f\t%.2f\t%d/%d/%d\t%.2f\t%.2f\t%.1f\t%.1f\t%d\t%.1f\t%.1f\t%.1f\t%.1f\t%d/%d/%d\t\n", s.Rate, wire.PlacedPerSec, s.Calls, s.Successful, s.Failed,
			wire.Trying99Ms, s.P50Ms, s.P99Ms, s.MaxMs, wire.InviteRetx, wire.OKRetx, wire.ByeRetx, s.PivotMeanMs, s.PivotOver10Ms,
			s.CPU.UACorePct, s.SIPpCorePct, s.SIPpWatchdog, s.CPU.GenCorePct, s.HarnessCorePct, s.CPU.OtherPct, s.CPU.StealPct,
			s.ServerDrops, s.SIPpDrops, s.CaptureDropped)
	}
	w.Flush()
	if res.SetupBest != nil {
		fmt.Printf("highest rate with zero failed calls: %d calls/s (INVITE->200 p50 %.2f ms, p99 %.2f ms)\n",
			res.SetupBest.Rate, res.SetupBest.P50Ms, res.SetupBest.P99Ms)
	} else {
		fmt.Println("no rate passed with zero failed calls")
	}
	if t := res.SetupOnTarget; t != nil {
		fmt.Printf("highest rate with zero failed calls and INVITE->200 p99 under %d ms: %d calls/s (p50 %.2f ms, p99 %.2f ms)\n",
			setupTargetP99Ms, t.Rate, t.P50Ms, t.P99Ms)
	}
	fmt.Println()
}

// printRatios sets the reference (SIPp UAS) beside pivotua at the same N.
func printRatios(res *Result) {
	if len(res.Reference) == 0 {
		return
	}
	fmt.Println("pivotua / SIPp UAS at the same N (below 1 = pivotua cheaper or tighter):")
	for _, ref := range res.Reference {
		for _, c := range res.Concurrency {
			if c.N != ref.N {
				continue
			}
			ratio := func(a, b float64) string {
				if b == 0 {
					return "-"
				}
				return fmt.Sprintf("%.2f", a/b)
			}
			var p99, rp99 float64
			if c.Pacing != nil && ref.Pacing != nil {
				p99, rp99 = c.Pacing.DevP99Ms, ref.Pacing.DevP99Ms
			}
			fmt.Printf("  N=%d: CPU %s, KB/call %s, p99 dev %s\n", c.N, ratio(c.CPU.UACorePct, ref.CPU.UACorePct),
				ratio(c.KBPerCall, ref.KBPerCall), ratio(p99, rp99))
		}
	}
	fmt.Println()
}
