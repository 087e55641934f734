package flow

import (
	"errors"
	"log/slog"
	"testing"
)

// The control the APIs add: a room found by its name, the sid reserved for a room a participant
// added by the API opens, Kazoo's participant ids, deafness, coaching, the exit beep and
// endConferenceOnExit changed on a party in the room; another account's room is never found.
func TestConferencesControlReserveDeafCoach(t *testing.T) {
	ss := testSessions(t, 3)
	cs := NewConferences()
	sid, err := cs.Reserve("acc", "sales")
	if err != nil {
		t.Fatal(err)
	}
	if again, _ := cs.Reserve("acc", "sales"); again != sid {
		t.Errorf("a second reservation of the same room gave %s, not %s", again, sid)
	}
	if _, err := cs.Reserve("acc", "bad\x00name"); !errors.Is(err, ErrBadConferenceName) {
		t.Errorf("a name with a NUL reserved: %v", err)
	}
	party := func(i int) *confParty {
		return &confParty{callSid: "CA" + string(rune('a'+i)), sess: ss[i], wait: silentWait(), startOnEnter: true, kicked: make(chan struct{})}
	}
	a, b, c := party(0), party(1), party(2)
	for _, p := range []*confParty{a, b, c} {
		if _, err := cs.join(joinRequest{account: "acc", name: "sales", party: p, log: slog.Default()}); err != nil {
			t.Fatal(err)
		}
	}
	ci, err := cs.Lookup("acc", "sales")
	if err != nil || ci.Sid != sid {
		t.Fatalf("the room opened as %q (%v), not with the sid reserved %s", ci.Sid, err, sid)
	}
	if _, err := cs.Lookup("other", "sales"); !errors.Is(err, ErrConferenceNotFound) {
		t.Errorf("another account found the room by name: %v", err)
	}
	if _, err := cs.Lookup("other", sid); !errors.Is(err, ErrConferenceNotFound) {
		t.Errorf("another account found the room by sid: %v", err)
	}
	if got, err := cs.ParticipantByID("acc", sid, "2"); err != nil || got != "CAb" {
		t.Errorf("participant_id 2 = %q, %v; want CAb", got, err)
	}
	if _, err := cs.ParticipantByID("acc", sid, "9"); !errors.Is(err, ErrParticipantNotFound) {
		t.Errorf("participant_id 9: %v", err)
	}
	if err := cs.SetDeaf("acc", "sales", "CAa", true); err != nil {
		t.Fatal(err)
	}
	if err := cs.SetEndOnExit("acc", sid, "CAb", true); err != nil {
		t.Fatal(err)
	}
	if err := cs.SetBeepOnExit("acc", sid, "CAb", true); err != nil {
		t.Fatal(err)
	}
	if err := cs.SetCoach("acc", sid, "CAc", "CAc"); !errors.Is(err, ErrBadCoach) {
		t.Errorf("a party coached itself: %v", err)
	}
	if err := cs.SetCoach("acc", sid, "CAc", "CAz"); !errors.Is(err, ErrParticipantNotFound) {
		t.Errorf("a party coached nobody: %v", err)
	}
	if err := cs.SetCoach("acc", sid, "CAc", "CAa"); err != nil {
		t.Fatal(err)
	}
	if err := cs.SetDeaf("other", sid, "CAa", false); !errors.Is(err, ErrConferenceNotFound) {
		t.Errorf("another account steered the room: %v", err)
	}
	ci, _ = cs.Lookup("acc", sid)
	p := ci.Participants
	if len(p) != 3 || !p[0].Deaf || p[0].ID != 1 || !p[1].EndConferenceOnExit || !p[1].BeepOnExit ||
		!p[2].Coaching || p[2].CallSidToCoach != "CAa" {
		t.Errorf("participants after the changes: %+v", p)
	}
	if err := cs.SetCoach("acc", sid, "CAc", ""); err != nil {
		t.Fatal(err)
	}
	if ci, _ = cs.Lookup("acc", sid); ci.Participants[2].Coaching {
		t.Error("coaching did not end")
	}
	if ci.Sid == "" || cs.reserved[conferenceKey{"acc", "sales"}] != "" {
		t.Error("the reservation outlived the room's opening")
	}
}
