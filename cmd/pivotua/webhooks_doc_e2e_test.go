package main

// docs/webhooks.md is checked against the real binary: its signature verification snippets (Python,
// Node, PHP, Go) run on requests pivotua really sent, and its captured request examples must carry
// the parameters a real call sends.

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/pivotua/pivotua/codec"
	"github.com/pivotua/pivotua/internal/testkit"
	"github.com/pivotua/pivotua/internal/testkit/sipptest"
)

const webhookDocPath = "../../docs/webhooks.md"

// docBlocks returns the fenced code blocks of docs/webhooks.md that follow an HTML comment
// "<!-- kind: name -->" on the line before their fence, by name.
func docBlocks(t *testing.T, kind string) map[string]string {
	t.Helper()
	b, err := os.ReadFile(webhookDocPath)
	if err != nil {
		t.Fatal(err)
	}
	marker := regexp.MustCompile(`^<!-- ` + regexp.QuoteMeta(kind) + `: ([a-z0-9-]+) -->$`)
	blocks := map[string]string{}
	lines := strings.Split(string(b), "\n")
	for i := 0; i < len(lines); i++ {
		m := marker.FindStringSubmatch(lines[i])
		if m == nil {
			continue
		}
		if i+1 >= len(lines) || !strings.HasPrefix(lines[i+1], "```") {
			t.Fatalf("%s line %d: %q is not followed by a code fence", webhookDocPath, i+1, lines[i])
		}
		var code strings.Builder
		j := i + 2
		for ; j < len(lines) && lines[j] != "```"; j++ {
			code.WriteString(lines[j] + "\n")
		}
		if j == len(lines) {
			t.Fatalf("%s line %d: the code block never ends", webhookDocPath, i+2)
		}
		if _, dup := blocks[m[1]]; dup {
			t.Fatalf("%s: two blocks marked %s: %s", webhookDocPath, kind, m[1])
		}
		blocks[m[1]] = code.String()
		i = j
	}
	return blocks
}

// capturedRequest is one request pivotua sent to the test's webhook, as the webhook saw it.
type capturedRequest struct {
	Method      string
	URL         string // the full URL as requested: what both signatures cover
	Path        string
	RawQuery    string
	Header      http.Header
	ContentType string
	Body        []byte
}

// docWebhook serves the chain of documents that makes one call send every kind of request the doc
// shows: a Kazoo GET, a Kazoo JSON POST, TwiML form POSTs (one carrying a <Set> variable that needs
// escaping) and the cdr_url post.
type docWebhook struct{ *testkit.Webhook }

func newDocWebhook(t *testing.T) *docWebhook {
	t.Helper()
	return &docWebhook{testkit.NewWebhook(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/tone.wav" {
			var buf bytes.Buffer
			_ = codec.EncodeWAV(&buf, codec.Tone(1000, 400*time.Millisecond, 0.4), codec.SampleRate)
			w.Header().Set("Content-Type", "audio/wav")
			w.Write(buf.Bytes())
			return
		}
		base := "http://" + r.Host
		switch r.URL.Path {
		case "/kazoo": // the first request: GET, Kazoo names; its answer sets a variable and asks for JSON next
			w.Header().Set("Content-Type", "application/json")
			fmt.Fprintf(w, `{"module":"set_variables","data":{"custom_application_vars":{"Note":%q}},"children":{"_":`+
				`{"module":"pivot","data":{"voice_url":%q,"method":"post","req_body_format":"json","req_timeout_ms":3000}}}}`,
				docNote, base+"/json")
		case "/json": // a JSON POST; its answer switches to TwiML names and a form POST
			w.Header().Set("Content-Type", "application/json")
			fmt.Fprintf(w, `{"module":"pivot","data":{"voice_url":%q,"method":"post","req_format":"twiml","req_timeout_ms":3000,"cdr_url":%q}}`,
				base+"/twiml", base+"/cdr")
		case "/twiml":
			w.Header().Set("Content-Type", "text/xml")
			io.WriteString(w, `<Response><Set><Variable key="Note" value="Grüße &amp; 100% + more"/></Set><Redirect>/twiml-next?step=2</Redirect></Response>`)
		case "/twiml-next":
			w.Header().Set("Content-Type", "text/xml")
			io.WriteString(w, `<Response><Play>/tone.wav</Play></Response>`)
		case "/cdr":
			w.WriteHeader(http.StatusNoContent)
		default:
			http.NotFound(w, r)
		}
	})}
}

