package main

import (
	"fmt"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/pivotua/pivotua/codec"
	"github.com/pivotua/pivotua/internal/testkit"
	"github.com/pivotua/pivotua/internal/testkit/sipptest"
)

// The channels API (Kazoo's crossbar channels resource) driven as a Kazoo user drives it: curl-like
// requests with a token from PUT /v2/api_auth, against real calls with SIPp at both ends.

// Account B of these tests: its token must never see or steer account e2eAccount's calls.
const (
	channelsAccountB = "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
	channelsKeyB     = "e2e-key-b"
)

// withAccountB adds account B (no callflow of its own) to the config.
func withAccountB(c *Config) {
	c.Accounts = append(c.Accounts, AccountConfig{ID: channelsAccountB, Name: "b", APIKey: channelsKeyB})
}

// channelsToken exchanges apiKey for a Crossbar token.
func channelsToken(t *testing.T, p *pivotuaInstance, apiKey string) string {
	t.Helper()
	code, env := crossbar(t, "PUT", p.httpURL+"/v2/api_auth", "", map[string]any{"data": map[string]any{"api_key": apiKey}})
	token, _ := env["auth_token"].(string)
	if code != 201 || token == "" {
		t.Fatalf("api_auth: %d %v", code, env)
	}
	return token
}

// channelsURL is the channels resource of account (e2eAccount when ""), then path.
func channelsURL(p *pivotuaInstance, account, path string) string {
	if account == "" {
		account = e2eAccount
	}
	return p.httpURL + "/v2/accounts/" + account + "/channels" + path
}

// channelAction posts {"data": data} to the channel uuid and returns the status and envelope.
func channelAction(t *testing.T, p *pivotuaInstance, token, uuid string, data map[string]any) (int, map[string]any) {
	t.Helper()
	return crossbar(t, "POST", channelsURL(p, "", "/"+url.PathEscape(uuid)), token, map[string]any{"data": data})
}

// liveChannels lists the account's channels.
func liveChannels(t *testing.T, p *pivotuaInstance, token string) []map[string]any {
	t.Helper()
	code, env := crossbar(t, "GET", channelsURL(p, "", ""), token, nil)
	if code != 200 || env["status"] != "success" {
		t.Fatalf("list: %d %v", code, env)
	}
	var out []map[string]any
	for _, c := range env["data"].([]any) {
		out = append(out, c.(map[string]any))
	}
	return out
}

// awaitChannel waits for the account's one live channel to be answered, and returns it.
func awaitChannel(t *testing.T, p *pivotuaInstance, token string) map[string]any {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if list := liveChannels(t, p, token); len(list) == 1 && list[0]["answered"] == true {
			return list[0]
		}
	}
	t.Fatalf("no answered channel was listed\n%s", p.logs())
	return nil
}

// awaitTone waits until peer has heard at least frames frames of freq.
func awaitTone(peer *dialPeer, pt uint8, freq float64, frames int, within time.Duration) int {
	n := 0
	for deadline := time.Now().Add(within); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if n = testkit.CountTone(peer.heard(pt), freq); n >= frames {
			break
		}
	}
	return n
}

// wantChannelError checks a Crossbar error envelope: the status, error as its string, and, when
// field is set, data naming it.
func wantChannelError(t *testing.T, what string, code int, env map[string]any, want int, field, inMessage string) {
	t.Helper()
	msg, _ := env["message"].(string)
	data, _ := env["data"].(map[string]any)
	if code != want || env["status"] != "error" || env["error"] != fmt.Sprint(want) || !strings.Contains(msg, inMessage) {
		t.Errorf("%s: %d %v, want %d with %q in the message", what, code, env, want, inMessage)
		return
	}
	if field != "" && data[field] == nil {
		t.Errorf("%s: data %v does not name %s", what, data, field)
	}
}

