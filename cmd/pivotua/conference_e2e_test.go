package main

// End-to-end tests of conferences: SIPp callers (each with a Go RTP peer sending its own tone, see
// dialPeer) join one room through TwiML <Dial><Conference> or the Kazoo conference module; what each
// party heard, the room's recording and the status callbacks are judged.

import (
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pivotua/pivotua/codec"
	"github.com/pivotua/pivotua/httpfetch"
	"github.com/pivotua/pivotua/internal/testkit"
	"github.com/pivotua/pivotua/internal/testkit/sipptest"
)

// conferenceHook answers /voice with docs in turn (one per caller, in the order they call), /wait with
// waitDoc, /tone400.wav with 1 s of 400 Hz, /cb with an empty document, and /after with a Hangup.
func conferenceHook(t *testing.T, waitDoc string, docs ...string) *testkit.Webhook {
	t.Helper()
	var next atomic.Int32
	var tone strings.Builder
	_ = codec.EncodeWAV(&tone, testkit.Sine(400, codec.SampleRate, codec.SampleRate, 0.4), codec.SampleRate)
	return testkit.NewWebhook(t, func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/voice":
			i := int(next.Add(1)) - 1
			w.Header().Set("Content-Type", "text/xml")
			io.WriteString(w, docs[min(i, len(docs)-1)])
		case "/wait":
			w.Header().Set("Content-Type", "text/xml")
			io.WriteString(w, waitDoc)
		case "/tone400.wav":
			w.Header().Set("Content-Type", "audio/wav")
			io.WriteString(w, tone.String())
		case "/cb":
			w.Header().Set("Content-Type", "text/xml")
			io.WriteString(w, "<Response/>")
		case "/after":
			w.Header().Set("Content-Type", "text/xml")
			io.WriteString(w, "<Response><Hangup/></Response>")
		default:
			http.NotFound(w, r)
		}
	})
}

// startCallers calls p once per peer, each after the one before by gap, with scenario (uac_call.xml
// waits for pivotua's BYE).
func startCallers(t *testing.T, p *pivotuaInstance, gap time.Duration, scenario string, peers ...*dialPeer) []*sipptest.Running {
	t.Helper()
	var runs []*sipptest.Running
	for i, peer := range peers {
		if i > 0 {
			time.Sleep(gap)
		}
		runs = append(runs, sipptest.Start(t, sipptest.Call{Scenario: scenario, Target: p.sipAddr(), PeerLogs: p.logs,
			Data: byeAfterData{Service: "3004", RTPPort: peer.port(), Codec: int(peer.law), CodecName: map[codec.Law]string{codec.PCMU: "PCMU", codec.PCMA: "PCMA"}[peer.law], PauseMs: 4000}}))
	}
	return runs
}

// byeAfterData fills uac_bye_after.xml (and uac_call.xml, which reads the same fields but PauseMs).
type byeAfterData struct {
	Service   string
	RTPPort   int
	Codec     int
	CodecName string
	PauseMs   int
}

// toneFrames counts the 20 ms frames of pcm where freq holds more than share of the energy: in a mix
// of two equal tones each holds half, of three a third.
func toneFrames(pcm []int16, freq, share float64) int {
	n := 0
	for i := 0; i+codec.FrameSamples <= len(pcm); i += codec.FrameSamples {
		if testkit.ToneShare(pcm[i:i+codec.FrameSamples], freq) > share {
			n++
		}
	}
	return n
}

// lastToneFrame and firstToneFrame are the index of the last (first) frame where freq holds more than
// share of the energy, or -1.
func lastToneFrame(pcm []int16, freq, share float64) int {
	last := -1
	for i := 0; i+codec.FrameSamples <= len(pcm); i += codec.FrameSamples {
		if testkit.ToneShare(pcm[i:i+codec.FrameSamples], freq) > share {
			last = i / codec.FrameSamples
		}
	}
	return last
}

func firstToneFrame(pcm []int16, freq, share float64) int {
	for i := 0; i+codec.FrameSamples <= len(pcm); i += codec.FrameSamples {
		if testkit.ToneShare(pcm[i:i+codec.FrameSamples], freq) > share {
			return i / codec.FrameSamples
		}
	}
	return -1
}

