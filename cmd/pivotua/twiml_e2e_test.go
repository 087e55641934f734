package main

// End-to-end tests of TwiML with Twilio's semantics: the real binary answers SIPp, fetches documents
// from a Twilio-style application served by the test, and the requests it sends are checked the way
// a Twilio app checks them, including with Twilio's own npm helper library (testdata/twilio).

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pivotua/pivotua/codec"
	"github.com/pivotua/pivotua/flow"
	"github.com/pivotua/pivotua/httpfetch"
	"github.com/pivotua/pivotua/internal/testkit"
	"github.com/pivotua/pivotua/internal/testkit/sipptest"
)

// twimlRequest is one request pivotua sent to the application, as a signature validator needs it.
type twimlRequest struct {
	Method    string
	URL       string     // the full URL as requested
	Path      string     // its path
	Form      url.Values // query and body parameters together
	Body      url.Values // POST body parameters only (nil for GET)
	RawBody   []byte
	Header    http.Header
	At        time.Time
	Signature string // X-Twilio-Signature
}

// twimlApp is a Twilio-style application: each path answers with a TwiML document.
type twimlApp struct {
	*testkit.Webhook
	mu   sync.Mutex                    // guards docs, which a test may swap
	docs map[string]func(n int) string // by path; n counts the requests to the whole app, from 1
}

// static answers every request with the same document.
func static(doc string) func(int) string { return func(int) string { return doc } }

func newTwiMLApp(t *testing.T, docs map[string]func(n int) string) *twimlApp {
	t.Helper()
	a := &twimlApp{docs: docs}
	a.Webhook = testkit.NewWebhook(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/tone.wav" { // 1.6 s of 1 kHz
			var buf bytes.Buffer
			_ = codec.EncodeWAV(&buf, codec.Tone(1000, 1600*time.Millisecond, 0.4), codec.SampleRate)
			w.Header().Set("Content-Type", "audio/wav")
			w.Write(buf.Bytes())
			return
		}
		a.mu.Lock()
		doc, ok := a.docs[r.URL.Path]
		a.mu.Unlock()
		if !ok {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "text/xml")
		io.WriteString(w, doc(len(a.received())))
	})
	return a
}

// received lists the application's requests, but the tone's fetches.
func (a *twimlApp) received() []twimlRequest {
	var reqs []twimlRequest
	for _, r := range a.Requests() {
		if r.Path == "/tone.wav" {
			continue
		}
		req := twimlRequest{
			Method: r.Method, URL: r.URL, Path: r.Path, Form: r.Form,
			RawBody: r.Body, Header: r.Header, At: r.At, Signature: r.Header.Get(httpfetch.HeaderTwilioSignature),
		}
		if r.Method == http.MethodPost {
			req.Body = r.PostForm
		}
		reqs = append(reqs, req)
	}
	return reqs
}

// trail lists the requests as "METHOD /path".
func (a *twimlApp) trail() []string {
	var out []string
	for _, r := range a.received() {
		out = append(out, r.Method+" "+r.Path)
	}
	return out
}

// twimlFlow is a pivot node that asks voiceURL for TwiML with Twilio's parameter names, by POST.
func twimlFlow(voiceURL string) map[string]any {
	return map[string]any{
		"module": "pivot",
		"data":   map[string]any{"voice_url": voiceURL, "method": "post", "req_format": "twiml", "req_timeout_ms": 3000, "debug": true},
	}
}

// assertSigned checks both signatures of a request pivotua sent, as an app holding the api_key would.
func assertSigned(t *testing.T, r twimlRequest) {
	t.Helper()
	if !httpfetch.ValidateTwilioSignature("e2e-key", r.URL, r.Body, r.Signature) {
		t.Errorf("%s %s: X-Twilio-Signature %q does not validate", r.Method, r.URL, r.Signature)
	}
	body := r.RawBody
	if r.Method == http.MethodGet {
		body = nil
	}
	if !httpfetch.ValidatePivotSignature("e2e-key", r.URL, body, r.Header.Get(httpfetch.HeaderPivotSignature), time.Now(), time.Minute) {
		t.Errorf("%s %s: X-Pivot-Signature %q does not validate", r.Method, r.URL, r.Header.Get(httpfetch.HeaderPivotSignature))
	}
}