// TestE2EChannelsListPivotAndHangUpALiveCall: a SIPp caller is on a long <Say>. The channels API
// lists it (its uuid the SIP Call-ID its webhook got), refuses every hostile request while the call
// goes on, runs a new Kazoo pivot on it (the caller hears the new prompt's 1 kHz), then hangs it up
// (SIPp gets BYE). Each action is an event of the call in the debug API.
func TestE2EChannelsListPivotAndHangUpALiveCall(t *testing.T) {
	needE2E(t)
	tones := callsAPIHook(t) // /voice: a <Say>, then 440 Hz; and the tones
	next := testkit.NewWebhook(t, testkit.ServeDocs(map[string][2]string{
		"/next": {"application/json", fmt.Sprintf(`{"module":"play","data":{"id":"%s/tone1000.wav","loop_count":100}}`, tones.URL)},
	}))
	p := startPivotua(t, dialTwiMLFlow(tones.URL+"/voice"), withAccountB, func(c *Config) {
		c.SIP.Egress.DenyCIDRs = []string{"192.0.2.0/24"}
	})
	caller := newDialPeer(t, codec.PCMU, 600)
	call := sipptest.Start(t, sipptest.Call{Scenario: "uac_call.xml", Data: sipptest.Data{RTPPort: caller.port(), Codec: 0}, Target: p.sipAddr(), PeerLogs: p.logs})
	token := channelsToken(t, p, "e2e-key")

	ch := awaitChannel(t, p, token)
	uuid, _ := ch["uuid"].(string)
	voice := one(t, tones, "/voice")
	if uuid == "" || voice == nil || uuid != voice.Get("CallSid") || ch["direction"] != "inbound" || ch["destination"] != "3004" ||
		ch["username"] != "1000" || !callSidPattern.MatchString(fmt.Sprint(ch["call_sid"])) {
		t.Fatalf("listed %v; the webhook's CallSid %q", ch, voice.Get("CallSid"))
	}
	if code, env := crossbar(t, "GET", channelsURL(p, "", "/"+url.PathEscape(uuid)), token, nil); code != 200 || env["data"].(map[string]any)["uuid"] != uuid {
		t.Errorf("fetch by uuid: %d %v", code, env)
	}
	if code, env := crossbar(t, "GET", channelsURL(p, "", "/"+fmt.Sprint(ch["call_sid"])), token, nil); code != 200 || env["data"].(map[string]any)["uuid"] != uuid {
		t.Errorf("fetch by call sid: %d %v", code, env)
	}

	// Hostile requests, each refused with a clear error while the call goes on.
	code, env := crossbar(t, "GET", channelsURL(p, "", ""), token+"x", nil)
	wantChannelError(t, "a forged token", code, env, 401, "", "invalid credentials")
	code, env = crossbar(t, "GET", channelsURL(p, "", ""), "", nil)
	wantChannelError(t, "no token", code, env, 401, "", "no auth token")
	tokenB := channelsToken(t, p, channelsKeyB)
	code, env = crossbar(t, "GET", channelsURL(p, "", ""), tokenB, nil)
	wantChannelError(t, "B's token on A's channels", code, env, 403, "", "")
	code, env = crossbar(t, "POST", channelsURL(p, channelsAccountB, "/"+url.PathEscape(uuid)), tokenB, map[string]any{"data": map[string]any{"action": "hangup"}})
	wantChannelError(t, "B hangs up A's channel", code, env, 404, "", "channel not found")
	code, env = crossbarRaw(t, "POST", channelsURL(p, "", "/"+url.PathEscape(uuid)), token, "application/json", []byte(`{"data":{"action":"hangup"`))
	wantChannelError(t, "a garbled body", code, env, 400, "data", "JSON")
	code, env = crossbarRaw(t, "POST", channelsURL(p, "", "/"+url.PathEscape(uuid)), token, "application/json", []byte(`{"data":{"action":"pivot","voice_url":"http://x/`+strings.Repeat("a", 100<<10)+`"}}`))
	wantChannelError(t, "a 100 KiB body", code, env, 413, "", "64 KiB")
	code, env = channelAction(t, p, token, uuid, map[string]any{"action": "eavesdrop"})
	wantChannelError(t, "an unknown action", code, env, 400, "data.action", "not one of hangup, transfer, pivot")
	code, env = channelAction(t, p, token, uuid, map[string]any{"action": "transfer", "target": "sip:bob@192.0.2.7"})
	wantChannelError(t, "a transfer sip.egress denies", code, env, 400, "data.target", "deny_cidrs 192.0.2.0/24")
	code, env = channelAction(t, p, token, uuid, map[string]any{"action": "transfer", "target": "2600"})
	wantChannelError(t, "a transfer to a number without a trunk", code, env, 400, "data.target", "no trunk")
	code, env = channelAction(t, p, token, uuid, map[string]any{"action": "pivot", "voice_url": "ftp://x/next"})
	wantChannelError(t, "a pivot to an ftp URL", code, env, 400, "data.voice_url", "http")
	if list := liveChannels(t, p, token); len(list) != 1 || list[0]["uuid"] != uuid {
		t.Fatalf("after the refused requests the channels are %v, want the call still live\n%s", list, p.logs())
	}

	// Mid-<Say>, a new Kazoo pivot: its prompt (1 kHz) is what the caller hears next.
	sent := time.Now()
	code, env = channelAction(t, p, token, uuid, map[string]any{"action": "pivot", "voice_url": next.URL + "/next", "method": "post", "req_format": "kazoo"})
	if code != 200 || env["data"].(map[string]any)["uuid"] != uuid {
		t.Fatalf("pivot: %d %v", code, env)
	}
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if at, _ := firstToneAfter(caller, sent, 1000, 440); !at.IsZero() && time.Since(at) > time.Second {
			break
		}
	}
	heard, stale := firstToneAfter(caller, sent, 1000, 440)
	if heard.IsZero() {
		t.Fatalf("the caller never heard the new pivot's 1 kHz\n%s", p.logs())
	}
	t.Logf("pivot action to the new prompt at the caller: %v", heard.Sub(sent).Round(time.Millisecond))
	if d := heard.Sub(sent); d > time.Second {
		t.Errorf("the new pivot's prompt was heard %v after the action, want within 1 s", d)
	}
	if stale > 1 {
		t.Errorf("the caller heard %d frames of the old document's tone after the new prompt began", stale)
	}
	if kazoo := one(t, next, "/next"); kazoo == nil || kazoo.Get("Call-ID") != uuid {
		t.Errorf("the new pivot's request %v, want Kazoo's naming with Call-ID %s", kazoo, uuid)
	}

	code, env = channelAction(t, p, token, uuid, map[string]any{"action": "hangup"})
	if code != 200 || env["status"] != "success" {
		t.Fatalf("hangup: %d %v", code, env)
	}
	if err := call.Wait(10 * time.Second); err != nil {
		t.Fatalf("the caller did not get BYE: %v", err)
	}
	for deadline := time.Now().Add(5 * time.Second); len(liveChannels(t, p, token)) > 0 && time.Now().Before(deadline); {
		time.Sleep(50 * time.Millisecond)
	}
	code, env = crossbar(t, "GET", channelsURL(p, "", "/"+url.PathEscape(uuid)), token, nil)
	wantChannelError(t, "the ended channel", code, env, 404, "", "channel not found")
	code, env = channelAction(t, p, token, uuid, map[string]any{"action": "hangup"})
	wantChannelError(t, "a hangup of the ended channel", code, env, 404, "", "not live")

	// Each action is an event of the call (the call inspector's timeline, and a debug record).
	actions := apiEventsOf(t, p, token, uuid, 2)
	if strings.Join(actions, " ") != "pivot hangup" {
		t.Errorf("the call's api events are %q, want pivot then hangup", actions)
	}
}

