package main

import (
	"context"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"time"

	"github.com/pivotua/pivotua/bench/internal/genwindow"
)

type ConcResult struct {
	Server       string    `json:"server"`
	N            int       `json:"n"`
	CallsPlanned int       `json:"calls_planned"`
	Rate         int       `json:"sipp_rate"`
	HoldS        float64   `json:"hold_s"`
	ConcAtWindow int       `json:"concurrent_at_window_start"`
	ConcAtEnd    int       `json:"concurrent_at_capture_end"`
	CPU          windowCPU `json:"cpu"`
	UsPerPkt     float64   `json:"us_per_pkt"`
	PktsPerS     float64   `json:"pkts_per_s"`
	IdleRSSKB    int64     `json:"idle_rss_kb"`
	RSSKB        int64     `json:"rss_kb"`
	KBPerCall    float64   `json:"kb_per_call"`
	// Of RSS, the pages of files (RssFile): the binary's code, paged in as calls first run it, which
	// KBPerCall counts though no call owns it.
	IdleRSSFileKB int64 `json:"idle_rss_file_kb"`
	RSSFileKB     int64 `json:"rss_file_kb"`
	Threads       int64 `json:"threads"`
	Successful    int   `json:"successful_calls"`
	Failed        int   `json:"failed_calls"`
	SIPpExit      int   `json:"sipp_exit"`
	// rtpgen's frames to pivotua that pivotua counted lost / received over the window (its
	// /metrics): loss in.
	EchoLost     float64 `json:"echo_lost_pivotua"`
	EchoReceived float64 `json:"echo_received_pivotua"`
	// Datagrams the kernel dropped over the window because a socket's receive buffer was full, on
	// the server's sockets, and on rtpgen's as /proc/net/udp counts them (the cross-check of its
	// own SO_RXQ_OVFL count in Gen).
	ServerSocketDrops int64 `json:"server_socket_drops"`
	GenProcDrops      int64 `json:"rtpgen_proc_drops"`
	GenRcvBuf         int   `json:"rtpgen_rcvbuf_bytes"`
	// What rtpgen measured over the window; Pacing is its pacing and loss of what the server sent.
	Gen *genwindow.Window `json:"rtpgen,omitempty"`
	// What the echo application measured over the window (the streams level only).
	Echo          *genwindow.Echo `json:"streamecho,omitempty"`
	Pacing        *Pacing         `json:"pacing,omitempty"`
	CapturePacing *Pacing         `json:"capture_pacing,omitempty"` // BENCH_CAPTURE's cross-check
	GenAtCapture  *Pacing         `json:"rtpgen_during_capture,omitempty"`
	Limit         string          `json:"limit,omitempty"`
	Misses        []string        `json:"quality_misses,omitempty"` // the quality bar missed (p99 >= 2 ms, echo loss > 0.1 %)
	SIPpErrors    string          `json:"sipp_errors,omitempty"`
	Notes         []string        `json:"notes,omitempty"`
	// The server threads' wait for a CPU over the window: how late a tick due at a given
	// instant can run when the box has more work than cores.
	Runq RunqWait `json:"runq_wait"`
	// How late pivotua's send clocks served their ticks over the window (its
	// pivotua_clock_tick_lateness_seconds histogram): what its own threads saw of the box.
	ClockLate *ClockLate `json:"clock_lateness,omitempty"`
	// The rooms level: N parties spread over Rooms conference rooms of RoomSize, and the server's
	// CPU µs per party and tick (CPU time / (N x 50 ticks/s x window)).
	Rooms          int         `json:"rooms,omitempty"`
	RoomSize       int         `json:"room_size,omitempty"`
	UsPerPartyTick float64     `json:"us_per_party_tick,omitempty"`
	Census         *RoomCensus `json:"room_census,omitempty"`
}

// plannedCalls is how many calls SIPp must place so that N stay up until the capture ends:
// slot i starts at i/rate and is replaced every hold.
func plannedCalls(n, rate int, hold, end time.Duration) int {
	m := 0
	for i := 0; i < n; i++ {
		start := time.Duration(float64(i) / float64(rate) * float64(time.Second))
		if start > end {
			break
		}
		m += int((end-start)/hold) + 1
	}
	return m
}

// server is what the concurrency load runs against: pivotua, or SIPp's own UAS as the reference.
type server interface {
	pid() int
	stop()
	metrics() map[string]float64
}

