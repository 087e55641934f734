package main

// End-to-end tests: the real pivotua binary (built with -race) answers SIPp,
// fetches a webhook served by the test, and the audio it sends is captured on
// the test's own RTP socket and judged by tone detection.

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/pivotua/pivotua/codec"
	"github.com/pivotua/pivotua/internal/testkit"
	"github.com/pivotua/pivotua/internal/testkit/pgtest"
	"github.com/pivotua/pivotua/internal/testkit/sipptest"
	"github.com/pivotua/pivotua/sip"
)

// e2eBinary is the pivotua binary TestMain builds for the end-to-end tests.
var e2eBinary string

func TestMain(m *testing.M) {
	flag.Parse()
	code := runTests(m)
	pgtest.Stop() // the cluster test's PostgreSQL, when it ran
	os.Exit(code)
}

// runTests builds the binary the end-to-end tests start (none with -short) and runs the tests.
func runTests(m *testing.M) int {
	if testing.Short() {
		return m.Run()
	}
	dir, err := os.MkdirTemp("", "pivotua-e2e-bin")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	e2eBinary = filepath.Join(dir, "pivotua")
	build := exec.Command("go", "build", "-race", "-o", e2eBinary, ".")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "build pivotua for e2e tests:", err)
		return 1
	}
	return m.Run()
}

const e2eAccount = "4b31dd1d32ce6d249897c06332375d65"

func needE2E(t *testing.T) {
	t.Helper()
	if testing.Short() {
		t.Skip("end-to-end test: skipped with -short")
	}
	if _, err := exec.LookPath("sipp"); err != nil {
		t.Fatal("sipp is not installed: run `make deps` (Debian package sip-tester)")
	}
}

var rtpRangeMu sync.Mutex
var nextRTPBase = 30000

// rtpRange hands each pivotua instance its own RTP ports, so a test never sees
// packets meant for the previous one. The band wraps before 65000: the suite starts
// more instances than 35,000 ports hold, and the ones it reuses ended long before.
func rtpRange() (int, int) {
	rtpRangeMu.Lock()
	defer rtpRangeMu.Unlock()
	if nextRTPBase+200 > 65000 {
		nextRTPBase = 30000
	}
	base := nextRTPBase
	nextRTPBase += 200
	return base, base + 198
}

// sipPeer is where SIPp sends its calls: one pivotua, or the Kamailio in front of several.
type sipPeer interface {
	sipAddr() string // host:port
	logs() string    // its log so far, for failure messages
}

type pivotuaInstance struct {
	sipHost        string
	sipPort        int
	rtpMin, rtpMax int // its RTP port range
	httpURL        string
	cmd            *exec.Cmd
	log            *testkit.SyncBuffer
}

func (p *pivotuaInstance) sipAddr() string {
	return net.JoinHostPort(p.sipHost, fmt.Sprint(p.sipPort))
}

func (p *pivotuaInstance) logs() string { return p.log.String() }

// rtpFilter is a capture filter (BPF) for the RTP p sends and receives, both directions, and
// nothing else on the loopback (other tests' traffic included).
func (p *pivotuaInstance) rtpFilter() string {
	return fmt.Sprintf("udp portrange %d-%d", p.rtpMin, p.rtpMax)
}

// startPivotua runs the binary on a config whose only callflow answers 3004 with flow;
// adjust may change the config further.
func startPivotua(t *testing.T, flow any, adjust ...func(*Config)) *pivotuaInstance {
	t.Helper()
	cfg := e2eConfig(t, flow)
	for _, f := range adjust {
		f(&cfg)
	}
	return startPivotuaWithConfig(t, cfg)
}

