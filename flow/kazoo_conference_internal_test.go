package flow

import (
	"testing"
)

// TestConferenceModeratorIsShownAsSuch: a caller the conference module sends in as moderator (by id
// or by config) is the room's moderator in what the conferences API lists (Kazoo's is_moderator);
// a member is not.
func TestConferenceModeratorIsShownAsSuch(t *testing.T) {
	for _, tc := range []struct {
		data string
		want bool
	}{
		{`{"id": "sales", "moderator": true}`, true},
		{`{"config": {"name": "sales", "moderator": {"join_muted": false}}, "moderator": true}`, true},
		{`{"id": "sales"}`, false},
	} {
		d := newDataReader([]byte(tc.data), "data")
		a, ok := parseConference(d).(*conferenceAction)
		if !ok || len(d.errs) > 0 {
			t.Fatalf("%s: %v", tc.data, d.errs)
		}
		if a.moderator != tc.want {
			t.Errorf("%s: moderator %v, want %v", tc.data, a.moderator, tc.want)
		}
	}
	ss := testSessions(t, 2)
	cs := NewConferences()
	mod := &confParty{callSid: "CAmod", sess: ss[0], wait: silentWait(), startOnEnter: true, moderator: true, kicked: make(chan struct{})}
	member := &confParty{callSid: "CAmember", sess: ss[1], wait: silentWait(), startOnEnter: true, kicked: make(chan struct{})}
	for _, p := range []*confParty{mod, member} {
		if _, err := cs.join(joinRequest{account: "acc", name: "sales", party: p, max: 5}); err != nil {
			t.Fatal(err)
		}
	}
	list := cs.List("acc")
	if len(list) != 1 || len(list[0].Participants) != 2 {
		t.Fatalf("List = %+v", list)
	}
	if p := list[0].Participants; !p[0].Moderator || p[1].Moderator {
		t.Errorf("participants %+v: want the first alone as moderator", p)
	}
}