// hears checks that the party heard each tone of want for at least min frames and none of not.
func hears(t *testing.T, who string, pcm []int16, minFrames int, want, not []float64) {
	t.Helper()
	for _, f := range want {
		if n := toneFrames(pcm, f, 0.25); n < minFrames {
			t.Errorf("%s heard %d frames of %.0f Hz, want at least %d", who, n, f, minFrames)
		}
	}
	for _, f := range not {
		if n := toneFrames(pcm, f, 0.25); n > 0 {
			t.Errorf("%s heard %d frames of %.0f Hz, want none", who, n, f)
		}
	}
}

// TestE2EConferenceThreePartiesHearEachOtherRecordedWithCallbacks: three callers (500 Hz PCMU, 800 Hz
// PCMA, 1,200 Hz PCMU) join one room 1 s apart; each hears exactly the other two, never itself. The
// first records the room from the start and ends it when its 6 s time limit makes it leave
// (endConferenceOnExit): the two others are taken out at once and run their action. Every action gets
// DialCallStatus completed and the room's RecordingUrl, whose mixed recording holds all three tones; the
// status callbacks arrive in order, signed, with Twilio's parameters.
func TestE2EConferenceThreePartiesHearEachOtherRecordedWithCallbacks(t *testing.T) {
	needE2E(t)
	const first = `<Response><Dial action="/after" timeLimit="6"><Conference waitUrl="" beep="false" endConferenceOnExit="true"
		record="record-from-start" trim="do-not-trim" statusCallback="/cb" statusCallbackEvent="start end join leave">team room</Conference></Dial></Response>`
	const others = `<Response><Dial action="/after"><Conference waitUrl="" beep="false">team room</Conference></Dial><Say>not reached</Say></Response>`
	hook := conferenceHook(t, "", first, others, others)
	p := startPivotua(t, dialTwiMLFlow(hook.URL+"/voice"))
	a, b, c := newDialPeer(t, codec.PCMU, 500), newDialPeer(t, codec.PCMA, 800), newDialPeer(t, codec.PCMU, 1200)
	runs := startCallers(t, p, time.Second, "uac_call.xml", a, b, c)
	for i, r := range runs {
		if err := r.Wait(20 * time.Second); err != nil {
			t.Fatalf("caller %d (it must get pivotua's BYE once the room ended): %v", i, err)
		}
	}
	hears(t, "the 500 Hz party", a.heard(0), 150, []float64{800, 1200}, []float64{500})
	hears(t, "the 800 Hz party", b.heard(8), 150, []float64{500, 1200}, []float64{800})
	hears(t, "the 1200 Hz party", c.heard(0), 100, []float64{500, 800}, []float64{1200})

	after := hook.Forms("/after")
	if len(after) != 3 {
		t.Fatalf("action URL got %d requests, want one per caller\n%s", len(after), sipptest.LastLines(p.logs(), 40))
	}
	for _, q := range after {
		if q.Get("DialCallStatus") != "completed" || q.Get("RecordingUrl") == "" || q.Get("RecordingUrl") != after[0].Get("RecordingUrl") {
			t.Errorf("action params: DialCallStatus=%q RecordingUrl=%q", q.Get("DialCallStatus"), q.Get("RecordingUrl"))
		}
	}
	res, body := testkit.Get(t, http.MethodGet, after[0].Get("RecordingUrl"), "")
	if res.StatusCode != 200 || len(body) < 44 {
		t.Fatalf("RecordingUrl %q: %d, %d bytes", after[0].Get("RecordingUrl"), res.StatusCode, len(body))
	}
	mix := testkit.PCM16(body[44:])
	for _, f := range []float64{500, 800, 1200} {
		if n := toneFrames(mix, f, 0.15); n < 150 {
			t.Errorf("the room's recording (%.1f s) holds %d frames of %.0f Hz, want most of the 4 s all three talked", float64(len(mix))/8000, n, f)
		}
	}

	var events []string
	sidPattern := regexp.MustCompile(`^CF[0-9a-f]{32}$`)
	for i, r := range hook.Requests() {
		if r.Path != "/cb" {
			continue
		}
		f := r.PostForm
		events = append(events, f.Get("StatusCallbackEvent"))
		if f.Get("SequenceNumber") != fmt.Sprint(len(events)) {
			t.Errorf("callback %d %s has SequenceNumber %q, want %d", i, f.Get("StatusCallbackEvent"), f.Get("SequenceNumber"), len(events))
		}
		if !sidPattern.MatchString(f.Get("ConferenceSid")) || f.Get("FriendlyName") != "team room" || f.Get("AccountSid") == "" || f.Get("Timestamp") == "" {
			t.Errorf("callback %s parameters: %v", f.Get("StatusCallbackEvent"), f)
		}
		if strings.HasPrefix(f.Get("StatusCallbackEvent"), "participant-") && (f.Get("CallSid") == "" || f.Get("Muted") != "false" || f.Get("Hold") != "false") {
			t.Errorf("callback %s parameters: %v", f.Get("StatusCallbackEvent"), f)
		}
		if !httpfetch.ValidateTwilioSignature("e2e-key", r.URL, r.PostForm, r.Header.Get(httpfetch.HeaderTwilioSignature)) {
			t.Errorf("callback %s: X-Twilio-Signature does not validate for %s", f.Get("StatusCallbackEvent"), r.URL)
		}
	}
	want := "participant-join participant-join conference-start participant-join participant-leave participant-leave participant-leave conference-end"
	if got := strings.Join(events, " "); got != want {
		t.Errorf("status callbacks:\n got %s\nwant %s", got, want)
	}
}

