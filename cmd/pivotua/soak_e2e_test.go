package main

// Fault and endurance tests against the real binary: SIGTERM drains, a silent
// caller frees its RTP port, and a bounded soak (mixed SIPp calls for
// SOAK_MINUTES, one minute by default) after which goroutines, threads, open
// files, RTP ports and memory return to baseline, every recording arrives and
// every call has its debug record.

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/pivotua/pivotua/codec"
	"github.com/pivotua/pivotua/internal/testkit"
	"github.com/pivotua/pivotua/internal/testkit/sipptest"
)

// procStats are what the kernel says about a process.
type procStats struct {
	threads, fds int
	rssKB        int
}

func readProcStats(t *testing.T, pid int) procStats {
	t.Helper()
	var s procStats
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 2 {
			continue
		}
		switch f[0] {
		case "Threads:":
			s.threads, _ = strconv.Atoi(f[1])
		case "VmRSS:":
			s.rssKB, _ = strconv.Atoi(f[1])
		}
	}
	fds, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	if err != nil {
		t.Fatal(err)
	}
	s.fds = len(fds)
	return s
}

// boundUDPPorts counts UDP sockets bound to a local port in [lo, hi]
// (/proc/net/udp and udp6; the ports are hex after the address).
func boundUDPPorts(t *testing.T, lo, hi int) int {
	t.Helper()
	n := 0
	for _, f := range []string{"/proc/net/udp", "/proc/net/udp6"} {
		data, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		for _, line := range strings.Split(string(data), "\n")[1:] {
			fields := strings.Fields(line)
			if len(fields) < 2 {
				continue
			}
			_, hexPort, ok := strings.Cut(fields[1], ":")
			if !ok {
				continue
			}
			port, err := strconv.ParseInt(hexPort, 16, 32)
			if err == nil && int(port) >= lo && int(port) <= hi {
				n++
			}
		}
	}
	return n
}

// metricValue reads one unlabelled series from pivotua's /metrics (-1 when absent).
func metricValue(p *pivotuaInstance, name string) float64 {
	res, err := http.Get(p.httpURL + "/metrics")
	if err != nil {
		return -1
	}
	defer res.Body.Close()
	sc := bufio.NewScanner(res.Body)
	for sc.Scan() {
		if f := strings.Fields(sc.Text()); len(f) == 2 && f[0] == name {
			v, _ := strconv.ParseFloat(f[1], 64)
			return v
		}
	}
	return -1
}

// sipLoad runs one SIPp scenario for calls calls, one every period, at most
// limit at once. It returns SIPp's output (its final statistics screen) and
// its error (nil: every call passed).
func sipLoad(ctx context.Context, t *testing.T, p sipPeer, name string, data sipptest.Data, calls int, period time.Duration, limit int) (string, error) {
	dir := t.TempDir()
	if data.CodecName == "" {
		data.CodecName = map[int]string{0: "PCMU", 8: "PCMA"}[data.Codec]
	}
	scen, err := sipptest.WriteScenario(dir, name, data)
	if err != nil {
		return "", err
	}
	cmd := exec.CommandContext(ctx, "sipp", p.sipAddr(), "-sf", scen,
		"-m", fmt.Sprint(calls), "-r", "1", "-rp", fmt.Sprint(period.Milliseconds()), "-l", fmt.Sprint(limit),
		"-i", "127.0.0.1", "-p", fmt.Sprint(testkit.FreePort(t)), "-mi", "127.0.0.1", "-mp", fmt.Sprint(testkit.FreeMediaPort(t)),
		"-nostdin", "-trace_err", "-timeout", fmt.Sprint(int(time.Until(deadlineOf(ctx)).Seconds())+1)+"s", "-timeout_error")
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if err != nil {
		logs, _ := filepath.Glob(filepath.Join(dir, "*_errors.log"))
		var details strings.Builder
		for _, l := range logs {
			b, _ := os.ReadFile(l)
			details.Write(b)
		}
		return string(out), fmt.Errorf("sipp %s (%s): %v\n%s\n%s", name, data.Service, err, sipptest.LastLines(string(out), 15), sipptest.LastLines(details.String(), 40))
	}
	return string(out), nil
}

