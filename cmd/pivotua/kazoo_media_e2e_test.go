package main

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pivotua/pivotua/codec"
	"github.com/pivotua/pivotua/internal/testkit"
	"github.com/pivotua/pivotua/internal/testkit/sipptest"
)

// Kazoo media: audio uploaded through the media API (Kazoo's crossbar shape, Crossbar tokens) and
// played by its id; record_call; and the leniency Kazoo's own examples need.

// mediaAccountB is a second account, whose token must never reach the first one's media.
const mediaAccountB = "9f2b6c0e1a7d4e3f8b5a6c7d8e9f0a1b"

// mediaClient speaks the media API of one pivotua as an account, with a Crossbar token.
type mediaClient struct {
	base, account, token string
}

func newMediaClient(t *testing.T, p *pivotuaInstance, account, apiKey string) *mediaClient {
	t.Helper()
	code, env := crossbar(t, "PUT", p.httpURL+"/v2/api_auth", "", map[string]any{"data": map[string]any{"api_key": apiKey}})
	token, _ := env["auth_token"].(string)
	if code != http.StatusCreated || token == "" {
		t.Fatalf("api_auth: %d %v", code, env)
	}
	return &mediaClient{base: p.httpURL + "/v2/accounts/" + account + "/media", account: account, token: token}
}

// create makes a media document and returns its id.
func (mc *mediaClient) create(t *testing.T, name string) string {
	t.Helper()
	code, env := crossbar(t, "PUT", mc.base, mc.token, map[string]any{"data": map[string]any{"streamable": true, "name": name, "description": "e2e"}})
	data, _ := env["data"].(map[string]any)
	id, _ := data["id"].(string)
	if code != http.StatusCreated || len(id) != 32 {
		t.Fatalf("PUT media: %d %v", code, env)
	}
	return id
}

// upload POSTs body to path (under the account's media) and returns the status and envelope.
func (mc *mediaClient) upload(t *testing.T, path, contentType string, body []byte) (int, map[string]any) {
	t.Helper()
	return crossbarRaw(t, http.MethodPost, mc.base+path, mc.token, contentType, body)
}

