package main

// End-to-end tests: the real pivotua binary (built with -race) answers SIPp,
// fetches a webhook served by the test, and the audio it sends is captured on
// the test's own RTP socket and judged by tone detection.

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"math"
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
	"syscall"
	"testing"
	"text/template"
	"time"

	"github.com/pion/rtp"
	"github.com/pivotua/pivotua/codec"
	"github.com/pivotua/pivotua/internal/pgtest"
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

// Test ports come from a band of their own, below pivotua's default RTP
// range (16384-32767), the media tests' engines (20000 and up) and the
// kernel's ephemeral ports (32768 and up), and above nothing this package
// binds: so no socket opened elsewhere takes a port between our check and the
// peer's bind, which SIPp, unlike pivotua, does not retry.
const portBandMin, portBandMax = 10000, 16383

var portBand = struct {
	sync.Mutex
	next int
}{next: portBandMin}

// freePort finds a port free for both UDP and TCP on 127.0.0.1.
func freePort(t *testing.T) int { return freePortOn(t, "127.0.0.1") }

// freePortOn finds a port free for both UDP and TCP on ip.
func freePortOn(t *testing.T, ip string) int { return freePorts(t, ip, 1) }

// freeMediaPort finds a SIPp -mp port: SIPp binds it for audio and two
// above it for video, so the four ports from it are all free.
func freeMediaPort(t *testing.T) int { return freePorts(t, "127.0.0.1", 4) }

// freePorts finds n consecutive ports free for both UDP and TCP on ip and
// returns the first; no other call returns them until the band wraps around.
func freePorts(t *testing.T, ip string, n int) int {
	t.Helper()
	portBand.Lock()
	defer portBand.Unlock()
	for range (portBandMax - portBandMin) / n {
		first := portBand.next
		if first+n-1 > portBandMax {
			first = portBandMin
		}
		portBand.next = first + n
		if portsFree(ip, first, n) {
			return first
		}
	}
	t.Fatalf("no %d free ports in %d-%d on %s", n, portBandMin, portBandMax, ip)
	return 0
}

// portsFree reports whether ports first to first+n-1 can be bound on ip, for UDP and TCP.
func portsFree(ip string, first, n int) bool {
	for port := first; port < first+n; port++ {
		addr := net.JoinHostPort(ip, strconv.Itoa(port))
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			return false
		}
		pc, err := net.ListenPacket("udp", addr)
		ln.Close()
		if err != nil {
			return false
		}
		pc.Close()
	}
	return true
}

var rtpRangeMu sync.Mutex
var nextRTPBase = 30000

// rtpRange hands each pivotua instance its own RTP ports, so a test never sees
// packets meant for the previous one.
func rtpRange() (int, int) {
	rtpRangeMu.Lock()
	defer rtpRangeMu.Unlock()
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
	sipHost string
	sipPort int
	httpURL string
	cmd     *exec.Cmd
	log     *syncBuffer
}

type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func (p *pivotuaInstance) sipAddr() string {
	return net.JoinHostPort(p.sipHost, fmt.Sprint(p.sipPort))
}

func (p *pivotuaInstance) logs() string { return p.log.String() }

// startPivotua runs the binary on a config whose only callflow answers 3004 with flow;
// adjust may change the config further.
func startPivotua(t *testing.T, flow any, adjust ...func(*Config)) *pivotuaInstance {
	t.Helper()
	sipPort, httpPort := freePort(t), freePort(t)
	pmin, pmax := rtpRange()
	cfg := defaultConfig()
	cfg.Node = "e2e"
	cfg.SIP.Listen = []string{fmt.Sprintf("udp://127.0.0.1:%d", sipPort), fmt.Sprintf("tcp://127.0.0.1:%d", sipPort)}
	cfg.RTP.PortMin, cfg.RTP.PortMax = pmin, pmax
	cfg.HTTP.Listen = fmt.Sprintf("127.0.0.1:%d", httpPort)
	cfg.Log.Level = "debug"
	cfg.Accounts = []AccountConfig{{ID: e2eAccount, Name: "e2e", APIKey: "e2e-key"}}
	cfg.Callflows = []CallflowConfig{{AccountID: e2eAccount, Numbers: []string{"3004"}, Flow: flow}}
	for _, f := range adjust {
		f(&cfg)
	}
	return startPivotuaWithConfig(t, cfg)
}