func deadlineOf(ctx context.Context) time.Time {
	d, ok := ctx.Deadline()
	if !ok {
		return time.Now().Add(time.Hour)
	}
	return d
}

// soakApp is the developer's webhook for the soak: one document per flow,
// a tone, a slow endpoint and an upload target for recordings.
type soakApp struct {
	*httptest.Server
	uploads atomic.Int32
	mu      sync.Mutex
	paths   map[string]bool
}

func newSoakApp(t *testing.T) *soakApp {
	a := &soakApp{paths: map[string]bool{}}
	mux := http.NewServeMux()
	mux.HandleFunc("/tone.wav", func(w http.ResponseWriter, r *http.Request) {
		var buf bytes.Buffer
		_ = codec.EncodeWAV(&buf, testkit.Sine(1000, 8000, testkit.Samples(1600*time.Millisecond, 8000), 0.4), 8000)
		w.Header().Set("Content-Type", "audio/wav")
		w.Write(buf.Bytes())
	})
	doc := func(v any) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			_ = json.NewEncoder(w).Encode(v)
		}
	}
	mux.HandleFunc("/play", func(w http.ResponseWriter, r *http.Request) {
		doc(map[string]any{"module": "play", "data": map[string]any{"id": a.URL + "/tone.wav"}})(w, r)
	})
	mux.HandleFunc("/long", func(w http.ResponseWriter, r *http.Request) {
		doc(map[string]any{"module": "play", "data": map[string]any{"id": a.URL + "/tone.wav", "loop_count": 20}})(w, r)
	})
	mux.HandleFunc("/collect", doc(map[string]any{
		"module": "collect_dtmf", "data": map[string]any{"max_digits": 1, "timeout": 1000},
		"children": map[string]any{"_": map[string]any{"module": "hangup", "data": map[string]any{}}},
	}))
	mux.HandleFunc("/record", func(w http.ResponseWriter, r *http.Request) {
		doc(map[string]any{"module": "record_caller", "data": map[string]any{"url": a.URL + "/uploads", "format": "wav", "time_limit": 5}})(w, r)
	})
	mux.HandleFunc("/slow", func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-time.After(3 * time.Second):
		case <-r.Context().Done():
		}
	})
	mux.HandleFunc("/uploads/", func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		a.mu.Lock()
		if !a.paths[r.URL.Path] {
			a.paths[r.URL.Path] = true
			a.uploads.Add(1)
		}
		a.mu.Unlock()
		w.WriteHeader(http.StatusCreated)
	})
	a.Server = httptest.NewServer(mux)
	t.Cleanup(a.Close)
	return a
}

// soakFlow is one kind of call in the mix.
type soakFlow struct {
	number   string
	scenario string
	flow     map[string]any
}

func soakFlows(app *soakApp, deadURL string) []soakFlow {
	pivot := func(u string, timeoutMs int) map[string]any {
		return map[string]any{
			"module": "pivot",
			"data":   map[string]any{"voice_url": u, "req_timeout_ms": timeoutMs, "debug": true},
			"children": map[string]any{"_": map[string]any{
				"module": "play", "data": map[string]any{"id": app.URL + "/tone.wav"},
			}},
		}
	}
	return []soakFlow{
		{"3001", "uac_call.xml", pivot(app.URL+"/play", 3000)},
		{"3002", "uac_call.xml", pivot(app.URL+"/collect", 3000)},
		{"3003", "uac_call.xml", pivot(app.URL+"/record", 3000)},
		{"3004", "uac_call.xml", pivot(deadURL, 3000)},               // connect refused: failover
		{"3005", "uac_call.xml", pivot(app.URL+"/slow", 500)},        // webhook timeout: failover
		{"3006", "uac_caller_bye.xml", pivot(app.URL+"/long", 3000)}, // caller hangs up mid-prompt
	}
}

// deadURL is an http URL nobody listens on.
func deadURL(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	u := "http://" + ln.Addr().String() + "/voice"
	ln.Close()
	return u
}

