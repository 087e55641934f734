package flow

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/pivotua/pivotua/codec"
	"github.com/pivotua/pivotua/httpfetch"
	"github.com/pivotua/pivotua/media"
)

// This file is the registry of the conference rooms hosted on this node: TwiML's <Dial><Conference>
// (twiml_conference.go) and Kazoo's conference module (kazoo_conference.go) put a caller in one by
// name, and the exported methods of Conferences are what a REST control (Twilio's Conferences and
// Participants) lists and steers. Each room is one media.Room; its state (who is in it, started or
// not, ended, the recording, the sequence of status callbacks) is guarded by the conference's own
// mutex, taken only by API calls and by the call goroutines of its parties, never on a media clock.

// Conference limits.
const (
	// MaxConferenceParticipants is Twilio's cap and maxParticipants' default: beyond it a join fails.
	MaxConferenceParticipants = 250
	// maxConferenceName bounds a room's name (Twilio's friendly names are short; Kazoo's 128).
	maxConferenceName = 128
	// conferenceEventQueue is how many status callbacks may wait for a slow target; more are dropped
	// (logged), so a dead callback server delays no party.
	conferenceEventQueue = 64
)

// Conference statuses (Twilio's Conference resource).
const (
	ConferenceInit       = "init"        // parties wait: none that starts it has joined
	ConferenceInProgress = "in-progress" // the room mixes
	ConferenceCompleted  = "completed"
)

// Conferences is the registry of a node's conference rooms, by account and name: Twilio's names are
// namespaced to the account, so two accounts' "room1" are two rooms. It is safe for concurrent use.
type Conferences struct {
	mu    sync.Mutex
	rooms map[conferenceKey]*conference // live rooms; a room leaves when its last party does
	dir   RoomDirectory                 // rooms shared with other nodes (conference_cluster.go); nil: one node
	// tokens are the room leg tokens accepted here, so each joins once (conference_cluster.go).
	tokens roomTokenLedger
	// reserved are the sids the Participants API gave for rooms not open yet (conference_control.go).
	reserved map[conferenceKey]string
}

type conferenceKey struct{ account, name string }

// NewConferences is an empty registry.
func NewConferences() *Conferences {
	return &Conferences{rooms: map[conferenceKey]*conference{}}
}

// conference is one room. Fields below mu are guarded by it.
type conference struct {
	sid, account, name string
	created            time.Time
	room               *media.Room
	max                int               // maxParticipants of the party that opened it
	done               chan struct{}     // closed when the conference ends
	events             *conferenceEvents // the status callbacks of the party that opened it; nil: none
	store              recordingStore    // where its recording goes: the opening call's
	log                *slog.Logger

	mu          sync.Mutex
	parties     []*confParty
	started     bool
	ended       bool
	endedBy     string // CallSidEndingConference
	endReason   string // ReasonConferenceEnded
	record      bool   // record-from-start asked by a party: starts with the conference
	trim        bool
	rec         *conferenceRecording // running
	recFinished chan struct{}        // closed once the recording that ran is finished; nil: none ran
	// recResult is the finished recording, reported on every later Dial action: written by the
	// goroutine that finishes it before it closes recFinished, read after.
	recResult   recordingResult
	waitDefault *codec.Prompt // hold audio of a party on hold through the API
	joins       int           // parties that joined so far: the next one's id (Kazoo's participant_id)
}

// confParty is one call in a room. Its flags are guarded by the conference's mu.
type confParty struct {
	callSid      string
	sess         *media.Session
	joined       time.Time
	wait         *codec.Prompt // what it hears while the conference has not started (never nil)
	muted, hold  bool          // hold: put on hold by the API
	startOnEnter bool
	endOnExit    bool
	moderator    bool   // joined as the moderator (the conference module's moderator)
	coachOf      string // CallSid of the party it coaches; "" none
	beepExit     bool
	kicked       chan struct{} // closed when the API removes it
	kickOnce     sync.Once
	leave        *codec.Prompt // exit tone played to the room when it leaves; nil none
	control                    // what the Conferences APIs set on it (conference_control.go)
}