// TestE2EConferenceMutedPartyWaitAudioAndModerator: two callers that do not start the conference wait
// hearing the waitUrl's 400 Hz tone (its document Redirects to itself forever: followed 5 times, then
// looped); the second is muted. When the moderator joins the room starts: the first hears the moderator
// and never the muted party, the muted party hears both, the moderator hears only the first. The
// moderator's time limit makes it leave, which ends the room for all (endConferenceOnExit).
func TestE2EConferenceMutedPartyWaitAudioAndModerator(t *testing.T) {
	needE2E(t)
	const waiting = `<Response><Dial action="/after"><Conference beep="false" startConferenceOnEnter="false" waitUrl="/wait" waitMethod="GET">r2</Conference></Dial></Response>`
	const muted = `<Response><Dial action="/after"><Conference beep="false" muted="true" startConferenceOnEnter="false" waitUrl="/wait">r2</Conference></Dial></Response>`
	const moderator = `<Response><Dial action="/after" timeLimit="4"><Conference beep="false" endConferenceOnExit="true">r2</Conference></Dial></Response>`
	hook := conferenceHook(t, `<Response><Play>/tone400.wav</Play><Redirect method="GET">/wait</Redirect></Response>`, waiting, muted, moderator)
	p := startPivotua(t, dialTwiMLFlow(hook.URL+"/voice"))
	a, b, m := newDialPeer(t, codec.PCMU, 500), newDialPeer(t, codec.PCMA, 800), newDialPeer(t, codec.PCMU, 1200)
	runs := startCallers(t, p, 1500*time.Millisecond, "uac_call.xml", a, b, m)
	for i, r := range runs {
		if err := r.Wait(20 * time.Second); err != nil {
			t.Fatalf("caller %d: %v", i, err)
		}
	}
	ah, bh, mh := a.heard(0), b.heard(8), m.heard(0)
	if n := toneFrames(ah, 400, 0.5); n < 80 {
		t.Errorf("the first party heard %d frames of the 400 Hz wait audio in the 3 s it waited, want most of 150", n)
	}
	if n := toneFrames(bh, 400, 0.5); n < 30 {
		t.Errorf("the muted party heard %d frames of the 400 Hz wait audio in the 1.5 s it waited, want most of 75", n)
	}
	if wait, room := lastToneFrame(ah, 400, 0.5), firstToneFrame(ah, 1200, 0.25); wait < 0 || room < 0 || wait > room+2 {
		t.Errorf("the first party's wait audio (last frame %d) did not end when the moderator was heard (frame %d)", wait, room)
	}
	hears(t, "the first party", ah, 120, []float64{1200}, []float64{500, 800})
	hears(t, "the muted party", bh, 120, []float64{500, 1200}, []float64{800})
	hears(t, "the moderator", mh, 120, []float64{500}, []float64{800, 1200, 400})
	if after := hook.Forms("/after"); len(after) != 3 {
		t.Errorf("action URL got %d requests, want one per caller once the moderator ended the room", len(after))
	}
	if !strings.Contains(p.logs(), "too many Redirects") {
		t.Errorf("the waitUrl's endless Redirect was not cut:\n%s", sipptest.LastLines(p.logs(), 30))
	}
}

