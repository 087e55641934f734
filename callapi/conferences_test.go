package callapi

import (
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/pivotua/pivotua/flow"
)

// fakeRooms is the ConferenceService: one conference of the account with two participants.
type fakeRooms struct {
	mu    sync.Mutex
	conf  flow.ConferenceInfo
	ended bool
	log   []string
}

const confSid = "CF0123456789abcdef0123456789abcdef"

func newFakeRooms() *fakeRooms {
	now := time.Date(2026, 12, 3, 9, 0, 0, 0, time.UTC)
	return &fakeRooms{conf: flow.ConferenceInfo{Sid: confSid, AccountID: account, FriendlyName: "room 1", Status: flow.ConferenceInProgress, Created: now,
		Participants: []flow.ParticipantInfo{{CallSid: "call-a", StartConferenceOnEnter: true, Joined: now}, {CallSid: "call-b", Muted: true, Joined: now}}}}
}

func (f *fakeRooms) List(acct string) []flow.ConferenceInfo {
	if acct != account {
		return nil
	}
	return []flow.ConferenceInfo{f.conf}
}

func (f *fakeRooms) Get(acct, sid string) (flow.ConferenceInfo, error) {
	if acct != account || sid != f.conf.Sid {
		return flow.ConferenceInfo{}, flow.ErrConferenceNotFound
	}
	return f.conf, nil
}

func (f *fakeRooms) record(s string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.log = append(f.log, s)
	return nil
}

func (f *fakeRooms) End(_, sid string) error { return f.record("end " + sid) }
func (f *fakeRooms) SetMuted(_, _, callSid string, muted bool) error {
	return f.record("mute " + callSid + " " + map[bool]string{true: "on", false: "off"}[muted])
}
func (f *fakeRooms) SetHold(_, _, callSid string, hold bool) error {
	return f.record("hold " + callSid + " " + map[bool]string{true: "on", false: "off"}[hold])
}
func (f *fakeRooms) Kick(_, _, callSid string) error { return f.record("kick " + callSid) }

func newConferenceAPI(t *testing.T) (*httptest.Server, *fakeRooms) {
	t.Helper()
	rooms := newFakeRooms()
	mux := http.NewServeMux()
	New(&fakeCalls{}, map[string]string{account: apiKey, "other": "other-key"}, defaultConfig(t), slog.New(slog.DiscardHandler)).Conferences(rooms).Register(mux)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv, rooms
}

const confBase = "/2010-04-01/Accounts/AC" + account + "/Conferences"

func TestConferencesListFetchAndParticipantsInTwiliosShape(t *testing.T) {
	srv, _ := newConferenceAPI(t)
	status, body := call(t, srv, "GET", confBase+".json?Status=in-progress", account, apiKey, nil)
	confs, _ := body["conferences"].([]any)
	if status != 200 || len(confs) != 1 {
		t.Fatalf("list: %d %v", status, body)
	}
	c := confs[0].(map[string]any)
	if c["sid"] != confSid || c["friendly_name"] != "room 1" || c["status"] != "in-progress" || c["account_sid"] != "AC"+account ||
		c["uri"] != confBase+"/"+confSid+".json" || c["date_created"] != "Thu, 03 Dec 2026 09:00:00 +0000" {
		t.Errorf("conference %v", c)
	}
	if status, body := call(t, srv, "GET", confBase+".json?Status=completed", account, apiKey, nil); status != 200 || len(body["conferences"].([]any)) != 0 {
		t.Errorf("completed filter: %d %v", status, body)
	}
	if status, body := call(t, srv, "GET", confBase+"/"+confSid+".json", account, apiKey, nil); status != 200 || body["sid"] != confSid {
		t.Errorf("fetch: %d %v", status, body)
	}
	status, body = call(t, srv, "GET", confBase+"/"+confSid+"/Participants.json?Muted=true", account, apiKey, nil)
	ps, _ := body["participants"].([]any)
	if status != 200 || len(ps) != 1 || ps[0].(map[string]any)["call_sid"] != "call-b" || ps[0].(map[string]any)["muted"] != true ||
		ps[0].(map[string]any)["conference_sid"] != confSid {
		t.Errorf("participants Muted=true: %d %v", status, body)
	}
	if status, body := call(t, srv, "GET", confBase+"/"+confSid+"/Participants/call-a.json", account, apiKey, nil); status != 200 || body["start_conference_on_enter"] != true {
		t.Errorf("participant fetch: %d %v", status, body)
	}
}