// joinRequest is how a call asks to enter a room.
type joinRequest struct {
	account, name string
	party         *confParty
	max           int
	muted, deaf   bool
	enter         *codec.Prompt // entry tone for the room; nil none
	record, trim  bool
	store         recordingStore
	// events starts the status callbacks of a room this join opens; nil: none.
	events func() *conferenceEvents
	log    *slog.Logger
}

// join puts the party in the room named, opening the room if it is not live; the room's limit is
// that of the party that opened it. A full room gives ErrConferenceFull, a coach whose target is not
// in the room ErrParticipantNotFound.
func (cs *Conferences) join(r joinRequest) (*conference, error) {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	key := conferenceKey{r.account, r.name}
	cf := cs.rooms[key]
	if cf != nil {
		cf.mu.Lock()
		over := cf.ended // its last parties are leaving: a caller now opens a new conference
		cf.mu.Unlock()
		if over {
			cf = nil
		}
	}
	opened := false
	if cf == nil {
		cf = &conference{
			sid: cs.openSid(key), account: r.account, name: r.name, created: time.Now(),
			room: media.NewRoom(), max: r.max, done: make(chan struct{}), store: r.store,
			log: r.log, waitDefault: defaultWaitAudio(),
		}
		if cf.max <= 0 || cf.max > MaxConferenceParticipants {
			cf.max = MaxConferenceParticipants
		}
		opened = true
	}
	cf.mu.Lock()
	defer cf.mu.Unlock()
	if len(cf.parties) >= cf.max {
		return nil, fmt.Errorf("%w: %d participants", ErrConferenceFull, cf.max)
	}
	p := r.party
	opts := media.PartyOptions{Muted: r.muted, Deaf: r.deaf}
	if p.coachOf != "" {
		i := slices.IndexFunc(cf.parties, func(q *confParty) bool { return q.callSid == p.coachOf })
		if i < 0 {
			return nil, fmt.Errorf("%w: coach: no participant %s", ErrParticipantNotFound, p.coachOf)
		}
		opts.CoachOf = cf.parties[i].sess
	}
	// Twilio's rule: a conference starts (mixes) once two parties are in and one of them starts it;
	// until then every party hears its wait audio.
	starts := !cf.started && len(cf.parties) >= 1 && (p.startOnEnter || slices.ContainsFunc(cf.parties, func(q *confParty) bool { return q.startOnEnter }))
	if !cf.started && !starts {
		opts.Hold = p.wait
	}
	if err := cf.room.Join(p.sess, opts); err != nil {
		return nil, err
	}
	p.muted, p.deaf = r.muted, r.deaf
	cf.joins++
	p.id = cf.joins
	cf.parties = append(cf.parties, p)
	if opened {
		cs.rooms[key] = cf
		if r.events != nil {
			cf.events = r.events()
		}
	}
	if r.record {
		cf.record, cf.trim = true, r.trim
	}
	cf.post(eventJoin, p, nil)
	if starts {
		cf.started = true
		for _, q := range cf.parties {
			cf.applyHold(q)
		}
		cf.post(eventStart, nil, nil)
	}
	if cf.started && cf.record && cf.rec == nil && cf.recFinished == nil {
		cf.startRecording()
	}
	if r.enter != nil && cf.started {
		cf.room.Announce(r.enter)
	}
	return cf, nil
}

