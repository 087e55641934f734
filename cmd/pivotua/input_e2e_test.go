package main

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pivotua/pivotua/codec"
	"github.com/pivotua/pivotua/internal/testkit"
	"github.com/pivotua/pivotua/internal/testkit/sipptest"
)

// uploadServer is the developer's recording store: it keeps every upload by path.
type uploadServer struct {
	mu      sync.Mutex
	got     map[string][]byte
	ctypes  map[string]string
	arrived chan string
}

func newUploadServer() *uploadServer {
	return &uploadServer{got: map[string][]byte{}, ctypes: map[string]string{}, arrived: make(chan string, 16)}
}

func (u *uploadServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil || r.Method != http.MethodPut {
		http.Error(w, "want PUT with a body", http.StatusBadRequest)
		return
	}
	u.mu.Lock()
	u.got[r.URL.EscapedPath()] = body
	u.ctypes[r.URL.EscapedPath()] = r.Header.Get("Content-Type")
	u.mu.Unlock()
	w.WriteHeader(http.StatusCreated)
	u.arrived <- r.URL.EscapedPath()
}

func (u *uploadServer) wait(t *testing.T, d time.Duration) (string, []byte) {
	t.Helper()
	select {
	case path := <-u.arrived:
		u.mu.Lock()
		defer u.mu.Unlock()
		return path, u.got[path]
	case <-time.After(d):
		t.Fatalf("no recording arrived within %v", d)
		return "", nil
	}
}

// ivrWithPINAndRecording answers with: a prompt, collect a 4-digit PIN, record the caller until a key,
// then ask /done (which hangs up).
func ivrWithPINAndRecording(recordURL string) func(w *webhook) any {
	return func(w *webhook) any {
		if len(w.received()) > 1 {
			return map[string]any{"module": "hangup", "data": map[string]any{}}
		}
		return map[string]any{
			"module": "tts", "data": map[string]any{"text": "Please enter your pin, then speak after the tone."},
			"children": map[string]any{"_": map[string]any{
				"module": "collect_dtmf", "data": map[string]any{"max_digits": 4, "collection_name": "pin", "timeout": 10000},
				"children": map[string]any{"_": map[string]any{
					"module": "record_caller", "data": map[string]any{"url": recordURL, "format": "wav", "time_limit": 30},
					"children": map[string]any{"_": map[string]any{
						"module": "pivot", "data": map[string]any{"voice_url": w.URL + "/voice?step=done"},
					}},
				}},
			}},
		}
	}
}

// callerVoicePCAP: a PIN typed while the prompt plays, then 1 s of 600 Hz and 1 s of 1200 Hz "speech",
// then # to stop the recording.
func callerVoicePCAP(t *testing.T) string {
	t.Helper()
	var segs []sipptest.Segment
	segs = append(segs, sipptest.Silence(600*time.Millisecond))
	for _, k := range []byte("1234") {
		segs = append(segs, sipptest.Key(k, 100*time.Millisecond), sipptest.Silence(120*time.Millisecond))
	}
	segs = append(segs, sipptest.Silence(300*time.Millisecond),
		sipptest.Audio(codec.Tone(600, time.Second, 0.4)), sipptest.Audio(codec.Tone(1200, time.Second, 0.4)),
		sipptest.Key('#', 120*time.Millisecond), sipptest.Silence(3*time.Second))
	return sipptest.PCMUFile(t, segs...)
}

// assertRecordedTones checks a recording holds the caller's 600 Hz second, then the 1200 Hz one.
func assertRecordedTones(t *testing.T, wav []byte) {
	t.Helper()
	pcm, rate, err := codec.DecodeWAV(wav)
	if err != nil || rate != 8000 {
		t.Fatalf("recording: rate %d, %v", rate, err)
	}
	low, high := testkit.Classify(pcm, 600), testkit.Classify(pcm, 1200)
	nLow, nHigh := testkit.CountKind(low, testkit.ToneFrame), testkit.CountKind(high, testkit.ToneFrame)
	if nLow < 45 || nHigh < 45 {
		t.Errorf("recording holds %d frames of 600 Hz and %d of 1200 Hz; want about 50 of each", nLow, nHigh)
	}
	if testkit.FirstKind(low, testkit.ToneFrame) > testkit.FirstKind(high, testkit.ToneFrame) {
		t.Error("the 600 Hz second must come before the 1200 Hz one")
	}
	if d := time.Duration(len(pcm)) * time.Second / 8000; d < 2*time.Second || d > 3500*time.Millisecond {
		t.Errorf("recording lasts %v; want the ~2.3 s between the PIN and #", d)
	}
}