// TestE2EConferenceKazooPivotSendsTwoCallersToOneRoom: a Kazoo JSON pivot sends two callers to the room
// its config names; each hears the other until it hangs up, and the room's entry and exit tones.
func TestE2EConferenceKazooPivotSendsTwoCallersToOneRoom(t *testing.T) {
	needE2E(t)
	hook := newWebhook(t, func(*webhook) any {
		return map[string]any{"module": "conference", "data": map[string]any{"config": map[string]any{"name": "kazoo room", "max_participants": 5}}}
	})
	p := startPivotua(t, pivotFlow(hook.URL+"/voice", nil))
	x, y := newDialPeer(t, codec.PCMA, 700), newDialPeer(t, codec.PCMU, 1100)
	runs := startCallers(t, p, time.Second, "uac_bye_after.xml", x, y)
	for i, r := range runs {
		if err := r.Wait(20 * time.Second); err != nil {
			t.Fatalf("caller %d: %v", i, err)
		}
	}
	hears(t, "the 700 Hz caller", x.heard(8), 100, []float64{1100}, []float64{700})
	hears(t, "the 1100 Hz caller", y.heard(0), 100, []float64{700}, []float64{1100})
	// Kazoo's entry and exit tones (on by default): the first caller hears the second enter; the
	// second hears its own entry and the first leave. Each is 250 ms of 1,400 Hz, at half the level of
	// the callers' tones: a fifth of the energy when a caller talks over it.
	if n := toneFrames(x.heard(8), 1400, 0.1); n < 8 || n > 16 {
		t.Errorf("the first caller heard %d frames of the 1,400 Hz entry tone, want about 12", n)
	}
	if n := toneFrames(y.heard(0), 1400, 0.1); n < 18 || n > 30 {
		t.Errorf("the second caller heard %d frames of the 1,400 Hz entry and exit tones, want about 24", n)
	}
}

// TestE2EConferenceCoachFullRoomAndHangupOnStar: in a room of maxParticipants 3, the third caller
// coaches the first (coach = the first's CallSid): the first hears it, the second does not; a fourth
// caller finds the room full and its action gets DialCallStatus failed. The first presses * and
// (hangupOnStar) leaves the room for its action while the others stay.
func TestE2EConferenceCoachFullRoomAndHangupOnStar(t *testing.T) {
	needE2E(t)
	var firstSid atomic.Value
	var next atomic.Int32
	hook := testkit.NewWebhook(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/xml")
		if r.URL.Path == "/after" { // 1 s more of the call, out of the room
			io.WriteString(w, `<Response><Pause length="1"/><Hangup/></Response>`)
			return
		}
		const conf = `<Response><Dial action="/after" %s><Conference beep="false" waitUrl="" maxParticipants="3" %s>r3</Conference></Dial></Response>`
		switch next.Add(1) {
		case 1:
			firstSid.Store(r.FormValue("CallSid"))
			fmt.Fprintf(w, conf, `hangupOnStar="true" timeLimit="10"`, "")
		case 2:
			fmt.Fprintf(w, conf, `timeLimit="6"`, "")
		case 3:
			fmt.Fprintf(w, conf, `timeLimit="5"`, fmt.Sprintf(`coach="%s"`, firstSid.Load()))
		default:
			fmt.Fprintf(w, conf, "", "")
		}
	})
	p := startPivotua(t, dialTwiMLFlow(hook.URL+"/voice"))
	a, b, c, d := newDialPeer(t, codec.PCMU, 500), newDialPeer(t, codec.PCMU, 800), newDialPeer(t, codec.PCMA, 1200), newDialPeer(t, codec.PCMU, 300)
	go func() {
		time.Sleep(5 * time.Second) // all four called; the coach has whispered for about 2.5 s
		a.digit <- '*'
	}()
	runs := startCallers(t, p, 800*time.Millisecond, "uac_call.xml", a, b, c, d)
	for i, r := range runs {
		if err := r.Wait(20 * time.Second); err != nil {
			t.Fatalf("caller %d: %v", i, err)
		}
	}
	ah, bh := a.heard(0), b.heard(0)
	hears(t, "the coached party", ah, 60, []float64{800, 1200}, []float64{500, 300})
	hears(t, "the other party", bh, 100, []float64{500}, []float64{800, 1200, 300})
	if last, end := lastToneFrame(ah, 800, 0.25), len(ah)/codec.FrameSamples; last > end-40 {
		t.Errorf("the first party heard the room until frame %d of %d: it did not leave on * for its action's 1 s pause", last, end)
	}
	var statuses []string
	for _, q := range hook.Forms("/after") {
		statuses = append(statuses, q.Get("DialCallStatus"))
	}
	// The full room's caller fails at once, the first leaves on *, the two others at their time limits.
	if got := strings.Join(statuses, " "); got != "failed completed completed completed" {
		t.Errorf("DialCallStatus of the actions in turn: %s, want failed completed completed completed", got)
	}
}