// received lists the requests pivotua sent, but the tone's fetch.
func (h *docWebhook) received() []capturedRequest {
	var reqs []capturedRequest
	for _, r := range h.Requests() {
		if r.Path == "/tone.wav" {
			continue
		}
		reqs = append(reqs, capturedRequest{
			Method: r.Method, URL: r.URL, Path: r.Path, RawQuery: r.Query,
			Header: r.Header, ContentType: r.Header.Get("Content-Type"), Body: r.Body,
		})
	}
	return reqs
}

// docNote is a variable value with non-ASCII and form-reserved characters, so the requests exercise
// the escaping a verifier must undo.
const docNote = "Grüße & 100% + more"

// docRequestNames name the requests of webhookDocCall, in order, as the doc's examples are marked.
var docRequestNames = []string{"kazoo-get", "kazoo-json-post", "twiml-post", "twiml-redirect-post", "cdr-post"}

// webhookDocCall places one call through the document chain and returns the five requests pivotua
// sent, in order: Kazoo GET, Kazoo JSON POST, TwiML form POST, the TwiML <Redirect> (form POST with
// the <Set> variable), cdr_url form POST.
func webhookDocCall(t *testing.T) []capturedRequest {
	t.Helper()
	hook := newDocWebhook(t)
	p := startPivotua(t, map[string]any{
		"module": "pivot",
		"data":   map[string]any{"voice_url": hook.URL + "/kazoo?app=doc", "method": "get", "req_format": "kazoo", "req_timeout_ms": 3000},
	})
	if err := runSIPp(t, p, "uac_call.xml", sipptest.Data{RTPPort: testkit.FreePort(t), Codec: 0}); err != nil {
		t.Fatal(err)
	}
	var reqs []capturedRequest
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if reqs = hook.received(); len(reqs) >= len(docRequestNames) {
			break
		}
	}
	var trail []string
	for _, r := range reqs {
		trail = append(trail, r.Method+" "+r.Path)
	}
	if want := []string{"GET /kazoo", "POST /json", "POST /twiml", "POST /twiml-next", "POST /cdr"}; !slices.Equal(trail, want) {
		t.Fatalf("webhook got %q, want %q\n%s", trail, want, p.logs())
	}
	if dir := os.Getenv("PIVOTUA_WEBHOOK_DOC_EXAMPLES"); dir != "" {
		dumpCapturedRequests(t, dir, reqs)
	}
	return reqs
}