// leave takes the party out of its room. The first party with endConferenceOnExit to leave ends the
// conference for all; the last party to leave ends it too, and the room leaves the registry.
func (cs *Conferences) leave(cf *conference, p *confParty, reason string) {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	cf.mu.Lock()
	defer cf.mu.Unlock()
	i := slices.Index(cf.parties, p)
	if i < 0 {
		return
	}
	cf.room.Leave(p.sess)
	cf.parties = slices.Delete(cf.parties, i, i+1)
	cf.post(eventLeave, p, map[string]string{"ReasonParticipantLeft": reason})
	switch {
	case len(cf.parties) == 0:
		cf.end(p.callSid, "last-participant-left")
	case p.endOnExit && !cf.ended:
		cf.end(p.callSid, "participant-with-end-conference-on-exit-left")
	case p.leave != nil && !cf.ended:
		cf.room.Announce(p.leave)
	}
	if len(cf.parties) == 0 {
		cf.post(eventEnd, nil, map[string]string{"CallSidEndingConference": cf.endedBy, "ReasonConferenceEnded": cf.endReason})
		cf.events.close()
		if cs.rooms[conferenceKey{cf.account, cf.name}] == cf {
			delete(cs.rooms, conferenceKey{cf.account, cf.name})
			cs.roomClosed(cf)
		}
	}
}

// end marks the conference over: every party's wait ends (done) and the recording is finished now,
// so that each party's Dial action reports it. cf.mu is held.
func (cf *conference) end(by, reason string) {
	if cf.ended {
		return
	}
	cf.ended, cf.endedBy, cf.endReason = true, by, reason
	close(cf.done)
	if cf.rec == nil {
		return
	}
	// Finished off the locks: closing (and trimming) a long recording touches the disk, and no
	// join or API call anywhere should wait for that.
	rec, trim, done := cf.rec, cf.trim, make(chan struct{})
	cf.rec, cf.recFinished = nil, done
	go func() {
		cf.recResult = rec.finish(cf, trim)
		close(done)
	}()
}

// applyHold sets what the party hears: its wait audio while the conference has not started, the
// default hold audio while the API holds it, else the room. cf.mu is held.
func (cf *conference) applyHold(p *confParty) {
	var wait *codec.Prompt
	switch {
	case p.announcing != nil:
		wait = p.announcing
	case p.hold && p.holdAudio != nil:
		wait = p.holdAudio
	case p.hold:
		wait = cf.waitDefault
	case !cf.started:
		wait = p.wait
	}
	_ = cf.room.SetHold(p.sess, wait)
}

// setWait makes w the party's wait audio, heard at once while the conference has not started: a room
// leg's waitUrl, which the hosting node fetches once the party is in (conference_cluster.go). A party
// that left already is left alone.
func (cf *conference) setWait(p *confParty, w *codec.Prompt) {
	cf.mu.Lock()
	defer cf.mu.Unlock()
	if !slices.Contains(cf.parties, p) {
		return
	}
	p.wait = w
	cf.applyHold(p)
}

// finished returns the conference's recording once it ended (zero before, or without one), waiting
// for its file to be finished.
func (cf *conference) finished() recordingResult {
	cf.mu.Lock()
	ended, done := cf.ended, cf.recFinished
	cf.mu.Unlock()
	if !ended || done == nil {
		return recordingResult{}
	}
	<-done
	return cf.recResult
}

func newConferenceSid() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return "CF" + hex.EncodeToString(b[:])
}

// defaultWaitAudio is what a party waiting for the conference to start hears when its document names
// no waitUrl, in place of Twilio's hold music: a soft two-note chime (440 Hz then 660 Hz, 300 ms each
// at -26 dBFS) every 4 s, generated here, so no file is needed and nothing is fetched. Like the two
// prompts below it is made once and shared by every room and party (a prompt is read-only once made):
// one per party was 80 KB each.
var defaultWaitAudio = sync.OnceValue(func() *codec.Prompt {
	const amp = 0.05
	pcm := codec.Tone(440, 300*time.Millisecond, amp)
	pcm = append(pcm, codec.Tone(660, 300*time.Millisecond, amp)...)
	pcm = append(pcm, make([]int16, 3400*codec.SampleRate/1000)...)
	return codec.NewPrompt(pcm)
})

// silentWait is the wait audio of an empty waitUrl: one frame of silence, looped.
var silentWait = sync.OnceValue(func() *codec.Prompt { return codec.NewPrompt(make([]int16, codec.FrameSamples)) })