func TestConferencesUpdateMuteHoldKickAndEnd(t *testing.T) {
	srv, rooms := newConferenceAPI(t)
	p := confBase + "/" + confSid + "/Participants/call-a.json"
	if status, body := call(t, srv, "POST", p, account, apiKey, url.Values{"Muted": {"true"}, "Hold": {"true"}}); status != 200 || body["muted"] != true || body["hold"] != true {
		t.Errorf("update: %d %v", status, body)
	}
	if status, body := call(t, srv, "DELETE", p, account, apiKey, nil); status != 204 {
		t.Errorf("delete: %d %v", status, body)
	}
	if status, body := call(t, srv, "POST", confBase+"/"+confSid+".json", account, apiKey, url.Values{"Status": {"completed"}}); status != 200 || body["status"] != "completed" {
		t.Errorf("end: %d %v", status, body)
	}
	want := []string{"mute call-a on", "hold call-a on", "kick call-a", "end " + confSid}
	if len(rooms.log) != len(want) {
		t.Fatalf("acted %q, want %q", rooms.log, want)
	}
	for i := range want {
		if rooms.log[i] != want[i] {
			t.Errorf("act %d = %q, want %q", i, rooms.log[i], want[i])
		}
	}
}

// Wrong input: a clear Twilio error, nothing done.
func TestConferencesRefuseWhatTheyCannotDo(t *testing.T) {
	srv, rooms := newConferenceAPI(t)
	p := confBase + "/" + confSid + "/Participants/call-a.json"
	for _, tc := range []struct {
		what, method, path, user, pass string
		form                           url.Values
		status, code                   int
		msg                            string
	}{
		{"no credentials", "GET", confBase + ".json", "", "", nil, 401, 20003, "Authenticate"},
		{"another account's key", "GET", confBase + ".json", "other", "other-key", nil, 401, 20003, "another account"},
		{"unknown conference", "GET", confBase + "/CF00000000000000000000000000000000.json", account, apiKey, nil, 404, 20404, "not found"},
		{"unknown participant", "POST", confBase + "/" + confSid + "/Participants/nobody.json", account, apiKey, url.Values{"Muted": {"true"}}, 404, 20404, "not found"},
		{"Muted not a boolean", "POST", p, account, apiKey, url.Values{"Muted": {"yes please"}}, 400, 21200, "Muted must be true or false"},
		{"WaitUrl", "POST", p, account, apiKey, url.Values{"WaitUrl": {"http://x/wait"}}, 400, 21200, "WaitUrl is not supported"},
		{"unknown parameter", "POST", p, account, apiKey, url.Values{"Volume": {"11"}}, 400, 21200, "not a parameter"},
		{"Status other than completed", "POST", confBase + "/" + confSid + ".json", account, apiKey, url.Values{"Status": {"paused"}}, 400, 21200, "Status can only be completed"},
		{"list filter on dates", "GET", confBase + ".json?DateCreated=2026-12-03", account, apiKey, nil, 400, 21200, "DateCreated is not supported"},
		{"PageSize out of range", "GET", confBase + ".json?PageSize=5000", account, apiKey, nil, 400, 21200, "PageSize"},
	} {
		status, body := call(t, srv, tc.method, tc.path, tc.user, tc.pass, tc.form)
		wantError(t, tc.what, status, body, tc.status, tc.code, tc.msg)
	}
	if len(rooms.log) != 0 {
		t.Errorf("refused requests acted: %q", rooms.log)
	}
}