func TestE2ETwiMLGatherSendsRFC4733DigitsToTheAction(t *testing.T) {
	needE2E(t)
	app := newTwiMLApp(t, map[string]func(int) string{
		"/ivr/voice":    static(`<Response><Gather action="gathered?menu=pin" numDigits="4" timeout="5"><Say>Please enter your PIN now.</Say></Gather><Say>We got nothing.</Say></Response>`),
		"/ivr/gathered": static(`<Response><Say>Thank you.</Say><Hangup/></Response>`),
	})
	p := startPivotua(t, twimlFlow(app.URL+"/ivr/voice"))
	segs := []sipptest.Segment{sipptest.Silence(600 * time.Millisecond)}
	for _, k := range []byte("4271") {
		segs = append(segs, sipptest.Key(k, 100*time.Millisecond), sipptest.Silence(120*time.Millisecond))
	}
	segs = append(segs, sipptest.Silence(3*time.Second))
	if err := runSIPp(t, p, "uac_pcap.xml", sipptest.Data{RTPPort: testkit.FreePort(t), Codec: 0, PCAP: sipptest.PCMUFile(t, segs...)}); err != nil {
		t.Fatal(err)
	}
	reqs := app.received()
	if want := []string{"POST /ivr/voice", "POST /ivr/gathered"}; !slices.Equal(app.trail(), want) {
		t.Fatalf("requests %q, want %q", app.trail(), want)
	}
	action := reqs[1]
	if action.Form.Get("Digits") != "4271" || action.Form.Get("menu") != "pin" || action.Form.Get("CallStatus") != "in-progress" || action.Body.Get("CallSid") != reqs[0].Body.Get("CallSid") {
		t.Errorf("action Digits %q CallStatus %q CallSid %q", action.Form.Get("Digits"), action.Form.Get("CallStatus"), action.Body.Get("CallSid"))
	}
	if reqs[0].Form.Get("CallStatus") != "ringing" || reqs[0].Form.Has("Digits") {
		t.Errorf("first request %v", reqs[0].Form)
	}
	for _, r := range reqs {
		assertSigned(t, r)
	}
}

