package callapi

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/pivotua/pivotua/flow"
)

func (f *fakeRooms) Lookup(acct, ref string) (flow.ConferenceInfo, error) {
	if acct != account || (ref != f.conf.Sid && ref != f.conf.FriendlyName) {
		return flow.ConferenceInfo{}, flow.ErrConferenceNotFound
	}
	return f.conf, nil
}

func (f *fakeRooms) Reserve(_, name string) (string, error) {
	if strings.ContainsRune(name, 0) {
		return "", flow.ErrBadConferenceName
	}
	return "CFfeedfeedfeedfeedfeedfeedfeedfeed", f.record("reserve " + name)
}

func (f *fakeRooms) SetHoldAudio(_, _, callSid string, r flow.AudioRequest) error {
	return f.record("holdurl " + callSid + " " + r.Method + " " + r.URL)
}
func (f *fakeRooms) AnnounceTo(_, _, callSid string, r flow.AudioRequest) error {
	return f.record("announce " + callSid + " " + r.Method + " " + r.URL)
}
func (f *fakeRooms) Announce(_, sid string, r flow.AudioRequest) error {
	return f.record("announce room " + r.URL)
}
func (f *fakeRooms) SetBeepOnExit(_, _, callSid string, beep bool) error {
	return f.record("beep " + callSid + " " + map[bool]string{true: "on", false: "off"}[beep])
}
func (f *fakeRooms) SetEndOnExit(_, _, callSid string, end bool) error {
	return f.record("end-on-exit " + callSid + " " + map[bool]string{true: "on", false: "off"}[end])
}
func (f *fakeRooms) SetCoach(_, _, callSid, target string) error {
	return f.record("coach " + callSid + " " + target)
}

// newParticipantAPI is the Conferences API over fake rooms and calls, with a sip.egress check that
// refuses any host but example.com.
func newParticipantAPI(t *testing.T) (*httptest.Server, *fakeRooms, *fakeCalls) {
	t.Helper()
	rooms, calls := newFakeRooms(), &fakeCalls{}
	mux := http.NewServeMux()
	deny := func(_ context.Context, uri string) error {
		if !strings.Contains(uri, "@example.com") {
			return errors.New("sip.egress denies this destination")
		}
		return nil
	}
	New(calls, map[string]string{account: apiKey, "other": "other-key"}, defaultConfig(t), slog.New(slog.DiscardHandler)).
		Conferences(rooms).CheckTargets(deny).Register(mux)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv, rooms, calls
}

// participants.create places a call whose document is the conference with the request's attributes;
// a friendly name no room has is reserved (Twilio creates the conference).
func TestParticipantCreateCallsOutIntoTheConference(t *testing.T) {
	srv, rooms, calls := newParticipantAPI(t)
	form := url.Values{"To": {"sip:carol@example.com"}, "From": {"+15550100"}, "Muted": {"true"}, "Beep": {"onExit"},
		"EndConferenceOnExit": {"true"}, "WaitUrl": {"https://app.example.com/wait"}, "ConferenceStatusCallback": {"https://app.example.com/cb"},
		"ConferenceStatusCallbackEvent": {"join", "leave"}, "Coaching": {"true"}, "CallSidToCoach": {"call-a"}, "Timeout": {"20"},
		"StatusCallback": {"https://app.example.com/status"}, "StatusCallbackEvent": {"answered"}}
	status, body := call(t, srv, "POST", confBase+"/"+confSid+"/Participants.json", account, apiKey, form)
	if status != 201 || body["conference_sid"] != confSid || body["status"] != "queued" || body["muted"] != true ||
		body["coaching"] != true || body["call_sid_to_coach"] != "call-a" || body["end_conference_on_exit"] != true {
		t.Fatalf("create: %d %v", status, body)
	}
	if len(calls.created) != 1 {
		t.Fatalf("%d calls placed", len(calls.created))
	}
	req := calls.created[0]
	if req.To != "sip:carol@example.com" || req.TwiML == nil || req.URL != "" || req.Timeout.Seconds() != 20 ||
		req.Callback.URL != "https://app.example.com/status" || body["call_sid"] != calls.recs[0].Sid {
		t.Errorf("placed %+v", req)
	}
	// By a friendly name that no live room has: reserved, and the call joins it by that name.
	status, body = call(t, srv, "POST", confBase+"/new%20room/Participants.json", account, apiKey,
		url.Values{"To": {"sip:dave@example.com"}, "From": {"+15550100"}})
	if status != 201 || body["conference_sid"] != "CFfeedfeedfeedfeedfeedfeedfeedfeed" || rooms.log[0] != "reserve new room" {
		t.Errorf("create by name: %d %v %q", status, body, rooms.log)
	}
}