// beepPrompt is the entry and exit tone: 250 ms of 1,400 Hz at -14 dBFS, Twilio-like.
var beepPrompt = sync.OnceValue(func() *codec.Prompt { return codec.NewPrompt(codec.Tone(1400, 250*time.Millisecond, 0.2)) })

// started reports whether the account's room name is live and mixing: a caller joining it will not
// wait, so its wait audio need not be fetched.
func (cs *Conferences) started(account, name string) bool {
	cs.mu.Lock()
	cf := cs.rooms[conferenceKey{account, name}]
	cs.mu.Unlock()
	if cf == nil {
		return false
	}
	cf.mu.Lock()
	defer cf.mu.Unlock()
	return cf.started && !cf.ended
}

// ConferenceInfo is a live conference as the Conferences API lists it.
type ConferenceInfo struct {
	Sid          string // CF + 32 hex digits
	AccountID    string
	FriendlyName string
	Status       string // ConferenceInit or ConferenceInProgress
	Created      time.Time
	Participants []ParticipantInfo
}

// ParticipantInfo is one party of a live conference.
type ParticipantInfo struct {
	CallSid                string
	Muted, Hold, Coaching  bool
	CallSidToCoach         string
	StartConferenceOnEnter bool
	EndConferenceOnExit    bool
	Joined                 time.Time
	ID                     int  // its order of joining, from 1 (Kazoo's participant_id)
	Deaf                   bool // hears nothing of the room (Kazoo's deaf)
	BeepOnExit             bool
	Moderator              bool // joined as the room's moderator (Kazoo's is_moderator)
}

// List returns the account's live conferences, oldest first.
func (cs *Conferences) List(accountID string) []ConferenceInfo {
	cs.mu.Lock()
	var rooms []*conference
	for k, cf := range cs.rooms {
		if k.account == accountID {
			rooms = append(rooms, cf)
		}
	}
	cs.mu.Unlock()
	out := make([]ConferenceInfo, 0, len(rooms))
	for _, cf := range rooms {
		out = append(out, cf.info())
	}
	slices.SortFunc(out, func(a, b ConferenceInfo) int { return a.Created.Compare(b.Created) })
	return out
}

// Get returns the account's live conference sid.
func (cs *Conferences) Get(accountID, sid string) (ConferenceInfo, error) {
	cf, err := cs.find(accountID, sid)
	if err != nil {
		return ConferenceInfo{}, err
	}
	return cf.info(), nil
}

// SetMuted mutes or unmutes the party callSid of the account's conference sid.
func (cs *Conferences) SetMuted(accountID, sid, callSid string, muted bool) error {
	return cs.steer(accountID, sid, callSid, func(cf *conference, p *confParty) {
		if p.muted == muted {
			return
		}
		p.muted = muted
		_ = cf.room.SetMuted(p.sess, muted)
		cf.post(eventMute, p, nil)
	})
}

// SetHold puts the party callSid of the account's conference sid on hold (it hears pivotua's default
// wait audio and is heard by no one) or takes it off.
func (cs *Conferences) SetHold(accountID, sid, callSid string, hold bool) error {
	return cs.steer(accountID, sid, callSid, func(cf *conference, p *confParty) {
		if p.hold == hold {
			return
		}
		p.hold = hold
		cf.applyHold(p)
		cf.post(eventHold, p, nil)
	})
}

// Kick removes the party callSid from the account's conference sid: its call goes on with its Dial's
// action (or the next verb), as Twilio's participant DELETE does.
func (cs *Conferences) Kick(accountID, sid, callSid string) error {
	return cs.steer(accountID, sid, callSid, func(_ *conference, p *confParty) {
		p.kickOnce.Do(func() { close(p.kicked) })
	})
}