// apiEventsOf waits for at least n "api" events of the call callID and returns their actions in order.
func apiEventsOf(t *testing.T, p *pivotuaInstance, token, callID string, n int) []string {
	t.Helper()
	target := fmt.Sprintf("%s/v2/accounts/%s/pivot/debug/%s?events=true", p.httpURL, e2eAccount, url.PathEscape(callID))
	var actions []string
	for range 100 {
		actions = nil
		_, env := crossbar(t, "GET", target, token, nil)
		docs, _ := env["data"].([]any)
		for _, d := range docs {
			doc := d.(map[string]any)
			if doc["event"] != "api" {
				continue
			}
			data, _ := doc["event_data"].(map[string]any)
			actions = append(actions, fmt.Sprint(data["action"]))
		}
		if len(actions) >= n {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	return actions
}

// TestE2EChannelsTransferBridgesTheCallToASecondPhone: a SIPp caller on a long <Say> is transferred by
// the channels API to a second SIPp at a sip: URI; each hears the other's tone, the channel names the
// new leg as other_leg, and a hangup through the API ends both.
func TestE2EChannelsTransferBridgesTheCallToASecondPhone(t *testing.T) {
	needE2E(t)
	tones := callsAPIHook(t)
	p := startPivotua(t, dialTwiMLFlow(tones.URL+"/voice"))
	callee := newDialPeer(t, codec.PCMU, 600)
	uas := startUAS(t, "uas_answer.xml", uasData{RTPPort: callee.port(), Codec: 0}) // waits for our BYE
	caller := newDialPeer(t, codec.PCMU, 1000)
	call := sipptest.Start(t, sipptest.Call{Scenario: "uac_call.xml", Data: sipptest.Data{RTPPort: caller.port(), Codec: 0}, Target: p.sipAddr(), PeerLogs: p.logs})
	token := channelsToken(t, p, "e2e-key")
	uuid := fmt.Sprint(awaitChannel(t, p, token)["uuid"])

	code, env := channelAction(t, p, token, uuid, map[string]any{"action": "transfer", "target": fmt.Sprintf("sip:bob@127.0.0.1:%d", uas.port)})
	if code != 200 {
		t.Fatalf("transfer: %d %v", code, env)
	}
	if n := awaitTone(caller, 0, 600, 100, 10*time.Second); n < 100 {
		t.Fatalf("the caller heard %d frames of the second phone's 600 Hz, want 2 s of it\n%s", n, p.logs())
	}
	if n := testkit.CountTone(callee.heard(0), 1000); n < 80 {
		t.Errorf("the second phone heard %d frames of the caller's 1 kHz, want most of the bridge", n)
	}
	if _, env := crossbar(t, "GET", channelsURL(p, "", "/"+url.PathEscape(uuid)), token, nil); env["data"].(map[string]any)["other_leg"] == nil {
		t.Errorf("the bridged channel names no other_leg: %v", env["data"])
	}
	if code, env := channelAction(t, p, token, uuid, map[string]any{"action": "hangup"}); code != 200 {
		t.Fatalf("hangup: %d %v", code, env)
	}
	if err := call.Wait(10 * time.Second); err != nil {
		t.Errorf("the caller did not get BYE: %v", err)
	}
	if err := uas.wait(t, 10*time.Second); err != nil {
		t.Errorf("the second phone did not get BYE: %v", err)
	}
	if actions := apiEventsOf(t, p, token, uuid, 2); strings.Join(actions, " ") != "transfer hangup" {
		t.Errorf("the call's api events are %q, want transfer then hangup", actions)
	}
}

// TestE2EChannelsPlaceKazooCalls: PUT .../channels places a call that runs Kazoo JSON once answered:
// with a voice_url (fetched in Kazoo's naming; the callee hears its play), and with an inline flow
// whose TwiML <Dial> bridges the placed call to a second SIPp (each hears the other). api.max_calls
// holds for it as for calls.create (429 in Crossbar's envelope), and both calls are counted in
// pivotua_calls_total and pivotua_calls_placed_total.
func TestE2EChannelsPlaceKazooCalls(t *testing.T) {
	needE2E(t)
	tones := callsAPIHook(t)
	carol := newDialPeer(t, codec.PCMU, 1000)
	carolUAS := startUAS(t, "uas_answer.xml", uasData{RTPPort: carol.port(), Codec: 0, HangupAfterMs: 3000})
	docs := testkit.NewWebhook(t, testkit.ServeDocs(map[string][2]string{
		"/kazoo": {"application/json", fmt.Sprintf(`{"module":"play","data":{"id":"%s/tone440.wav","loop_count":100}}`, tones.URL)},
		"/dial":  {"text/xml", fmt.Sprintf(`<Response><Dial><Sip>sip:carol@127.0.0.1:%d</Sip></Dial></Response>`, carolUAS.port)},
	}))
	p := startPivotua(t, dialTwiMLFlow(tones.URL+"/voice"), func(c *Config) { c.API.MaxCalls = 1 })
	token := channelsToken(t, p, "e2e-key")

	bob := newDialPeer(t, codec.PCMU, 600)
	bobUAS := startUAS(t, "uas_answer.xml", uasData{RTPPort: bob.port(), Codec: 0}) // waits for our BYE
	code, env := crossbar(t, "PUT", channelsURL(p, "", ""), token, map[string]any{"data": map[string]any{
		"to": fmt.Sprintf("sip:bob@127.0.0.1:%d", bobUAS.port), "caller_id_number": "+15550100", "voice_url": docs.URL + "/kazoo", "method": "post",
	}})
	placed, _ := env["data"].(map[string]any)
	if code != 201 || placed["direction"] != "outbound" || !callSidPattern.MatchString(fmt.Sprint(placed["call_sid"])) {
		t.Fatalf("PUT channels: %d %v", code, env)
	}
	if n := awaitTone(bob, 0, 440, 50, 10*time.Second); n < 50 {
		t.Fatalf("the callee heard %d frames of the flow's 440 Hz\n%s", n, p.logs())
	}
	if req := one(t, docs, "/kazoo"); req == nil || req.Get("Call-ID") != placed["call_sid"] || req.Get("Caller-ID-Number") != "+15550100" {
		t.Errorf("the voice_url request %v, want Kazoo's naming with the call's sid", req)
	}
	ch := awaitChannel(t, p, token)
	if ch["call_sid"] != placed["call_sid"] || ch["uuid"] == placed["call_sid"] || ch["direction"] != "outbound" || ch["username"] != "bob" ||
		ch["presence_id"] != fmt.Sprintf("bob@127.0.0.1:%d", bobUAS.port) {
		t.Errorf("the answered placed call is listed as %v, want its SIP Call-ID as uuid", ch)
	}
	code, env = crossbar(t, "PUT", channelsURL(p, "", ""), token, map[string]any{"data": map[string]any{
		"to": "sip:nobody@127.0.0.1:9", "from": "100", "voice_url": docs.URL + "/kazoo",
	}})
	wantChannelError(t, "a second call past api.max_calls 1", code, env, 429, "", "api.max_calls")
	if code, env := channelAction(t, p, token, fmt.Sprint(ch["uuid"]), map[string]any{"action": "hangup"}); code != 200 {
		t.Fatalf("hangup: %d %v", code, env)
	}
	if err := bobUAS.wait(t, 10*time.Second); err != nil {
		t.Fatalf("the callee did not get BYE: %v", err)
	}
	for deadline := time.Now().Add(5 * time.Second); len(liveChannels(t, p, token)) > 0 && time.Now().Before(deadline); {
		time.Sleep(50 * time.Millisecond)
	}

	// An inline flow whose document dials: the placed call is bridged to carol, who hangs up after 3 s.
	bob2 := newDialPeer(t, codec.PCMU, 600)
	bob2UAS := startUAS(t, "uas_answer.xml", uasData{RTPPort: bob2.port(), Codec: 0})
	code, env = crossbar(t, "PUT", channelsURL(p, "", ""), token, map[string]any{"data": map[string]any{
		"to": fmt.Sprintf("sip:bob@127.0.0.1:%d", bob2UAS.port), "from": "100",
		"flow": map[string]any{"module": "pivot", "data": map[string]any{"voice_url": docs.URL + "/dial", "req_format": "twiml"}},
	}})
	if code != 201 {
		t.Fatalf("PUT channels with a flow: %d %v", code, env)
	}
	if err := carolUAS.wait(t, 15*time.Second); err != nil {
		t.Fatalf("carol, dialled by the placed call's document: %v\n%s", err, p.logs())
	}
	if err := bob2UAS.wait(t, 10*time.Second); err != nil {
		t.Fatalf("the placed call's callee did not get BYE once carol hung up: %v", err)
	}
	if n := testkit.CountTone(bob2.heard(0), 1000); n < 80 {
		t.Errorf("the placed call's callee heard %d frames of carol's 1 kHz, want most of the 3 s bridge\n%s", n, p.logs())
	}
	if n := testkit.CountTone(carol.heard(0), 600); n < 80 {
		t.Errorf("carol heard %d frames of the placed call's 600 Hz, want most of the 3 s bridge", n)
	}
	for series, want := range map[string]float64{
		`pivotua_calls_placed_total{outcome="completed"}`: 2,
		`pivotua_calls_total{outcome="completed"}`:        2,
	} {
		got := scrape(t, p, series)
		for deadline := time.Now().Add(5 * time.Second); got != want && time.Now().Before(deadline); got = scrape(t, p, series) {
			time.Sleep(50 * time.Millisecond)
		}
		if got != want {
			t.Errorf("%s = %v, want %v", series, got, want)
		}
	}
}