// debugRows lists the calls the debug API shows (every page): call ID -> the node that took it.
func debugRows(t *testing.T, p *pivotuaInstance) map[string]string {
	t.Helper()
	token := apiToken(t, p)
	calls := map[string]string{}
	next := ""
	for range 100 {
		target := fmt.Sprintf("%s/v2/accounts/%s/pivot/debug?page_size=100", p.httpURL, e2eAccount)
		if next != "" {
			target += "&start_key=" + url.QueryEscape(next)
		}
		code, env := crossbar(t, "GET", target, token, nil)
		if code != 200 {
			t.Fatalf("debug list: %d %v", code, env)
		}
		rows, _ := env["data"].([]any)
		for _, r := range rows {
			row, _ := r.(map[string]any)
			if id, ok := row["call_id"].(string); ok {
				calls[id], _ = row["node"].(string)
			}
		}
		next, _ = env["next_start_key"].(string)
		if next == "" {
			if n, ok := env["next_start_key"].(float64); ok {
				next = strconv.FormatFloat(n, 'f', -1, 64)
			}
		}
		if next == "" || len(rows) == 0 {
			break
		}
	}
	return calls
}

// apiToken exchanges the e2e account's api_key for an auth token at p.
func apiToken(t *testing.T, p *pivotuaInstance) string {
	t.Helper()
	code, env := crossbar(t, "PUT", p.httpURL+"/v2/api_auth", "", map[string]any{"data": map[string]any{"api_key": "e2e-key"}})
	token, _ := env["auth_token"].(string)
	if code != 201 || token == "" {
		t.Fatalf("api_auth: %d %v", code, env)
	}
	return token
}

