package main

// End-to-end tests of conference control: a participant added through Twilio's Participants API
// (pivotua calls a SIPp callee out into the room), put on hold with its own hold audio, an
// announcement to the room, and Kazoo's conferences API muting and kicking within 200 ms.

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/pivotua/pivotua/codec"
	"github.com/pivotua/pivotua/internal/testkit"
	"github.com/pivotua/pivotua/internal/testkit/sipptest"
)

// controlHook answers /voice with doc, /hold and /announce with a TwiML <Play> of a 400 Hz (hold) or
// 1,000 Hz (announcement) tone of 2 s, and /after with a Hangup.
func controlHook(t *testing.T, doc string) *testkit.Webhook {
	t.Helper()
	return testkit.NewWebhook(t, func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/voice":
			w.Header().Set("Content-Type", "text/xml")
			io.WriteString(w, doc)
		case "/hold":
			w.Header().Set("Content-Type", "text/xml")
			io.WriteString(w, `<Response><Play>/tone400.wav</Play></Response>`)
		case "/announce":
			w.Header().Set("Content-Type", "text/xml")
			io.WriteString(w, `<Response><Play>/tone1000.wav</Play></Response>`)
		case "/tone400.wav", "/tone1000.wav":
			freq := map[string]float64{"/tone400.wav": 400, "/tone1000.wav": 1000}[r.URL.Path]
			var buf bytes.Buffer
			_ = codec.EncodeWAV(&buf, codec.Tone(freq, 2*time.Second, 0.4), codec.SampleRate)
			w.Header().Set("Content-Type", "audio/wav")
			w.Write(buf.Bytes())
		case "/after":
			w.Header().Set("Content-Type", "text/xml")
			io.WriteString(w, "<Response><Hangup/></Response>")
		default:
			http.NotFound(w, r)
		}
	})
}

