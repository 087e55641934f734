package main

// End-to-end tests of media streams: the real binary answers SIPp (audio from the test's Go RTP
// peer), runs <Connect><Stream> and <Start><Stream>, and talks to a WebSocket application written
// in Python from Twilio's published Media Streams protocol (testdata/streams/twilio_app.py), which
// logs every message it gets and sends.

import (
	"bufio"
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
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pivotua/pivotua/codec"
	"github.com/pivotua/pivotua/httpfetch"
	"github.com/pivotua/pivotua/internal/testkit"
	"github.com/pivotua/pivotua/internal/testkit/sipptest"
)

// streamApp is the Python application: its port and its log.
type streamApp struct {
	port int
	log  string
}

// streamEntry is one line of the application's log.
type streamEntry struct {
	T    float64         `json:"t"`
	Conn int             `json:"conn"`
	Dir  string          `json:"dir"` // in, out, open, close
	Msg  json.RawMessage `json:"msg"`
}

func (e streamEntry) at() time.Time {
	return time.Unix(0, int64(e.T*1e9))
}

func (e streamEntry) decode(t *testing.T) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(e.Msg, &m); err != nil {
		t.Fatalf("app log: %v", err)
	}
	return m
}

func (e streamEntry) event(t *testing.T) string {
	ev, _ := e.decode(t)["event"].(string)
	return ev
}

const streamPython = "/usr/bin/python3" // Debian's, which python3-websockets installs into

func startStreamApp(t *testing.T) *streamApp {
	t.Helper()
	if _, err := exec.LookPath(streamPython); err != nil {
		t.Fatal("python3 is not installed: run `make deps`")
	}
	a := &streamApp{log: filepath.Join(t.TempDir(), "app.jsonl")}
	cmd := exec.Command(streamPython, filepath.Join("..", "..", "testdata", "streams", "twilio_app.py"), a.log)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr testkit.SyncBuffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		if t.Failed() {
			t.Logf("stream app stderr:\n%s", stderr.String())
		}
	})
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		t.Fatalf("stream app did not start (python3-websockets missing? run `make deps`): %v\n%s", err, stderr.String())
	}
	if a.port, err = strconv.Atoi(strings.TrimSpace(line)); err != nil {
		t.Fatalf("stream app printed %q", line)
	}
	return a
}

func (a *streamApp) url(path string) string { return fmt.Sprintf("ws://127.0.0.1:%d%s", a.port, path) }

func (a *streamApp) entries(t *testing.T) []streamEntry {
	t.Helper()
	b, err := os.ReadFile(a.log)
	if err != nil {
		t.Fatal(err)
	}
	var out []streamEntry
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		if line == "" {
			continue
		}
		var e streamEntry
		if err := json.Unmarshal([]byte(line), &e); err != nil {
			t.Fatalf("app log line %q: %v", line, err)
		}
		out = append(out, e)
	}
	return out
}

// waitClosed waits until the application logged the end of connection conn.
func (a *streamApp) waitClosed(t *testing.T, conn int) []streamEntry {
	t.Helper()
	var es []streamEntry
	testkit.WaitFor(t, 5*time.Second, "the stream's socket to close", func() bool {
		es = a.entries(t)
		return slices.ContainsFunc(es, func(e streamEntry) bool { return e.Conn == conn && e.Dir == "close" })
	})
	return es
}

// streamCall fills testdata/sipp/uac_stream.xml.
type streamCall struct {
	Service, CodecName string
	RTPPort, Codec     int
	HangupAfterMs      int
}

// runStreamCall calls pivotua with the Go peer's RTP; the caller hangs up after hangupAfter, or
// with 0 waits for pivotua's BYE.
func runStreamCall(t *testing.T, p *pivotuaInstance, peer *dialPeer, hangupAfter time.Duration) {
	t.Helper()
	_, err := sipptest.Run(t, sipptest.Call{Scenario: "uac_stream.xml", Target: p.sipAddr(), PeerLogs: p.logs,
		Data: streamCall{Service: "3004", CodecName: "PCMU", RTPPort: peer.port(), HangupAfterMs: int(hangupAfter / time.Millisecond)}})
	if err != nil {
		t.Fatal(err)
	}
}