// startPivotuaWithConfig runs the binary on cfg (its SIP listeners must share one port).
func startPivotuaWithConfig(t *testing.T, cfg Config) *pivotuaInstance {
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
	inst := &pivotuaInstance{sipHost: sipAddr.Addr().String(), sipPort: int(sipAddr.Port()), httpURL: "http://" + cfg.HTTP.Listen, log: &syncBuffer{}}
	inst.cmd = exec.Command(e2eBinary, "serve", "--config", path)
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

// stop sends SIGTERM and fails the test if pivotua did not exit cleanly
// (a data race found by the -race build makes it exit 66).
func (p *pivotuaInstance) stop(t *testing.T) {
	if p.cmd.ProcessState != nil {
		return
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan error, 1)
	go func() { done <- p.cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("pivotua exited with %v:\n%s", err, p.log.String())
		}
	case <-time.After(40 * time.Second):
		_ = p.cmd.Process.Kill()
		t.Errorf("pivotua did not stop on SIGTERM:\n%s", p.log.String())
	}
	if strings.Contains(p.log.String(), "DATA RACE") || strings.Contains(p.log.String(), "panic") {
		t.Errorf("pivotua log shows a race or panic:\n%s", p.log.String())
	}
}

type scenarioData struct {
	Service   string
	RTPPort   int
	Codec     int
	CodecName string
	Expect    int
	PCAP      string // for uac_pcap.xml: the caller's RTP to replay
	NoEvents  bool   // for uac_pcap.xml: offer no telephone-event (DTMF only in-band)
}

// runSIPp renders testdata/sipp/<name> and runs one call of it against p.
func runSIPp(t *testing.T, p sipPeer, name string, data scenarioData, extra ...string) error {
	_, err := runSIPpIn(t, t.TempDir(), p, name, data, extra...)
	return err
}

// runSIPpIn is runSIPp in a given folder, where SIPp leaves its trace files; it returns their text.
func runSIPpIn(t *testing.T, dir string, p sipPeer, name string, data scenarioData, extra ...string) (string, error) {
	t.Helper()
	if data.Service == "" {
		data.Service = "3004"
	}
	if data.CodecName == "" {
		data.CodecName = map[int]string{0: "PCMU", 8: "PCMA"}[data.Codec]
	}
	scen := renderScenario(t, dir, name, data)
	args := []string{
		p.sipAddr(), "-sf", scen, "-m", "1",
		"-i", "127.0.0.1", "-p", fmt.Sprint(freePort(t)),
		"-mi", "127.0.0.1", "-mp", fmt.Sprint(freeMediaPort(t)),
		"-nostdin", "-trace_err", "-timeout", "45s", "-timeout_error",
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "sipp", append(args, extra...)...)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if err != nil {
		errLogs, _ := filepath.Glob(filepath.Join(dir, "*_errors.log"))
		var details strings.Builder
		for _, l := range errLogs {
			b, _ := os.ReadFile(l)
			details.Write(b)
		}
		return "", fmt.Errorf("sipp %s: %v\n%s\nerrors log:\n%s\npeer log:\n%s", name, err, lastLines(string(out), 30), details.String(), p.logs())
	}
	var traces strings.Builder
	logs, _ := filepath.Glob(filepath.Join(dir, "*_messages.log"))
	for _, l := range logs {
		b, _ := os.ReadFile(l)
		traces.Write(b)
	}
	return traces.String(), nil
}

// renderScenario writes testdata/sipp/<name>, rendered with data, into dir and returns its path.
func renderScenario(t *testing.T, dir, name string, data any) string {
	t.Helper()
	tmpl, err := template.ParseFiles(filepath.Join("..", "..", "testdata", "sipp", name))
	if err != nil {
		t.Fatal(err)
	}
	scen := filepath.Join(dir, name)
	f, err := os.Create(scen)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := tmpl.Execute(f, data); err != nil {
		t.Fatal(err)
	}
	return scen
}

