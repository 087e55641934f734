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
	s, errs := loadConfig(defaultConfigYAML, "")
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
  io_uring: sometimes
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
		"rtp.io_uring: ", "accounts[0].id: ", "callflows[0].account_id: ", "callflows[0].patterns[0]: ",
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
	if code := run([]string{"check-config", unknown}, &stdout, &stderr); code != 1 || !strings.Contains(stderr.String(), "sip.listn: ") {
		t.Errorf("unknown key: exit %d, stderr %q; want 1 naming the key by its path", code, stderr.String())
	}
}

// TestCheckConfigNamesEachMistakeOnceByItsPath: typos, wrong types, trunks
// that Dial would refuse and bad callflows each get exit 1 and a line that
// starts with the path the user wrote, once, and no Go type names.
func TestCheckConfigNamesEachMistakeOnceByItsPath(t *testing.T) {
	for _, tc := range []struct{ name, config, want string }{
		{"unknown key", "sip:\n  listn: \"127.0.0.1:5060\"\n", "sip.listn: unknown key (line 2)"},
		{"unknown top-level key", "trunk: []\n", "trunk: unknown key (line 1)"},
		{"unknown key in a list", "callflows:\n  - numbrs: [\"3004\"]\n", "callflows[0].numbrs: unknown key (line 2)"},
		{"not an integer", "sip:\n  max_calls: lots\n", `sip.max_calls: must be an integer, not "lots" (line 2)`},
		{"JSON string for an integer", `{"rtp": {"port_min": "20000"}}`, `rtp.port_min: must be an integer, not "20000" (line 1)`},
		{"not a mapping", "rtp: 5\n", `rtp: must be a mapping, not "5" (line 1)`},
		{"not a list", "sip:\n  listen: udp://127.0.0.1:5060\n", `sip.listen: must be a list, not "udp://127.0.0.1:5060" (line 2)`},
		{"list item not a mapping", "accounts: [x]\n", `accounts[0]: must be a mapping, not "x" (line 1)`},
		{"not a config", "hello\n", `the file must be a mapping of settings such as sip: and callflows:, not "hello" (line 1)`},
		{"list item not a mapping, then a bad one", "callflows:\n  - x\n  - {numbers: [\"1\"], flow: {module: tts, data: 5}}\n", "callflows[1].flow.data: must be an object"},
		{"mapping for a string", "log:\n  level: {debug: true}\n", "log.level: must be a string, not a mapping (line 2)"},
		{"key twice", "log:\n  level: info\n  level: debug\n", "log.level: set twice (lines 2 and 3)"},
		{"trunk CA file missing", "trunks:\n  - {name: gw, uri: \"sips:gw.example.net\", ca_file: /nonexistent/ca.pem}\n", "trunks[0].ca_file: open /nonexistent/ca.pem: no such file or directory"},
		{"trunk source not a listener", "trunks:\n  - {name: gw, uri: \"sip:gw.example.net\", source: 127.0.0.9}\n", "trunks[0].source: 127.0.0.9 is not the address of any sip.listen entry"},
		{"tls listener without certificate", "sip:\n  listen: [\"tls://127.0.0.1:5061\"]\n", "sip.tls.cert_file: a tls:// listener needs cert_file and key_file"},
		{"tls certificate unreadable", "sip:\n  tls: {cert_file: /nonexistent/sip.pem, key_file: /nonexistent/sip.key}\n", "sip.tls: cert_file /nonexistent/sip.pem and key_file /nonexistent/sip.key: open /nonexistent/sip.pem"},
		{"trunk without host", "trunks:\n  - {name: gw, uri: \"sip:\"}\n", "trunks[0].uri: "},
		{"trunk for an unknown account", "trunks:\n  - {name: gw, uri: \"sip:gw.example.net\", accounts: [\"0123456789abcdef0123456789abcdef\"]}\n", `trunks[0].accounts[0]: "0123456789abcdef0123456789abcdef" is not one of the accounts`},
		{"debug queue too small", "store:\n  queue_bytes: 1000\n", "store.queue_bytes: must be at least 1048576 (1 MiB), not 1000"},
		{"callflow data not an object", "callflows:\n  - numbers: [\"1\"]\n    flow: {module: tts, data: 5}\n", "callflows[0].flow.data: must be an object"},
		{"unknown field in module data", "callflows:\n  - numbers: [\"1\"]\n    flow: {module: pivot, data: {voice_url: \"http://127.0.0.1:9/\", req_fromat: twiml}}\n",
			`callflows[0].flow.data.req_fromat: unknown field of module "pivot"; it reads cdr_url, debug, method, req_body_format, req_format, req_timeout_ms, skip_module, voice_url`},
		{"number routed twice", "callflows:\n  - {numbers: [\"3004\"], flow: {module: hangup}}\n  - {numbers: [\"1\", \"3004\"], flow: {module: hangup}}\n",
			`callflows[1].numbers[1]: "3004" is already routed by callflows[0].numbers[0]`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := run([]string{"check-config", writeFile(t, "c.yaml", tc.config)}, &stdout, &stderr)
			out := stderr.String()
			if code != 1 {
				t.Errorf("exit %d, want 1; stderr:\n%s", code, out)
			}
			found := 0
			for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
				if strings.HasPrefix(line, tc.want) {
					found++
				}
			}
			if found != 1 {
				t.Errorf("%d lines start with %q, want 1:\n%s", found, tc.want, out)
			}
			if strings.Contains(out, "main.") || strings.Contains(out, "construct") {
				t.Errorf("a Go type or a raw yaml error leaks out:\n%s", out)
			}
		})
	}
}