// e2eConfig is startPivotua's config before adjust: its own ports, the e2e account, flow for 3004.
func e2eConfig(t *testing.T, flow any) Config {
	t.Helper()
	sipPort, httpPort := testkit.FreePort(t), testkit.FreePort(t)
	pmin, pmax := rtpRange()
	cfg := defaultConfig()
	cfg.Node = "e2e"
	cfg.SIP.Listen = []string{fmt.Sprintf("udp://127.0.0.1:%d", sipPort), fmt.Sprintf("tcp://127.0.0.1:%d", sipPort)}
	cfg.RTP.PortMin, cfg.RTP.PortMax = pmin, pmax
	cfg.HTTP.Listen = fmt.Sprintf("127.0.0.1:%d", httpPort)
	cfg.Log.Level = "debug"
	cfg.Accounts = []AccountConfig{{ID: e2eAccount, Name: "e2e", APIKey: "e2e-key"}}
	cfg.Callflows = []CallflowConfig{{AccountID: e2eAccount, Numbers: []string{"3004"}, Flow: flow}}
	return cfg
}

// startPivotuaWithConfig runs the binary on cfg (its SIP listeners must share one port).
func startPivotuaWithConfig(t *testing.T, cfg Config) *pivotuaInstance {
	t.Helper()
	return startBinaryWithConfig(t, e2eBinary, cfg)
}

