package main

// The call inspector (/ui) in a real browser: headless Chromium loads the page from the real binary
// after a real SIPp call, runs its JavaScript against the API, and the test reads the DOM it built.

import (
	"context"
	"fmt"
	"html"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pivotua/pivotua/codec"
	"github.com/pivotua/pivotua/internal/testkit"
	"github.com/pivotua/pivotua/internal/testkit/sipptest"
)

// needChromium finds Debian's chromium. A machine without it skips the browser tests, except in CI
// (CI=true), where a missing browser is a failure: `make deps` installs it.
func needChromium(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser"} {
		if path, err := exec.LookPath(name); err == nil {
			return path
		}
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("chromium is not installed: run `make deps` (Debian package chromium)")
	}
	t.Skip("chromium is not installed: run `make deps` (Debian package chromium)")
	return ""
}

// headlessChromium runs one headless Chromium on a closed network: nothing in the background may
// reach out (updates, sync, QUIC), and it stops within a minute whatever the page does.
func headlessChromium(t *testing.T, browser string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	base := []string{
		"--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
		"--disable-background-networking", "--disable-component-update", "--disable-sync",
		"--disable-default-apps", "--disable-extensions", "--disable-dev-shm-usage", "--mute-audio",
		"--user-data-dir=" + t.TempDir(),
	}
	cmd := exec.CommandContext(ctx, browser, append(base, args...)...)
	var stderr testkit.SyncBuffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("chromium %v: %v\n%s", args, err, sipptest.LastLines(stderr.String(), 20))
	}
	return string(out)
}

// pageDOM loads target and returns the DOM once the page's scripts and fetches have settled (virtual
// time runs while no fetch is pending).
func pageDOM(t *testing.T, browser, target string) string {
	t.Helper()
	return headlessChromium(t, browser, "--virtual-time-budget=15000", "--dump-dom", target)
}

// timelineEntry is one <li> of the inspector's timeline, as text.
type timelineEntry struct{ kind, event, text string }

var (
	entryPattern = regexp.MustCompile(`(?s)<li ([^>]*class="entry[^>]*)>(.*?)</li>`)
	attrPattern  = regexp.MustCompile(`(data-kind|data-event)="([^"]*)"`)
	tagPattern   = regexp.MustCompile(`<[^>]+>`)
)

func timelineEntries(dom string) []timelineEntry {
	var out []timelineEntry
	for _, m := range entryPattern.FindAllStringSubmatch(dom, -1) {
		e := timelineEntry{text: html.UnescapeString(tagPattern.ReplaceAllString(m[2], " "))}
		for _, a := range attrPattern.FindAllStringSubmatch(m[1], -1) {
			if a[1] == "data-kind" {
				e.kind = a[2]
			} else {
				e.event = a[2]
			}
		}
		out = append(out, e)
	}
	return out
}

func (e timelineEntry) String() string { return e.kind + "/" + e.event }