// TestConfigMistakesDoNotHideOtherProblems: check-config and serve both list
// a typo, a wrong type and a bad callflow together.
func TestConfigMistakesDoNotHideOtherProblems(t *testing.T) {
	path := writeFile(t, "typos.yaml", `
sip:
  listn: "127.0.0.1:5060"
  max_calls: lots
accounts:
  - id: 4b31dd1d32ce6d249897c06332375d65
    api_key: k
callflows:
  - account_id: 4b31dd1d32ce6d249897c06332375d65
    numbers: ["3004"]
    flow: {module: pivot, data: {voice_url: "ftp://example.com/ivr"}}
`)
	want := []string{"sip.listn: unknown key", "sip.max_calls: must be an integer", "callflows[0].flow.data.voice_url: "}
	for _, args := range [][]string{{"check-config", path}, {"serve", "--config", path}} {
		var stdout, stderr bytes.Buffer
		if code := run(args, &stdout, &stderr); code != 1 {
			t.Errorf("%s: exit %d, want 1; stderr:\n%s", args[0], code, stderr.String())
		}
		for _, w := range want {
			if !strings.Contains(stderr.String(), w) {
				t.Errorf("%s: output lacks %q:\n%s", args[0], w, stderr.String())
			}
		}
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

// A config that routes nothing is legal (pivotua may only place calls) but
// probably not meant: check-config says ok, with a warning saying why calls fail.
func TestCheckConfigWarnsWhenNothingIsRouted(t *testing.T) {
	var stdout, stderr bytes.Buffer
	code := run([]string{"check-config", writeFile(t, "c.yaml", "accounts: []\ncallflows: []\n")}, &stdout, &stderr)
	if code != 0 || strings.TrimSpace(stdout.String()) != "ok" {
		t.Fatalf("exit %d, stdout %q, stderr %q; want 0 and ok", code, stdout.String(), stderr.String())
	}
	if !strings.Contains(stderr.String(), "warning: callflows: none configured, so every call gets 404") {
		t.Errorf("no warning about the empty routing table: %q", stderr.String())
	}
}

func TestSIPEgressCIDRsAreValidatedByPath(t *testing.T) {
	cfg, errs := parseConfig([]byte("sip:\n  egress:\n    deny_cidrs: [\"127.0.0.0/8\", \"nope\"]\n    allow_cidrs: [\"10.0.0.1\", \"x/33\"]\n"))
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	s, errs := cfg.validate("")
	var out []string
	for _, e := range errs {
		out = append(out, e.Error())
	}
	joined := strings.Join(out, "\n")
	for _, want := range []string{"sip.egress.deny_cidrs[1]: ", "sip.egress.allow_cidrs[1]: "} {
		if !strings.Contains(joined, want) {
			t.Errorf("errors lack %q:\n%s", want, joined)
		}
	}
	cfg, _ = parseConfig([]byte("sip:\n  egress:\n    deny_cidrs: [\"127.0.0.0/8\"]\n    allow_cidrs: [\"10.0.0.1\"]\n"))
	if s, errs = cfg.validate(""); len(errs) > 0 {
		t.Fatal(errs)
	}
	if len(s.SIPEgress.Deny) != 1 || s.SIPEgress.Deny[0].String() != "127.0.0.0/8" || len(s.SIPEgress.Allow) != 1 || s.SIPEgress.Allow[0].String() != "10.0.0.1/32" {
		t.Errorf("egress policy %+v", s.SIPEgress)
	}
}