// frames lists when the peer got each audio packet of pivotua's, with its frame decoded.
func (p *dialPeer) frames() ([]time.Time, [][]int16) {
	p.mu.Lock()
	defer p.mu.Unlock()
	var at []time.Time
	var pcm [][]int16
	for _, pk := range p.pkts {
		if pk.Header.PayloadType != 0 {
			continue
		}
		f := make([]int16, len(pk.Payload))
		codec.DecodeFrame(codec.PCMU, f, pk.Payload)
		at, pcm = append(at, pk.At), append(pcm, f)
	}
	return at, pcm
}

// TestE2EStreamConnectEchoesTheCallerBack: <Connect><Stream> to an application that echoes the
// caller's audio: the caller's 1 kHz tone comes back through pivotua, the application's marks come
// back after their audio, the caller's keys arrive as dtmf, and start carries the custom parameters,
// Twilio's media format and a signature that validates like Twilio's.
func TestE2EStreamConnectEchoesTheCallerBack(t *testing.T) {
	needE2E(t)
	app := startStreamApp(t)
	hook := newTwiMLHook(t, map[string]string{
		"/voice": fmt.Sprintf(`<Response><Connect action="/after"><Stream url="%s"><Parameter name="agent" value="echo-1"/><Parameter name="lang" value="en &amp; fr"/></Stream></Connect></Response>`, app.url("/echo?token=s3cret")),
		"/after": `<Response><Hangup/></Response>`,
	})
	p := startPivotua(t, dialTwiMLFlow(hook.URL+"/voice"))
	caller := newDialPeer(t, codec.PCMU, 1000)
	go func() {
		time.Sleep(1500 * time.Millisecond)
		caller.digit <- '4'
		time.Sleep(400 * time.Millisecond)
		caller.digit <- '#'
	}()
	runStreamCall(t, p, caller, 4*time.Second)
	es := app.waitClosed(t, 1)

	// The upgrade request: the URL's path and query, signed as Twilio signs it (the application
	// logs header names in lower case).
	open := es[0].decode(t)
	headers, _ := open["headers"].(map[string]any)
	if open["path"] != "/echo?token=s3cret" || headers == nil {
		t.Fatalf("first log line %s", es[0].Msg)
	}
	if sig, _ := headers[strings.ToLower(httpfetch.HeaderTwilioSignature)].(string); !httpfetch.ValidateTwilioSignature("e2e-key", app.url("/echo?token=s3cret"), nil, sig) {
		t.Errorf("X-Twilio-Signature %q does not validate for %s", sig, app.url("/echo?token=s3cret"))
	}

	// Twilio's order: connected, start, media..., stop last; sequence numbers count from 1 after connected.
	var in []map[string]any
	for _, e := range es {
		if e.Dir == "in" {
			in = append(in, e.decode(t))
		}
	}
	if len(in) < 3 || in[0]["event"] != "connected" || in[1]["event"] != "start" || in[len(in)-1]["event"] != "stop" {
		t.Fatalf("messages: first %v, second %v, last %v", in[0], in[1], in[len(in)-1])
	}
	if in[0]["protocol"] != "Call" || in[0]["version"] != "1.0.0" {
		t.Errorf("connected %v", in[0])
	}
	start := in[1]["start"].(map[string]any)
	sid, _ := in[1]["streamSid"].(string)
	wantParams := map[string]any{"agent": "echo-1", "lang": "en & fr"}
	if fmt.Sprint(start["customParameters"]) != fmt.Sprint(wantParams) || start["accountSid"] != e2eAccount || start["callSid"] == "" ||
		start["streamSid"] != sid || !strings.HasPrefix(sid, "MZ") || len(sid) != 34 || fmt.Sprint(start["tracks"]) != "[inbound]" {
		t.Errorf("start %v", in[1])
	}
	if f := fmt.Sprint(start["mediaFormat"]); f != "map[channels:1 encoding:audio/x-mulaw sampleRate:8000]" {
		t.Errorf("mediaFormat %s", f)
	}
	var media, digits []string
	for i, m := range in {
		if seq, _ := m["sequenceNumber"].(string); i > 0 && seq != strconv.Itoa(i) {
			t.Fatalf("message %d (%s) has sequenceNumber %q", i, m["event"], seq)
		}
		switch m["event"] {
		case "media":
			if m["track"] != "inbound" || m["streamSid"] != sid {
				t.Fatalf("media %v", m)
			}
			payload, _ := base64.StdEncoding.DecodeString(m["payload"].(string))
			if len(payload) != 160 {
				t.Fatalf("media payload of %d bytes, want 160 (20 ms)", len(payload))
			}
			if c := m["chunk"].(string); c != strconv.Itoa(len(media)+1) {
				t.Fatalf("media chunk %s after %d", c, len(media))
			}
			media = append(media, m["timestamp"].(string))
		case "dtmf":
			d := m["dtmf"].(map[string]any)
			if d["track"] != "inbound_track" {
				t.Errorf("dtmf %v", m)
			}
			digits = append(digits, d["digit"].(string))
		}
	}
	if len(media) < 150 || len(media) > 215 {
		t.Errorf("the application got %d media frames in a 4 s call, want about 50 a second", len(media))
	}
	if strings.Join(digits, "") != "4#" {
		t.Errorf("dtmf digits %q, want 4#", digits)
	}

	// The echo: the caller hears its own tone for most of the call.
	if n := testkit.CountTone(caller.heard(0), 1000); n < 100 {
		t.Errorf("the caller heard %d frames of its 1 kHz tone back, want most of the 4 s call (200)", n)
	}
	// Each mark comes back once the audio queued before it was played: after it was sent, in order.
	sent := map[string]time.Time{}
	var back []string
	for _, e := range es {
		m := e.decode(t)
		if m["event"] != "mark" {
			continue
		}
		name := m["mark"].(map[string]any)["name"].(string)
		if e.Dir == "out" {
			sent[name] = e.at()
			continue
		}
		back = append(back, name)
		if d := e.at().Sub(sent[name]); sent[name].IsZero() || d < 0 || d > 200*time.Millisecond {
			t.Errorf("mark %s came back %v after it was sent (its audio is one frame)", name, d)
		}
	}
	if len(back) < 4 || !slices.IsSortedFunc(back, func(a, b string) int {
		x, _ := strconv.Atoi(strings.TrimPrefix(a, "echo-"))
		y, _ := strconv.Atoi(strings.TrimPrefix(b, "echo-"))
		return x - y
	}) {
		t.Errorf("marks back %v, want every echo-N in order", back)
	}
	if got := hook.Forms("/after"); len(got) != 0 {
		t.Errorf("the caller hung up, yet <Connect action> was requested: %v", got)
	}
	// An application that keeps up loses no frame, and /metrics says so (the series is there at 0,
	// not absent).
	if body := metricsBody(t, p); !regexp.MustCompile(`(?m)^pivotua_stream_frames_dropped_total 0$`).MatchString(body) || !regexp.MustCompile(`(?m)^pivotua_stream_frames_discarded_total \d+$`).MatchString(body) {
		t.Errorf("/metrics lacks pivotua_stream_frames_dropped_total 0 or pivotua_stream_frames_discarded_total, only %q", regexp.MustCompile(`(?m)^pivotua_stream.*$`).FindAllString(body, -1))
	}
}

