// Command loadrun is pivotua's benchmark harness (`make bench`): Go micro-benchmarks, a concurrency
// ladder of SIPp calls with RTP both ways against the real binary, and a call-setup-rate ladder.
// SIPp only signals: every call's SDP names one socket of rtpgen (bench/cmd/rtpgen), which answers
// each call's RTP and measures what it receives. Everything runs on loopback (127.43.0.1 = pivotua
// and the webhook, 127.43.0.2 = SIPp, 127.43.0.3 = rtpgen), every run is bounded in calls and time,
// and every process it starts is ended before it exits.
// See bench/README.md for what each figure means.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

const (
	uaIP    = "127.43.0.1" // pivotua (SIP, RTP, HTTP) and the webhook
	sippIP  = "127.43.0.2" // SIPp UAC
	uaPort  = 5080
	genIP   = "127.43.0.3" // rtpgen: every call's media address
	sipPort = 5070
	genPort = 6000 // rtpgen's one socket: every call's RTP from the server lands here
	sippMP  = 6100 // SIPp's own media port (-mp), unused: SIPp only signals
	refPort = 5081 // SIPp UAS reference (on uaIP)
	// The Calls API's callee: SIPp answering on the UAC's address (the API mode runs no UAC), its SDP
	// naming rtpgen.
	calleePort = 5072
	calleeMP   = 6200
)

type options struct {
	modes        map[string]bool
	levels       []int
	refLevels    []int
	rates        []int
	hold         time.Duration
	warm         time.Duration
	window       time.Duration
	capture      time.Duration
	rateDur      time.Duration
	rampRate     int
	benchTime    string
	outDir       string
	repo         string
	keepWork     bool
	binary       string   // a prebuilt pivotua, or "" to build one
	rtPrio       int      // pivotua's rtp.realtime_priority; 0 = off
	peerPrio     int      // SCHED_FIFO priority of SIPp, rtpgen and dumpcap; 0 = off
	serverEnv    []string // extra environment for pivotua only (GOGC=400 ...), for A/B runs
	echoBin      string   // streamecho, built for the streams level
	streamLevels []int
	apiRates     []int
	apiLive      int
	roomLevels   []roomLevel
	roomSize     int // the rooms level being run: parties a room
	speechLevels []int
	speechBench  bool // run the speech package's go benchmark too
	soak         time.Duration
	soakCalls    int
	trace        bool // save a 3 s runtime trace in each setup step
}

// Result is what a run writes to bench/results/<timestamp>.json.
type Result struct {
	Started     time.Time     `json:"started"`
	Host        HostInfo      `json:"host"`
	Micro       []MicroResult `json:"micro,omitempty"`
	MicroFlags  []string      `json:"micro_flags,omitempty"`
	Concurrency []ConcResult  `json:"concurrency,omitempty"`
	Reference   []ConcResult  `json:"reference_sipp_uas,omitempty"`
	Setup       []SetupResult `json:"setup,omitempty"`
	// Streams is the streams level: the same load as Concurrency with every call's audio carried by
	// a bidirectional media stream to bench/cmd/streamecho (its plain level is in Concurrency).
	Streams []ConcResult `json:"streams,omitempty"`
	SRTP    *SRTPResult  `json:"srtp,omitempty"`
	API     *APIResult   `json:"calls_api,omitempty"`
	// Rooms is the rooms level: parties in conference rooms, what each heard measured by rtpgen.
	Rooms []ConcResult `json:"rooms,omitempty"`
	// Speech is the speech engine's CPU per second of audio and the recognitions it sustains.
	Speech *SpeechResult `json:"speech,omitempty"`
	// Soak is the soak mode: calls held for BENCH_SOAK, the server's memory sampled all along.
	Soak      *SoakResult  `json:"soak,omitempty"`
	SetupBest *SetupResult `json:"setup_best,omitempty"`
	// SetupOnTarget is the highest rate with zero failed calls and INVITE->200 p99 under 50 ms.
	SetupOnTarget *SetupResult      `json:"setup_on_target,omitempty"`
	Profiles      []string          `json:"profiles,omitempty"`
	Notes         []string          `json:"notes,omitempty"`
	Params        map[string]string `json:"params"`
}