// End ends the account's conference sid for all its parties (Twilio's Status=completed): each goes on
// with its Dial's action or its module's next node.
func (cs *Conferences) End(accountID, sid string) error {
	cf, err := cs.find(accountID, sid)
	if err != nil {
		return err
	}
	cf.mu.Lock()
	defer cf.mu.Unlock()
	cf.end("", "conference-ended-via-api")
	return nil
}

func (cs *Conferences) find(accountID, sid string) (*conference, error) {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	for k, cf := range cs.rooms {
		if k.account == accountID && cf.sid == sid {
			return cf, nil
		}
	}
	return nil, ErrConferenceNotFound
}

func (cs *Conferences) steer(accountID, sid, callSid string, fn func(*conference, *confParty)) error {
	cf, err := cs.find(accountID, sid)
	if err != nil {
		return err
	}
	cf.mu.Lock()
	defer cf.mu.Unlock()
	i := slices.IndexFunc(cf.parties, func(q *confParty) bool { return q.callSid == callSid })
	if i < 0 || cf.ended {
		return ErrParticipantNotFound
	}
	fn(cf, cf.parties[i])
	return nil
}

func (cf *conference) info() ConferenceInfo {
	cf.mu.Lock()
	defer cf.mu.Unlock()
	ci := ConferenceInfo{Sid: cf.sid, AccountID: cf.account, FriendlyName: cf.name, Status: ConferenceInit, Created: cf.created}
	if cf.started {
		ci.Status = ConferenceInProgress
	}
	for _, p := range cf.parties {
		ci.Participants = append(ci.Participants, ParticipantInfo{
			CallSid: p.callSid, Muted: p.muted, Hold: p.hold, Coaching: p.coachOf != "", CallSidToCoach: p.coachOf,
			StartConferenceOnEnter: p.startOnEnter, EndConferenceOnExit: p.endOnExit, Joined: p.joined,
			ID: p.id, Deaf: p.deaf, BeepOnExit: p.leave != nil, Moderator: p.moderator,
		})
	}
	return ci
}

// Twilio's conference status callback events (StatusCallbackEvent) and the statusCallbackEvent
// words that select them.
const (
	eventStart = "conference-start"
	eventEnd   = "conference-end"
	eventJoin  = "participant-join"
	eventLeave = "participant-leave"
	eventMute  = "participant-mute" // participant-unmute when unmuted
	eventHold  = "participant-hold" // participant-unhold
)

// conferenceEventWords maps statusCallbackEvent's words to the events they select.
var conferenceEventWords = map[string]string{
	"start": eventStart, "end": eventEnd, "join": eventJoin, "leave": eventLeave, "mute": eventMute, "hold": eventHold,
}

// conferenceEvents posts a conference's status callbacks in order through a callbackPoster: each a
// signed TwiML-style request (as the pivot's) with Twilio's parameters. A nil *conferenceEvents posts
// nothing.
type conferenceEvents struct {
	want   map[string]bool // selected events (eventMute stands for unmute too, eventHold for unhold)
	seq    int             // SequenceNumber of the last event; guarded by the conference's mu
	req    httpfetch.PivotRequest
	poster *callbackPoster
	closed bool
}

// newConferenceEvents starts the poster of req's URL for the events selected; req carries the
// signing key, method and timeout of the call that named it.
func newConferenceEvents(req httpfetch.PivotRequest, want map[string]bool, fetch DocumentFetcher, log *slog.Logger) *conferenceEvents {
	return &conferenceEvents{want: want, req: req, poster: newCallbackPoster(callbackPosterConfig{
		fetch: fetch, what: "<Conference> statusCallback", log: log, queue: conferenceEventQueue,
	})}
}