func TestE2ECollectPINAndRecordTheCaller(t *testing.T) {
	needE2E(t)
	store := newUploadServer()
	target := httptest.NewServer(store)
	defer target.Close()
	hook := newWebhook(t, ivrWithPINAndRecording(target.URL+"/recordings/"))
	p := startPivotua(t, pivotFlow(hook.URL+"/voice", nil))
	if err := runSIPp(t, p, "uac_pcap.xml", sipptest.Data{RTPPort: testkit.FreePort(t), Codec: 0, PCAP: callerVoicePCAP(t)}); err != nil {
		t.Fatal(err)
	}
	reqs := hook.received()
	if len(reqs) != 2 {
		t.Fatalf("webhook got %d requests, want 2:\n%s", len(reqs), p.log.String())
	}
	done := reqs[1]
	if got := done.Get("Digits[pin]"); got != "1234" {
		t.Errorf("Digits[pin] = %q, want 1234 (request %v)", got, done)
	}
	callID := reqs[0].Get("Call-ID")
	wantURL := target.URL + "/recordings/" + url.PathEscape(callID) + ".wav" // a path segment ("@" stays)
	if got := done.Get("Recording-Url"); got != wantURL {
		t.Errorf("Recording-Url = %q, want %q", got, wantURL)
	}
	path, body := store.wait(t, 10*time.Second)
	if ct := store.ctypes[path]; ct != "audio/wav" {
		t.Errorf("upload Content-Type %q", ct)
	}
	assertRecordedTones(t, body)
	for state, want := range map[string]float64{"saved": 1, "uploaded": 1} {
		if got := scrape(t, p, `pivotua_recordings_total{state="`+state+`"}`); got != want {
			t.Errorf("pivotua_recordings_total{state=%q} = %v, want %v", state, got, want)
		}
	}
}

// TestE2ERecordingSurvivesADownTargetAndARestart: the upload target is down during the call and while
// pivotua restarts; once it comes up, the spool delivers the recording byte for byte.
func TestE2ERecordingSurvivesADownTargetAndARestart(t *testing.T) {
	needE2E(t)
	targetPort := testkit.FreePort(t)
	targetURL := fmt.Sprintf("http://127.0.0.1:%d/recordings", targetPort)
	hook := newWebhook(t, ivrWithPINAndRecording(targetURL))
	recDir := t.TempDir()
	cfgWithSpool := func(c *Config) { c.Recordings.Dir = recDir }
	p := startPivotua(t, pivotFlow(hook.URL+"/voice", nil), cfgWithSpool)
	if err := runSIPp(t, p, "uac_pcap.xml", sipptest.Data{RTPPort: testkit.FreePort(t), Codec: 0, PCAP: callerVoicePCAP(t)}); err != nil {
		t.Fatal(err)
	}
	time.Sleep(500 * time.Millisecond) // a first upload attempt fails against the closed port
	p.stop(t)

	// A new pivotua on the same recordings folder; then the target comes up.
	startPivotua(t, pivotFlow(hook.URL+"/voice", nil), cfgWithSpool)
	store := newUploadServer()
	ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", targetPort))
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: store}
	go srv.Serve(ln)
	defer srv.Close()
	_, body := store.wait(t, 30*time.Second)
	assertRecordedTones(t, body)
	local, _ := filepath.Glob(filepath.Join(recDir, "*", "*.wav"))
	if len(local) != 1 {
		t.Fatalf("local copies: %v", local)
	}
	want, err := os.ReadFile(local[0])
	if err != nil {
		t.Fatal(err)
	}
	if string(want) != string(body) {
		t.Errorf("the upload (%d bytes) is not byte-identical to the local copy (%d bytes)", len(body), len(want))
	}
}

// collectThenReport collects 4 keys into "default", then asks the webhook again, which hangs up.
func collectThenReport(w *webhook) any {
	if len(w.received()) > 1 {
		return map[string]any{"module": "hangup", "data": map[string]any{}}
	}
	return map[string]any{
		"module": "collect_dtmf", "data": map[string]any{"max_digits": 4, "timeout": 10000},
		"children": map[string]any{"_": map[string]any{
			"module": "pivot", "data": map[string]any{"voice_url": w.URL + "/voice?step=2"},
		}},
	}
}

func assertSecondRequestDigits(t *testing.T, hook *webhook, want string) {
	t.Helper()
	reqs := hook.received()
	if len(reqs) != 2 {
		t.Fatalf("webhook got %d requests, want 2", len(reqs))
	}
	if got := reqs[1].Get("Digits[default]"); got != want {
		t.Errorf("Digits[default] = %q, want %q", got, want)
	}
}