func TestE2ESoak(t *testing.T) {
	needE2E(t)
	duration := time.Minute
	if m, err := strconv.ParseFloat(os.Getenv("SOAK_MINUTES"), 64); err == nil && m > 0 {
		duration = time.Duration(m * float64(time.Minute))
	}
	app := newSoakApp(t)
	flows := soakFlows(app, deadURL(t))
	pmin, pmax := rtpRange()
	p := startPivotua(t, flows[0].flow, func(c *Config) {
		c.RTP.PortMin, c.RTP.PortMax = pmin, pmax
		c.Callflows = nil
		for _, f := range flows {
			c.Callflows = append(c.Callflows, CallflowConfig{AccountID: e2eAccount, Numbers: []string{f.number}, Flow: f.flow})
		}
		c.Log.Level = "info"
	})
	pid := p.cmd.Process.Pid
	sink := sipptest.NewCapture(t) // every call's RTP lands here; nobody listens to it
	period := 4 * time.Second
	perFlow := int(duration / period)

	run := func(ctx context.Context, calls int, period time.Duration) []error {
		var wg sync.WaitGroup
		errs := make([]error, len(flows))
		for i, f := range flows {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, errs[i] = sipLoad(ctx, t, p, f.scenario, sipptest.Data{Service: f.number, RTPPort: sink.Port(), Codec: 0}, calls, period, 4)
			}()
		}
		wg.Wait()
		return errs
	}
	settle := func(what string) {
		deadline := time.Now().Add(30 * time.Second)
		for metricValue(p, "pivotua_calls_active") > 0 && time.Now().Before(deadline) {
			time.Sleep(200 * time.Millisecond)
		}
		time.Sleep(2 * time.Second)
		if v := metricValue(p, "pivotua_calls_active"); v > 0 {
			t.Fatalf("%s: %v calls still active", what, v)
		}
	}

	// Warm up (caches: the tone, TTS), then take the baseline.
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	for _, err := range run(ctx, 1, time.Second) {
		if err != nil {
			cancel()
			t.Fatalf("warm-up: %v", err)
		}
	}
	cancel()
	settle("after warm-up")
	base := readProcStats(t, pid)
	baseGoroutines := metricValue(p, "go_goroutines")
	t.Logf("baseline: goroutines %v, threads %d, fds %d, RSS %d KiB, RTP ports bound %d",
		baseGoroutines, base.threads, base.fds, base.rssKB, boundUDPPorts(t, pmin, pmax))

	start := time.Now()
	ctx, cancel = context.WithTimeout(context.Background(), duration+3*time.Minute)
	var peak procStats
	var peakGoroutines float64
	stop := make(chan struct{})
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		for {
			select {
			case <-stop:
				return
			case <-time.After(2 * time.Second):
			}
			s := readProcStats(t, pid)
			peak.threads, peak.fds, peak.rssKB = max(peak.threads, s.threads), max(peak.fds, s.fds), max(peak.rssKB, s.rssKB)
			peakGoroutines = max(peakGoroutines, metricValue(p, "go_goroutines"))
		}
	}()
	errs := run(ctx, perFlow, period)
	close(stop)
	<-sampled
	cancel()
	for _, err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
	total := (perFlow + 1) * len(flows)
	t.Logf("%d calls in %v (%d per flow); peak: goroutines %v, threads %d, fds %d, RSS %d KiB",
		total, time.Since(start).Round(time.Second), perFlow+1, peakGoroutines, peak.threads, peak.fds, peak.rssKB)

	settle("after the soak")
	// Back to baseline: sipgo keeps a finished UDP transaction up to 64*T1 (32 s).
	var after procStats
	var goroutines float64
	var ports int
	deadline := time.Now().Add(45 * time.Second)
	for {
		after, goroutines, ports = readProcStats(t, pid), metricValue(p, "go_goroutines"), boundUDPPorts(t, pmin, pmax)
		ok := goroutines <= baseGoroutines+20 && after.fds <= base.fds+8 && after.threads <= base.threads+8 && ports == 0
		if ok || time.Now().After(deadline) {
			break
		}
		time.Sleep(time.Second)
	}
	t.Logf("after: goroutines %v, threads %d, fds %d, RSS %d KiB, RTP ports bound %d", goroutines, after.threads, after.fds, after.rssKB, ports)
	if goroutines > baseGoroutines+20 {
		t.Errorf("goroutines %v, baseline %v", goroutines, baseGoroutines)
	}
	if after.fds > base.fds+8 {
		t.Errorf("open files %d, baseline %d", after.fds, base.fds)
	}
	if after.threads > base.threads+8 {
		t.Errorf("threads %d, baseline %d", after.threads, base.threads)
	}
	if ports != 0 {
		t.Errorf("%d RTP ports still bound", ports)
	}
	// The race-detector build's RSS grows with its shadow memory; allow 50 % and 64 MiB.
	if after.rssKB > base.rssKB*3/2+64*1024 {
		t.Errorf("RSS %d KiB, baseline %d KiB", after.rssKB, base.rssKB)
	}

	recordCalls := perFlow + 1
	deadline = time.Now().Add(30 * time.Second)
	for int(app.uploads.Load()) < recordCalls && time.Now().Before(deadline) {
		time.Sleep(200 * time.Millisecond)
	}
	if n := int(app.uploads.Load()); n != recordCalls {
		t.Errorf("%d recordings arrived, want %d", n, recordCalls)
	}
	calls := debugRows(t, p)
	if len(calls) != total {
		t.Errorf("the debug API lists %d calls, want %d", len(calls), total)
	}
	if strings.Contains(p.log.String(), "panicked") {
		t.Errorf("a call handler panicked during the soak")
	}
}