// TestE2EInspectorShowsARealCallInHeadlessChromium: a SIPp caller goes through Say, Gather (two
// RFC 4733 digits) and Record on a debug: true TwiML callflow; the inspector page, run by Chromium,
// must list the call and show its whole timeline with a recording the page can play.
func TestE2EInspectorShowsARealCallInHeadlessChromium(t *testing.T) {
	needE2E(t)
	browser := needChromium(t)
	app := newTwiMLApp(t, map[string]func(int) string{
		"/voice":    static(`<Response><Gather numDigits="2" timeout="8" action="/gathered"><Say>Welcome. Enter two digits.</Say></Gather></Response>`),
		"/gathered": static(`<Response><Record timeout="2" maxLength="20" action="/recorded"/></Response>`),
		"/recorded": static(`<Response><Say>Goodbye.</Say><Hangup/></Response>`),
	})
	p := startPivotua(t, twimlFlow(app.URL+"/voice"))
	segs := []sipptest.Segment{sipptest.Silence(600 * time.Millisecond), sipptest.Key('4', 100*time.Millisecond), sipptest.Silence(150 * time.Millisecond),
		sipptest.Key('2', 100*time.Millisecond), sipptest.Silence(1500 * time.Millisecond)}
	segs = append(segs, sipptest.Audio(codec.Tone(600, time.Second, 0.4)), sipptest.Audio(codec.Tone(1200, time.Second, 0.4)), sipptest.Silence(6*time.Second))
	if err := runSIPp(t, p, "uac_pcap.xml", sipptest.Data{RTPPort: testkit.FreePort(t), Codec: 0, PCAP: sipptest.PCMUFile(t, segs...)}); err != nil {
		t.Fatal(err)
	}
	if want := []string{"POST /voice", "POST /gathered", "POST /recorded"}; strings.Join(app.trail(), ",") != strings.Join(want, ",") {
		t.Fatalf("requests %q, want %q", app.trail(), want)
	}
	callID := app.received()[0].Form.Get("CallSid")
	waitForHangupRecord(t, p, callID)

	ui := p.httpURL + "/ui/"
	dom := pageDOM(t, browser, ui+"#account="+e2eAccount+"&key=e2e-key&call="+url.QueryEscape(callID))
	if !strings.Contains(dom, `data-state="call"`) {
		t.Fatalf("the page did not reach its call view:\n%s", dom)
	}
	if !strings.Contains(dom, `data-call-id="`+html.EscapeString(callID)+`"`) {
		t.Errorf("the call list does not show %s", callID)
	}
	entries := timelineEntries(dom)
	var story []string
	for _, e := range entries {
		story = append(story, e.String())
	}
	want := []string{
		"request/", "response/", "event/verb", "event/answered", "event/digits",
		"request/", "response/", "event/verb", "event/recording",
		"request/", "response/", "event/verb", "event/verb", "event/hangup",
	}
	if strings.Join(story, " ") != strings.Join(want, " ") {
		t.Fatalf("timeline %q\nwant     %q", story, want)
	}
	has := func(i int, parts ...string) {
		t.Helper()
		for _, part := range parts {
			if !strings.Contains(entries[i].text, part) {
				t.Errorf("timeline entry %d (%s) lacks %q: %s", i, entries[i], part, entries[i].text)
			}
		}
	}
	has(0, "POST "+app.URL+"/voice", "CallSid = "+callID, "CallStatus = ringing", "+0 ms")
	has(1, "200 in", "ms", "<Response>\n  <Gather", `numDigits="2"`, "<Say>Welcome. Enter two digits.</Say>")
	has(2, "Gather", "Welcome. Enter two digits.")
	has(4, "42", "<Gather>")
	has(5, "POST "+app.URL+"/gathered", "Digits = 42")
	has(7, "Record", `timeout="2"`)
	has(8, "ended by silence", "reported as "+p.httpURL+"/recordings/"+e2eAccount+"/")
	has(9, "RecordingUrl = "+p.httpURL+"/recordings/", "RecordingDuration = ")
	has(11, "Say", "Goodbye.")
	has(12, "Hangup")
	has(13, "by pivotua (BYE)")

	// The recording plays from the page's own origin: its <audio> src is a WAV pivotua serves.
	src := regexp.MustCompile(`<audio [^>]*src="([^"]+)"`).FindStringSubmatch(dom)
	if src == nil || !strings.HasPrefix(html.UnescapeString(src[1]), "/recordings/"+e2eAccount+"/") {
		t.Fatalf("no same-origin <audio> for the recording: %v", src)
	}
	res, wav := testkit.Get(t, http.MethodGet, p.httpURL+html.UnescapeString(src[1]), "")
	if res.StatusCode != 200 || res.Header.Get("Content-Type") != "audio/wav" || len(wav) < 44 || string(wav[:4]) != "RIFF" || string(wav[8:12]) != "WAVE" {
		t.Fatalf("GET the <audio> src: %d %q, %d bytes", res.StatusCode, res.Header.Get("Content-Type"), len(wav))
	}
	assertRecordedTones(t, wav)

	// A wrong key gets a clear message, and no call.
	dom = pageDOM(t, browser, ui+"#account="+e2eAccount+"&key=wrong-key")
	if !strings.Contains(dom, `data-state="error"`) || !strings.Contains(dom, "Wrong api_key") || strings.Contains(dom, "data-call-id") {
		t.Errorf("a wrong api_key must show an error and no calls:\n%s", dom)
	}

	// For a person to look at once (not kept): PIVOTUA_UI_SCREENSHOT=/tmp/ui.png.
	if shot := os.Getenv("PIVOTUA_UI_SCREENSHOT"); shot != "" {
		abs, _ := filepath.Abs(shot)
		headlessChromium(t, browser, "--virtual-time-budget=15000", "--window-size=1280,2400", "--screenshot="+abs,
			ui+"#account="+e2eAccount+"&key=e2e-key&call="+url.QueryEscape(callID))
	}
}