func metricsBody(t *testing.T, p *pivotuaInstance) string {
	t.Helper()
	res, err := http.Get(p.httpURL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return string(b)
}

// appMessages lists the application's log entries of direction dir and event ev.
func appMessages(t *testing.T, es []streamEntry, dir, ev string) []streamEntry {
	t.Helper()
	var out []streamEntry
	for _, e := range es {
		if e.Dir == dir && e.event(t) == ev {
			out = append(out, e)
		}
	}
	return out
}

func markNamed(t *testing.T, es []streamEntry, dir, name string) (time.Time, bool) {
	t.Helper()
	for _, e := range appMessages(t, es, dir, "mark") {
		if e.decode(t)["mark"].(map[string]any)["name"] == name {
			return e.at(), true
		}
	}
	return time.Time{}, false
}

// TestE2EStreamClearCutsPlaybackAndMarksFollowTheirAudio: the application sends 3 s of a 1 kHz tone
// in one burst and a mark, then clear after 1 s: the caller hears the tone paced at 20 ms (one
// second of it, not a burst), playback stops within a frame of the clear, and the mark comes back
// at the clear. Then 0.5 s of tone and a mark that comes back once that half second was played;
// then the application closes the socket and <Connect action>'s <Say> is heard.
func TestE2EStreamClearCutsPlaybackAndMarksFollowTheirAudio(t *testing.T) {
	needE2E(t)
	app := startStreamApp(t)
	hook := newTwiMLHook(t, map[string]string{
		"/voice": fmt.Sprintf(`<Response><Connect action="/after"><Stream url="%s"/></Connect><Say>not reached</Say></Response>`, app.url("/clear")),
		"/after": `<Response><Say>The stream has ended. Goodbye.</Say><Hangup/></Response>`,
	})
	p := startPivotua(t, dialTwiMLFlow(hook.URL+"/voice"))
	caller := newDialPeer(t, codec.PCMU, 600)
	runStreamCall(t, p, caller, 0)
	es := app.waitClosed(t, 1)

	clears := appMessages(t, es, "out", "clear")
	if len(clears) != 1 {
		t.Fatalf("the application sent %d clears", len(clears))
	}
	clearAt := clears[0].at()
	at, pcm := caller.frames()
	var tone []int // indexes of 1 kHz frames
	for i, f := range pcm {
		if testkit.ToneShare(f, 1000) > 0.8 {
			tone = append(tone, i)
		}
	}
	var before, after []int
	for _, i := range tone {
		if at[i].Before(clearAt.Add(200 * time.Millisecond)) {
			before = append(before, i)
		} else {
			after = append(after, i)
		}
	}
	if len(before) < 45 || len(before) > 56 {
		t.Errorf("the caller heard %d frames of tone before the clear, want the 1 s (50) it had time for, paced at 20 ms", len(before))
	}
	if len(before) > 0 {
		last := at[before[len(before)-1]]
		cut := last.Sub(clearAt)
		t.Logf("last tone frame arrived %v after the clear was sent", cut)
		if cut > 40*time.Millisecond {
			t.Errorf("the last tone frame arrived %v after the clear: playback must stop within a frame", cut)
		}
		for k := 1; k < len(before); k++ {
			if gap := at[before[k]].Sub(at[before[k-1]]); gap < 5*time.Millisecond {
				t.Fatalf("tone frames %d and %d arrived %v apart: a burst, not 20 ms pacing", k-1, k, gap)
			}
		}
	}
	if len(after) < 22 || len(after) > 27 {
		t.Errorf("the caller heard %d frames of the second 0.5 s tone, want 25", len(after))
	}

	tailSent, _ := markNamed(t, es, "out", "tone-end")
	tailBack, ok := markNamed(t, es, "in", "tone-end")
	if !ok || tailBack.Before(clearAt) || tailBack.Sub(clearAt) > 100*time.Millisecond {
		t.Errorf("mark tone-end came back at %v after it was sent (the clear was %v after): want at the clear",
			tailBack.Sub(tailSent), clearAt.Sub(tailSent))
	}
	shortSent, _ := markNamed(t, es, "out", "short")
	shortBack, ok := markNamed(t, es, "in", "short")
	if d := shortBack.Sub(shortSent); !ok || d < 450*time.Millisecond || d > 700*time.Millisecond {
		t.Errorf("mark short came back %v after it was sent, want after its 0.5 s of audio", d)
	}

	// The application closed the socket: the action's document runs and its <Say> is heard.
	if got := hook.Forms("/after"); len(got) != 1 {
		t.Fatalf("<Connect action> requested %d times after the application closed the stream", len(got))
	}
	closedAt := es[len(es)-1].at()
	speech := 0
	for i, f := range pcm {
		if at[i].After(closedAt) && testkit.Classify(f, 1000)[0] == testkit.OtherSound {
			speech++
		}
	}
	if speech < 25 {
		t.Errorf("heard %d frames of speech after the application closed the stream, want the action's <Say>", speech)
	}
	if strings.Contains(p.log.String(), "not reached") {
		t.Error("the verb after <Connect> ran though <Connect> has an action")
	}
}

// TestE2EStreamForkBothTracksWhileSayPlays: <Start><Stream track="both_tracks"> then <Say>: the
// application gets the caller's tone on the inbound track and the speech on the outbound track, each
// in order at 50 frames a second, and <Stop><Stream> sends stop before the call goes on.
func TestE2EStreamForkBothTracksWhileSayPlays(t *testing.T) {
	needE2E(t)
	app := startStreamApp(t)
	hook := newTwiMLHook(t, map[string]string{
		"/voice": fmt.Sprintf(`<Response><Start><Stream name="transcript" url="%s" track="both_tracks" statusCallback="/streams"><Parameter name="who" value="fork"/></Stream></Start>`+
			`<Say>This sentence is spoken while the fork carries both tracks of the call to the application.</Say>`+
			`<Stop><Stream name="transcript"/></Stop><Pause length="1"/><Hangup/></Response>`, app.url("/fork")),
		"/streams": `<Response/>`,
	})
	p := startPivotua(t, dialTwiMLFlow(hook.URL+"/voice"))
	caller := newDialPeer(t, codec.PCMU, 1000)
	runStreamCall(t, p, caller, 0)
	es := app.waitClosed(t, 1)

	starts := appMessages(t, es, "in", "start")
	if len(starts) != 1 {
		t.Fatalf("%d start messages", len(starts))
	}
	start := starts[0].decode(t)["start"].(map[string]any)
	if fmt.Sprint(start["tracks"]) != "[inbound outbound]" || fmt.Sprint(start["customParameters"]) != "map[who:fork]" {
		t.Errorf("start %v", start)
	}
	// statusCallback: Twilio's stream-started, then stream-stopped (by <Stop>), naming the stream.
	testkit.WaitFor(t, 5*time.Second, "two stream status callbacks", func() bool { return len(hook.Forms("/streams")) == 2 })
	for i, want := range []string{"stream-started", "stream-stopped"} {
		f := hook.Forms("/streams")[i]
		if f.Get("StreamEvent") != want || f.Get("StreamName") != "transcript" || f.Get("StreamSid") != start["streamSid"] ||
			f.Get("StreamError") != "" || f.Get("Timestamp") == "" || f.Get("AccountSid") == "" || f.Get("CallSid") == "" {
			t.Errorf("status callback %d: %v, want %s of stream %v", i, f, want, start["streamSid"])
		}
	}
	type track struct {
		n          int
		first, end int
		pcm        []int16
	}
	tracks := map[string]*track{"inbound": {}, "outbound": {}}
	for _, e := range appMessages(t, es, "in", "media") {
		m := e.decode(t)
		tr := tracks[m["track"].(string)]
		if tr == nil {
			t.Fatalf("media on track %v", m["track"])
		}
		tr.n++
		if c := m["chunk"].(string); c != strconv.Itoa(tr.n) {
			t.Fatalf("%s chunk %s after %d", m["track"], c, tr.n-1)
		}
		ts, _ := strconv.Atoi(m["timestamp"].(string))
		if tr.n == 1 {
			tr.first = ts
		}
		if ts < tr.end {
			t.Fatalf("%s timestamp %d after %d", m["track"], ts, tr.end)
		}
		tr.end = ts
		payload, _ := base64.StdEncoding.DecodeString(m["payload"].(string))
		f := make([]int16, len(payload))
		codec.DecodeFrame(codec.PCMU, f, payload)
		tr.pcm = append(tr.pcm, f...)
	}
	for name, tr := range tracks {
		span := time.Duration(tr.end-tr.first) * time.Millisecond
		rate := float64(tr.n-1) / span.Seconds()
		t.Logf("%s: %d frames over %v: %.1f frames/s", name, tr.n, span, rate)
		if span < 2*time.Second || rate < 48 || rate > 52 {
			t.Errorf("%s track: %d frames over %v (%.1f a second), want 50 a second for the whole <Say>", name, tr.n, span, rate)
		}
	}
	if n := testkit.CountTone(tracks["inbound"].pcm, 1000); n < tracks["inbound"].n*8/10 {
		t.Errorf("inbound track: %d of %d frames carry the caller's tone", n, tracks["inbound"].n)
	}
	kinds := testkit.Classify(tracks["outbound"].pcm, 1000)
	if n := testkit.CountKind(kinds, testkit.OtherSound); n < 50 {
		t.Errorf("outbound track: %d frames of speech, want the <Say>", n)
	}
	stops := appMessages(t, es, "in", "stop")
	if len(stops) != 1 || es[len(es)-1].Dir != "close" || !strings.Contains(string(es[len(es)-1].Msg), `"code": 1000`) {
		t.Fatalf("stops %d, last entry %s", len(stops), es[len(es)-1].Msg)
	}
	// <Stop> ran before <Pause length="1">: the stream ended about a second before the call did.
	if byeAt := caller.lastPacket(); byeAt.Sub(stops[0].at()) < 700*time.Millisecond {
		t.Errorf("stop came %v before the call's last packet, want <Stop> to end it before the 1 s pause", byeAt.Sub(stops[0].at()))
	}
}

// lastPacket is when pivotua's last packet reached the peer.
func (p *dialPeer) lastPacket() time.Time {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.pkts) == 0 {
		return time.Time{}
	}
	return p.pkts[len(p.pkts)-1].At
}