// TestE2ETwiMLGatherTimeoutThenRedirectChain: a Gather nobody answers falls through to the next verb,
// then Redirects with relative URLs (default POST, then GET) make a chain of three more documents,
// each request one iteration further, as the debug records show.
func TestE2ETwiMLGatherTimeoutThenRedirectChain(t *testing.T) {
	needE2E(t)
	app := newTwiMLApp(t, map[string]func(int) string{
		"/app/start": static(`<Response><Gather timeout="1" action="/never"><Say>Press a key.</Say></Gather><Redirect>step2</Redirect></Response>`),
		"/app/step2": static(`<Response><Pause length="1"/><Redirect method="GET">../final?n=3</Redirect></Response>`),
		"/final":     static(`<Response><Hangup/></Response>`),
	})
	p := startPivotua(t, twimlFlow(app.URL+"/app/start"))
	if err := runSIPp(t, p, "uac_call.xml", sipptest.Data{RTPPort: testkit.FreePort(t), Codec: 0}); err != nil {
		t.Fatal(err)
	}
	if want := []string{"POST /app/start", "POST /app/step2", "GET /final"}; !slices.Equal(app.trail(), want) {
		t.Fatalf("requests %q, want %q", app.trail(), want)
	}
	reqs := app.received()
	for i, r := range reqs {
		if want := []string{"ringing", "in-progress", "in-progress"}[i]; r.Form.Get("CallStatus") != want {
			t.Errorf("request %d CallStatus %q, want %q", i+1, r.Form.Get("CallStatus"), want)
		}
		assertSigned(t, r)
	}
	if reqs[2].Form.Get("n") != "3" || reqs[2].Form.Get("CallSid") == "" || reqs[2].Body != nil {
		t.Errorf("the GET must carry the parameters in its query: %s", reqs[2].URL)
	}

	// The iterations, as the debug records of the call show them.
	callID := reqs[0].Form.Get("CallSid")
	_, env := crossbar(t, "PUT", p.httpURL+"/v2/api_auth", "", map[string]any{"data": map[string]any{"api_key": "e2e-key"}})
	token, _ := env["auth_token"].(string)
	var iterations []float64
	for range 50 {
		iterations = nil
		_, env = crossbar(t, "GET", fmt.Sprintf("%s/v2/accounts/%s/pivot/debug/%s", p.httpURL, e2eAccount, url.PathEscape(callID)), token, nil)
		rows, _ := env["data"].([]any)
		for _, row := range rows {
			if rec := row.(map[string]any); rec["method"] != nil {
				iterations = append(iterations, rec["iteration"].(float64))
			}
		}
		if len(iterations) >= 3 {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if !slices.Equal(iterations, []float64{1, 2, 3}) {
		t.Errorf("request iterations %v, want 1 2 3", iterations)
	}
}

// recordingCallerPCAP: silence, a second of 600 Hz, a second of 1200 Hz, then the end (a key, or
// nothing), then silence.
func recordingCallerPCAP(t *testing.T, key byte) string {
	segs := []sipptest.Segment{sipptest.Silence(time.Second),
		sipptest.Audio(codec.Tone(600, time.Second, 0.4)), sipptest.Audio(codec.Tone(1200, time.Second, 0.4))}
	if key != 0 {
		segs = append(segs, sipptest.Key(key, 120*time.Millisecond))
	}
	return sipptest.PCMUFile(t, append(segs, sipptest.Silence(4*time.Second))...)
}

// TestE2ETwiMLRecord: the caller's audio is recorded until 2 s of silence (first call) or until # (the
// second, with silence detection off); the action gets a RecordingUrl on pivotua's own HTTP listener
// that serves the trimmed recording, with Range requests.
func TestE2ETwiMLRecord(t *testing.T) {
	needE2E(t)
	app := newTwiMLApp(t, map[string]func(int) string{
		"/voice": func(n int) string {
			if n == 1 {
				return `<Response><Record timeout="2" action="/recorded"/><Say>not reached</Say></Response>`
			}
			return `<Response><Record timeout="0" finishOnKey="#" playBeep="false" action="/recorded"/></Response>`
		},
		"/recorded": static(`<Response><Hangup/></Response>`),
	})
	p := startPivotua(t, twimlFlow(app.URL+"/voice"))
	for i, tc := range []struct {
		name   string
		key    byte
		digits string
	}{{"silence", 0, ""}, {"finishOnKey", '#', "#"}} {
		if err := runSIPp(t, p, "uac_pcap.xml", sipptest.Data{RTPPort: testkit.FreePort(t), Codec: 0, PCAP: recordingCallerPCAP(t, tc.key)}); err != nil {
			t.Fatal(err)
		}
		reqs := app.received()
		if len(reqs) != 2*(i+1) {
			t.Fatalf("%s: requests %q", tc.name, app.trail())
		}
		action := reqs[2*i+1]
		if action.Path != "/recorded" || action.Method != "POST" || action.Form.Get("CallStatus") != "in-progress" ||
			action.Form.Get("Digits") != tc.digits || (tc.digits == "" && action.Form.Has("Digits")) {
			t.Errorf("%s: action %s %s %v", tc.name, action.Method, action.Path, action.Body)
		}
		assertSigned(t, action)
		recURL := action.Form.Get("RecordingUrl")
		if !strings.HasPrefix(recURL, p.httpURL+"/recordings/"+e2eAccount+"/") {
			t.Fatalf("%s: RecordingUrl %q", tc.name, recURL)
		}
		if d := action.Form.Get("RecordingDuration"); d != "2" && d != "3" {
			t.Errorf("%s: RecordingDuration %q, want the ~2.4 s of trimmed speech", tc.name, d)
		}
		res, wav := testkit.Get(t, http.MethodGet, recURL, "")
		if res.StatusCode != 200 || res.Header.Get("Content-Type") != "audio/wav" {
			t.Fatalf("%s: GET RecordingUrl: %d %s", tc.name, res.StatusCode, res.Header.Get("Content-Type"))
		}
		assertRecordedTones(t, wav)
		res, part := testkit.Get(t, http.MethodGet, recURL, "bytes=0-43")
		if res.StatusCode != http.StatusPartialContent || !bytes.Equal(part, wav[:44]) {
			t.Errorf("%s: Range request: %d, %d bytes", tc.name, res.StatusCode, len(part))
		}
		if res, _ := testkit.Get(t, http.MethodGet, recURL+"x", ""); res.StatusCode != http.StatusNotFound {
			t.Errorf("%s: a wrong name is served: %d", tc.name, res.StatusCode)
		}
	}
}

func TestE2ETwiMLRejectIsNeverAnswered(t *testing.T) {
	needE2E(t)
	app := newTwiMLApp(t, map[string]func(int) string{
		"/voice": func(n int) string {
			if n == 1 {
				return `<Response><Reject reason="busy"/><Say>never</Say></Response>`
			}
			return `<Response><Reject/></Response>`
		},
	})
	p := startPivotua(t, twimlFlow(app.URL+"/voice"))
	for _, code := range []int{486, 603} {
		if err := runSIPp(t, p, "uac_refused.xml", sipptest.Data{RTPPort: testkit.FreePort(t), Codec: 0, Expect: code}); err != nil {
			t.Errorf("want %d and no 200: %v", code, err)
		}
	}
}

// TestE2ETwiMLPauseBeforeAnswer: a first <Pause> keeps the call unanswered (the Redirect after it still
// reports ringing), and the caller's first RTP comes a pause length after the first request.
func TestE2ETwiMLPauseBeforeAnswer(t *testing.T) {
	needE2E(t)
	app := newTwiMLApp(t, map[string]func(int) string{
		"/voice": static(`<Response><Pause length="1"/><Redirect>/after</Redirect></Response>`),
		"/after": static(`<Response><Play>/tone.wav</Play></Response>`),
	})
	p := startPivotua(t, twimlFlow(app.URL+"/voice"))
	capture := sipptest.NewCapture(t)
	if err := runSIPp(t, p, "uac_call.xml", sipptest.Data{RTPPort: capture.Port(), Codec: 0}); err != nil {
		t.Fatal(err)
	}
	reqs := app.received()
	if len(reqs) != 2 || reqs[1].Form.Get("CallStatus") != "ringing" {
		t.Fatalf("requests %q; the Redirect after the Pause must report ringing", app.trail())
	}
	pkts := capture.Packets()
	if len(pkts) == 0 {
		t.Fatal("no RTP")
	}
	if d := pkts[0].At.Sub(reqs[0].At); d < 900*time.Millisecond {
		t.Errorf("media began %v after the first request; the Pause should hold the answer for 1 s", d)
	}
	if d := reqs[1].At.Sub(reqs[0].At); d < 900*time.Millisecond {
		t.Errorf("the Redirect came %v after the first request", d)
	}
}

// The official Twilio helper library, installed at test time into testdata/twilio/node_modules.
var (
	twilioOnce sync.Once
	twilioErr  error
)

const twilioDir = "../../testdata/twilio"

// needTwilioNode installs the pinned twilio npm package (once; the install is kept across runs) and
// returns the folder its scripts run in. Without node and npm the test fails in CI and is skipped
// elsewhere.
func needTwilioNode(t *testing.T) string {
	t.Helper()
	for _, tool := range []string{"node", "npm"} {
		if _, err := exec.LookPath(tool); err != nil {
			if os.Getenv("CI") == "true" {
				t.Fatalf("%s is not installed (Debian packages nodejs, npm)", tool)
			}
			t.Skipf("%s is not installed (Debian packages nodejs, npm)", tool)
		}
	}
	twilioOnce.Do(func() {
		var pkg struct {
			Dependencies map[string]string `json:"dependencies"`
			Version      string            `json:"version"`
		}
		b, err := os.ReadFile(filepath.Join(twilioDir, "package.json"))
		if err == nil {
			err = json.Unmarshal(b, &pkg)
		}
		if err != nil {
			twilioErr = err
			return
		}
		pinned := pkg.Dependencies["twilio"]
		installed := func() string {
			var got struct{ Version string }
			b, _ := os.ReadFile(filepath.Join(twilioDir, "node_modules", "twilio", "package.json"))
			_ = json.Unmarshal(b, &got)
			return got.Version
		}
		if installed() == pinned {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, "npm", "install", "--no-audit", "--no-fund")
		cmd.Dir = twilioDir
		if out, err := cmd.CombinedOutput(); err != nil {
			twilioErr = fmt.Errorf("npm install twilio@%s: %v\n%s", pinned, err, out)
			return
		}
		if got := installed(); got != pinned {
			twilioErr = fmt.Errorf("npm installed twilio %q, want %q", got, pinned)
		}
	})
	if twilioErr != nil {
		t.Fatal(twilioErr)
	}
	return twilioDir
}

// runNode runs a script of testdata/twilio with stdin and returns its standard output.
func runNode(t *testing.T, dir string, stdin []byte, args ...string) []byte {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "node", args...)
	cmd.Dir = dir
	cmd.Stdin = bytes.NewReader(stdin)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("node %v: %v\n%s", args, err, stderr.String())
	}
	return out
}