type HostInfo struct {
	CPUs      int    `json:"cpus"`
	GoVersion string `json:"go_version"`
	SIPp      string `json:"sipp"`
	Kernel    string `json:"kernel"`
	Commit    string `json:"commit"`
}

var live = newProcSet()

func main() {
	var o options
	modes := flag.String("mode", envOr("BENCH_MODES", "micro,srtp,conc,ref,streams,rooms,speech,setup,api"), "comma list of micro, srtp, conc, ref, streams, rooms, speech, setup, api, soak (env BENCH_MODES)")
	roomLvls := flag.String("room-levels", envOr("BENCH_ROOM_LEVELS", "200x5,1x100"), "rooms levels, ROOMSxPARTIES (env BENCH_ROOM_LEVELS)")
	speechLevels := flag.String("speech-levels", envOr("BENCH_SPEECH_LEVELS", "1,2,3,4,5,6,8,12,16,24,32,48"), "speech ladder: recognitions at once (env BENCH_SPEECH_LEVELS)")
	streamLevels := flag.String("stream-levels", envOr("BENCH_STREAM_LEVELS", "300,1000"), "streams level: concurrent streamed calls, each beside a plain level of as many (env BENCH_STREAM_LEVELS)")
	apiRates := flag.String("api-rates", envOr("BENCH_API_RATES", "20,50,100"), "Calls API setup ladder, calls.create per second (env BENCH_API_RATES)")
	flag.IntVar(&o.apiLive, "api-live", envInt("BENCH_API_LIVE", 500), "live placed calls while the Calls API's latency is measured (env BENCH_API_LIVE)")
	flag.BoolVar(&o.speechBench, "speech-gobench", envOr("BENCH_SPEECH_GOBENCH", "1") != "0", "speech mode: run the speech package's BenchmarkPocketsphinx too (env BENCH_SPEECH_GOBENCH=0 skips it)")
	levels := flag.String("levels", envOr("BENCH_LEVELS", "500,1000,2000,3000"), "concurrency ladder (env BENCH_LEVELS)")
	refLevels := flag.String("ref-levels", envOr("BENCH_REF_LEVELS", "500,1000"), "SIPp UAS reference levels (env BENCH_REF_LEVELS)")
	rates := flag.String("rates", envOr("BENCH_RATES", "50,100,200,300,500,700,1000"), "setup-rate ladder, calls/s (env BENCH_RATES)")
	flag.DurationVar(&o.soak, "soak", envDur("BENCH_SOAK", 30*time.Minute), "soak mode: how long the calls are held (env BENCH_SOAK)")
	flag.IntVar(&o.soakCalls, "soak-calls", envInt("BENCH_SOAK_CALLS", 1000), "soak mode: concurrent calls (env BENCH_SOAK_CALLS)")
	flag.DurationVar(&o.hold, "hold", envDur("BENCH_HOLD", 25*time.Second), "call duration in the concurrency runs (env BENCH_HOLD)")
	flag.DurationVar(&o.warm, "warm", 4*time.Second, "settle time after the ramp before the CPU window")
	flag.DurationVar(&o.window, "window", envDur("BENCH_WINDOW", 20*time.Second), "CPU/RSS window (env BENCH_WINDOW)")
	flag.DurationVar(&o.capture, "capture", envDur("BENCH_CAPTURE", 0), "a dumpcap capture after the window to cross-check rtpgen's pacing, 0 for none (env BENCH_CAPTURE)")
	flag.DurationVar(&o.rateDur, "rate-dur", envDur("BENCH_RATE_DUR", 10*time.Second), "duration of each setup-rate step (env BENCH_RATE_DUR)")
	flag.IntVar(&o.rampRate, "ramp", 50, "minimum call rate while ramping up to N, calls/s")
	flag.StringVar(&o.benchTime, "benchtime", envOr("BENCH_TIME", "500ms"), "go test -benchtime (env BENCH_TIME)")
	flag.StringVar(&o.outDir, "out", "bench/results", "results directory")
	flag.StringVar(&o.binary, "binary", os.Getenv("BENCH_BINARY"), "run this pivotua binary instead of building ./cmd/pivotua, e.g. to compare two builds (env BENCH_BINARY)")
	flag.IntVar(&o.rtPrio, "rt-prio", envInt("BENCH_RT_PRIO", 0), "pivotua's rtp.realtime_priority, 0 for off (env BENCH_RT_PRIO)")
	flag.IntVar(&o.peerPrio, "peer-prio", envInt("BENCH_PEER_PRIO", 0), "SCHED_FIFO priority of SIPp and dumpcap, 0 for off (env BENCH_PEER_PRIO)")
	serverEnv := flag.String("server-env", os.Getenv("BENCH_SERVER_ENV"), "space-separated NAME=VALUE added to pivotua's environment only, e.g. GOGC=400 (env BENCH_SERVER_ENV)")
	flag.BoolVar(&o.keepWork, "keep", os.Getenv("BENCH_KEEP") != "", "keep the work directory (configs, SIPp traces, captures)")
	flag.BoolVar(&o.trace, "trace", os.Getenv("BENCH_TRACE") != "", "save a 3 s runtime trace in the middle of each setup step (env BENCH_TRACE)")
	flag.Parse()
	o.modes = map[string]bool{}
	for _, m := range strings.Split(*modes, ",") {
		o.modes[strings.TrimSpace(m)] = true
	}
	o.serverEnv = strings.Fields(*serverEnv)
	o.levels = ints(*levels)
	o.rates = ints(*rates)
	o.refLevels = ints(*refLevels)
	o.streamLevels = ints(*streamLevels)
	o.apiRates = ints(*apiRates)
	o.speechLevels = ints(*speechLevels)
	var err error
	if o.roomLevels, err = roomLevels(*roomLvls); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(2)
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	code := 0
	if err := run(ctx, o); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		code = 1
	}
	live.stopAll()
	os.Exit(code)
}