// dumpCapturedRequests writes each request as HTTP/1.1 text into dir, for the examples in
// docs/webhooks.md (regenerate them with PIVOTUA_WEBHOOK_DOC_EXAMPLES=DIR).
func dumpCapturedRequests(t *testing.T, dir string, reqs []capturedRequest) {
	t.Helper()
	for i, r := range reqs {
		u, _ := url.Parse(r.URL)
		var b strings.Builder
		fmt.Fprintf(&b, "%s %s HTTP/1.1\nHost: %s\n", r.Method, u.RequestURI(), u.Host)
		keys := make([]string, 0, len(r.Header))
		for k := range r.Header {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			fmt.Fprintf(&b, "%s: %s\n", k, strings.Join(r.Header[k], ", "))
		}
		if len(r.Body) > 0 {
			fmt.Fprintf(&b, "\n%s\n", r.Body)
		}
		if err := os.WriteFile(filepath.Join(dir, docRequestNames[i]+".http"), []byte(b.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// signatureCase is one verification a snippet makes; want is the right verdict.
type signatureCase struct {
	Name        string `json:"name"`
	Kind        string `json:"kind"` // pivot or twilio
	Key         string `json:"key"`
	URL         string `json:"url"`
	ContentType string `json:"content_type"`
	Body        string `json:"body"`   // base64 of the raw body
	Header      string `json:"header"` // X-Pivot-Signature or X-Twilio-Signature
	want        bool
}

// tamper changes one byte of s: its last letter or digit becomes another.
func tamper(s string) string {
	b := []byte(s)
	for i := len(b) - 1; i >= 0; i-- {
		c := b[i]
		if ('a' <= c && c <= 'z') || ('A' <= c && c <= 'Z') || ('0' <= c && c <= '9') {
			if c == 'x' {
				b[i] = 'y'
			} else {
				b[i] = 'x'
			}
			return string(b)
		}
	}
	panic("nothing to tamper with in " + s)
}

// signatureCases are, for each request and each signature, the request as sent (valid) and the same
// with one byte of the body, the URL or the key changed (invalid). A GET has no body to change, and
// its Twilio signature covers the URL alone. A form body with its parameters in another order is
// valid for X-Twilio-Signature (it signs the sorted parameters) and invalid for X-Pivot-Signature (it
// signs the raw bytes).
func signatureCases(t *testing.T, reqs []capturedRequest) []signatureCase {
	t.Helper()
	var cases []signatureCase
	for _, r := range reqs {
		for _, kind := range []string{"pivot", "twilio"} {
			header := r.Header.Get("X-Pivot-Signature")
			if kind == "twilio" {
				header = r.Header.Get("X-Twilio-Signature")
			}
			if header == "" {
				t.Fatalf("%s %s has no %s signature: %v", r.Method, r.Path, kind, r.Header)
			}
			real := signatureCase{
				Name: kind + " " + r.Method + " " + r.Path, Kind: kind, Key: "e2e-key", URL: r.URL,
				ContentType: r.ContentType, Body: base64.StdEncoding.EncodeToString(r.Body), Header: header, want: true,
			}
			cases = append(cases, real)
			bad := real
			bad.Name, bad.URL, bad.want = real.Name+" (URL changed)", tamper(r.URL), false
			cases = append(cases, bad)
			bad = real
			bad.Name, bad.Key, bad.want = real.Name+" (key changed)", tamper(real.Key), false
			cases = append(cases, bad)
			if len(r.Body) > 0 {
				bad = real
				bad.Name, bad.Body, bad.want = real.Name+" (body changed)", base64.StdEncoding.EncodeToString([]byte(tamper(string(r.Body)))), false
				cases = append(cases, bad)
			}
			if strings.HasPrefix(r.ContentType, "application/x-www-form-urlencoded") {
				pairs := strings.Split(string(r.Body), "&")
				slices.Reverse(pairs)
				other := real
				other.Name, other.want = real.Name+" (parameters reordered)", kind == "twilio"
				other.Body = base64.StdEncoding.EncodeToString([]byte(strings.Join(pairs, "&")))
				cases = append(cases, other)
			}
		}
	}
	return cases
}

// Drivers call the doc's functions on the cases read from stdin and print their verdicts as a JSON
// array. The functions themselves are the doc's code blocks, unchanged.
const (
	pythonDriver = `import base64, json, sys
from webhook_signatures import verify_pivot_signature, verify_twilio_signature
out = []
for c in json.load(sys.stdin):
    body = base64.b64decode(c["body"])
    if c["kind"] == "pivot":
        out.append(verify_pivot_signature(c["key"], c["url"], body, c["header"]))
    else:
        out.append(verify_twilio_signature(c["key"], c["url"], c["content_type"], body, c["header"]))
print(json.dumps(out))
`
	nodeDriver = `
let input = '';
process.stdin.on('data', (chunk) => { input += chunk; });
process.stdin.on('end', () => {
  const out = JSON.parse(input).map((c) => {
    const body = Buffer.from(c.body, 'base64');
    return c.kind === 'pivot'
      ? verifyPivotSignature(c.key, c.url, body, c.header)
      : verifyTwilioSignature(c.key, c.url, c.content_type, body, c.header);
  });
  process.stdout.write(JSON.stringify(out) + '\n');
});
`
	phpDriver = `<?php
require __DIR__ . '/webhook_signatures.php';
$out = [];
foreach (json_decode(stream_get_contents(STDIN), true) as $c) {
    $body = base64_decode($c['body']);
    $out[] = $c['kind'] === 'pivot'
        ? verify_pivot_signature($c['key'], $c['url'], $body, $c['header'])
        : verify_twilio_signature($c['key'], $c['url'], $c['content_type'], $body, $c['header']);
}
echo json_encode($out), "\n";
`
	goDriver = `package main

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"time"

	"snippetdriver/webhook"
)

func main() {
	var raw []map[string]string
	if err := json.NewDecoder(os.Stdin).Decode(&raw); err != nil {
		panic(err)
	}
	out := []bool{}
	for _, c := range raw {
		body, _ := base64.StdEncoding.DecodeString(c["body"])
		if c["kind"] == "pivot" {
			out = append(out, webhook.VerifyPivotSignature(c["key"], c["url"], body, c["header"], 5*time.Minute))
		} else {
			out = append(out, webhook.VerifyTwilioSignature(c["key"], c["url"], c["content_type"], body, c["header"]))
		}
	}
	b, _ := json.Marshal(out)
	fmt.Println(string(b))
}
`
)

// needRuntime fails when a language's runtime is missing: CI installs them all (make deps).
func needRuntime(t *testing.T, tool, pkg string) {
	t.Helper()
	if _, err := exec.LookPath(tool); err != nil {
		t.Fatalf("%s is not installed: run `make deps` (Debian package %s)", tool, pkg)
	}
}

// runSnippet writes a snippet and its driver into a folder of their own and runs them on cases.
func runSnippet(t *testing.T, lang, snippet string, cases []byte) []bool {
	t.Helper()
	dir := t.TempDir()
	write := func(name, text string) {
		t.Helper()
		path := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	var cmd []string
	switch lang {
	case "python":
		needRuntime(t, "python3", "python3")
		write("webhook_signatures.py", snippet)
		write("driver.py", pythonDriver)
		cmd = []string{"python3", "driver.py"}
	case "node":
		needRuntime(t, "node", "nodejs")
		write("driver.js", snippet+nodeDriver)
		cmd = []string{"node", "driver.js"}
	case "php":
		needRuntime(t, "php", "php-cli")
		write("webhook_signatures.php", snippet)
		write("driver.php", phpDriver)
		cmd = []string{"php", "driver.php"}
	case "go":
		if !strings.HasPrefix(snippet, "package webhook\n") {
			t.Fatalf("the Go snippet must start with \"package webhook\"")
		}
		write("go.mod", "module snippetdriver\n\ngo 1.22\n")
		write("webhook/webhook.go", snippet)
		write("main.go", goDriver)
		cmd = []string{"go", "run", "."}
	default:
		t.Fatalf("no driver for %s", lang)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	c := exec.CommandContext(ctx, cmd[0], cmd[1:]...)
	c.Dir = dir
	c.Stdin = bytes.NewReader(cases)
	var stderr bytes.Buffer
	c.Stderr = &stderr
	out, err := c.Output()
	if err != nil {
		t.Fatalf("%s snippet: %v\n%s", lang, err, stderr.String())
	}
	var verdicts []bool
	if err := json.Unmarshal(out, &verdicts); err != nil {
		t.Fatalf("%s snippet printed %q: %v\n%s", lang, out, err, stderr.String())
	}
	return verdicts
}

// TestE2EWebhookDocSnippetsVerifyRealRequests: each language's verification functions in
// docs/webhooks.md accept both signatures of the real requests of a call (a Kazoo GET, a Kazoo JSON
// POST, TwiML form POSTs and the cdr_url post) and refuse them when one byte of the body, the URL or
// the key differs.
func TestE2EWebhookDocSnippetsVerifyRealRequests(t *testing.T) {
	needE2E(t)
	snippets := docBlocks(t, "snippet")
	langs := []string{"python", "node", "php", "go"}
	for _, lang := range langs {
		if snippets[lang] == "" {
			t.Fatalf("%s has no block marked <!-- snippet: %s -->", webhookDocPath, lang)
		}
	}
	cases := signatureCases(t, webhookDocCall(t))
	in, err := json.Marshal(cases)
	if err != nil {
		t.Fatal(err)
	}
	for _, lang := range langs {
		t.Run(lang, func(t *testing.T) {
			got := runSnippet(t, lang, snippets[lang], in)
			if len(got) != len(cases) {
				t.Fatalf("%d verdicts for %d cases: %v", len(got), len(cases), got)
			}
			for i, c := range cases {
				if got[i] != c.want {
					t.Errorf("%s: said %v, want %v", c.Name, got[i], c.want)
				}
			}
		})
	}
}

// paramNames returns the decoded parameter names of a query or form body, sorted.
func paramNames(t *testing.T, encoded string) []string {
	t.Helper()
	v, err := url.ParseQuery(encoded)
	if err != nil {
		t.Fatalf("%q: %v", encoded, err)
	}
	names := make([]string, 0, len(v))
	for k := range v {
		names = append(names, k)
	}
	sort.Strings(names)
	return names
}

// exampleParams reads a captured example of the doc: the request line's query and, after the blank
// line, the body (form or JSON); it returns the parameter names of both.
func exampleParams(t *testing.T, name, block string) (query []string, body []string) {
	t.Helper()
	sc := bufio.NewScanner(strings.NewReader(block))
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	if !sc.Scan() {
		t.Fatalf("example %s is empty", name)
	}
	fields := strings.Fields(sc.Text())
	if len(fields) != 3 {
		t.Fatalf("example %s: first line %q is not a request line", name, sc.Text())
	}
	_, rawQuery, _ := strings.Cut(fields[1], "?")
	query = paramNames(t, rawQuery)
	for sc.Scan() && sc.Text() != "" { // headers
	}
	var rest strings.Builder
	for sc.Scan() {
		rest.WriteString(sc.Text())
	}
	text := strings.TrimSpace(rest.String())
	switch {
	case text == "":
	case strings.HasPrefix(text, "{"):
		var obj map[string]any
		if err := json.Unmarshal([]byte(text), &obj); err != nil {
			t.Fatalf("example %s: body: %v", name, err)
		}
		for k := range obj {
			body = append(body, k)
		}
		sort.Strings(body)
	default:
		body = paramNames(t, text)
	}
	return query, body
}

// jsonNames returns the top-level names of a JSON object, sorted.
func jsonNames(t *testing.T, b []byte) []string {
	t.Helper()
	var obj map[string]any
	if err := json.Unmarshal(b, &obj); err != nil {
		t.Fatal(err)
	}
	var names []string
	for k := range obj {
		names = append(names, k)
	}
	sort.Strings(names)
	return names
}

// TestE2EWebhookDocExamplesMatchRealRequests: the requests shown in docs/webhooks.md carry exactly the
// parameters (names) that a real call's requests carry, so the examples cannot drift from the code.
func TestE2EWebhookDocExamplesMatchRealRequests(t *testing.T) {
	needE2E(t)
	examples := docBlocks(t, "captured")
	reqs := webhookDocCall(t)
	for i, name := range docRequestNames {
		block, ok := examples[name]
		if !ok {
			t.Errorf("%s has no block marked <!-- captured: %s -->", webhookDocPath, name)
			continue
		}
		r := reqs[i]
		docQuery, docBody := exampleParams(t, name, block)
		if got := paramNames(t, r.RawQuery); !slices.Equal(docQuery, got) {
			t.Errorf("example %s: query parameters %q, a real request sends %q", name, docQuery, got)
		}
		var realBody []string
		switch {
		case len(r.Body) == 0:
		case strings.HasPrefix(r.ContentType, "application/json"):
			realBody = jsonNames(t, r.Body)
		default:
			realBody = paramNames(t, string(r.Body))
		}
		if !slices.Equal(docBody, realBody) {
			t.Errorf("example %s: body parameters %q, a real request sends %q", name, docBody, realBody)
		}
	}
}