// sippUAS is the reference server: SIPp answering and replaying a PCMU pcap per call.
type sippUAS struct{ s *sipp }

func (u sippUAS) pid() int                    { return u.s.pid() }
func (u sippUAS) stop()                       { live.stop(u.s.cmd, 3*time.Second, u.s.done) }
func (u sippUAS) metrics() map[string]float64 { return map[string]float64{} }

// loadKind is what a concurrency level runs: every call playing the prompt on pivotua (plain), on
// SIPp's own UAS (ref), on pivotua with a bidirectional media stream to the echo application
// (stream), or on pivotua in a conference room of o.roomSize parties (room).
type loadKind int

const (
	kindPlain loadKind = iota
	kindRef
	kindStream
	kindRoom
)

func (k loadKind) server() string {
	switch k {
	case kindRef:
		return "sipp-uas"
	case kindStream:
		return "pivotua+stream"
	case kindRoom:
		return "pivotua+room"
	}
	return "pivotua"
}

// profileName is the stem of the level's pprof files.
func (k loadKind) profileName(n int) string {
	switch k {
	case kindStream:
		return fmt.Sprintf("stream-%d", n)
	case kindRoom:
		return fmt.Sprintf("room-%d", n)
	}
	return fmt.Sprintf("conc-%d", n)
}

