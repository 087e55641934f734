package debugapi

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
)

// fakeRooms is a ConferenceControl: account A's room "sales" with two participants.
type fakeRooms struct {
	mu   sync.Mutex
	acts []string
}

const roomSid = "CF0123456789abcdef0123456789abcdef"

func (f *fakeRooms) room() Conference {
	return Conference{Name: "sales", Sid: roomSid, Started: true, Created: baseTime, Participants: []Participant{
		{ID: 1, CallID: "call-1@host", Joined: baseTime, Moderator: true}, {ID: 2, CallID: "CA" + strings.Repeat("2", 32), Muted: true, Joined: baseTime},
	}}
}

func (f *fakeRooms) List(acct string) []Conference {
	if acct != accountA {
		return nil
	}
	return []Conference{f.room()}
}

func (f *fakeRooms) Get(acct, id string) (Conference, bool) {
	if acct != accountA || (id != "sales" && id != roomSid) {
		return Conference{}, false
	}
	return f.room(), true
}

func (f *fakeRooms) Act(acct, id, participant, action string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.acts = append(f.acts, action+" "+id+" "+participant)
	return nil
}

func conferencesFixture(t *testing.T) (*apiFixture, *fakeRooms) {
	t.Helper()
	f := &apiFixture{store: openSQLiteTest(t), clock: &testClock{now: baseTime}}
	api := NewAPI(APIConfig{
		Store:    f.store,
		Accounts: []Account{{ID: accountA, Name: "alpha", APIKey: keyA}, {ID: accountB, Name: "beta", APIKey: keyB}},
		Node:     "pivotua@test", Version: "test-1", Now: f.clock.Now,
	})
	rooms := &fakeRooms{}
	api.UseConferences(rooms)
	mux := http.NewServeMux()
	api.Register(mux)
	f.srv = httptest.NewServer(mux)
	t.Cleanup(f.srv.Close)
	return f, rooms
}

// Kazoo's conferences API on the live rooms: the list, a room's document with its participants,
// the participant actions on one or all, and Kazoo's errors for everything else; another account
// sees nothing of A's rooms.
func TestConferencesAPIListActAndRefuse(t *testing.T) {
	f, rooms := conferencesFixture(t)
	tok := f.token(t, keyA)
	base := "/v2/accounts/" + accountA + "/conferences"
	r := f.do(t, "GET", base, tok, "")
	checkEnvelope(t, r, "success")
	list, _ := r.body["data"].([]any)
	if r.code != 200 || len(list) != 1 {
		t.Fatalf("list: %d %v", r.code, r.body)
	}
	row := list[0].(map[string]any)
	wantKeys(t, "conference", row, "id", "name", "conference_sid", "members", "duration", "is_locked", "status")
	if row["id"] != "sales" || row["conference_sid"] != roomSid {
		t.Errorf("row %v", row)
	}
	r = f.do(t, "GET", base+"/sales", tok, "")
	ro, _ := r.body["data"].(map[string]any)["_read_only"].(map[string]any)
	ps, _ := ro["participants"].([]any)
	if r.code != 200 || len(ps) != 2 || ps[1].(map[string]any)["speak"] != false || ps[0].(map[string]any)["participant_id"] == nil {
		t.Fatalf("document: %d %v", r.code, r.body)
	}
	// Kazoo's is_moderator: present on every participant, true for the one that joined as moderator.
	if mod, ok := ps[0].(map[string]any)["is_moderator"]; !ok || mod != true {
		t.Errorf("the moderator's is_moderator = %v (present %v)", mod, ok)
	}
	if mod, ok := ps[1].(map[string]any)["is_moderator"]; !ok || mod != false {
		t.Errorf("a member's is_moderator = %v (present %v)", mod, ok)
	}
	for _, tc := range []struct{ path, body, want string }{
		{base + "/sales/participants/1", `{"data":{"action":"mute"}}`, "mute " + roomSid + " 1"},
		{base + "/" + roomSid + "/participants/call-1@host", `{"data":{"action":"deaf"}}`, "deaf " + roomSid + " call-1@host"},
		{base + "/sales/participants", `{"data":{"action":"kick"}}`, "kick " + roomSid + " "},
	} {
		if r := f.do(t, "PUT", tc.path, tok, tc.body); r.code != 200 {
			t.Errorf("%s %s: %d %v", tc.path, tc.body, r.code, r.body)
		}
		if got := rooms.acts[len(rooms.acts)-1]; got != tc.want {
			t.Errorf("%s: acted %q, want %q", tc.body, got, tc.want)
		}
	}
	n := len(rooms.acts)
	tokB := f.token(t, keyB)
	for _, tc := range []struct {
		what, method, path, token, body string
		code                            int
		msg                             string
	}{
		{"unknown conference", "GET", base + "/nobody", tok, "", 404, "conference not found"},
		{"unknown participant", "PUT", base + "/sales/participants/9", tok, `{"data":{"action":"mute"}}`, 404, "participant not found"},
		{"another account's room", "GET", "/v2/accounts/" + accountB + "/conferences/sales", tokB, "", 404, "conference not found"},
		{"another account's path", "GET", base, tokB, "", 403, ""},
		{"no token", "PUT", base + "/sales/participants/1", "", `{"data":{"action":"mute"}}`, 401, ""},
		{"unknown action", "PUT", base + "/sales/participants/1", tok, `{"data":{"action":"explode"}}`, 400, "explode"},
		{"relate", "PUT", base + "/sales/participants", tok, `{"data":{"action":"relate"}}`, 400, "not supported"},
		{"extra field", "PUT", base + "/sales/participants/1", tok, `{"data":{"action":"mute","volume":11}}`, 400, "volume"},
		{"not JSON", "PUT", base + "/sales/participants/1", tok, `mute`, 400, "JSON"},
		{"lock", "PUT", base + "/sales", tok, `{"action":"lock","data":{}}`, 400, "cannot be locked"},
		{"DELETE", "DELETE", base + "/sales", tok, "", 405, ""},
	} {
		r := f.do(t, tc.method, tc.path, tc.token, tc.body)
		if r.code != tc.code || !strings.Contains(strings.ToLower(fmt.Sprint(r.body)), strings.ToLower(tc.msg)) {
			t.Errorf("%s: %d %v", tc.what, r.code, r.body)
		}
	}
	if len(rooms.acts) != n {
		t.Errorf("refused requests acted: %q", rooms.acts[n:])
	}
}