// TestE2EDrainFinishesLiveCallsAndFlushesTheirRecords: on SIGTERM new INVITEs
// get 503, a call that ends within shutdown_grace ends as its flow says, one
// that would not is hung up when the grace ends, its recording is uploaded
// and every debug record is on disk when the process exits 0.
func TestE2EDrainFinishesLiveCallsAndFlushesTheirRecords(t *testing.T) {
	needE2E(t)
	app := newSoakApp(t)
	data := t.TempDir()
	pivot := func(u string) map[string]any {
		return map[string]any{"module": "pivot", "data": map[string]any{"voice_url": u, "debug": true}}
	}
	sipPort, httpPort := testkit.FreePort(t), testkit.FreePort(t)
	pmin, pmax := rtpRange()
	cfg := defaultConfig()
	cfg.Node = "e2e"
	cfg.ShutdownGrace = "4s"
	cfg.SIP.Listen = []string{fmt.Sprintf("udp://127.0.0.1:%d", sipPort), fmt.Sprintf("tcp://127.0.0.1:%d", sipPort)}
	cfg.RTP.PortMin, cfg.RTP.PortMax = pmin, pmax
	cfg.HTTP.Listen = fmt.Sprintf("127.0.0.1:%d", httpPort)
	cfg.Store.DSN = filepath.Join(data, "pivotua.db")
	cfg.Recordings.Dir = filepath.Join(data, "recordings")
	cfg.Accounts = []AccountConfig{{ID: e2eAccount, Name: "e2e", APIKey: "e2e-key"}}
	cfg.Callflows = []CallflowConfig{
		{AccountID: e2eAccount, Numbers: []string{"3001"}, Flow: pivot(app.URL + "/play")}, // 1.6 s, then BYE
		{AccountID: e2eAccount, Numbers: []string{"3003"}, Flow: map[string]any{ // records up to 30 s
			"module": "record_caller", "data": map[string]any{"url": app.URL + "/uploads", "format": "wav", "time_limit": 30},
		}},
	}
	p := startPivotuaWithConfig(t, cfg)
	sink := sipptest.NewCapture(t)

	type result struct {
		err  error
		took time.Duration
	}
	results := make(chan result, 2)
	start := time.Now()
	for _, n := range []string{"3001", "3003"} {
		go func() {
			err := runSIPp(t, p, "uac_call.xml", sipptest.Data{Service: n, RTPPort: sink.Port(), Codec: 0})
			results <- result{err, time.Since(start)}
		}()
	}
	deadline := time.Now().Add(10 * time.Second)
	for metricValue(p, "pivotua_calls_active") < 2 && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	if v := metricValue(p, "pivotua_calls_active"); v != 2 {
		t.Fatalf("%v calls active before SIGTERM, want 2", v)
	}
	sigterm := time.Now()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	time.Sleep(200 * time.Millisecond)
	if err := runSIPp(t, p, "uac_refused.xml", sipptest.Data{Expect: 503, RTPPort: sink.Port(), Codec: 0}); err != nil {
		t.Errorf("an INVITE while draining: %v", err)
	}
	if res, err := http.Get(p.httpURL + "/readyz"); err == nil {
		if res.StatusCode != 503 {
			t.Errorf("/readyz while draining: %d, want 503", res.StatusCode)
		}
		res.Body.Close()
	}
	for range 2 {
		r := <-results
		if r.err != nil {
			t.Errorf("a live call during the drain: %v", r.err)
		}
	}
	switch exited, err := p.waitExit(20 * time.Second); {
	case !exited:
		t.Fatalf("pivotua did not exit after the drain:\n%s", sipptest.LastLines(p.log.String(), 40))
	case err != nil:
		t.Fatalf("pivotua exited with %v:\n%s", err, p.log.String())
	}
	took := time.Since(sigterm)
	if took < 4*time.Second || took > 12*time.Second {
		t.Errorf("exit %v after SIGTERM; want the 4 s grace and a little more", took.Round(100*time.Millisecond))
	}
	if n := app.uploads.Load(); n != 1 {
		t.Errorf("%d recordings uploaded before the exit, want 1:\n%s", n, sipptest.LastLines(p.log.String(), 40))
	}
	// Every debug record is on disk: a new process on the same store lists both calls.
	cfg.HTTP.Listen = fmt.Sprintf("127.0.0.1:%d", testkit.FreePort(t))
	port := testkit.FreePort(t)
	cfg.SIP.Listen = []string{fmt.Sprintf("udp://127.0.0.1:%d", port), fmt.Sprintf("tcp://127.0.0.1:%d", port)}
	again := startPivotuaWithConfig(t, cfg)
	if calls := debugRows(t, again); len(calls) != 1 {
		// The record_caller call has no pivot; only the 3001 call fetched a document.
		t.Errorf("debug API after the restart lists %d calls, want 1 (%v)", len(calls), calls)
	}
}