// TestE2ETwilioValidatorAcceptsPivotuaSignatures: the requests of a real call (a form POST, a GET
// with its parameters in the query, a POST to a URL with a query, a <Set> variable with non-ASCII
// and reserved characters) pass twilio.validateRequest of Twilio's own library; tampered ones fail.
func TestE2ETwilioValidatorAcceptsPivotuaSignatures(t *testing.T) {
	needE2E(t)
	dir := needTwilioNode(t)
	app := newTwiMLApp(t, map[string]func(int) string{
		"/voice": static(`<Response><Set><Variable key="Note" value="Grüße &amp; 100% + more"/></Set><Say>one</Say><Redirect method="GET">next?a=1&amp;b=x%20y</Redirect></Response>`),
		"/next":  static(`<Response><Redirect>/last?c=3</Redirect></Response>`),
		"/last":  static(`<Response><Hangup/></Response>`),
	})
	p := startPivotua(t, twimlFlow(app.URL+"/voice"))
	if err := runSIPp(t, p, "uac_call.xml", sipptest.Data{RTPPort: testkit.FreePort(t), Codec: 0}); err != nil {
		t.Fatal(err)
	}
	reqs := app.received()
	if len(reqs) != 3 {
		t.Fatalf("requests %q", app.trail())
	}
	type check struct {
		URL       string            `json:"url"`
		Params    map[string]string `json:"params"`
		Signature string            `json:"signature"`
	}
	var checks []check
	for _, r := range reqs {
		params := map[string]string{}
		for k, v := range r.Body {
			params[k] = v[0]
		}
		checks = append(checks, check{r.URL, params, r.Signature})
	}
	if reqs[2].Body.Get("Note") != "Grüße & 100% + more" {
		t.Errorf("the <Set> variable arrived as %q", reqs[2].Body.Get("Note"))
	}
	tampered := checks[0]
	tampered.Params = map[string]string{}
	for k, v := range checks[0].Params {
		tampered.Params[k] = v
	}
	tampered.Params["CallStatus"] = "completed"
	otherURL := checks[1]
	otherURL.URL = strings.Replace(otherURL.URL, "a=1", "a=2", 1)
	checks = append(checks, tampered, otherURL)

	in, _ := json.Marshal(map[string]any{"authToken": "e2e-key", "requests": checks})
	var verdicts []bool
	if err := json.Unmarshal(runNode(t, dir, in, "validate.js"), &verdicts); err != nil {
		t.Fatal(err)
	}
	if want := []bool{true, true, true, false, false}; !slices.Equal(verdicts, want) {
		t.Errorf("twilio.validateRequest said %v for %q + tampered body + tampered URL, want %v", verdicts, app.trail(), want)
	}
}