func run(ctx context.Context, o options) error {
	repo, err := repoRoot()
	if err != nil {
		return err
	}
	o.repo = repo
	if !filepath.IsAbs(o.outDir) {
		o.outDir = filepath.Join(repo, o.outDir)
	}
	stamp := time.Now().UTC().Format("20060102T150405Z")
	resDir := filepath.Join(o.outDir, stamp) // profiles and captures beside the JSON
	if err := os.MkdirAll(resDir, 0o755); err != nil {
		return err
	}
	work, err := os.MkdirTemp("", "pivotua-bench-")
	if err != nil {
		return err
	}
	if !o.keepWork {
		defer os.RemoveAll(work)
	} else {
		fmt.Println("work directory:", work)
	}

	res := &Result{Started: time.Now().UTC(), Host: hostInfo(repo), Params: map[string]string{
		"levels": fmt.Sprint(o.levels), "rates": fmt.Sprint(o.rates), "hold": o.hold.String(),
		"window": o.window.String(), "capture": o.capture.String(), "rate_dur": o.rateDur.String(),
		"benchtime": o.benchTime, "stream_levels": fmt.Sprint(o.streamLevels), "api_rates": fmt.Sprint(o.apiRates), "api_live": strconv.Itoa(o.apiLive), "room_levels": fmt.Sprint(o.roomLevels), "speech_levels": fmt.Sprint(o.speechLevels), "soak": o.soak.String(), "soak_calls": strconv.Itoa(o.soakCalls), "pivotua_ip": uaIP, "sipp_ip": sippIP, "rtpgen": fmt.Sprintf("%s:%d", genIP, genPort), "realtime_priority": strconv.Itoa(o.rtPrio), "peer_priority": strconv.Itoa(o.peerPrio), "server_env": strings.Join(o.serverEnv, " "), "binary": o.binary,
	}}
	save := func() error {
		b, _ := json.MarshalIndent(res, "", "  ")
		p := filepath.Join(o.outDir, stamp+".json")
		if err := os.WriteFile(p, append(b, '\n'), 0o644); err != nil {
			return err
		}
		fmt.Println("\nresult:", p)
		return nil
	}

	if o.modes["micro"] {
		fmt.Println("== micro: go test -bench . -benchmem")
		if err := runMicro(ctx, o, res, resDir, work); err != nil {
			res.Notes = append(res.Notes, "micro: "+err.Error())
			fmt.Fprintln(os.Stderr, "micro:", err)
		}
	}
	var bin, gen string
	if o.modes["srtp"] {
		fmt.Println("== srtp: per-packet CPU of SRTP beside plain RTP")
		sr, err := runSRTP(ctx, o, work)
		if err != nil {
			res.Notes = append(res.Notes, "srtp: "+err.Error())
			fmt.Fprintln(os.Stderr, "srtp:", err)
		}
		res.SRTP = sr
	}
	if o.modes["conc"] || o.modes["ref"] || o.modes["setup"] || o.modes["streams"] || o.modes["api"] || o.modes["rooms"] || o.modes["soak"] {
		gen = filepath.Join(work, "rtpgen")
		fmt.Println("== go build ./bench/cmd/rtpgen")
		b := exec.CommandContext(ctx, "go", "build", "-o", gen, "./bench/cmd/rtpgen")
		b.Dir, b.Stdout, b.Stderr = repo, os.Stdout, os.Stderr
		if err := b.Run(); err != nil {
			_ = save()
			return fmt.Errorf("building rtpgen: %w", err)
		}
	}
	if o.binary != "" {
		bin = o.binary
	} else if o.modes["conc"] || o.modes["setup"] || o.modes["streams"] || o.modes["api"] || o.modes["rooms"] || o.modes["soak"] { // ref needs no pivotua
		bin = filepath.Join(work, "pivotua")
		fmt.Println("== go build ./cmd/pivotua")
		b := exec.CommandContext(ctx, "go", "build", "-o", bin, "./cmd/pivotua")
		b.Dir, b.Stdout, b.Stderr = repo, os.Stdout, os.Stderr
		if err := b.Run(); err != nil {
			_ = save()
			return fmt.Errorf("building pivotua: %w", err)
		}
	}
	if o.modes["conc"] {
		for _, n := range o.levels {
			if ctx.Err() != nil {
				break
			}
			fmt.Printf("== concurrency N=%d\n", n)
			cr, err := runConcurrency(ctx, o, bin, gen, work, resDir, n, kindPlain)
			if err != nil {
				res.Notes = append(res.Notes, fmt.Sprintf("concurrency %d: %v", n, err))
				fmt.Fprintln(os.Stderr, "concurrency:", err)
			}
			if cr != nil {
				res.Concurrency = append(res.Concurrency, *cr)
				printConc([]ConcResult{*cr})
				if cr.Limit != "" {
					fmt.Println("limit hit:", cr.Limit, "- stopping the ladder")
					break
				}
			}
			if err != nil {
				break
			}
		}
	}
	if o.modes["ref"] && ctx.Err() == nil {
		for _, n := range o.refLevels {
			fmt.Printf("== reference: SIPp UAS, N=%d\n", n)
			cr, err := runConcurrency(ctx, o, bin, gen, work, resDir, n, kindRef)
			if err != nil {
				res.Notes = append(res.Notes, fmt.Sprintf("reference %d: %v", n, err))
				fmt.Fprintln(os.Stderr, "reference:", err)
			}
			if cr != nil {
				res.Reference = append(res.Reference, *cr)
				printConc([]ConcResult{*cr})
			}
			if err != nil {
				break
			}
		}
		printRatios(res)
	}
	if o.modes["streams"] && ctx.Err() == nil {
		o.echoBin = filepath.Join(work, "streamecho")
		fmt.Println("== go build ./bench/cmd/streamecho")
		b := exec.CommandContext(ctx, "go", "build", "-o", o.echoBin, "./bench/cmd/streamecho")
		b.Dir, b.Stdout, b.Stderr = repo, os.Stdout, os.Stderr
		if err := b.Run(); err != nil {
			_ = save()
			return fmt.Errorf("building streamecho: %w", err)
		}
		runStreams(ctx, o, bin, gen, work, resDir, res)
	}
	if o.modes["rooms"] && ctx.Err() == nil {
		runRooms(ctx, o, bin, gen, work, resDir, res)
	}
	if o.modes["speech"] && ctx.Err() == nil {
		fmt.Println("== speech: the offline engine's CPU per second of audio, and recognitions at once")
		sr, err := runSpeech(ctx, o, work)
		if err != nil {
			res.Notes = append(res.Notes, "speech: "+err.Error())
			fmt.Fprintln(os.Stderr, "speech:", err)
		}
		res.Speech = sr
	}
	if o.modes["setup"] && ctx.Err() == nil {
		fmt.Println("== setup rate")
		if err := runSetup(ctx, o, bin, gen, work, resDir, res); err != nil {
			res.Notes = append(res.Notes, "setup: "+err.Error())
			fmt.Fprintln(os.Stderr, "setup:", err)
		}
	}
	if o.modes["api"] && ctx.Err() == nil {
		fmt.Println("== Calls API: calls.create -> callee 200 rate, and API latency with live calls")
		ar, err := runCallsAPI(ctx, o, bin, gen, work, resDir)
		if err != nil {
			res.Notes = append(res.Notes, "calls api: "+err.Error())
			fmt.Fprintln(os.Stderr, "calls api:", err)
		}
		res.API = ar
	}
	if o.modes["soak"] && ctx.Err() == nil {
		fmt.Printf("== soak: %d calls for %s, memory, goroutines and open files every %s\n", o.soakCalls, o.soak, soakEvery)
		sr, err := runSoak(ctx, o, bin, gen, work, resDir, o.soakCalls)
		if err != nil {
			res.Notes = append(res.Notes, "soak: "+err.Error())
			fmt.Fprintln(os.Stderr, "soak:", err)
		}
		res.Soak = sr
		_ = save() // a soak is long: its figures are kept even if what follows fails
	}
	fmt.Println()
	printMicro(res)
	printSRTP(res)
	printConc(res.Concurrency)
	printConc(res.Reference)
	printRatios(res)
	printStreams(res)
	printRooms(res.Rooms)
	printSpeech(res.Speech)
	printSetup(res)
	printAPI(res)
	printSoak(res.Soak)
	_ = os.Remove(resDir) // only when nothing was saved beside the result
	return save()
}