// post queues event about party p (nil for the conference's own) with extra parameters. cf.mu is
// held, which orders the sequence numbers.
func (cf *conference) post(event string, p *confParty, extra map[string]string) {
	ev := cf.events
	if ev == nil || ev.closed {
		return
	}
	name := event
	switch {
	case event == eventMute && p != nil && !p.muted:
		name = "participant-unmute"
	case event == eventHold && p != nil && !p.hold:
		name = "participant-unhold"
	}
	if !ev.want[event] {
		return
	}
	ev.seq++
	vars := map[string]string{
		"ConferenceSid": cf.sid, "FriendlyName": cf.name, "StatusCallbackEvent": name,
		"SequenceNumber": strconv.Itoa(ev.seq), "Timestamp": time.Now().UTC().Format(time.RFC1123Z),
	}
	if p != nil {
		vars["CallSid"] = p.callSid
		vars["Muted"] = strconv.FormatBool(p.muted)
		vars["Hold"] = strconv.FormatBool(p.hold)
		vars["Coaching"] = strconv.FormatBool(p.coachOf != "")
		vars["StartConferenceOnEnter"] = strconv.FormatBool(p.startOnEnter)
		vars["EndConferenceOnExit"] = strconv.FormatBool(p.endOnExit)
		if p.coachOf != "" {
			vars["CallSidToCoach"] = p.coachOf
		}
	}
	for k, v := range extra {
		if v != "" {
			vars[k] = v
		}
	}
	r := ev.req
	r.Params = httpfetch.CallParams{AccountID: ev.req.Params.AccountID, CallID: vars["CallSid"]}
	delete(vars, "CallSid")
	r.Params.Variables = vars
	ev.poster.post(callbackPost{event: name, req: r, callID: r.Params.CallID}) // a full queue drops it, logged
}

// close ends the poster once what is queued is sent. cf.mu is held.
func (ev *conferenceEvents) close() {
	if ev == nil || ev.closed {
		return
	}
	ev.closed = true
	ev.poster.close()
}

// recordingStore is where a conference's recording is written and how it is served: the Deps of the
// call that opened the room.
type recordingStore struct {
	dir      string
	links    RecordingLinker
	observer Observer
}

// conferenceRecording is a room's mixed recording in progress (record-from-start).
type conferenceRecording struct {
	rec     *media.RoomRecording
	file    wavFile
	path    string
	name    string
	started time.Time
}

// startRecording records the room to recordings/<account>/<sid>-<time>.wav from now. cf.mu is held.
func (cf *conference) startRecording() {
	dir := filepath.Join(cf.store.dir, cf.account)
	if err := os.MkdirAll(dir, 0o750); err != nil {
		cf.log.Error("conference recording: folder", "conference_sid", cf.sid, "err", err)
		return
	}
	name := fmt.Sprintf("%s-%d.wav", cf.sid, time.Now().UnixNano())
	path := filepath.Join(dir, name)
	w, err := createWAVChannels(path, 1)
	if err != nil {
		cf.log.Error("conference recording: create", "conference_sid", cf.sid, "err", err)
		return
	}
	rec, err := cf.room.Record(w)
	if err != nil {
		_ = w.Close()
		_ = os.Remove(path)
		cf.log.Error("conference recording: start", "conference_sid", cf.sid, "err", err)
		return
	}
	cf.rec = &conferenceRecording{rec: rec, file: w, path: path, name: name, started: time.Now()}
}

// finish stops the recording, trims it when asked and returns what the Dial actions report. A
// recording that could not be written is removed. It reads only cf's immutable fields.
func (r *conferenceRecording) finish(cf *conference, trim bool) recordingResult {
	samples, err := r.rec.Stop()
	if cerr := r.file.Close(); err == nil {
		err = cerr
	}
	if err == nil && trim {
		samples, err = trimWAVSilence(r.path, samples)
	}
	if err != nil {
		_ = os.Remove(r.path)
		cf.log.Error("conference recording failed and removed", "conference_sid", cf.sid, "file", r.path, "err", err)
		if cf.store.observer != nil {
			cf.store.observer.RecordingFailed()
		}
		return recordingResult{}
	}
	url := "file://" + r.path
	if cf.store.links != nil {
		url = cf.store.links.RecordingURL(cf.account, r.name)
	}
	if cf.store.observer != nil {
		cf.store.observer.RecordingSaved()
	}
	seconds := int(samples / codec.SampleRate)
	cf.log.Info("conference recording saved", "conference_sid", cf.sid, "path", r.path, "seconds", seconds)
	return recordingResult{url: url, duration: seconds}
}