func lastLines(s string, n int) string {
	lines := strings.Split(s, "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// rtpCapture is the caller's RTP socket: it keeps every packet pivotua sends.
type rtpCapture struct {
	conn *net.UDPConn
	mu   sync.Mutex
	pkts []capturedPacket
	done chan struct{}
}

type capturedPacket struct {
	at      time.Time
	header  rtp.Header
	payload []byte
}

func newRTPCapture(t *testing.T) *rtpCapture {
	t.Helper()
	conn, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	c := &rtpCapture{conn: conn, done: make(chan struct{})}
	go func() {
		defer close(c.done)
		buf := make([]byte, 1500)
		for {
			n, _, err := conn.ReadFromUDP(buf)
			if err != nil {
				return
			}
			var p rtp.Packet
			if p.Unmarshal(buf[:n]) != nil {
				continue
			}
			c.mu.Lock()
			c.pkts = append(c.pkts, capturedPacket{at: time.Now(), header: p.Header, payload: bytes.Clone(p.Payload)})
			c.mu.Unlock()
		}
	}()
	t.Cleanup(func() { conn.Close(); <-c.done })
	return c
}

func (c *rtpCapture) port() int { return c.conn.LocalAddr().(*net.UDPAddr).Port }

func (c *rtpCapture) packets() []capturedPacket {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]capturedPacket(nil), c.pkts...)
}

// audio checks the stream is one well-formed RTP stream of payload type pt
// (one SSRC, consecutive sequence numbers, timestamps 160 apart) and decodes it.
func (c *rtpCapture) audio(t *testing.T, pt uint8) []int16 {
	t.Helper()
	pkts := c.packets()
	if len(pkts) == 0 {
		t.Fatal("pivotua sent no RTP")
	}
	ssrc := pkts[0].header.SSRC
	var pcm []int16
	frame := make([]int16, codec.FrameSamples)
	for i, p := range pkts {
		h := p.header
		if h.SSRC != ssrc {
			t.Fatalf("packet %d: SSRC %08x, the stream started with %08x", i, h.SSRC, ssrc)
		}
		if h.PayloadType != pt {
			t.Fatalf("packet %d: payload type %d, want %d", i, h.PayloadType, pt)
		}
		if i > 0 {
			prev := pkts[i-1].header
			if h.SequenceNumber != prev.SequenceNumber+1 {
				t.Fatalf("packet %d: sequence %d after %d", i, h.SequenceNumber, prev.SequenceNumber)
			}
			// Timestamps advance by 160 per frame; across a hold they may jump further ahead.
			if d := h.Timestamp - prev.Timestamp; d < 160 || d%160 != 0 {
				t.Fatalf("packet %d: timestamp %d after %d", i, h.Timestamp, prev.Timestamp)
			}
		}
		if len(p.payload) != codec.FrameSamples {
			t.Fatalf("packet %d: %d payload bytes, want 160 (20 ms)", i, len(p.payload))
		}
		n := codec.DecodeFrame(codec.Law(pt), frame, p.payload)
		pcm = append(pcm, frame[:n]...)
	}
	return pcm
}

// toneShare is the share of a frame's energy at freq (1.0 for a pure tone).
func toneShare(frame []int16, freq float64) float64 {
	var s1, s2, energy float64
	coeff := 2 * math.Cos(2*math.Pi*freq/codec.SampleRate)
	for _, v := range frame {
		x := float64(v)
		s0 := x + coeff*s1 - s2
		s2, s1 = s1, s0
		energy += x * x
	}
	if energy == 0 {
		return 0
	}
	power := s1*s1 + s2*s2 - coeff*s1*s2
	return power / (energy * float64(len(frame)) / 2)
}

type frameKind int

const (
	silentFrame frameKind = iota
	toneFrame
	otherSound
)

// classify labels each 20 ms frame as silence, the tone at freq, or other sound (speech).
func classify(pcm []int16, freq float64) []frameKind {
	var kinds []frameKind
	for i := 0; i+codec.FrameSamples <= len(pcm); i += codec.FrameSamples {
		f := pcm[i : i+codec.FrameSamples]
		var rms float64
		for _, v := range f {
			rms += float64(v) * float64(v)
		}
		rms = math.Sqrt(rms / float64(len(f)))
		switch {
		case rms < 100:
			kinds = append(kinds, silentFrame)
		case toneShare(f, freq) > 0.8:
			kinds = append(kinds, toneFrame)
		default:
			kinds = append(kinds, otherSound)
		}
	}
	return kinds
}

func count(kinds []frameKind, k frameKind) int {
	n := 0
	for _, v := range kinds {
		if v == k {
			n++
		}
	}
	return n
}