// waitForHangupRecord waits until the call's hangup event is in the store (records are written
// asynchronously, after the call).
func waitForHangupRecord(t *testing.T, p *pivotuaInstance, callID string) {
	t.Helper()
	_, env := crossbar(t, "PUT", p.httpURL+"/v2/api_auth", "", map[string]any{"data": map[string]any{"api_key": "e2e-key"}})
	token, _ := env["auth_token"].(string)
	target := fmt.Sprintf("%s/v2/accounts/%s/pivot/debug/%s?events=true", p.httpURL, e2eAccount, url.PathEscape(callID))
	for range 100 {
		_, env = crossbar(t, "GET", target, token, nil)
		docs, _ := env["data"].([]any)
		if len(docs) > 0 && docs[len(docs)-1].(map[string]any)["event"] == "hangup" {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("the call's hangup event never reached the store: %v", env)
}

// TestE2EInspectorListFlagsFailedFetches: what a developer looks for first is a webhook that failed.
// Three calls whose pivot request got a 404, a 500 and no answer in time each fall back to the `_`
// child; the inspector's list, run by Chromium, must flag each in its Errors column, and show a GET
// webhook's URL without the query string that holds every pivot parameter.
func TestE2EInspectorListFlagsFailedFetches(t *testing.T) {
	needE2E(t)
	browser := needChromium(t)
	var served atomic.Int32
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch served.Add(1) {
		case 1:
			http.Error(w, "no such app", http.StatusNotFound)
		case 2:
			http.Error(w, "app crashed", http.StatusInternalServerError)
		default:
			select { // longer than req_timeout_ms
			case <-time.After(5 * time.Second):
			case <-r.Context().Done():
			}
		}
	}))
	defer hook.Close()
	fallback := map[string]any{"module": "tts", "data": map[string]any{"text": "Sorry."}}
	p := startPivotua(t, pivotFlow(hook.URL+"/voice?app=failing", fallback))
	var callIDs []string
	for range 3 {
		capture := sipptest.NewCapture(t)
		if err := runSIPp(t, p, "uac_call.xml", sipptest.Data{RTPPort: capture.Port(), Codec: 0}); err != nil {
			t.Fatal(err)
		}
	}
	_, env := crossbar(t, "PUT", p.httpURL+"/v2/api_auth", "", map[string]any{"data": map[string]any{"api_key": "e2e-key"}})
	token, _ := env["auth_token"].(string)
	for range 100 {
		_, env = crossbar(t, "GET", fmt.Sprintf("%s/v2/accounts/%s/pivot/debug", p.httpURL, e2eAccount), token, nil)
		if rows, _ := env["data"].([]any); len(rows) == 3 {
			callIDs = nil
			for _, r := range rows {
				callIDs = append(callIDs, r.(map[string]any)["call_id"].(string))
			}
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if len(callIDs) != 3 {
		t.Fatalf("the debug list never held the three calls: %v", env)
	}

	dom := pageDOM(t, browser, p.httpURL+"/ui/#account="+e2eAccount+"&key=e2e-key")
	rows := regexp.MustCompile(`(?s)<tr data-call-id="([^"]+)"[^>]*>(.*?)</tr>`).FindAllStringSubmatch(dom, -1)
	if len(rows) != 3 {
		t.Fatalf("the page lists %d calls, want 3:\n%s", len(rows), dom)
	}
	// Newest first: the timeout, the 500, the 404.
	for i, want := range []string{"fetch failed", "HTTP 500", "HTTP 404"} {
		cells := regexp.MustCompile(`(?s)<td[^>]*>(.*?)</td>`).FindAllStringSubmatch(rows[i][2], -1)
		if len(cells) != 5 {
			t.Fatalf("row %d has %d cells: %s", i, len(cells), rows[i][2])
		}
		if errs := html.UnescapeString(tagPattern.ReplaceAllString(cells[4][1], "")); errs != want {
			t.Errorf("row %d (%s): Errors column %q, want %q", i, rows[i][1], errs, want)
		}
		if uri := html.UnescapeString(cells[3][1]); uri != hook.URL+"/voice?…" {
			t.Errorf("row %d: URI column %q, want the URL without its query", i, uri)
		}
	}
}