// TestE2EStreamFaultsRunTheConnectAction: a stream that cannot be opened (nobody listening; a host
// in fetch.deny_cidrs) or whose application breaks the protocol (a message over 64 KiB, a message
// that is not JSON) costs that stream only: <Connect action> is requested, its <Say> is heard, and
// pivotua logs what was wrong.
func TestE2EStreamFaultsRunTheConnectAction(t *testing.T) {
	needE2E(t)
	app := startStreamApp(t)
	closedPort := testkit.FreePort(t)
	for _, tc := range []struct {
		name, url, logged string
	}{
		{"refused", fmt.Sprintf("ws://127.0.0.1:%d/", closedPort), "connection refused"},
		{"denied", fmt.Sprintf("ws://127.0.0.2:%d/echo", app.port), "127.0.0.2 is in 127.0.0.2/32"},
		{"too big", app.url("/big"), "a message over 65536 bytes"},
		{"not JSON", app.url("/badjson"), "not a JSON object"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			hook := newTwiMLHook(t, map[string]string{
				"/voice":   fmt.Sprintf(`<Response><Connect action="/after"><Stream url="%s" statusCallback="/streams" statusCallbackMethod="GET"/></Connect></Response>`, tc.url),
				"/after":   `<Response><Say>The assistant is not available. Goodbye.</Say><Hangup/></Response>`,
				"/streams": `<Response/>`,
			})
			p := startPivotua(t, dialTwiMLFlow(hook.URL+"/voice"), func(c *Config) { c.Fetch.DenyCIDRs = []string{"127.0.0.2/32"} })
			caller := newDialPeer(t, codec.PCMU, 600)
			runStreamCall(t, p, caller, 0)
			if got := hook.Forms("/after"); len(got) != 1 {
				t.Fatalf("<Connect action> requested %d times", len(got))
			}
			if n := testkit.CountKind(testkit.Classify(caller.heard(0), 1000), testkit.OtherSound); n < 25 {
				t.Errorf("heard %d frames of the action's speech", n)
			}
			if !strings.Contains(p.log.String(), tc.logged) {
				t.Errorf("pivotua's log does not say %q:\n%s", tc.logged, p.log.String())
			}
			// statusCallback (GET): stream-error last, naming what was wrong.
			var last url.Values
			testkit.WaitFor(t, 5*time.Second, "a stream-error status callback", func() bool {
				events := hook.Forms("/streams")
				if len(events) > 0 {
					last = events[len(events)-1]
				}
				return last.Get("StreamEvent") == "stream-error"
			})
			if !strings.Contains(last.Get("StreamError"), tc.logged) {
				t.Errorf("stream-error callback %v, want its StreamError to say %q", last, tc.logged)
			}
		})
	}
}