func TestE2EDigitsBySIPINFO(t *testing.T) {
	needE2E(t)
	hook := newWebhook(t, collectThenReport)
	p := startPivotua(t, pivotFlow(hook.URL+"/voice", nil))
	if err := runSIPp(t, p, "uac_info.xml", sipptest.Data{RTPPort: testkit.FreePort(t), Codec: 0}); err != nil {
		t.Fatal(err)
	}
	assertSecondRequestDigits(t, hook, "4321")
}

func TestE2EInbandDigitsWhenTheCallerOffersNoTelephoneEvent(t *testing.T) {
	needE2E(t)
	hook := newWebhook(t, collectThenReport)
	p := startPivotua(t, pivotFlow(hook.URL+"/voice", nil))
	segs := []sipptest.Segment{sipptest.Silence(time.Second)}
	for _, k := range []byte("9*06") {
		segs = append(segs, sipptest.Audio(sipptest.DTMFTone(k, 120*time.Millisecond, 0.25, 0, 0)), sipptest.Silence(100*time.Millisecond))
	}
	segs = append(segs, sipptest.Silence(3*time.Second))
	pcap := filepath.Join(t.TempDir(), "inband.pcap")
	if err := sipptest.WriteCallerPCAP(pcap, codec.PCMA, segs...); err != nil {
		t.Fatal(err)
	}
	err := runSIPp(t, p, "uac_pcap.xml", sipptest.Data{RTPPort: testkit.FreePort(t), Codec: 8, PCAP: pcap, NoEvents: true})
	if err != nil {
		t.Fatal(err)
	}
	assertSecondRequestDigits(t, hook, "9*06")
}

func TestE2ESendDTMFReachesTheCallerAsRFC4733(t *testing.T) {
	needE2E(t)
	hook := newWebhook(t, func(w *webhook) any {
		return map[string]any{"module": "send_dtmf", "data": map[string]any{"digits": "1#5", "duration_ms": 120}}
	})
	p := startPivotua(t, pivotFlow(hook.URL+"/voice", nil))
	capture := sipptest.NewCapture(t)
	if err := runSIPp(t, p, "uac_call.xml", sipptest.Data{RTPPort: capture.Port(), Codec: 0}); err != nil {
		t.Fatal(err)
	}
	// One event per RTP timestamp (RFC 4733 §2.5.1.2), the key in the first payload byte.
	var keys strings.Builder
	seen := map[uint32]bool{}
	ends := map[uint32]int{}
	for _, pk := range capture.Packets() {
		if pk.Header.PayloadType != 101 || len(pk.Payload) < 4 {
			continue
		}
		if pk.Payload[1]&0x80 != 0 {
			ends[pk.Header.Timestamp]++
		}
		if seen[pk.Header.Timestamp] {
			continue
		}
		seen[pk.Header.Timestamp] = true
		keys.WriteByte("0123456789*#ABCD"[pk.Payload[0]&15])
	}
	if keys.String() != "1#5" {
		t.Errorf("the caller received keys %q, want 1#5", keys.String())
	}
	for ts, n := range ends {
		if n != 3 {
			t.Errorf("event at %d had %d end packets, want 3", ts, n)
		}
	}
}

// TestE2EBaresipCallerIsRecorded: a second independent client, baresip, speaks (three tones in turn)
// and hangs up when its WAV ends; pivotua keeps the tail and delivers the recording.
func TestE2EBaresipCallerIsRecorded(t *testing.T) {
	needE2E(t)
	store := newUploadServer()
	target := httptest.NewServer(store)
	defer target.Close()
	hook := newWebhook(t, func(w *webhook) any {
		return map[string]any{"module": "record_caller", "data": map[string]any{"url": target.URL, "format": "wav", "time_limit": 60}}
	})
	p := startPivotua(t, pivotFlow(hook.URL+"/voice", nil))
	var voice []int16
	for _, f := range []float64{500, 1000, 1500} {
		voice = append(voice, codec.Tone(f, time.Second, 0.4)...)
	}
	voice = append(voice, make([]int16, 8000/2)...)
	runBaresip(t, p, voice)
	_, body := store.wait(t, 10*time.Second)
	pcm, _, err := codec.DecodeWAV(body)
	if err != nil {
		t.Fatal(err)
	}
	var order []int
	for _, f := range []float64{500, 1000, 1500} {
		kinds := testkit.Classify(pcm, f)
		if n := testkit.CountKind(kinds, testkit.ToneFrame); n < 40 {
			t.Errorf("%v Hz: %d frames in the recording, want about 50", f, n)
		}
		order = append(order, testkit.FirstKind(kinds, testkit.ToneFrame))
	}
	if order[0] > order[1] || order[1] > order[2] {
		t.Errorf("tones recorded out of order: first frames %v", order)
	}
}
