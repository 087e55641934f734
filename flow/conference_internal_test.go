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

	"github.com/pivotua/pivotua/codec"
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
	ss := testSessions(t, 5)
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

	// A room the API ended whose party has not left yet is over: a caller now opens a new one.
	d, e := party(3, true), party(4, true)
	old, err := cs.join(joinRequest{account: "acc", name: "room2", party: d, max: 5})
	if err != nil {
		t.Fatal(err)
	}
	if err := cs.End("acc", old.sid); err != nil {
		t.Fatal(err)
	}
	select {
	case <-old.done:
	default:
		t.Fatal("End did not end the conference")
	}
	fresh, err := cs.join(joinRequest{account: "acc", name: "room2", party: e, max: 5})
	if err != nil || fresh == old || fresh.sid == old.sid {
		t.Fatalf("joined the ended room: %v", err)
	}
	cs.leave(old, d, leftEnded)
	if list := cs.List("acc"); len(list) != 1 || list[0].Sid != fresh.sid {
		t.Errorf("the ended room's last leave touched the new one: %+v", list)
	}
}

// fakeWaitDocs answers each URL with its document (content type, body); others fail.
type fakeWaitDocs struct {
	docs    map[string][2]string
	fetches int
}

func (f *fakeWaitDocs) FetchDocument(_ context.Context, r httpfetch.PivotRequest) (*httpfetch.Document, error) {
	f.fetches++
	d, ok := f.docs[r.URL]
	if !ok {
		return nil, errors.New("404")
	}
	return &httpfetch.Document{Status: 200, URL: r.URL, ContentType: d[0], Body: []byte(d[1])}, nil
}

// liveChannel is a call that goes on: the wait audio's requests ask only that.
type liveChannel struct{ Channel }

func (liveChannel) Context() context.Context { return context.Background() }

// A hostile waitUrl costs a bounded number of fetches and bounded audio, never the call.
func TestConferenceWaitAudioIsBounded(t *testing.T) {
	for _, tc := range []struct {
		name    string
		doc     [2]string
		fetches int
		samples int // -1: the default wait audio (nil)
	}{
		{"garbage", [2]string{"text/xml", "\x00\xffnot xml at all"}, 1, -1},
		{"not TwiML", [2]string{"application/json", `{"module": "play"}`}, 1, -1},
		{"endless Redirect", [2]string{"text/xml", `<Response><Redirect>/wait</Redirect></Response>`}, maxWaitRedirects + 1, codec.FrameSamples},
		{"endless Redirect with pauses", [2]string{"text/xml", `<Response><Pause length="1"/><Redirect>/wait</Redirect></Response>`}, maxWaitRedirects + 1, (maxWaitRedirects + 1) * codec.SampleRate},
		{"hour-long pause", [2]string{"text/xml", `<Response><Pause length="3600"/></Response>`}, 1, int(maxWaitAudio / time.Second * codec.SampleRate)},
		{"other verbs skipped", [2]string{"text/xml", `<Response><Hangup/><Gather/><Pause length="2"/></Response>`}, 1, 2 * codec.SampleRate},
	} {
		t.Run(tc.name, func(t *testing.T) {
			docs := &fakeWaitDocs{docs: map[string][2]string{"http://app/wait": tc.doc}}
			c := &Call{ch: liveChannel{}, deps: &Deps{Documents: docs}, log: slog.Default(),
				pivot: pivotState{action: &pivotAction{format: httpfetch.FormatTwiML, timeout: time.Second}, documentURL: "http://app/voice"}}
			p := c.conferenceWaitAudio(context.Background(), &conferenceNoun{waitSet: true, waitURL: "/wait", waitMethod: "POST"})
			got := -1
			if p != nil {
				got = len(p.PCM())
			}
			if got != tc.samples || docs.fetches != tc.fetches {
				t.Errorf("%d samples after %d fetches, want %d after %d", got, docs.fetches, tc.samples, tc.fetches)
			}
		})
	}
}