// TestE2EStreamKazooModuleEchoesThenContinues: pivotua's own Kazoo module "stream" (Kazoo has none)
// runs the same bidirectional stream from a Kazoo JSON document: the caller hears its tone echoed,
// the custom parameters reach start, and when the application closes the socket the "_" child runs.
func TestE2EStreamKazooModuleEchoesThenContinues(t *testing.T) {
	needE2E(t)
	app := startStreamApp(t)
	doc := fmt.Sprintf(`{"module":"stream","data":{"url":%q,"parameters":{"tenant":"acme"}},
		"children":{"_":{"module":"tts","data":{"text":"The stream has ended. Goodbye."},"children":{"_":{"module":"hangup"}}}}}`, app.url("/close"))
	hook := testkit.NewWebhook(t, testkit.ServeDocs(map[string][2]string{"/kazoo": {"application/json", doc}}))
	p := startPivotua(t, map[string]any{"module": "pivot", "data": map[string]any{"voice_url": hook.URL + "/kazoo", "method": "get", "req_timeout_ms": 3000}})
	caller := newDialPeer(t, codec.PCMU, 600)
	runStreamCall(t, p, caller, 0)
	es := app.waitClosed(t, 1)
	starts := appMessages(t, es, "in", "start")
	if len(starts) != 1 || fmt.Sprint(starts[0].decode(t)["start"].(map[string]any)["customParameters"]) != "map[tenant:acme]" {
		t.Fatalf("start messages %v", starts)
	}
	if n := testkit.CountKind(testkit.Classify(caller.heard(0), 1000), testkit.OtherSound); n < 25 {
		t.Errorf("heard %d frames of the \"_\" child's speech after the application closed the stream", n)
	}
}