func firstIndex(kinds []frameKind, k frameKind) int {
	for i, v := range kinds {
		if v == k {
			return i
		}
	}
	return -1
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
		_ = codec.EncodeWAV(&buf, toneAt(1000, 1600*time.Millisecond, 16000), 16000)
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

// toneAt makes a sine at any sample rate (codec.Tone is 8 kHz only).
func toneAt(freq float64, d time.Duration, rate int) []int16 {
	n := int(d.Seconds() * float64(rate))
	out := make([]int16, n)
	for i := range out {
		out[i] = int16(0.4 * 32767 * math.Sin(2*math.Pi*freq*float64(i)/float64(rate)))
	}
	return out
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
	kinds := classify(pcm, 1000)
	tones, speech := count(kinds, toneFrame), count(kinds, otherSound)
	if tones < 70 || tones > 85 {
		t.Errorf("heard %d frames of the 1 kHz tone, want about 80 (1.6 s)", tones)
	}
	if speech < 25 {
		t.Errorf("heard %d frames of speech, want the TTS sentence (over 0.5 s)", speech)
	}
	if s, tn := firstIndex(kinds, otherSound), firstIndex(kinds, toneFrame); s < 0 || tn < 0 || s > tn {
		t.Errorf("speech should come before the tone: first speech frame %d, first tone frame %d", s, tn)
	}
}

func TestE2EKazooFlowPlaysSpeechThenTone(t *testing.T) {
	needE2E(t)
	hook := newWebhook(t, speechThenTone)
	p := startPivotua(t, pivotFlow(hook.URL+"/voice?app=e2e", nil))
	capture := newRTPCapture(t)
	if err := runSIPp(t, p, "uac_call.xml", scenarioData{RTPPort: capture.port(), Codec: 0}); err != nil {
		t.Fatal(err)
	}
	assertSpeechThenTone(t, capture.audio(t, 0))

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
	capture := newRTPCapture(t)
	if err := runSIPp(t, p, "uac_call.xml", scenarioData{RTPPort: capture.port(), Codec: 0}); err != nil {
		t.Fatal(err)
	}
	assertSpeechThenTone(t, capture.audio(t, 0))
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
	capture := newRTPCapture(t)
	if err := runSIPp(t, p, "uac_call.xml", scenarioData{RTPPort: capture.port(), Codec: 8}, "-t", "t1"); err != nil {
		t.Fatal(err)
	}
	assertSpeechThenTone(t, capture.audio(t, 8))
}

func TestE2EFailoverWhenWebhookDown(t *testing.T) {
	needE2E(t)
	media := newWebhook(t, speechThenTone) // serves only the tone here
	down := fmt.Sprintf("http://127.0.0.1:%d/voice", freePort(t))
	p := startPivotua(t, pivotFlow(down, map[string]any{"module": "play", "data": map[string]any{"id": media.URL + "/tone.wav"}}))
	capture := newRTPCapture(t)
	if err := runSIPp(t, p, "uac_call.xml", scenarioData{RTPPort: capture.port(), Codec: 0}); err != nil {
		t.Fatal(err)
	}
	if tones := count(classify(capture.audio(t, 0), 1000), toneFrame); tones < 70 {
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
	if err := runSIPp(t, p, "uac_refused.xml", scenarioData{Service: "5555", RTPPort: 9, Expect: 404}); err != nil {
		t.Fatal(err)
	}
	if n := len(hook.received()); n != 0 {
		t.Errorf("an unrouted call must not reach the webhook; it got %d requests", n)
	}
}

func TestE2EFailedFlowWithoutFallbackGets503(t *testing.T) {
	needE2E(t)
	down := fmt.Sprintf("http://127.0.0.1:%d/voice", freePort(t))
	p := startPivotua(t, pivotFlow(down, nil))
	if err := runSIPp(t, p, "uac_refused.xml", scenarioData{RTPPort: 9, Expect: 503}); err != nil {
		t.Fatal(err)
	}
}

func TestE2ECancelWhileRinging(t *testing.T) {
	needE2E(t)
	hook := newWebhook(t, speechThenTone)
	hook.delay = 4 * time.Second // slow webhook: pivotua rings after 1 s, the caller gives up
	p := startPivotua(t, pivotFlow(hook.URL+"/voice", nil))
	capture := newRTPCapture(t)
	if err := runSIPp(t, p, "uac_cancel.xml", scenarioData{RTPPort: capture.port()}); err != nil {
		t.Fatal(err)
	}
	time.Sleep(500 * time.Millisecond)
	if n := len(capture.packets()); n != 0 {
		t.Errorf("a cancelled call must get no media; got %d RTP packets", n)
	}
}

func TestE2EDelayedOffer(t *testing.T) {
	needE2E(t)
	hook := newWebhook(t, speechThenTone)
	p := startPivotua(t, pivotFlow(hook.URL+"/voice", nil))
	capture := newRTPCapture(t)
	if err := runSIPp(t, p, "uac_delayed_offer.xml", scenarioData{RTPPort: capture.port(), Codec: 0}); err != nil {
		t.Fatal(err)
	}
	assertSpeechThenTone(t, capture.audio(t, 0))
}

func TestE2EHoldStopsMediaAndResumeRestartsIt(t *testing.T) {
	needE2E(t)
	hook := newWebhook(t, func(w *webhook) any {
		return map[string]any{"module": "play", "data": map[string]any{"id": w.URL + "/tone.wav", "loop_count": 3}}
	})
	p := startPivotua(t, pivotFlow(hook.URL+"/voice", nil))
	capture := newRTPCapture(t)
	if err := runSIPp(t, p, "uac_hold.xml", scenarioData{RTPPort: capture.port(), Codec: 0}); err != nil {
		t.Fatal(err)
	}
	pkts := capture.packets()
	var longest time.Duration
	for i := 1; i < len(pkts); i++ {
		longest = max(longest, pkts[i].at.Sub(pkts[i-1].at))
	}
	// SIPp holds for about 1 s: no RTP may flow then (we answered recvonly).
	if longest < 700*time.Millisecond {
		t.Errorf("longest gap in RTP was %v; during the 1 s hold pivotua must not send", longest)
	}
	capture.audio(t, 0) // and the stream stays one well-formed stream across the hold
}

func TestE2ECallerHangsUpMidPrompt(t *testing.T) {
	needE2E(t)
	hook := newWebhook(t, func(w *webhook) any {
		return map[string]any{"module": "play", "data": map[string]any{"id": w.URL + "/tone.wav", "loop_count": 5}}
	})
	p := startPivotua(t, pivotFlow(hook.URL+"/voice", nil))
	capture := newRTPCapture(t)
	if err := runSIPp(t, p, "uac_caller_bye.xml", scenarioData{RTPPort: capture.port(), Codec: 0}); err != nil {
		t.Fatal(err)
	}
	byeDone := time.Now()
	time.Sleep(600 * time.Millisecond)
	for _, pk := range capture.packets() {
		if pk.at.After(byeDone.Add(100 * time.Millisecond)) {
			t.Fatalf("RTP still arriving %v after the caller's BYE was answered", pk.at.Sub(byeDone))
		}
	}
}

func TestE2EOptions(t *testing.T) {
	needE2E(t)
	p := startPivotua(t, pivotFlow("http://127.0.0.1:1/voice", nil))
	if err := runSIPp(t, p, "options.xml", scenarioData{}); err != nil {
		t.Fatal(err)
	}
}

func TestE2EOKRetransmittedUntilACK(t *testing.T) {
	needE2E(t)
	hook := newWebhook(t, speechThenTone)
	p := startPivotua(t, pivotFlow(hook.URL+"/voice", nil))
	capture := newRTPCapture(t)
	trace, err := runSIPpIn(t, t.TempDir(), p, "uac_ack_late.xml", scenarioData{RTPPort: capture.port(), Codec: 0}, "-trace_msg")
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
	assertSpeechThenTone(t, capture.audio(t, 0))
}

func TestE2EMediaTimeoutHangsUpASilentCaller(t *testing.T) {
	needE2E(t)
	hook := newWebhook(t, func(w *webhook) any {
		return map[string]any{"module": "play", "data": map[string]any{"id": w.URL + "/tone.wav", "loop_count": 10}}
	})
	p := startPivotua(t, pivotFlow(hook.URL+"/voice", nil), func(c *Config) { c.RTP.MediaTimeout = "2s" })
	capture := newRTPCapture(t)
	start := time.Now()
	// SIPp sends no RTP, so pivotua must give up after 2 s and send BYE, long before the 16 s prompt ends.
	if err := runSIPp(t, p, "uac_call.xml", scenarioData{RTPPort: capture.port(), Codec: 0}); err != nil {
		t.Fatal(err)
	}
	if took := time.Since(start); took > 8*time.Second {
		t.Errorf("the call lasted %v; the 2 s media timeout should have ended it", took)
	}
	pkts := capture.packets()
	if len(pkts) == 0 {
		t.Fatal("no RTP before the timeout")
	}
	if played := pkts[len(pkts)-1].at.Sub(pkts[0].at); played < 1500*time.Millisecond || played > 4*time.Second {
		t.Errorf("pivotua sent RTP for %v; want about the 2 s media timeout", played)
	}
}