func TestParticipantCreateRefusesWhatItCannotHonour(t *testing.T) {
	srv, rooms, calls := newParticipantAPI(t)
	p := confBase + "/" + confSid + "/Participants.json"
	valid := func(extra ...string) url.Values {
		v := url.Values{"To": {"sip:carol@example.com"}, "From": {"+15550100"}}
		for i := 0; i+1 < len(extra); i += 2 {
			v.Set(extra[i], extra[i+1])
		}
		return v
	}
	for _, tc := range []struct {
		what, path, user, pass string
		form                   url.Values
		status, code           int
		msg                    string
	}{
		{"another account", p, "other", "other-key", valid(), 401, 20003, "another account"},
		{"unknown conference sid", confBase + "/CF00000000000000000000000000000000/Participants.json", account, apiKey, valid(), 404, 20404, "not found"},
		{"a name no room can have", confBase + "/bad%00name/Participants.json", account, apiKey, valid(), 400, 21200, "cannot name one"},
		{"no To", p, account, apiKey, url.Values{"From": {"+15550100"}}, 400, 21201, "To"},
		{"To denied by sip.egress", p, account, apiKey, valid("To", "sip:x@10.0.0.1"), 400, 21211, "sip.egress"},
		{"Label", p, account, apiKey, valid("Label", "agent"), 400, 21200, "Label is not supported"},
		{"Region", p, account, apiKey, valid("Region", "ie1"), 400, 21200, "Region is not supported"},
		{"EarlyMedia true", p, account, apiKey, valid("EarlyMedia", "true"), 400, 21200, "EarlyMedia"},
		{"Beep bad", p, account, apiKey, valid("Beep", "loud"), 400, 21200, "Beep must be"},
		{"WaitUrl not http", p, account, apiKey, valid("WaitUrl", "file:///etc/passwd"), 400, 21205, "WaitUrl"},
		{"ConferenceStatusCallback relative", p, account, apiKey, valid("ConferenceStatusCallback", "/cb"), 400, 21205, "ConferenceStatusCallback"},
		{"event word", p, account, apiKey, valid("ConferenceStatusCallbackEvent", "speaker"), 400, 21200, "ConferenceStatusCallbackEvent"},
		{"MaxParticipants", p, account, apiKey, valid("MaxParticipants", "1000"), 400, 21200, "MaxParticipants"},
		{"coach of nobody", p, account, apiKey, valid("CallSidToCoach", "nobody"), 400, 21200, "CallSidToCoach"},
		{"Coaching without target", p, account, apiKey, valid("Coaching", "true"), 400, 21200, "needs CallSidToCoach"},
		{"Record true", p, account, apiKey, valid("Record", "true"), 400, 21200, "Record"},
	} {
		status, body := call(t, srv, "POST", tc.path, tc.user, tc.pass, tc.form)
		wantError(t, tc.what, status, body, tc.status, tc.code, tc.msg)
	}
	if len(calls.created) != 0 || len(rooms.log) != 0 {
		t.Errorf("refused requests acted: %d calls, %q", len(calls.created), rooms.log)
	}
}

// The updates the Participants and Conferences resources gained: each checked before any acts.
func TestParticipantUpdateHoldUrlAnnounceBeepEndAndCoach(t *testing.T) {
	srv, rooms, _ := newParticipantAPI(t)
	p := confBase + "/" + confSid + "/Participants/call-b.json"
	for _, tc := range []struct {
		what   string
		form   url.Values
		status int
		msg    string
	}{
		{"HoldMethod alone", url.Values{"HoldMethod": {"GET"}}, 400, "HoldMethod is given without HoldUrl"},
		{"HoldUrl not http", url.Values{"Hold": {"true"}, "HoldUrl": {"gopher://x"}}, 400, "HoldUrl"},
		{"AnnounceMethod bad", url.Values{"AnnounceUrl": {"https://a/b"}, "AnnounceMethod": {"PUT"}}, 400, "AnnounceMethod"},
		{"coach itself", url.Values{"CallSidToCoach": {"call-b"}}, 400, "CallSidToCoach"},
		{"WaitUrl", url.Values{"WaitUrl": {"https://a/b"}}, 400, "WaitUrl is not supported"},
	} {
		status, body := call(t, srv, "POST", p, account, apiKey, tc.form)
		if status != tc.status || !strings.Contains(body["message"].(string), tc.msg) {
			t.Errorf("%s: %d %v", tc.what, status, body)
		}
	}
	if len(rooms.log) != 0 {
		t.Fatalf("refused updates acted: %q", rooms.log)
	}
	form := url.Values{"Hold": {"true"}, "HoldUrl": {"https://app.example.com/hold"}, "HoldMethod": {"GET"},
		"AnnounceUrl": {"https://app.example.com/ann"}, "BeepOnExit": {"false"}, "EndConferenceOnExit": {"true"}, "CallSidToCoach": {"call-a"}}
	status, body := call(t, srv, "POST", p, account, apiKey, form)
	if status != 200 || body["hold"] != true || body["coaching"] != true || body["call_sid_to_coach"] != "call-a" || body["end_conference_on_exit"] != true {
		t.Fatalf("update: %d %v", status, body)
	}
	if status, body := call(t, srv, "POST", confBase+"/"+confSid+".json", account, apiKey, url.Values{"AnnounceUrl": {"https://app.example.com/all"}}); status != 200 {
		t.Fatalf("conference announce: %d %v", status, body)
	}
	want := []string{"holdurl call-b GET https://app.example.com/hold", "hold call-b on", "announce call-b POST https://app.example.com/ann",
		"beep call-b off", "end-on-exit call-b on", "coach call-b call-a", "announce room https://app.example.com/all"}
	if strings.Join(rooms.log, "|") != strings.Join(want, "|") {
		t.Errorf("acted %q\nwant  %q", rooms.log, want)
	}
}