// toneWAV is 1.6 s of 1 kHz at 16 kHz, so the upload is resampled when it is played.
func toneWAV(t *testing.T) []byte {
	var buf bytes.Buffer
	if err := codec.EncodeWAV(&buf, testkit.Sine(1000, 16000, testkit.Samples(1600*time.Millisecond, 16000), 0.4), 16000); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// uploadTone creates a media document holding toneWAV and returns its id.
func uploadTone(t *testing.T, mc *mediaClient) string {
	t.Helper()
	id := mc.create(t, "tone")
	if code, env := mc.upload(t, "/"+id+"/raw", "audio/x-wav", toneWAV(t)); code != http.StatusOK {
		t.Fatalf("upload: %d %v", code, env)
	}
	return id
}

// mediaDoc serves the Kazoo document doc returns once the test set what it needs (a media id).
type mediaDoc struct {
	mu  sync.Mutex
	doc any
}

func (d *mediaDoc) set(doc any) { d.mu.Lock(); d.doc = doc; d.mu.Unlock() }
func (d *mediaDoc) get(*webhook) any {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.doc
}

// assertToneHeard checks the caller heard the uploaded tone, about 1.6 s of it.
func assertToneHeard(t *testing.T, pcm []int16) {
	t.Helper()
	if n := testkit.CountTone(pcm, 1000); n < 70 || n > 85 {
		t.Errorf("heard %d frames of the uploaded 1 kHz tone, want about 80 (1.6 s)", n)
	}
}

func TestE2EKazooMediaPlayedByIDIsHeard(t *testing.T) {
	needE2E(t)
	var doc mediaDoc
	hook := newWebhook(t, doc.get)
	p := startPivotua(t, pivotFlow(hook.URL+"/voice", nil))
	id := uploadTone(t, newMediaClient(t, p, e2eAccount, "e2e-key"))
	// Kazoo's own form, /{ACCOUNT_ID}/{MEDIA_ID}, as its documents write it.
	doc.set(map[string]any{"module": "play", "data": map[string]any{"id": "/" + e2eAccount + "/" + id}})
	capture := sipptest.NewCapture(t)
	if err := runSIPp(t, p, "uac_call.xml", sipptest.Data{RTPPort: capture.Port(), Codec: 0}); err != nil {
		t.Fatal(err)
	}
	assertToneHeard(t, capture.Audio(t, 0))
}

// TestE2EKazooMediaResponseCarriesItsMediaAsEarlyMedia: {"module":"response","data":{"code":"486",
// "media":ID}} (the code a string, as Kazoo's examples write it): the caller hears the tone in early
// media, then gets 486, and the call is never answered.
func TestE2EKazooMediaResponseCarriesItsMediaAsEarlyMedia(t *testing.T) {
	needE2E(t)
	var doc mediaDoc
	hook := newWebhook(t, doc.get)
	p := startPivotua(t, pivotFlow(hook.URL+"/voice", nil))
	id := uploadTone(t, newMediaClient(t, p, e2eAccount, "e2e-key"))
	doc.set(map[string]any{"module": "response", "data": map[string]any{"code": "486", "message": "Busy Here", "media": id}})
	capture := sipptest.NewCapture(t)
	if err := runSIPp(t, p, "uac_refused.xml", sipptest.Data{RTPPort: capture.Port(), Codec: 0, Expect: 486}); err != nil {
		t.Fatal(err)
	}
	assertToneHeard(t, capture.Audio(t, 0))
}

// TestE2EKazooMediaRecordCallUploadsTheWholeCall: record_call starts (before the answer), pivotua plays
// the uploaded tone (1 kHz, which answers), then the caller speaks (600 Hz) while the flow sleeps, and
// pivotua hangs up: the upload, made at the hangup, holds both sides in order.
func TestE2EKazooMediaRecordCallUploadsTheWholeCall(t *testing.T) {
	needE2E(t)
	store := newUploadServer()
	target := httptest.NewServer(store)
	defer target.Close()
	var doc mediaDoc
	hook := newWebhook(t, doc.get)
	p := startPivotua(t, pivotFlow(hook.URL+"/voice", nil))
	id := uploadTone(t, newMediaClient(t, p, e2eAccount, "e2e-key"))
	doc.set(map[string]any{
		"module": "record_call", "data": map[string]any{"action": "start", "url": target.URL + "/calls", "format": "wav", "time_limit": "60"},
		"children": map[string]any{"_": map[string]any{
			"module": "play", "data": map[string]any{"id": id},
			"children": map[string]any{"_": map[string]any{"module": "sleep", "data": map[string]any{"duration": 2500, "unit": "ms"}}},
		}},
	})
	pcap := sipptest.PCMUFile(t, sipptest.Silence(2*time.Second), sipptest.Audio(codec.Tone(600, 1500*time.Millisecond, 0.4)), sipptest.Silence(6*time.Second))
	capture := sipptest.NewCapture(t)
	if err := runSIPp(t, p, "uac_pcap.xml", sipptest.Data{RTPPort: capture.Port(), Codec: 0, PCAP: pcap}); err != nil {
		t.Fatal(err)
	}
	path, body := store.wait(t, 15*time.Second)
	if !strings.HasPrefix(path, "/calls/") || !strings.HasSuffix(path, ".wav") {
		t.Errorf("uploaded to %s, want /calls/<call-id>.wav", path)
	}
	pcm, rate, err := codec.DecodeWAV(body)
	if err != nil || rate != 8000 {
		t.Fatalf("recording: rate %d, %v", rate, err)
	}
	caller, heard := testkit.Classify(pcm, 600), testkit.Classify(pcm, 1000)
	nCaller, nHeard := testkit.CountKind(caller, testkit.ToneFrame), testkit.CountKind(heard, testkit.ToneFrame)
	t.Logf("recording: %v, %d frames of the caller's 600 Hz, %d of the played 1 kHz", time.Duration(len(pcm))*time.Second/8000, nCaller, nHeard)
	if nCaller < 65 || nHeard < 70 {
		t.Errorf("recording holds %d frames of the caller's 600 Hz (want about 75) and %d of the played 1 kHz (want about 80)", nCaller, nHeard)
	}
	if testkit.FirstKind(heard, testkit.ToneFrame) > testkit.FirstKind(caller, testkit.ToneFrame) {
		t.Error("the played tone came before the caller's, and must in the recording too")
	}
	if d := time.Duration(len(pcm)) * time.Second / 8000; d < 3800*time.Millisecond || d > 6*time.Second {
		t.Errorf("recording lasts %v, want the call's 4.1 s or so", d)
	}
}

// TestE2EKazooMediaRecordCallStopsAtStop: record_call start, the uploaded tone, record_call stop, then
// 2.5 s more of the call: the upload holds the tone and not the rest, and was sent before the hangup.
func TestE2EKazooMediaRecordCallStopsAtStop(t *testing.T) {
	needE2E(t)
	store := newUploadServer()
	target := httptest.NewServer(store)
	defer target.Close()
	var doc mediaDoc
	hook := newWebhook(t, doc.get)
	p := startPivotua(t, pivotFlow(hook.URL+"/voice", nil))
	id := uploadTone(t, newMediaClient(t, p, e2eAccount, "e2e-key"))
	then := func(module string, data map[string]any, next any) map[string]any {
		n := map[string]any{"module": module, "data": data}
		if next != nil {
			n["children"] = map[string]any{"_": next}
		}
		return n
	}
	doc.set(then("record_call", map[string]any{"action": "start", "url": target.URL + "/calls", "format": "wav", "media_name": "board-call"},
		then("play", map[string]any{"id": id},
			then("record_call", map[string]any{"action": "stop"},
				then("sleep", map[string]any{"duration": "2500", "unit": "ms"}, nil)))))
	capture := sipptest.NewCapture(t)
	sipp := make(chan error, 1)
	go func() { sipp <- runSIPp(t, p, "uac_call.xml", sipptest.Data{RTPPort: capture.Port(), Codec: 0}) }()
	path, body := store.wait(t, 10*time.Second)
	select {
	case err := <-sipp:
		t.Errorf("the call was over (%v) before the upload arrived: it must go at stop, not at hangup", err)
	default:
	}
	if err := <-sipp; err != nil {
		t.Fatal(err)
	}
	if path != "/calls/board-call.wav" {
		t.Errorf("uploaded to %s, want /calls/board-call.wav (media_name)", path)
	}
	pcm, _, err := codec.DecodeWAV(body)
	if err != nil {
		t.Fatal(err)
	}
	d := time.Duration(len(pcm)) * time.Second / 8000
	if n := testkit.CountTone(pcm, 1000); n < 70 || d > 2200*time.Millisecond {
		t.Errorf("recording of %v holds %d frames of the tone; want about 80 in at most 2.2 s", d, n)
	}
}

// TestE2EKazooMediaTTSEngineOfKazooSpeaksWithAWarning: a tts naming engine ispeech is spoken by the
// local engine, and the debug records carry the warning.
func TestE2EKazooMediaTTSEngineOfKazooSpeaksWithAWarning(t *testing.T) {
	needE2E(t)
	hook := newWebhook(t, func(*webhook) any {
		return map[string]any{"module": "tts", "data": map[string]any{"text": "Hello from a Kazoo document.", "engine": "ispeech", "voice": "female/en-US"}}
	})
	flow := pivotFlow(hook.URL+"/voice", nil)
	flow["data"].(map[string]any)["debug"] = true
	p := startPivotua(t, flow)
	capture := sipptest.NewCapture(t)
	if err := runSIPp(t, p, "uac_call.xml", sipptest.Data{RTPPort: capture.Port(), Codec: 0}); err != nil {
		t.Fatal(err)
	}
	if n := testkit.CountKind(testkit.Classify(capture.Audio(t, 0), 1000), testkit.OtherSound); n < 25 {
		t.Errorf("heard %d frames of speech, want the sentence (over 0.5 s)", n)
	}
	callID := hook.received()[0].Get("Call-ID")
	waitForHangupRecord(t, p, callID)
	mc := newMediaClient(t, p, e2eAccount, "e2e-key")
	_, env := crossbar(t, "GET", fmt.Sprintf("%s/v2/accounts/%s/pivot/debug/%s?events=true", p.httpURL, e2eAccount, url.PathEscape(callID)), mc.token, nil)
	docs, _ := env["data"].([]any)
	var warning string
	for _, d := range docs {
		if rec := d.(map[string]any); rec["event"] == "warning" {
			warning = fmt.Sprint(rec)
		}
	}
	if !strings.Contains(warning, "engine ispeech is not available here") {
		t.Errorf("no warning record about engine ispeech in %v", docs)
	}
}

// TestE2EKazooMediaAPIRefusesHostileRequests: what a hostile client can send the media API of the real
// binary, each answered with a clear error and nothing kept.
func TestE2EKazooMediaAPIRefusesHostileRequests(t *testing.T) {
	needE2E(t)
	p := startPivotua(t, map[string]any{"module": "hangup"}, func(c *Config) {
		c.Accounts = append(c.Accounts, AccountConfig{ID: mediaAccountB, Name: "other", APIKey: "other-key"})
		c.MediaStore.MaxFileBytes = 64 << 10
	})
	mc := newMediaClient(t, p, e2eAccount, "e2e-key")
	other := newMediaClient(t, p, mediaAccountB, "other-key")
	id := mc.create(t, "target")

	check := func(what string, code int, env map[string]any, wantCode int, wantMessage string) {
		t.Helper()
		msg, _ := env["message"].(string)
		if code != wantCode || env["status"] != "error" || !strings.Contains(msg, wantMessage) {
			t.Errorf("%s: %d %q, want %d with %q", what, code, msg, wantCode, wantMessage)
		}
	}
	big := make([]byte, 200<<10)
	copy(big, toneWAV(t)[:44])
	code, env := mc.upload(t, "/"+id+"/raw", "audio/wav", big)
	check("oversize upload", code, env, http.StatusRequestEntityTooLarge, "max_file_bytes")
	code, env = mc.upload(t, "/"+id+"/raw", "audio/wav", []byte("<html><body>not audio</body></html>"))
	check("non-audio upload", code, env, http.StatusBadRequest, "not audio pivotua can play")
	code, env = mc.upload(t, "/"+id+"/raw", "audio/ogg", toneWAV(t)[:1000])
	check("a format pivotua cannot play", code, env, http.StatusUnsupportedMediaType, "audio/wav")
	for _, bad := range []string{"..%2F..%2Fpivotua.json", "%2e%2e%2f%2e%2e", "tone.wav"} {
		code, env = crossbar(t, "GET", mc.base+"/"+bad+"/raw", mc.token, nil)
		check("id "+bad, code, env, http.StatusBadRequest, "media_id")
	}
	code, env = crossbar(t, "GET", mc.base+"/"+id, other.token, nil)
	check("another account's token", code, env, http.StatusForbidden, "may not read")
	code, env = crossbar(t, "GET", other.base+"/"+id, other.token, nil)
	check("another account's media id", code, env, http.StatusNotFound, "no media")
	code, env = crossbar(t, "GET", mc.base+"/"+id+"/raw", mc.token, nil)
	check("nothing kept of the refused uploads", code, env, http.StatusNotFound, "no audio yet")

	// The id still takes a good upload afterwards, and is served back byte for byte.
	wav := toneWAV(t)
	if code, env := mc.upload(t, "/"+id+"/raw", "audio/x-wav", wav); code != http.StatusOK {
		t.Fatalf("good upload: %d %v", code, env)
	}
	req, _ := http.NewRequest(http.MethodGet, mc.base+"/"+id+"/raw", nil)
	req.Header.Set("X-Auth-Token", mc.token)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != http.StatusOK || res.Header.Get("Content-Type") != "audio/wav" || !bytes.Equal(got, wav) {
		t.Errorf("download: %d %q, %d bytes (want %d)", res.StatusCode, res.Header.Get("Content-Type"), len(got), len(wav))
	}
}