func runConcurrency(ctx context.Context, o options, bin, genBin, work, resDir string, n int, kind loadKind) (*ConcResult, error) {
	name := kind.server()
	ref := kind == kindRef
	dir := filepath.Join(work, fmt.Sprintf("conc-%s-%d", name, n))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	rate, ramp := holdRate(o, n)
	winStart := ramp + o.warm
	winEnd := winStart + o.window
	capStart := winEnd + time.Second
	end := winEnd + time.Second
	if o.capture > 0 {
		end = capStart + o.capture + time.Second
	}
	bound := end + o.hold + 30*time.Second

	gen, err := startGen(genBin, o.peerPrio, bound+time.Minute)
	if err != nil {
		return nil, err
	}
	defer gen.stop()
	var echo *echoApp
	streamURL := ""
	if kind == kindStream {
		if echo, err = startEcho(o.echoBin, bound+time.Minute); err != nil {
			return nil, err
		}
		defer echo.stop()
		streamURL = echo.url
	}
	echoPid := func() int {
		if echo == nil {
			return 0
		}
		return echo.pid()
	}
	var ua server
	target := uaPort
	if ref {
		pc := filepath.Join(dir, "prompt.pcap")
		if err := writePromptPCAP(pc, int(o.hold.Seconds())+10); err != nil {
			return nil, err
		}
		target = refPort
		s, err := startSIPp(o.repo, filepath.Join(dir, "uas"), sippArgs{uas: true, pcap: pc, calls: 1 << 30, prio: o.peerPrio,
			timeout: bound + 60*time.Second})
		if err != nil {
			return nil, err
		}
		ua = sippUAS{s}
	} else {
		var hook *webhook
		if kind == kindRoom {
			hook, err = startWebhookDoc(roomDoc(n, o.roomSize))
		} else {
			hook, err = startWebhook(streamURL)
		}
		if err != nil {
			return nil, err
		}
		defer hook.close()
		p, err := startPivotua(ctx, bin, dir, hook.url, o.rtPrio, o.serverEnv, "")
		if err != nil {
			return nil, err
		}
		ua = p
	}
	defer ua.stop()
	time.Sleep(time.Second)
	r := &ConcResult{Server: name, N: n, HoldS: o.hold.Seconds(), IdleRSSKB: statusKB(ua.pid(), "VmRSS"),
		IdleRSSFileKB: statusKB(ua.pid(), "RssFile"), GenRcvBuf: gen.rcvbuf}
	r.Rate = rate
	r.CallsPlanned = plannedCalls(n, rate, o.hold, end)
	sp, err := startSIPp(o.repo, filepath.Join(dir, "sipp"), sippArgs{limit: n, rate: rate, calls: r.CallsPlanned,
		hold: o.hold, timeout: bound - 5*time.Second, target: target, prio: o.peerPrio})
	if err != nil {
		return nil, err
	}
	t0 := time.Now()
	fmt.Printf("   SIPp: %d calls, limit %d, %d calls/s, hold %s; window at +%s, bound %s\n",
		r.CallsPlanned, n, rate, o.hold, winStart.Round(time.Second), bound.Round(time.Second))
	sleepUntil := func(d time.Duration) error { return sp.runUntil(ctx, t0.Add(d)) }
	if err := sleepUntil(winStart); err != nil {
		sp.wait(time.Second)
		return r, err
	}
	r.ConcAtWindow = statInt(sp.lastStat(), "CurrentCall")
	m0 := ua.metrics()
	if _, err := gen.mark(); err != nil { // the generator's window starts here
		sp.wait(time.Second)
		return r, err
	}
	if echo != nil {
		if _, err := echo.mark(); err != nil {
			sp.wait(time.Second)
			return r, err
		}
	}
	a := takeSnapshot(ua.pid(), sp.pid(), gen.pid(), echoPid())
	q0 := readRunq(ua.pid())
	uaDrops0, genDrops0 := udpDrops(uaIP), udpDrops(genIP)
	profiled := make(chan error, 1)
	if p, ok := ua.(*pivotua); ok { // the CPU profile spans the window (SIGPROF at 100 Hz costs little)
		go func() { profiled <- p.profile(filepath.Join(resDir, kind.profileName(n)+".cpu.pprof"), o.window) }()
	} else {
		profiled <- nil
	}
	if err := sleepUntil(winEnd); err != nil {
		sp.wait(time.Second)
		return r, err
	}
	gw, gerr := gen.mark()
	if echo != nil {
		ew, err := echo.mark()
		if err != nil {
			r.Notes = append(r.Notes, "streamecho: "+err.Error())
		}
		r.Echo = ew
	}
	b := takeSnapshot(ua.pid(), sp.pid(), gen.pid(), echoPid())
	r.Runq = runqBetween(q0, readRunq(ua.pid()), b.at.Sub(a.at))
	r.ServerSocketDrops, r.GenProcDrops = udpDrops(uaIP)-uaDrops0, udpDrops(genIP)-genDrops0
	r.ConcAtEnd = statInt(sp.lastStat(), "CurrentCall")
	m1 := ua.metrics()
	if p, ok := ua.(*pivotua); ok && kind == kindRoom { // after the window's figures: its requests are not in them
		r.Census = roomCensus(p.httpURL)
	}
	if gerr != nil {
		r.Notes = append(r.Notes, "rtpgen: "+gerr.Error())
	} else {
		r.Gen = gw
		r.Pacing = genPacing(gw)
	}
	if err := <-profiled; err != nil {
		r.Notes = append(r.Notes, "cpu profile: "+err.Error())
	}
	if p, ok := ua.(*pivotua); ok {
		if err := p.heap(filepath.Join(resDir, kind.profileName(n))); err != nil {
			r.Notes = append(r.Notes, "heap profile: "+err.Error())
		}
	}
	r.CPU = cpuBetween(a, b)
	r.RSSKB, r.RSSFileKB = statusKB(ua.pid(), "VmRSS"), statusKB(ua.pid(), "RssFile")
	r.Threads = threads(ua.pid())
	r.KBPerCall = round(float64(r.RSSKB-r.IdleRSSKB)/float64(n), 1)
	if kind == kindRoom {
		r.RoomSize = o.roomSize
		r.Rooms = max(1, n/o.roomSize)
		if r.CPU.Seconds > 0 {
			r.UsPerPartyTick = round((r.CPU.UAUserS+r.CPU.UASysS)*1e6/(float64(n)*50*r.CPU.Seconds), 2)
		}
	}
	pk := (m1["pivotua_rtp_packets_sent_total"] - m0["pivotua_rtp_packets_sent_total"]) +
		(m1["pivotua_rtp_packets_received_total"] - m0["pivotua_rtp_packets_received_total"])
	if r.CPU.Seconds > 0 && pk > 0 {
		r.PktsPerS = round(pk/r.CPU.Seconds, 0)
		r.UsPerPkt = round((r.CPU.UAUserS+r.CPU.UASysS)*1e6/pk, 2)
	}
	if ref && r.CPU.Seconds > 0 { // SIPp UAS: packets it sent (it never reads RTP)
		r.PktsPerS = float64(50 * n)
		r.UsPerPkt = round((r.CPU.UAUserS+r.CPU.UASysS)*1e6/(r.PktsPerS*r.CPU.Seconds), 2)
	}
	r.EchoReceived = m1["pivotua_rtp_packets_received_total"] - m0["pivotua_rtp_packets_received_total"]
	r.EchoLost = m1["pivotua_rtp_packets_lost_total"] - m0["pivotua_rtp_packets_lost_total"]
	r.ClockLate = clockLateness(m0, m1)

	var cerr error
	if o.capture > 0 { // the cross-check: the same packets' capture timestamps, after the window
		if err := sleepUntil(capStart); err != nil {
			sp.wait(time.Second)
			return r, err
		}
		capPath := filepath.Join(dir, "rtp.pcapng")
		var dropped string
		_, _ = gen.mark() // rtpgen measures the captured seconds too: the same packets both ways
		dropped, cerr = capture(ctx, o.peerPrio, capPath, o.capture)
		if gw, err := gen.mark(); err == nil {
			r.GenAtCapture = genPacing(gw)
		}
		r.ConcAtEnd = statInt(sp.lastStat(), "CurrentCall")
		if cerr == nil {
			p, err := pacing(ctx, capPath)
			if err != nil {
				cerr = err
			} else {
				p.Dropped = dropped
				r.CapturePacing = p
				if o.keepWork {
					_ = os.Rename(capPath, filepath.Join(resDir, fmt.Sprintf("conc-%d.pcapng", n)))
				}
			}
		}
	}

	code, werr := sp.wait(time.Until(t0.Add(bound)) + 5*time.Second)
	st := sp.lastStat()
	r.Successful, r.Failed, r.SIPpExit = statInt(st, "SuccessfulCall(C)"), statInt(st, "FailedCall(C)"), code
	if r.Failed > 0 || code != 0 {
		r.SIPpErrors = tail(sp.errorsTail(), 600)
	}
	switch {
	case r.Failed > 0 || code != 0:
		r.Limit = fmt.Sprintf("%d failed calls (SIPp exit %d)", r.Failed, code)
	case r.Pacing != nil && r.Pacing.Lost > 0 && r.Gen.Drops > 0:
		r.Limit = fmt.Sprintf("RTP loss %d packets, %d of them dropped by rtpgen's own socket", r.Pacing.Lost, r.Gen.Drops)
	case r.Pacing != nil && r.Pacing.Lost > 0:
		r.Limit = fmt.Sprintf("RTP loss %d packets", r.Pacing.Lost)
	case r.CPU.UACorePct > 150:
		r.Limit = fmt.Sprintf("%s at %.0f %% of a core", name, r.CPU.UACorePct)
	}
	// The quality bar (issue 7): no loss either way, p99 pacing deviation under 2 ms. A level that
	// misses it is reported as such, but the ladder goes on, so the next levels are measured too.
	if r.Pacing != nil && r.Pacing.DevP99Ms >= 2 {
		r.Misses = append(r.Misses, fmt.Sprintf("p99 %.1f ms", r.Pacing.DevP99Ms))
	}
	if total := r.EchoLost + r.EchoReceived; total > 0 && r.EchoLost/total > 0.001 {
		r.Misses = append(r.Misses, fmt.Sprintf("loss in %.1f %%", 100*r.EchoLost/total))
	}
	// A streamed call's caller hears its own audio back: a silent frame after the first sound is
	// the application's audio not there in time, a gap.
	if kind == kindStream && r.Gen != nil && r.Gen.RxAudio > 0 && float64(r.Gen.SilentFrames)/float64(r.Gen.RxAudio) > 0.001 {
		r.Misses = append(r.Misses, fmt.Sprintf("gaps %.2f %%", 100*float64(r.Gen.SilentFrames)/float64(r.Gen.RxAudio)))
	}
	if kind == kindStream && r.Echo != nil && r.Echo.Errors > 0 {
		r.Misses = append(r.Misses, fmt.Sprintf("%d streams failed", r.Echo.Errors))
	}
	if werr != nil {
		return r, werr
	}
	return r, cerr
}

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}

// holdRate is the call rate that keeps n calls of o.hold up, replaced continuously (each slot needs
// n/hold calls a second, with a quarter more to spare; at least o.rampRate), and how long the ramp to
// n takes at it.
func holdRate(o options, n int) (rate int, ramp time.Duration) {
	rate = int(math.Max(float64(o.rampRate), math.Ceil(1.25*float64(n)/o.hold.Seconds())))
	return rate, time.Duration(float64(n) / float64(rate) * float64(time.Second))
}