// apiRequestAs is apiRequest with another account's credentials and path.
func apiRequestAs(t *testing.T, p *pivotuaInstance, account, key, method, path string, form url.Values) (int, map[string]any) {
	t.Helper()
	req, _ := http.NewRequest(method, p.httpURL+"/2010-04-01/Accounts/"+account+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(account, key)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	return res.StatusCode, map[string]any{"raw": string(raw)}
}

// awaitParticipants polls the room's participants until there are n (within 8 s) and returns their
// CallSids in order of joining.
func awaitParticipants(t *testing.T, p *pivotuaInstance, sid string, n int) []string {
	t.Helper()
	deadline := time.Now().Add(8 * time.Second)
	for {
		status, body := apiRequest(t, p, "GET", "/Conferences/"+sid+"/Participants.json", nil)
		parts, _ := body["participants"].([]any)
		if status == 200 && len(parts) == n {
			var out []string
			for _, q := range parts {
				out = append(out, q.(map[string]any)["call_sid"].(string))
			}
			return out
		}
		if time.Now().After(deadline) {
			t.Fatalf("the room has %d participants (%d %v), want %d\n%s", len(parts), status, body, n, sipptest.LastLines(p.logs(), 40))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestE2EConferenceControlParticipantAddedByRESTHoldAndAnnounce: a caller (500 Hz) waits in a room;
// the Participants API adds a party by calling a SIPp callee (800 Hz) out into it, by the room's
// friendly name. Each hears the other. Put on hold with a HoldUrl (a TwiML <Play> of 400 Hz), the
// callee alone hears that audio; an AnnounceUrl on the conference (1,000 Hz) is heard by both.
// DELETE takes the callee out: its call ends (BYE). Hostile requests are refused with Twilio's
// errors and nothing placed: an unknown conference, another account's, a To sip.egress denies, bad
// URLs.
func TestE2EConferenceControlParticipantAddedByRESTHoldAndAnnounce(t *testing.T) {
	needE2E(t)
	hook := controlHook(t, `<Response><Dial action="/after" timeLimit="14"><Conference beep="false" waitUrl="">ctl room</Conference></Dial></Response>`)
	p := startPivotua(t, dialTwiMLFlow(hook.URL+"/voice"), withAccountB, func(c *Config) {
		c.SIP.Egress.DenyCIDRs = []string{"192.0.2.0/24"}
	})
	caller, callee := newDialPeer(t, codec.PCMU, 500), newDialPeer(t, codec.PCMU, 800)
	uas := startUAS(t, "uas_answer.xml", uasData{RTPPort: callee.port(), Codec: 0}) // waits for our BYE
	runs := startCallers(t, p, 0, "uac_call.xml", caller)

	time.Sleep(1500 * time.Millisecond)
	status, body := apiRequest(t, p, "GET", "/Conferences.json?FriendlyName=ctl+room", nil)
	confs, _ := body["conferences"].([]any)
	if status != 200 || len(confs) != 1 {
		t.Fatalf("conferences list: %d %v", status, body)
	}
	sid, _ := confs[0].(map[string]any)["sid"].(string)
	to := fmt.Sprintf("sip:bob@127.0.0.1:%d", uas.port)
	add := func(extra ...string) url.Values {
		v := url.Values{"To": {to}, "From": {"+15550100"}, "Beep": {"false"}}
		for i := 0; i+1 < len(extra); i += 2 {
			v.Set(extra[i], extra[i+1])
		}
		return v
	}
	for _, tc := range []struct {
		what, path string
		form       url.Values
		status     int
		msg        string
	}{
		{"unknown conference", "/Conferences/CF00000000000000000000000000000000/Participants.json", add(), 404, "not found"},
		{"To denied by sip.egress", "/Conferences/" + sid + "/Participants.json", add("To", "sip:x@192.0.2.1"), 400, "192.0.2.0/24"},
		{"WaitUrl not http", "/Conferences/" + sid + "/Participants.json", add("WaitUrl", "javascript:alert(1)"), 400, "WaitUrl"},
		{"StatusCallback not http", "/Conferences/" + sid + "/Participants.json", add("StatusCallback", "file:///etc/passwd"), 400, "StatusCallback"},
		{"Label", "/Conferences/" + sid + "/Participants.json", add("Label", "x"), 400, "Label is not supported"},
		{"HoldUrl not http", "/Conferences/" + sid + "/Participants/nobody.json", url.Values{"HoldUrl": {"ftp://x/y"}}, 400, "HoldUrl"},
		{"unknown participant", "/Conferences/" + sid + "/Participants/nobody.json", url.Values{"Hold": {"true"}}, 404, "not found"},
	} {
		status, body := apiRequest(t, p, "POST", tc.path, tc.form)
		if status != tc.status || !strings.Contains(fmt.Sprint(body["message"]), tc.msg) {
			t.Errorf("%s: %d %v, want %d naming %q", tc.what, status, body, tc.status, tc.msg)
		}
	}
	if status, body := apiRequestAs(t, p, channelsAccountB, channelsKeyB, "POST", "/Conferences/"+sid+"/Participants.json", add()); status != 404 {
		t.Errorf("another account adding to the room: %d %v, want 404", status, body)
	}

	status, body = apiRequest(t, p, "POST", "/Conferences/ctl%20room/Participants.json", add())
	if status != 201 || body["conference_sid"] != sid || !callSidPattern.MatchString(fmt.Sprint(body["call_sid"])) {
		t.Fatalf("participant create: %d %v", status, body)
	}
	calleeSid := body["call_sid"].(string)
	if got := awaitParticipants(t, p, sid, 2); got[1] != calleeSid {
		t.Fatalf("participants %v, want the callee %s second", got, calleeSid)
	}
	time.Sleep(2 * time.Second) // talking
	part := "/Conferences/" + sid + "/Participants/" + calleeSid + ".json"
	if status, body := apiRequest(t, p, "POST", part, url.Values{"Hold": {"true"}, "HoldUrl": {hook.URL + "/hold"}, "HoldMethod": {"GET"}}); status != 200 || body["hold"] != true {
		t.Fatalf("hold: %d %v", status, body)
	}
	time.Sleep(2500 * time.Millisecond)
	if status, body := apiRequest(t, p, "POST", part, url.Values{"Hold": {"false"}}); status != 200 || body["hold"] != false {
		t.Fatalf("unhold: %d %v", status, body)
	}
	time.Sleep(time.Second)
	if status, body := apiRequest(t, p, "POST", "/Conferences/"+sid+".json", url.Values{"AnnounceUrl": {hook.URL + "/announce"}}); status != 200 {
		t.Fatalf("announce: %d %v", status, body)
	}
	time.Sleep(2500 * time.Millisecond)
	if status, body := apiRequest(t, p, "DELETE", part, nil); status != 204 {
		t.Fatalf("delete: %d %v", status, body)
	}
	if err := uas.wait(t, 10*time.Second); err != nil {
		t.Fatalf("the callee (it must get pivotua's BYE once removed): %v\n%s", err, sipptest.LastLines(p.logs(), 40))
	}
	for i, r := range runs {
		if err := r.Wait(20 * time.Second); err != nil {
			t.Fatalf("caller %d: %v", i, err)
		}
	}
	ch, ce := caller.heard(0), callee.heard(0)
	hears(t, "the caller", ch, 60, []float64{800, 1000}, []float64{500, 400})
	hears(t, "the callee", ce, 60, []float64{500, 1000, 400}, []float64{800})
	if n := toneFrames(ce, 400, 0.5); n < 80 {
		t.Errorf("the callee heard %d frames of its 400 Hz hold audio in the 2.5 s it was held, want most of 125", n)
	}
}

// kazooConferences is the conferences API path of the e2e account, then path.
func kazooConferences(p *pivotuaInstance, account, path string) string {
	return p.httpURL + "/v2/accounts/" + account + "/conferences" + path
}

// TestE2EConferenceControlKazooMuteAndKickWithin200ms: two callers talk in a room; Kazoo's
// conferences API lists it by name and its participants by participant_id, mutes the first (the
// second stops hearing it within 200 ms) and kicks the second (the first stops hearing it within
// 200 ms; its call goes on with its action). Another account's token finds nothing; an unknown
// participant or room is 404.
func TestE2EConferenceControlKazooMuteAndKickWithin200ms(t *testing.T) {
	needE2E(t)
	hook := controlHook(t, `<Response><Dial action="/after" timeLimit="8"><Conference beep="false" waitUrl="">kz room</Conference></Dial></Response>`)
	p := startPivotua(t, dialTwiMLFlow(hook.URL+"/voice"), withAccountB)
	a, b := newDialPeer(t, codec.PCMU, 500), newDialPeer(t, codec.PCMA, 800)
	runs := startCallers(t, p, 800*time.Millisecond, "uac_call.xml", a, b)
	time.Sleep(2 * time.Second) // both in the room, talking
	token := channelsToken(t, p, "e2e-key")

	code, env := crossbar(t, "GET", kazooConferences(p, e2eAccount, ""), token, nil)
	rows, _ := env["data"].([]any)
	if code != 200 || len(rows) != 1 || rows[0].(map[string]any)["id"] != "kz room" || rows[0].(map[string]any)["members"] != float64(2) {
		t.Fatalf("conferences list: %d %v", code, env)
	}
	room := "/" + url.PathEscape("kz room")
	code, env = crossbar(t, "GET", kazooConferences(p, e2eAccount, room+"/participants"), token, nil)
	parts, _ := env["data"].([]any)
	if code != 200 || len(parts) != 2 || parts[0].(map[string]any)["participant_id"] != float64(1) {
		t.Fatalf("participants: %d %v", code, env)
	}
	tokenB := channelsToken(t, p, channelsKeyB)
	for _, tc := range []struct {
		what, method, target, token string
		body                        any
		code                        int
	}{
		{"another account's room", "GET", kazooConferences(p, channelsAccountB, room), tokenB, nil, 404},
		{"another account kicking", "PUT", kazooConferences(p, channelsAccountB, room+"/participants/1"), tokenB, map[string]any{"data": map[string]any{"action": "kick"}}, 404},
		{"unknown room", "GET", kazooConferences(p, e2eAccount, "/nobody"), token, nil, 404},
		{"unknown participant", "PUT", kazooConferences(p, e2eAccount, room+"/participants/99"), token, map[string]any{"data": map[string]any{"action": "mute"}}, 404},
		{"unknown action", "PUT", kazooConferences(p, e2eAccount, room+"/participants/1"), token, map[string]any{"data": map[string]any{"action": "explode"}}, 400},
	} {
		if code, env := crossbar(t, tc.method, tc.target, tc.token, tc.body); code != tc.code {
			t.Errorf("%s: %d %v, want %d", tc.what, code, env, tc.code)
		}
	}

	muted := time.Now()
	if code, env := crossbar(t, "PUT", kazooConferences(p, e2eAccount, room+"/participants/1"), token, map[string]any{"data": map[string]any{"action": "mute"}}); code != 200 {
		t.Fatalf("mute: %d %v", code, env)
	}
	time.Sleep(1500 * time.Millisecond)
	kicked := time.Now()
	if code, env := crossbar(t, "PUT", kazooConferences(p, e2eAccount, room+"/participants/2"), token, map[string]any{"data": map[string]any{"action": "kick"}}); code != 200 {
		t.Fatalf("kick: %d %v", code, env)
	}
	for i, r := range runs {
		if err := r.Wait(20 * time.Second); err != nil {
			t.Fatalf("caller %d: %v", i, err)
		}
	}
	if b.lastToneAt(500).IsZero() || a.lastToneAt(800).IsZero() {
		t.Fatal("the parties never heard each other")
	}
	if heard := b.lastToneAt(500).Sub(muted); heard > 200*time.Millisecond {
		t.Errorf("the other party heard the muted one %v after the mute was asked, want under 200 ms", heard)
	} else {
		t.Logf("the muted party was last heard %v after the mute was asked", heard)
	}
	if heard := a.lastToneAt(800).Sub(kicked); heard > 200*time.Millisecond {
		t.Errorf("the remaining party heard the kicked one %v after the kick, want under 200 ms", heard)
	} else {
		t.Logf("the kicked party was last heard %v after the kick was sent", heard)
	}
	if after := hook.Forms("/after"); len(after) != 2 {
		t.Errorf("actions: %d, want one per caller", len(after))
	}
}

// TestE2EConferenceControlKazooPivotTwoBaresipCallers is the proof with an independent
// softphone: a Kazoo JSON pivot sends two baresip callers (their voices WAV files of 700 Hz and
// 1,100 Hz, 5 s each, the second calling 1.5 s after the first) into one room; what each recorded
// holds the other's tone and never its own.
func TestE2EConferenceControlKazooPivotTwoBaresipCallers(t *testing.T) {
	needE2E(t)
	if _, err := exec.LookPath("baresip"); err != nil {
		t.Fatal("baresip is not installed: run `make deps` (Debian package baresip-core)")
	}
	hook := newWebhook(t, func(*webhook) any {
		return map[string]any{"module": "conference", "data": map[string]any{"config": map[string]any{"name": "baresip room", "play_entry_tone": false, "play_exit_tone": false}}}
	})
	p := startPivotua(t, pivotFlow(hook.URL+"/voice", nil))
	var heard [2][]int16
	t.Run("callers", func(t *testing.T) {
		for i, freq := range []float64{700, 1100} {
			t.Run(fmt.Sprintf("%.0fHz", freq), func(t *testing.T) {
				t.Parallel()
				time.Sleep(time.Duration(i) * 1500 * time.Millisecond)
				dir := t.TempDir()
				port := testkit.FreePort(t)
				writeBaresipConfig(t, dir, port, fmt.Sprintf("caller%d", i), testkit.Sine(freq, codec.SampleRate, 5*codec.SampleRate, 0.4))
				heard[i] = runBaresipDial(t, p, dir, fmt.Sprintf("sip:3004@127.0.0.1:%d", p.sipPort))
			})
		}
	})
	if t.Failed() {
		return
	}
	t.Logf("the 700 Hz baresip heard %d frames of 1,100 Hz; the 1100 Hz one %d frames of 700 Hz (of about 175 they overlapped)",
		toneFrames(heard[0], 1100, 0.25), toneFrames(heard[1], 700, 0.25))
	hears(t, "the 700 Hz baresip", heard[0], 100, []float64{1100}, []float64{700})
	hears(t, "the 1100 Hz baresip", heard[1], 100, []float64{700}, []float64{1100})
}

// TestE2EConferenceControlParticipantCreatesTheRoomAndHearsItsAnnouncement: the Participants API
// names a friendly name no room has: the SIPp callee it calls opens that room, with the sid the
// create answered (Twilio creates the conference). An AnnounceUrl on the participant (1,000 Hz) is
// played to it; DELETE ends its call.
func TestE2EConferenceControlParticipantCreatesTheRoomAndHearsItsAnnouncement(t *testing.T) {
	needE2E(t)
	hook := controlHook(t, `<Response><Hangup/></Response>`)
	p := startPivotua(t, dialTwiMLFlow(hook.URL+"/voice"))
	callee := newDialPeer(t, codec.PCMU, 800)
	uas := startUAS(t, "uas_answer.xml", uasData{RTPPort: callee.port(), Codec: 0})
	status, body := apiRequest(t, p, "POST", "/Conferences/new%20room/Participants.json", url.Values{
		"To": {fmt.Sprintf("sip:bob@127.0.0.1:%d", uas.port)}, "From": {"+15550100"}, "WaitUrl": {""}})
	sid, _ := body["conference_sid"].(string)
	if status != 201 || !strings.HasPrefix(sid, "CF") {
		t.Fatalf("participant create: %d %v", status, body)
	}
	calleeSid := body["call_sid"].(string)
	awaitParticipants(t, p, sid, 1)
	if status, body := apiRequest(t, p, "GET", "/Conferences.json?FriendlyName=new+room", nil); status != 200 || len(body["conferences"].([]any)) != 1 {
		t.Fatalf("the room the participant opened: %d %v", status, body)
	}
	part := "/Conferences/" + sid + "/Participants/" + calleeSid + ".json"
	if status, body := apiRequest(t, p, "POST", part, url.Values{"AnnounceUrl": {hook.URL + "/announce"}, "AnnounceMethod": {"GET"}}); status != 200 {
		t.Fatalf("announce: %d %v", status, body)
	}
	time.Sleep(3 * time.Second)
	if status, body := apiRequest(t, p, "DELETE", part, nil); status != 204 {
		t.Fatalf("delete: %d %v", status, body)
	}
	if err := uas.wait(t, 10*time.Second); err != nil {
		t.Fatalf("the callee: %v\n%s", err, sipptest.LastLines(p.logs(), 40))
	}
	if n := toneFrames(callee.heard(0), 1000, 0.5); n < 70 {
		t.Errorf("the callee heard %d frames of its 2 s 1,000 Hz announcement, want most of 100", n)
	}
}
