package main

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pivotua/pivotua/flow"
)

func TestEmbeddedDefaultConfigIsValid(t *testing.T) {
	cfg, err := parseConfig(defaultConfigYAML)
	if err != nil {
		t.Fatal(err)
	}
	s, errs := cfg.validate("")
	if len(errs) > 0 {
		t.Fatalf("embedded config: %v", errs)
	}
	if len(s.Routes) != 1 {
		t.Fatalf("routes: %d", len(s.Routes))
	}
	r := flow.NewRouter(s.Routes)
	for _, number := range []string{"3004", "+14155550100", "anything"} {
		if _, ok := r.Match(number, ""); !ok {
			t.Errorf("the demo callflow should answer %q", number)
		}
	}
}

func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestCheckConfigNamesEveryProblemByPath(t *testing.T) {
	path := writeFile(t, "bad.yaml", `
sip:
  listen: ["udp://127.0.0.1:5060", "sctp://127.0.0.1:5060"]
  allow_cidrs: ["10.0.0.0/8", "not-a-cidr"]
rtp:
  port_min: 20000
  port_max: 10000
  media_timeout: soon
  realtime_priority: 120
accounts:
  - id: 4B31DD1D32CE6D249897C06332375D65
    api_key: k
callflows:
  - account_id: 4b31dd1d32ce6d249897c06332375d65
    numbers: ["3004"]
    patterns: ["("]
    flow:
      module: pivot
      data: {voice_url: "ftp://example.com/ivr", req_format: soap}
  - account_id: 4b31dd1d32ce6d249897c06332375d65
    numbers: ["3005"]
    flow:
      module: tts
      data: {}
`)
	var stdout, stderr bytes.Buffer
	if code := run([]string{"check-config", path}, &stdout, &stderr); code != 1 {
		t.Fatalf("exit %d, want 1; stderr:\n%s", code, stderr.String())
	}
	out := stderr.String()
	for _, want := range []string{
		"sip.listen[1]: ", "sip.allow_cidrs[1]: ", "rtp.port_max: ", "rtp.media_timeout: ", "rtp.realtime_priority: ",
		"accounts[0].id: ", "callflows[0].account_id: ", "callflows[0].patterns[0]: ",
		"callflows[0].flow.data.voice_url", "callflows[0].flow.data.req_format", "callflows[1].flow.data.text",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("check-config output lacks %q:\n%s", want, out)
		}
	}
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		if !strings.Contains(line, ": ") {
			t.Errorf("line without a path: %q", line)
		}
	}
}

func TestCheckConfigExitCodes(t *testing.T) {
	var stdout, stderr bytes.Buffer
	good := writeFile(t, "good.yaml", string(defaultConfigYAML))
	if code := run([]string{"check-config", good}, &stdout, &stderr); code != 0 || strings.TrimSpace(stdout.String()) != "ok" {
		t.Errorf("valid config: exit %d, stdout %q, stderr %q", code, stdout.String(), stderr.String())
	}
	stderr.Reset()
	if code := run([]string{"check-config", filepath.Join(t.TempDir(), "missing.yaml")}, &stdout, &stderr); code != 2 {
		t.Errorf("missing file: exit %d, want 2", code)
	}
	stderr.Reset()
	broken := writeFile(t, "broken.yaml", "sip: [unclosed\n")
	if code := run([]string{"check-config", broken}, &stdout, &stderr); code != 2 {
		t.Errorf("unparsable file: exit %d, want 2 (%s)", code, stderr.String())
	}
	stderr.Reset()
	unknown := writeFile(t, "unknown.yaml", "sip:\n  listn: [\"udp://127.0.0.1:5060\"]\n")
	if code := run([]string{"check-config", unknown}, &stdout, &stderr); code != 2 || !strings.Contains(stderr.String(), "listn") {
		t.Errorf("unknown key: exit %d, stderr %q; want 2 naming the key", code, stderr.String())
	}
}

func TestConfigAcceptsJSONAndResolvesPathsAgainstTheFile(t *testing.T) {
	cfg := defaultConfig()
	cfg.Recordings.Dir = "recs"
	cfg.Store.DSN = "db/pivotua.db"
	data, _ := json.Marshal(cfg)
	path := writeFile(t, "pivotua.json", string(data))
	s, errs := loadConfigFile(path)
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	dir := filepath.Dir(path)
	if s.Recordings != filepath.Join(dir, "recs") || s.StoreDSN != filepath.Join(dir, "db/pivotua.db") {
		t.Errorf("relative paths not resolved against %s: %q %q", dir, s.Recordings, s.StoreDSN)
	}
}

func TestDemoAppServesAValidKazooFlowAndItsChime(t *testing.T) {
	srv := httptest.NewUnstartedServer(nil)
	demo, err := newDemoApp("http://" + srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	demo.register(mux)
	srv.Config.Handler = mux
	srv.Start()
	defer srv.Close()

	res, err := http.Get(srv.URL + "/demo/voice?Request=3004")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	if ct := res.Header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("content type %q", ct)
	}
	var body bytes.Buffer
	body.ReadFrom(res.Body)
	node, err := flow.ParseNode(body.Bytes(), "demo")
	if err != nil {
		t.Fatal(err)
	}
	if errs := flow.ValidateNode(node, "demo"); len(errs) > 0 {
		t.Fatalf("demo flow invalid: %v", errs)
	}
	if !strings.Contains(body.String(), "3 0 0 4") {
		t.Errorf("the welcome should read back the dialled number: %s", body.String())
	}
	wav, err := http.Get(srv.URL + "/demo/chime.wav")
	if err != nil {
		t.Fatal(err)
	}
	wav.Body.Close()
	if wav.StatusCode != 200 || wav.Header.Get("Content-Type") != "audio/wav" {
		t.Errorf("chime: %d %s", wav.StatusCode, wav.Header.Get("Content-Type"))
	}
}