// lastToneAt is when the last packet pivotua sent the party that carried freq (over a quarter of its
// energy) arrived; zero if none did.
func (p *dialPeer) lastToneAt(freq float64) time.Time {
	p.mu.Lock()
	defer p.mu.Unlock()
	var last time.Time
	frame := make([]int16, 480)
	for _, pk := range p.pkts {
		if pk.Header.PayloadType != uint8(p.law) {
			continue
		}
		n := codec.DecodeFrame(p.law, frame, pk.Payload)
		if n > 0 && testkit.ToneShare(frame[:n], freq) > 0.25 {
			last = pk.At
		}
	}
	return last
}

// TestE2EConferenceRESTMuteAndKickActWithin200ms: the Conferences API lists the room and its two
// participants; muting one through it silences it for the other within 200 ms, and removing the
// other (DELETE) takes it out of the room within 200 ms: its call goes on with its action.
func TestE2EConferenceRESTMuteAndKickActWithin200ms(t *testing.T) {
	needE2E(t)
	const doc = `<Response><Dial action="/after" timeLimit="8"><Conference beep="false" waitUrl="">rest room</Conference></Dial></Response>`
	hook := conferenceHook(t, "", doc)
	p := startPivotua(t, dialTwiMLFlow(hook.URL+"/voice"))
	a, b := newDialPeer(t, codec.PCMU, 500), newDialPeer(t, codec.PCMA, 800)
	runs := startCallers(t, p, 800*time.Millisecond, "uac_call.xml", a, b)

	time.Sleep(2 * time.Second) // both in the room, talking
	status, body := apiRequest(t, p, "GET", "/Conferences.json?FriendlyName=rest+room", nil)
	confs, _ := body["conferences"].([]any)
	if status != 200 || len(confs) != 1 {
		t.Fatalf("conferences list: %d %v", status, body)
	}
	sid, _ := confs[0].(map[string]any)["sid"].(string)
	status, body = apiRequest(t, p, "GET", "/Conferences/"+sid+"/Participants.json", nil)
	parts, _ := body["participants"].([]any)
	if status != 200 || len(parts) != 2 {
		t.Fatalf("participants list: %d %v", status, body)
	}
	aSid, bSid := parts[0].(map[string]any)["call_sid"].(string), parts[1].(map[string]any)["call_sid"].(string)

	muted := time.Now()
	if status, body := apiRequest(t, p, "POST", "/Conferences/"+sid+"/Participants/"+aSid+".json", url.Values{"Muted": {"true"}}); status != 200 || body["muted"] != true {
		t.Fatalf("mute: %d %v", status, body)
	}
	time.Sleep(1500 * time.Millisecond)
	kicked := time.Now()
	if status, body := apiRequest(t, p, "DELETE", "/Conferences/"+sid+"/Participants/"+bSid+".json", nil); status != 204 {
		t.Fatalf("delete: %d %v", status, body)
	}
	for i, r := range runs {
		if err := r.Wait(20 * time.Second); err != nil {
			t.Fatalf("caller %d: %v", i, err)
		}
	}
	if last := b.lastToneAt(500); last.IsZero() || a.lastToneAt(800).IsZero() {
		t.Fatalf("the parties never heard each other (last 500 Hz at %v)", last)
	}
	if heard := b.lastToneAt(500).Sub(muted); heard > 200*time.Millisecond {
		t.Errorf("the other party heard the muted one %v after the mute was asked, want under 200 ms", heard)
	} else {
		t.Logf("the muted party was last heard %v after the mute was asked", heard)
	}
	if heard := a.lastToneAt(800).Sub(kicked); heard > 200*time.Millisecond {
		t.Errorf("the remaining party heard the removed one %v after the DELETE, want under 200 ms", heard)
	} else {
		t.Logf("the removed party was last heard %v after the DELETE was sent", heard)
	}
	hears(t, "the muted party", a.heard(0), 100, []float64{800}, []float64{500})
	if after := hook.Forms("/after"); len(after) != 2 || after[0].Get("CallSid") != bSid {
		t.Errorf("actions: %d, the first by %q, want the removed party's (%s) first", len(after), after[0].Get("CallSid"), bSid)
	}
}