func envOr(k, d string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return d
}

func envInt(k string, d int) int {
	if v, err := strconv.Atoi(os.Getenv(k)); err == nil {
		return v
	}
	return d
}

func envDur(k string, d time.Duration) time.Duration {
	if v := os.Getenv(k); v != "" {
		if x, err := time.ParseDuration(v); err == nil {
			return x
		}
		if s, err := strconv.Atoi(v); err == nil {
			return time.Duration(s) * time.Second
		}
	}
	return d
}

func ints(s string) []int {
	var out []int
	for _, f := range strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == ' ' }) {
		if n, err := strconv.Atoi(f); err == nil && n > 0 {
			out = append(out, n)
		}
	}
	return out
}

func repoRoot() (string, error) {
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		return "", err
	}
	mod := strings.TrimSpace(string(out))
	if mod == "" || mod == os.DevNull {
		return "", fmt.Errorf("run from inside the pivotua module")
	}
	return filepath.Dir(mod), nil
}

func hostInfo(repo string) HostInfo {
	h := HostInfo{CPUs: numCPU()}
	if out, err := exec.Command("go", "env", "GOVERSION").Output(); err == nil {
		h.GoVersion = strings.TrimSpace(string(out))
	}
	if out, err := exec.Command("sipp", "-v").CombinedOutput(); err == nil || len(out) > 0 {
		for _, l := range strings.Split(string(out), "\n") {
			if strings.Contains(l, "SIPp v") {
				h.SIPp = strings.TrimSpace(l)
				break
			}
		}
	}
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		h.Kernel = strings.TrimSpace(string(b))
	}
	c := exec.Command("git", "describe", "--always", "--dirty")
	c.Dir = repo
	if out, err := c.Output(); err == nil {
		h.Commit = strings.TrimSpace(string(out))
	}
	return h
}