// startBinaryWithConfig is startPivotuaWithConfig for another build of pivotua than e2eBinary.
func startBinaryWithConfig(t *testing.T, bin string, cfg Config) *pivotuaInstance {
	t.Helper()
	dir := t.TempDir()
	_, sipAddr, err := sip.ParseListen(cfg.SIP.Listen[0])
	if err != nil {
		t.Fatal(err)
	}
	data, err := json.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "pivotua.json")
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	inst := &pivotuaInstance{sipHost: sipAddr.Addr().String(), sipPort: int(sipAddr.Port()), httpURL: "http://" + cfg.HTTP.Listen, log: &testkit.SyncBuffer{}}
	inst.rtpMin, inst.rtpMax = cfg.RTP.PortMin, cfg.RTP.PortMax
	inst.cmd = exec.Command(bin, "serve", "--config", path)
	inst.cmd.Dir = dir
	inst.cmd.Stdout, inst.cmd.Stderr = inst.log, inst.log
	if err := inst.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { inst.stop(t) })
	deadline := time.Now().Add(15 * time.Second)
	for {
		res, err := http.Get(inst.httpURL + "/healthz")
		if err == nil {
			res.Body.Close()
			if res.StatusCode == 200 {
				return inst
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("pivotua did not come up:\n%s", inst.log.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// waitExit waits up to within for the process to exit and returns how it exited.
func (p *pivotuaInstance) waitExit(within time.Duration) (exited bool, err error) {
	done := make(chan error, 1)
	go func() { done <- p.cmd.Wait() }()
	select {
	case err := <-done:
		return true, err
	case <-time.After(within):
		return false, nil
	}
}

// stop sends SIGTERM and fails the test if pivotua did not exit cleanly
// (a data race found by the -race build makes it exit 66).
func (p *pivotuaInstance) stop(t *testing.T) {
	if p.cmd.ProcessState != nil {
		return
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	switch exited, err := p.waitExit(40 * time.Second); {
	case !exited:
		_ = p.cmd.Process.Kill()
		t.Errorf("pivotua did not stop on SIGTERM:\n%s", p.log.String())
	case err != nil:
		t.Errorf("pivotua exited with %v:\n%s", err, p.log.String())
	}
	if strings.Contains(p.log.String(), "DATA RACE") || strings.Contains(p.log.String(), "panic") {
		t.Errorf("pivotua log shows a race or panic:\n%s", p.log.String())
	}
}

// runSIPp runs one call of testdata/sipp/<name> against p.
func runSIPp(t *testing.T, p sipPeer, name string, data sipptest.Data, extra ...string) error {
	_, err := runSIPpIn(t, t.TempDir(), p, name, data, extra...)
	return err
}

// runSIPpIn is runSIPp in a given folder, where SIPp leaves its trace files; it returns their text.
func runSIPpIn(t *testing.T, dir string, p sipPeer, name string, data sipptest.Data, extra ...string) (string, error) {
	t.Helper()
	return sipptest.Run(t, sipptest.Call{Dir: dir, Scenario: name, Data: data, Target: p.sipAddr(), Args: extra, PeerLogs: p.logs})
}

// webhook is the developer's server: it answers every pivot request with doc
// and keeps the requests' parameters.
type webhook struct {
	*httptest.Server
	mu       sync.Mutex
	requests []url.Values
	delay    time.Duration
}

func newWebhook(t *testing.T, doc func(w *webhook) any) *webhook {
	t.Helper()
	w := &webhook{}
	mux := http.NewServeMux()
	mux.HandleFunc("/tone.wav", func(rw http.ResponseWriter, r *http.Request) {
		// 1.6 s of 1 kHz at 16 kHz, so the prompt is resampled on the way.
		var buf bytes.Buffer
		_ = codec.EncodeWAV(&buf, testkit.Sine(1000, 16000, testkit.Samples(1600*time.Millisecond, 16000), 0.4), 16000)
		rw.Header().Set("Content-Type", "audio/wav")
		rw.Write(buf.Bytes())
	})
	mux.HandleFunc("/voice", func(rw http.ResponseWriter, r *http.Request) {
		_ = r.ParseForm()
		w.mu.Lock()
		w.requests = append(w.requests, r.Form)
		delay := w.delay
		w.mu.Unlock()
		if delay > 0 {
			select {
			case <-time.After(delay):
			case <-r.Context().Done():
				return
			}
		}
		rw.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(rw).Encode(doc(w))
	})
	w.Server = httptest.NewServer(mux)
	t.Cleanup(w.Close)
	return w
}

func (w *webhook) received() []url.Values {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]url.Values(nil), w.requests...)
}

func pivotFlow(voiceURL string, fallback any) map[string]any {
	f := map[string]any{
		"module": "pivot",
		"data":   map[string]any{"voice_url": voiceURL, "method": "get", "req_format": "kazoo", "req_timeout_ms": 3000},
	}
	if fallback != nil {
		f["children"] = map[string]any{"_": fallback}
	}
	return f
}

func speechThenTone(w *webhook) any {
	return map[string]any{
		"module": "tts", "data": map[string]any{"text": "Hello from the end to end test."},
		"children": map[string]any{"_": map[string]any{
			"module": "play", "data": map[string]any{"id": w.URL + "/tone.wav"},
		}},
	}
}

// assertSpeechThenTone checks the caller heard speech first, then about 1.6 s of the 1 kHz tone.
func assertSpeechThenTone(t *testing.T, pcm []int16) {
	t.Helper()
	kinds := testkit.Classify(pcm, 1000)
	tones, speech := testkit.CountKind(kinds, testkit.ToneFrame), testkit.CountKind(kinds, testkit.OtherSound)
	if tones < 70 || tones > 85 {
		t.Errorf("heard %d frames of the 1 kHz tone, want about 80 (1.6 s)", tones)
	}
	if speech < 25 {
		t.Errorf("heard %d frames of speech, want the TTS sentence (over 0.5 s)", speech)
	}
	if s, tn := testkit.FirstKind(kinds, testkit.OtherSound), testkit.FirstKind(kinds, testkit.ToneFrame); s < 0 || tn < 0 || s > tn {
		t.Errorf("speech should come before the tone: first speech frame %d, first tone frame %d", s, tn)
	}
}

func TestE2EKazooFlowPlaysSpeechThenTone(t *testing.T) {
	needE2E(t)
	hook := newWebhook(t, speechThenTone)
	p := startPivotua(t, pivotFlow(hook.URL+"/voice?app=e2e", nil))
	capture := sipptest.NewCapture(t)
	if err := runSIPp(t, p, "uac_call.xml", sipptest.Data{RTPPort: capture.Port(), Codec: 0}); err != nil {
		t.Fatal(err)
	}
	assertSpeechThenTone(t, capture.Audio(t, 0))

	reqs := hook.received()
	if len(reqs) != 1 {
		t.Fatalf("webhook got %d requests, want 1", len(reqs))
	}
	q := reqs[0]
	want := map[string]string{
		"app": "e2e", "Account-ID": e2eAccount, "Api-Version": "4.x", "Direction": "inbound",
		"Request": "3004", "To": "3004", "From": "1000", "Caller-ID-Number": "1000", "Caller-ID-Name": "Alice",
		"Custom-SIP-Headers[X-Test-Header]": "hello",
	}
	for k, v := range want {
		if got := q.Get(k); got != v {
			t.Errorf("pivot request %s = %q, want %q (all: %v)", k, got, v, q)
		}
	}
	if q.Get("Call-ID") == "" {
		t.Errorf("pivot request has no Call-ID: %v", q)
	}
}

// TestE2ERealtimePriority: with rtp.realtime_priority every thread of the
// server runs under SCHED_FIFO, and a call still plays speech (the TTS engine
// is a child process, started at normal priority) and a fetched tone.
func TestE2ERealtimePriority(t *testing.T) {
	needE2E(t)
	if os.Geteuid() != 0 {
		t.Skip("SCHED_FIFO needs root or CAP_SYS_NICE; CI runs as root")
	}
	hook := newWebhook(t, speechThenTone)
	p := startPivotua(t, pivotFlow(hook.URL+"/voice?app=rt", nil), func(c *Config) { c.RTP.RealtimePriority = 5 })
	capture := sipptest.NewCapture(t)
	if err := runSIPp(t, p, "uac_call.xml", sipptest.Data{RTPPort: capture.Port(), Codec: 0}); err != nil {
		t.Fatal(err)
	}
	assertSpeechThenTone(t, capture.Audio(t, 0))
	tasks, err := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/sched", p.cmd.Process.Pid))
	if err != nil || len(tasks) == 0 {
		t.Fatalf("no threads found: %v", err)
	}
	for _, task := range tasks {
		b, err := os.ReadFile(task)
		if err != nil {
			continue // the thread exited
		}
		// policy 1 is SCHED_FIFO; the kernel's prio is 99 - rt_priority.
		if f := schedFields(string(b)); f["policy"] != "1" || f["prio"] != "94" {
			t.Errorf("%s: policy %s prio %s, want SCHED_FIFO (1) at rt priority 5 (prio 94)", task, f["policy"], f["prio"])
		}
	}
}

// schedFields reads the "name : value" lines of /proc/<pid>/task/<tid>/sched.
func schedFields(text string) map[string]string {
	f := map[string]string{}
	for _, line := range strings.Split(text, "\n") {
		if k, v, ok := strings.Cut(line, ":"); ok {
			f[strings.TrimSpace(k)] = strings.TrimSpace(v)
		}
	}
	return f
}

func TestE2EPCMAOverTCP(t *testing.T) {
	needE2E(t)
	hook := newWebhook(t, speechThenTone)
	p := startPivotua(t, pivotFlow(hook.URL+"/voice", nil))
	capture := sipptest.NewCapture(t)
	if err := runSIPp(t, p, "uac_call.xml", sipptest.Data{RTPPort: capture.Port(), Codec: 8}, "-t", "t1"); err != nil {
		t.Fatal(err)
	}
	assertSpeechThenTone(t, capture.Audio(t, 8))
}

func TestE2EFailoverWhenWebhookDown(t *testing.T) {
	needE2E(t)
	media := newWebhook(t, speechThenTone) // serves only the tone here
	down := fmt.Sprintf("http://127.0.0.1:%d/voice", testkit.FreePort(t))
	p := startPivotua(t, pivotFlow(down, map[string]any{"module": "play", "data": map[string]any{"id": media.URL + "/tone.wav"}}))
	capture := sipptest.NewCapture(t)
	if err := runSIPp(t, p, "uac_call.xml", sipptest.Data{RTPPort: capture.Port(), Codec: 0}); err != nil {
		t.Fatal(err)
	}
	if tones := testkit.CountTone(capture.Audio(t, 0), 1000); tones < 70 {
		t.Errorf("the _ child should play the tone: heard %d tone frames, want about 80", tones)
	}
	// debug is off, yet the failed request is kept so the failover can be explained.
	_, env := crossbar(t, "PUT", p.httpURL+"/v2/api_auth", "", map[string]any{"data": map[string]any{"api_key": "e2e-key"}})
	token, _ := env["auth_token"].(string)
	base := fmt.Sprintf("%s/v2/accounts/%s/pivot/debug", p.httpURL, e2eAccount)
	var rows []any
	for range 50 {
		if _, env = crossbar(t, "GET", base, token, nil); len(env["data"].([]any)) > 0 {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	rows, _ = env["data"].([]any)
	if len(rows) != 1 {
		t.Fatalf("debug list after a failover: %v", env)
	}
	callID := rows[0].(map[string]any)["call_id"].(string)
	_, env = crossbar(t, "GET", base+"/"+url.PathEscape(callID), token, nil)
	recs, _ := env["data"].([]any)
	if len(recs) != 1 || !strings.Contains(fmt.Sprint(recs[0].(map[string]any)["fetch_error"]), "connection refused") {
		t.Errorf("the failed request should be kept with its fetch error: %v", env)
	}
}

func TestE2EUnknownNumberGets404(t *testing.T) {
	needE2E(t)
	hook := newWebhook(t, speechThenTone)
	p := startPivotua(t, pivotFlow(hook.URL+"/voice", nil))
	if err := runSIPp(t, p, "uac_refused.xml", sipptest.Data{Service: "5555", RTPPort: 9, Expect: 404}); err != nil {
		t.Fatal(err)
	}
	if n := len(hook.received()); n != 0 {
		t.Errorf("an unrouted call must not reach the webhook; it got %d requests", n)
	}
}

func TestE2EFailedFlowWithoutFallbackGets503(t *testing.T) {
	needE2E(t)
	down := fmt.Sprintf("http://127.0.0.1:%d/voice", testkit.FreePort(t))
	p := startPivotua(t, pivotFlow(down, nil))
	if err := runSIPp(t, p, "uac_refused.xml", sipptest.Data{RTPPort: 9, Expect: 503}); err != nil {
		t.Fatal(err)
	}
}

func TestE2ECancelWhileRinging(t *testing.T) {
	needE2E(t)
	hook := newWebhook(t, speechThenTone)
	hook.delay = 4 * time.Second // slow webhook: pivotua rings after 1 s, the caller gives up
	p := startPivotua(t, pivotFlow(hook.URL+"/voice", nil))
	capture := sipptest.NewCapture(t)
	if err := runSIPp(t, p, "uac_cancel.xml", sipptest.Data{RTPPort: capture.Port()}); err != nil {
		t.Fatal(err)
	}
	time.Sleep(500 * time.Millisecond)
	if n := len(capture.Packets()); n != 0 {
		t.Errorf("a cancelled call must get no media; got %d RTP packets", n)
	}
}

func TestE2EDelayedOffer(t *testing.T) {
	needE2E(t)
	hook := newWebhook(t, speechThenTone)
	p := startPivotua(t, pivotFlow(hook.URL+"/voice", nil))
	capture := sipptest.NewCapture(t)
	if err := runSIPp(t, p, "uac_delayed_offer.xml", sipptest.Data{RTPPort: capture.Port(), Codec: 0}); err != nil {
		t.Fatal(err)
	}
	assertSpeechThenTone(t, capture.Audio(t, 0))
}

func TestE2EHoldStopsMediaAndResumeRestartsIt(t *testing.T) {
	needE2E(t)
	hook := newWebhook(t, func(w *webhook) any {
		return map[string]any{"module": "play", "data": map[string]any{"id": w.URL + "/tone.wav", "loop_count": 3}}
	})
	p := startPivotua(t, pivotFlow(hook.URL+"/voice", nil))
	capture := sipptest.NewCapture(t)
	if err := runSIPp(t, p, "uac_hold.xml", sipptest.Data{RTPPort: capture.Port(), Codec: 0}); err != nil {
		t.Fatal(err)
	}
	pkts := capture.Packets()
	var longest time.Duration
	for i := 1; i < len(pkts); i++ {
		longest = max(longest, pkts[i].At.Sub(pkts[i-1].At))
	}
	// SIPp holds for about 1 s: no RTP may flow then (we answered recvonly).
	if longest < 700*time.Millisecond {
		t.Errorf("longest gap in RTP was %v; during the 1 s hold pivotua must not send", longest)
	}
	capture.Audio(t, 0) // and the stream stays one well-formed stream across the hold
}

func TestE2ECallerHangsUpMidPrompt(t *testing.T) {
	needE2E(t)
	hook := newWebhook(t, func(w *webhook) any {
		return map[string]any{"module": "play", "data": map[string]any{"id": w.URL + "/tone.wav", "loop_count": 5}}
	})
	p := startPivotua(t, pivotFlow(hook.URL+"/voice", nil))
	capture := sipptest.NewCapture(t)
	if err := runSIPp(t, p, "uac_caller_bye.xml", sipptest.Data{RTPPort: capture.Port(), Codec: 0}); err != nil {
		t.Fatal(err)
	}
	byeDone := time.Now()
	time.Sleep(600 * time.Millisecond)
	for _, pk := range capture.Packets() {
		if pk.At.After(byeDone.Add(100 * time.Millisecond)) {
			t.Fatalf("RTP still arriving %v after the caller's BYE was answered", pk.At.Sub(byeDone))
		}
	}
}

func TestE2EOptions(t *testing.T) {
	needE2E(t)
	p := startPivotua(t, pivotFlow("http://127.0.0.1:1/voice", nil))
	if err := runSIPp(t, p, "options.xml", sipptest.Data{}); err != nil {
		t.Fatal(err)
	}
}

func TestE2EOKRetransmittedUntilACK(t *testing.T) {
	needE2E(t)
	hook := newWebhook(t, speechThenTone)
	p := startPivotua(t, pivotFlow(hook.URL+"/voice", nil))
	capture := sipptest.NewCapture(t)
	trace, err := runSIPpIn(t, t.TempDir(), p, "uac_ack_late.xml", sipptest.Data{RTPPort: capture.Port(), Codec: 0}, "-trace_msg")
	if err != nil {
		t.Fatal(err)
	}
	// RFC 3261 §13.3.1.4: the 200 is retransmitted from T1 (500 ms) until the ACK arrives.
	// (sipgo v1.7.2 then waits T2 = 4 s rather than doubling, so 1.2 s sees one retransmission.)
	oks := 0
	for _, msg := range strings.Split(trace, "----------") {
		if strings.Contains(msg, "message received") && strings.Contains(msg, "SIP/2.0 200 OK") && strings.Contains(msg, "CSeq: 1 INVITE") {
			oks++
		}
	}
	if oks < 2 {
		t.Errorf("SIPp received the 200 OK %d times in 1.2 s without ACK; want the first and its retransmission", oks)
	}
	assertSpeechThenTone(t, capture.Audio(t, 0))
}

func TestE2EMediaTimeoutHangsUpASilentCaller(t *testing.T) {
	needE2E(t)
	hook := newWebhook(t, func(w *webhook) any {
		return map[string]any{"module": "play", "data": map[string]any{"id": w.URL + "/tone.wav", "loop_count": 10}}
	})
	p := startPivotua(t, pivotFlow(hook.URL+"/voice", nil), func(c *Config) { c.RTP.MediaTimeout = "2s" })
	capture := sipptest.NewCapture(t)
	start := time.Now()
	// SIPp sends no RTP, so pivotua must give up after 2 s and send BYE, long before the 16 s prompt ends.
	if err := runSIPp(t, p, "uac_call.xml", sipptest.Data{RTPPort: capture.Port(), Codec: 0}); err != nil {
		t.Fatal(err)
	}
	if took := time.Since(start); took > 8*time.Second {
		t.Errorf("the call lasted %v; the 2 s media timeout should have ended it", took)
	}
	pkts := capture.Packets()
	if len(pkts) == 0 {
		t.Fatal("no RTP before the timeout")
	}
	if played := pkts[len(pkts)-1].At.Sub(pkts[0].At); played < 1500*time.Millisecond || played > 4*time.Second {
		t.Errorf("pivotua sent RTP for %v; want about the 2 s media timeout", played)
	}
}
