package flow

import (
	"context"
	"errors"
	"log/slog"
	"net/netip"
	"regexp"
	"sync"
	"testing"
	"time"

	"github.com/pivotua/pivotua/httpfetch"
	"github.com/pivotua/pivotua/media"
)

// recordingFetcher keeps the status callbacks it is sent.
type recordingFetcher struct {
	mu   sync.Mutex
	reqs []httpfetch.PivotRequest
}

func (f *recordingFetcher) FetchDocument(_ context.Context, r httpfetch.PivotRequest) (*httpfetch.Document, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.reqs = append(f.reqs, r)
	return &httpfetch.Document{Status: 200}, nil
}

func (f *recordingFetcher) sent() []httpfetch.PivotRequest {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]httpfetch.PivotRequest(nil), f.reqs...)
}

func testSessions(t *testing.T, n int) []*media.Session {
	t.Helper()
	e, err := media.NewEngine(media.Config{IP: netip.MustParseAddr("127.0.0.1"), PortMin: 42300, PortMax: 42400})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close() })
	var ss []*media.Session
	for range n {
		s, err := e.Open()
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		ss = append(ss, s)
	}
	return ss
}

// The registry: a room by account and name, its cap, Twilio's start rule, the API's mute, hold and
// kick, and the status callbacks in order with Twilio's parameters.
func TestConferencesJoinCapSteerAndCallbacksInOrder(t *testing.T) {
	ss := testSessions(t, 4)
	cs := NewConferences()
	fetch := &recordingFetcher{}
	all := map[string]bool{eventStart: true, eventEnd: true, eventJoin: true, eventLeave: true, eventMute: true, eventHold: true}
	events := func() *conferenceEvents {
		return newConferenceEvents(httpfetch.PivotRequest{URL: "http://cb", Params: httpfetch.CallParams{AccountID: "acc"}}, all, fetch, slog.Default())
	}
	party := func(i int, startOnEnter bool) *confParty {
		return &confParty{callSid: "CA" + string(rune('a'+i)), sess: ss[i], wait: silentWait(), startOnEnter: startOnEnter, kicked: make(chan struct{})}
	}
	a, b, c := party(0, false), party(1, true), party(2, true)
	cf, err := cs.join(joinRequest{account: "acc", name: "room", party: a, max: 2, events: events, log: slog.Default()})
	if err != nil {
		t.Fatal(err)
	}
	if cs.started("acc", "room") {
		t.Error("a room of one party started")
	}
	if _, err := cs.join(joinRequest{account: "acc", name: "room", party: &confParty{callSid: "CAx", sess: ss[3], coachOf: "CAnobody"}, max: 2}); !errors.Is(err, ErrParticipantNotFound) {
		t.Errorf("a coach of nobody joined: %v", err)
	}
	if _, err := cs.join(joinRequest{account: "acc", name: "room", party: b, max: 250}); err != nil {
		t.Fatal(err)
	}
	if !cs.started("acc", "room") {
		t.Error("the room did not start when a party that starts it joined")
	}
	if _, err := cs.join(joinRequest{account: "acc", name: "room", party: c, max: 250}); !errors.Is(err, ErrConferenceFull) {
		t.Errorf("a third party joined a room of maxParticipants 2: %v", err)
	}
	if _, err := cs.join(joinRequest{account: "other", name: "room", party: c, max: 2}); err != nil {
		t.Errorf("another account's room of the same name: %v", err)
	}
	list := cs.List("acc")
	if len(list) != 1 || list[0].Sid != cf.sid || list[0].Status != ConferenceInProgress || len(list[0].Participants) != 2 ||
		!regexp.MustCompile(`^CF[0-9a-f]{32}$`).MatchString(cf.sid) {
		t.Fatalf("List = %+v", list)
	}
	if err := cs.SetMuted("acc", cf.sid, "CAb", true); err != nil {
		t.Fatal(err)
	}
	if err := cs.SetHold("acc", cf.sid, "CAa", true); err != nil {
		t.Fatal(err)
	}
	if err := cs.SetMuted("other", cf.sid, "CAb", false); !errors.Is(err, ErrConferenceNotFound) {
		t.Errorf("another account steered the room: %v", err)
	}
	if err := cs.Kick("acc", cf.sid, "CAz"); !errors.Is(err, ErrParticipantNotFound) {
		t.Errorf("kick of nobody: %v", err)
	}
	if err := cs.Kick("acc", cf.sid, "CAa"); err != nil {
		t.Fatal(err)
	}
	select {
	case <-a.kicked:
	default:
		t.Fatal("the kicked party was not told")
	}
	info, _ := cs.Get("acc", cf.sid)
	if p := info.Participants; !p[0].Hold || p[0].Muted || !p[1].Muted {
		t.Errorf("participants after mute and hold: %+v", p)
	}
	cs.leave(cf, a, leftRemoved)
	cs.leave(cf, b, leftHungUp)
	if len(cs.List("acc")) != 0 {
		t.Error("an empty room stayed in the registry")
	}
	var got []string
	deadline := time.Now().Add(5 * time.Second)
	for len(got) < 8 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
		got = got[:0]
		for _, r := range fetch.sent() {
			got = append(got, r.Params.Variables["SequenceNumber"]+" "+r.Params.Variables["StatusCallbackEvent"]+" "+r.Params.CallID)
		}
	}
	want := []string{"1 participant-join CAa", "2 participant-join CAb", "3 conference-start ", "4 participant-mute CAb",
		"5 participant-hold CAa", "6 participant-leave CAa", "7 participant-leave CAb", "8 conference-end "}
	if len(got) != len(want) {
		t.Fatalf("callbacks %q, want %q", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("callback %d = %q, want %q", i, got[i], want[i])
		}
	}
	r := fetch.sent()
	if v := r[7].Params.Variables; v["ConferenceSid"] != cf.sid || v["FriendlyName"] != "room" || v["ReasonConferenceEnded"] != "last-participant-left" ||
		v["CallSidEndingConference"] != "CAb" || r[7].Params.AccountID != "acc" {
		t.Errorf("conference-end parameters %v", r[7].Params)
	}
	if v := r[3].Params.Variables; v["Muted"] != "true" || v["Hold"] != "false" || v["Timestamp"] == "" {
		t.Errorf("participant-mute parameters %v", v)
	}
}
