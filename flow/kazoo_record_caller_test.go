package flow_test

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pivotua/pivotua/codec"
	"github.com/pivotua/pivotua/flow"
	"github.com/pivotua/pivotua/flow/flowtest"
	"github.com/pivotua/pivotua/httpfetch"
	"github.com/pivotua/pivotua/internal/testkit"
)

type uploadTarget struct {
	*httptest.Server
	mu      sync.Mutex
	got     map[string][]byte
	method  string
	ctype   string
	arrived chan struct{}
}

func newUploadTarget(t *testing.T) *uploadTarget {
	u := &uploadTarget{got: map[string][]byte{}, arrived: make(chan struct{}, 8)}
	u.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		u.mu.Lock()
		u.got[r.URL.EscapedPath()] = body
		u.method, u.ctype = r.Method, r.Header.Get("Content-Type")
		u.mu.Unlock()
		w.WriteHeader(http.StatusCreated)
		u.arrived <- struct{}{}
	}))
	t.Cleanup(u.Close)
	return u
}

// recordingDeps are flowtest's Deps with a recordings folder and a real upload spool.
func recordingDeps(t *testing.T) flow.Deps {
	t.Helper()
	deps := flowtest.Deps(t, nil)
	up, err := httpfetch.NewUploader(t.TempDir(), httpfetch.WithUploadBackoff(10*time.Millisecond, 50*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	if err := up.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { up.Close(t.Context()) })
	deps.Recordings = t.TempDir()
	deps.Uploads = up
	return deps
}

func newRecordingCall(t *testing.T, ch flow.Channel) *flow.Call {
	t.Helper()
	deps := recordingDeps(t)
	return flow.NewCall(ch, flowtest.AccountID, flowtest.SigningKey, deps)
}

func TestRecordCallerStopsOnAKeyUploadsAndReportsTheRecording(t *testing.T) {
	target := newUploadTarget(t)
	app := testkit.NewWebhook(t, testkit.ServeDocs(map[string][2]string{"/after": {"application/json", `{"module":"hangup"}`}}))
	ch := flowtest.NewChannel()
	c := newRecordingCall(t, ch)
	flow := fmt.Sprintf(`{"module":"record_caller","data":{"url":"%s/recs/","format":"wav","time_limit":60},
		"children":{"_":{"module":"pivot","data":{"voice_url":"%s/after"}}}}`, target.URL, app.URL)
	go func() {
		time.Sleep(1200 * time.Millisecond)
		ch.Press("#")
	}()
	flowtest.Run(t, c, flowtest.MustNode(t, flow))
	select {
	case <-target.arrived:
	case <-time.After(5 * time.Second):
		t.Fatal("the recording never arrived")
	}
	target.mu.Lock()
	body := target.got["/recs/call-1@pivotua.test.wav"]
	method, ctype := target.method, target.ctype
	target.mu.Unlock()
	if method != "PUT" || ctype != "audio/wav" {
		t.Errorf("upload %s %s, want PUT audio/wav", method, ctype)
	}
	pcm, rate, err := codec.DecodeWAV(body)
	if err != nil || rate != 8000 {
		t.Fatalf("uploaded file: rate %d, %v (paths %v)", rate, err, target.got)
	}
	if d := time.Duration(len(pcm)) * time.Second / 8000; d < time.Second || d > 2*time.Second {
		t.Errorf("recording lasts %v, want about 1.2 s", d)
	}
	reqs := app.Requests()
	if len(reqs) != 1 {
		t.Fatalf("requests %+v", reqs)
	}
	if got := reqs[0].Form.Get("Recording-Url"); got != target.URL+"/recs/call-1@pivotua.test.wav" {
		t.Errorf("Recording-Url = %q", got)
	}
	if got := reqs[0].Form.Get("Recording-Duration"); got != "1" {
		t.Errorf("Recording-Duration = %q, want 1", got)
	}
	if reqs[0].Form.Has("Digits[default]") {
		t.Error("the key that stopped the recording must not be collected")
	}
}

func TestRecordCallerKeepsTheTailWhenTheCallerHangsUpAndUploadsMP3(t *testing.T) {
	if !lameInstalled() {
		t.Skip("lame is not installed (make deps installs it)")
	}
	target := newUploadTarget(t)
	ch := flowtest.NewChannel()
	c := newRecordingCall(t, ch)
	flow := fmt.Sprintf(`{"module":"record_caller","data":{"url":"%s","method":"post","time_limit":60}}`, target.URL)
	go func() {
		time.Sleep(1500 * time.Millisecond)
		ch.RemoteHangup()
	}()
	flowtest.Run(t, c, flowtest.MustNode(t, flow))
	select {
	case <-target.arrived:
	case <-time.After(10 * time.Second):
		t.Fatal("the recording never arrived after the hangup")
	}
	target.mu.Lock()
	defer target.mu.Unlock()
	if target.method != "POST" || target.ctype != "audio/mpeg" {
		t.Errorf("upload %s %s, want POST audio/mpeg", target.method, target.ctype)
	}
	var body []byte
	for path, b := range target.got {
		if !strings.HasSuffix(path, ".mp3") {
			t.Errorf("uploaded to %s, want <call-id>.mp3", path)
		}
		body = b
	}
	pcm, err := codec.DecodeAudio(body, "audio/mpeg")
	if err != nil {
		t.Fatal(err)
	}
	if d := time.Duration(len(pcm)) * time.Second / 8000; d < 1300*time.Millisecond || d > 1800*time.Millisecond {
		t.Errorf("mp3 lasts %v; the 1.5 s until the hangup must all be there", d)
	}
	if p := codec.Goertzel(pcm[2000:6000], 440, 8000); p < 0.1 {
		t.Errorf("the recorded 440 Hz tone is missing from the mp3 (power %.3f)", p)
	}
	if !bytes.HasPrefix(body, []byte("ID3")) && body[0] != 0xFF {
		t.Errorf("not an mp3: % x", body[:4])
	}
}

func lameInstalled() bool {
	_, err := exec.LookPath("lame")
	return err == nil
}