// TestE2EMediaTimeoutFreesItsRTPPort: a caller that vanishes (no BYE, no RTP)
// is hung up by the media timeout and its RTP port is released: with room for
// one call at a time, three such calls in a row all get answered.
func TestE2EMediaTimeoutFreesItsRTPPort(t *testing.T) {
	needE2E(t)
	app := newSoakApp(t)
	pmin, _ := rtpRange()
	p := startPivotua(t, map[string]any{
		"module": "pivot", "data": map[string]any{"voice_url": app.URL + "/long"},
	}, func(c *Config) {
		c.RTP.MediaTimeout = "1s"
		c.RTP.PortMin, c.RTP.PortMax = pmin, pmin+1 // one RTP/RTCP pair
	})
	sink := sipptest.NewCapture(t)
	for i := range 3 {
		start := time.Now()
		if err := runSIPp(t, p, "uac_call.xml", sipptest.Data{RTPPort: sink.Port(), Codec: 0}); err != nil {
			t.Fatalf("silent call %d: %v", i+1, err)
		}
		if took := time.Since(start); took > 6*time.Second {
			t.Errorf("silent call %d lasted %v; the 1 s media timeout should end it", i+1, took)
		}
		deadline := time.Now().Add(3 * time.Second)
		for boundUDPPorts(t, pmin, pmin+1) != 0 && time.Now().Before(deadline) {
			time.Sleep(50 * time.Millisecond)
		}
		if n := boundUDPPorts(t, pmin, pmin+1); n != 0 {
			t.Fatalf("after silent call %d, %d RTP sockets are still bound", i+1, n)
		}
	}
}

// TestE2EDeniedWebhookFailsOverWithADebugRecord: a voice_url whose address is
// in fetch.deny_cidrs is never contacted; the call fails over to the pivot's
// "_" child (the caller hears the tone) and the debug API records the error
// (debug: true; without it flow keeps only json/schema error records).
func TestE2EDeniedWebhookFailsOverWithADebugRecord(t *testing.T) {
	needE2E(t)
	app := newSoakApp(t)
	ln, err := net.Listen("tcp", "127.0.0.2:0")
	if err != nil {
		t.Fatal(err)
	}
	var hits atomic.Int32
	internal := &httptest.Server{Listener: ln, Config: &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
	})}}
	internal.Start()
	defer internal.Close()
	p := startPivotua(t, map[string]any{
		"module": "pivot", "data": map[string]any{"voice_url": internal.URL + "/voice", "debug": true},
		"children": map[string]any{"_": map[string]any{"module": "play", "data": map[string]any{"id": app.URL + "/tone.wav"}}},
	}, func(c *Config) { c.Fetch.DenyCIDRs = []string{"127.0.0.2/32"} })
	capture := sipptest.NewCapture(t)
	if err := runSIPp(t, p, "uac_call.xml", sipptest.Data{RTPPort: capture.Port(), Codec: 0}); err != nil {
		t.Fatal(err)
	}
	if n := hits.Load(); n != 0 {
		t.Errorf("the denied webhook got %d requests", n)
	}
	if tones := testkit.CountTone(capture.Audio(t, 0), 1000); tones < 60 {
		t.Errorf("heard %d tone frames, want the fallback's 1.6 s tone", tones)
	}
	deadline := time.Now().Add(5 * time.Second)
	for len(debugRows(t, p)) == 0 && time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
	}
	rows := debugRows(t, p)
	if len(rows) != 1 {
		t.Fatalf("debug API lists %d calls, want the failed-over one", len(rows))
	}
	_, env := crossbar(t, "PUT", p.httpURL+"/v2/api_auth", "", map[string]any{"data": map[string]any{"api_key": "e2e-key"}})
	token, _ := env["auth_token"].(string)
	for id := range rows {
		_, env = crossbar(t, "GET", fmt.Sprintf("%s/v2/accounts/%s/pivot/debug/%s", p.httpURL, e2eAccount, url.PathEscape(id)), token, nil)
	}
	if detail, _ := json.Marshal(env["data"]); !strings.Contains(string(detail), "denied") {
		t.Errorf("the call's debug records do not name the denied destination: %s", detail)
	}
}