// TestE2ETwilioVoiceResponseDocumentsRun: documents written by Twilio's VoiceResponse builder parse and
// validate in pivotua, and one of them runs on a real call.
func TestE2ETwilioVoiceResponseDocumentsRun(t *testing.T) {
	dir := needTwilioNode(t)
	app := newTwiMLApp(t, nil)
	docs := map[string]string{}
	if err := json.Unmarshal(runNode(t, dir, nil, "voiceresponse.js", app.URL), &docs); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"say", "play", "gather", "record", "pause-hangup", "reject", "redirect"} {
		if _, err := flow.ParseTwiML([]byte(docs[name])); err != nil {
			t.Errorf("%s: %v\n%s", name, err, docs[name])
		}
	}
	if testing.Short() {
		return
	}
	needE2E(t)
	app.mu.Lock()
	app.docs = map[string]func(int) string{"/voice": static(docs["pause-hangup"])}
	app.mu.Unlock()
	p := startPivotua(t, twimlFlow(app.URL+"/voice"))
	capture := sipptest.NewCapture(t)
	if err := runSIPp(t, p, "uac_call.xml", sipptest.Data{RTPPort: capture.Port(), Codec: 0}); err != nil {
		t.Fatal(err)
	}
	if n := testkit.CountTone(capture.Audio(t, 0), 1000); n < 70 {
		t.Errorf("heard %d frames of the 1 kHz <Play>, want about 80", n)
	}
}