// trimLevel is the sample level below which the ends of a conference recording count as silence
// (about -40 dBFS); trimMargin of it is kept on each side.
const trimLevel = 330

// trimWAVSilence cuts the silence before the first and after the last sound out of a mono WAV of
// samples samples written by codec.CreateWAV; a recording without sound is left as it is. It reads
// the file twice in blocks, never whole.
func trimWAVSilence(path string, samples int64) (int64, error) {
	src, err := os.Open(path)
	if err != nil {
		return samples, err
	}
	defer src.Close()
	first, last := int64(-1), int64(-1)
	buf := make([]byte, 64*1024)
	for off := int64(0); off < samples; {
		n, err := src.ReadAt(buf[:min(int64(len(buf)), 2*(samples-off))], wavHeaderSize+2*off)
		for i := 0; i+1 < n; i += 2 {
			v := int16(binary.LittleEndian.Uint16(buf[i:]))
			if v > trimLevel || v < -trimLevel {
				if first < 0 {
					first = off + int64(i/2)
				}
				last = off + int64(i/2)
			}
		}
		off += int64(n / 2)
		if err != nil || n < 2 {
			break
		}
	}
	if first < 0 {
		return samples, nil
	}
	margin := int64(trimMargin * codec.SampleRate / time.Second)
	from, to := max(0, first-margin), min(samples, last+1+margin)
	if from == 0 && to == samples {
		return samples, nil
	}
	tmp := path + ".trim"
	os.Remove(tmp)
	w, err := codec.CreateWAV(tmp, codec.SampleRate)
	if err != nil {
		return samples, err
	}
	_, err = io.Copy(w, io.NewSectionReader(src, wavHeaderSize+2*from, 2*(to-from)))
	if cerr := w.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		os.Remove(tmp)
		return samples, fmt.Errorf("trim %s: %w", path, err)
	}
	return to - from, nil
}

// conferenceSpec is one call's entry in a room, from <Conference> or the conference module.
type conferenceSpec struct {
	name                    string
	muted, deaf             bool
	beepEnter, beepExit     bool
	startOnEnter, endOnExit bool
	moderator               bool          // the conference module's moderator
	wait                    *codec.Prompt // while the room has not started; nil: pivotua's default
	waitURL, waitMethod     string        // the absolute waitUrl that gave wait: another node hosting the room fetches it
	max                     int           // for a room this call opens
	record, trim            bool
	coach                   string // CallSid of the party to coach
	events                  func() *conferenceEvents
	hangupOnStar            bool
	timeLimit               time.Duration
}

// conferenceResult is how a call's time in a room ended.
type conferenceResult struct {
	status       string // completed, or failed when it could not join
	duration     int    // seconds in the room
	callerHungUp bool
}

// Reasons a party left (ReasonParticipantLeft).
const (
	leftHungUp   = "participant_hung_up"
	leftRemoved  = "participant_removed_via_api"
	leftEnded    = "conference_ended"
	leftStar     = "participant_pressed_star"
	leftTimeUp   = "participant_time_limit"
	leftFlowDone = "participant_updated_via_api"
)

// callSid is the CallSid the call's webhooks see: its Call-ID, or the API's sid for a call the Calls
// API placed (pivotRequest).
func (c *Call) callSid() string {
	if c.ctl != nil && c.ctl.direction == DirectionOutboundAPI {
		return c.ctl.sid
	}
	return c.info.CallID
}

// runConference puts the caller in the room spec names until the conference ends, the caller hangs
// up, presses * (hangupOnStar), the time limit passes or the API removes it. It runs on the call's
// goroutine.
func (c *Call) runConference(ctx context.Context, spec conferenceSpec, verb string) conferenceResult {
	res := conferenceResult{status: "failed"}
	bc := c.ch.Bridge()
	if bc == nil || c.deps.Conferences == nil {
		c.log.Warn(verb + ": no conference rooms on this channel")
		return res
	}
	if err := c.answer(ctx); err != nil {
		res.callerHungUp = true
		return res
	}
	// Several nodes: a room another node hosts is reached by a SIP leg to it (conference_cluster.go).
	if host := c.deps.Conferences.claimRoom(ctx, c.accountID, spec.name, c.log); host != "" {
		if res, ok := c.joinRemoteRoom(ctx, spec, verb, host); ok {
			return res
		}
	}
	p := &confParty{callSid: c.callSid(), sess: bc.Session(), joined: time.Now(), wait: spec.wait,
		startOnEnter: spec.startOnEnter, endOnExit: spec.endOnExit, moderator: spec.moderator, coachOf: spec.coach, kicked: make(chan struct{}),
		control: control{tasks: make(chan func(context.Context), partyTasks), call: c}}
	if p.wait == nil {
		p.wait = defaultWaitAudio()
	}
	req := joinRequest{account: c.accountID, name: spec.name, party: p, max: spec.max, muted: spec.muted, deaf: spec.deaf,
		record: spec.record, trim: spec.trim, events: spec.events, log: c.log,
		store: recordingStore{dir: c.deps.Recordings, links: c.deps.RecordingLinks, observer: c.deps.Observer}}
	if spec.beepEnter {
		req.enter = beepPrompt()
	}
	if spec.beepExit {
		p.leave = beepPrompt()
	}
	cf, err := c.deps.Conferences.join(req)
	if err != nil {
		c.log.Warn(verb+": cannot join", "conference", spec.name, "err", err)
		c.event(EventDial, map[string]any{"verb": verb, "status": res.status, "conference": spec.name, "reason": err.Error()})
		return res
	}
	c.activity++
	c.log.Info(verb+": joined", "conference", spec.name, "conference_sid", cf.sid)
	var reason string
	reason, res.callerHungUp = c.stayInRoom(ctx, spec, cf.done, p.kicked, p.tasks)
	c.deps.Conferences.leave(cf, p, reason)
	res.status, res.duration = "completed", int(time.Since(p.joined).Round(time.Second)/time.Second)
	if r := cf.finished(); r.url != "" {
		c.rec.last = r
	}
	c.log.Info(verb+": left", "conference", spec.name, "conference_sid", cf.sid, "reason", reason, "duration", res.duration)
	c.event(EventDial, map[string]any{"verb": verb, "status": res.status, "conference": spec.name, "conference_sid": cf.sid,
		"duration": res.duration, "reason": reason})
	return res
}

// stayInRoom waits while the caller is in a room and says why it left: the caller hung up or the flow
// ended (callerHungUp), the room ended (ended), the API removed the party (kicked), its timeLimit, or
// '*' with hangupOnStar. Meanwhile it runs the API's tasks for the party. A party in a room on another
// node has no kicked or tasks (nil): its leg ending is ended.
func (c *Call) stayInRoom(ctx context.Context, spec conferenceSpec, ended, kicked <-chan struct{},
	tasks <-chan func(context.Context)) (reason string, callerHungUp bool) {
	var limit <-chan time.Time
	if spec.timeLimit > 0 {
		t := time.NewTimer(spec.timeLimit)
		defer t.Stop()
		limit = t.C
	}
	digits := c.ch.Digits()
	for {
		select {
		case <-c.ch.Context().Done():
			return leftHungUp, true
		case <-ctx.Done():
			return leftFlowDone, true
		case <-ended:
			return leftEnded, false
		case <-kicked:
			return leftRemoved, false
		case <-limit:
			return leftTimeUp, false
		case k := <-digits:
			if k == '*' && spec.hangupOnStar {
				return leftStar, false
			}
		case task := <-tasks:
			c.runPartyTask(ctx, task)
		}
	}
}
