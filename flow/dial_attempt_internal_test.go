package flow

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pivotua/pivotua/codec"
	"github.com/pivotua/pivotua/media"
	"github.com/pivotua/pivotua/sip"
)

// These tests drive a Dial attempt (dial_attempt.go) through the interfaces of dial_deps.go with
// fakes: no sockets, no engine, and no sleeps for timing. Every step the attempt takes shows on a
// channel the test waits on; await's guard only turns a hang into a failure.

// awaitGuard is how long a test waits for what must happen before it calls it a hang.
const awaitGuard = 5 * time.Second

func await[T any](t *testing.T, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(awaitGuard):
		t.Fatalf("%s: did not happen", what)
		panic("unreachable")
	}
}

// fakeParty is a party's media: the ringbacks it is played and the recordings of it.
type fakeParty struct {
	name   string
	played chan struct{} // a ringback started playing (buffered)

	mu      sync.Mutex
	playing int
	keys    []string
	recs    []*fakeRecording
}

func newFakeParty(name string) *fakeParty {
	return &fakeParty{name: name, played: make(chan struct{}, 16)}
}

func (p *fakeParty) Play(ctx context.Context, _ *codec.Prompt) error {
	p.mu.Lock()
	p.playing++
	p.mu.Unlock()
	p.played <- struct{}{}
	<-ctx.Done()
	p.mu.Lock()
	p.playing--
	p.mu.Unlock()
	return ctx.Err()
}

func (p *fakeParty) SendDigits(_ context.Context, digits string, _ time.Duration) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.keys = append(p.keys, digits)
	return nil
}

func (p *fakeParty) RecordBothWays(io.Writer, bool) (Recording, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	r := &fakeRecording{}
	p.recs = append(p.recs, r)
	return r, nil
}

func (p *fakeParty) session() *media.Session { return nil }

func (p *fakeParty) ringbacks() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.playing
}

type fakeRecording struct {
	mu      sync.Mutex
	stopped bool
}

func (r *fakeRecording) Stop() (int64, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.stopped = true
	return 0, nil
}

func (r *fakeRecording) isStopped() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.stopped
}

// fakeBridge is two parties joined.
type fakeBridge struct {
	a, b dialParty

	mu      sync.Mutex
	stopped bool
	recs    []*fakeRecording
}

func (b *fakeBridge) Stop() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.stopped = true
}

func (b *fakeBridge) Record(io.Writer, bool) (Recording, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	r := &fakeRecording{}
	b.recs = append(b.recs, r)
	return r, nil
}

func (b *fakeBridge) isStopped() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.stopped
}

func (b *fakeBridge) joins(x, y dialParty) bool { return b.a == x && b.b == y }

// fakeDialog is an answered leg's dialog.
type fakeDialog struct {
	callID string
	md     sip.MediaDesc

	mu       sync.Mutex
	digit    func(byte)
	transfer func(*sip.Transfer) bool
}

func (d *fakeDialog) CallID() string                    { return d.callID }
func (d *fakeDialog) Media() sip.MediaDesc              { return d.md }
func (d *fakeDialog) OnMediaChange(func(sip.MediaDesc)) {}

func (d *fakeDialog) OnDigit(fn func(byte)) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.digit = fn
}

func (d *fakeDialog) OnTransfer(fn func(*sip.Transfer) bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.transfer = fn
}

func (d *fakeDialog) transferring() bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.transfer != nil
}

// fakeLeg is an outbound leg: ring hands the test its INVITE (ringing) and waits for the outcome
// the test sends (nil: answered) or for the attempt to call it off.
type fakeLeg struct {
	t       dialEndpoint
	p       *fakeParty
	ringing chan sip.OutboundRequest
	outcome chan error
	hungUp  chan struct{} // closed by the test: the callee hangs up
	ended   chan struct{} // closed at the leg's first close or end
	connect bool          // what its noun's document decides (runDocument)
	final   sip.MediaDesc // the media of its 200

	mu       sync.Mutex
	dlg      *fakeDialog
	canceled bool // ring's context ended before an outcome
	endErr   error
	closes   int
	media    []sip.MediaDesc
	ev       *legCallbacks
	endOnce  sync.Once
}

func (l *fakeLeg) endpoint() *dialEndpoint { return &l.t }
func (l *fakeLeg) party() dialParty        { return l.p }

func (l *fakeLeg) ring(ctx context.Context, req sip.OutboundRequest) error {
	l.ringing <- req
	select {
	case err := <-l.outcome:
		if err == nil {
			l.mu.Lock()
			l.dlg = &fakeDialog{callID: "leg-" + l.p.name, md: l.final}
			l.mu.Unlock()
		}
		return err
	case <-ctx.Done():
		l.mu.Lock()
		l.canceled = true
		l.mu.Unlock()
		return fmt.Errorf("%s: %w", l.t.uri, sip.ErrCanceled)
	}
}

func (l *fakeLeg) dialog() dialDialog {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.dlg == nil {
		return nil
	}
	return l.dlg
}

func (l *fakeLeg) startMedia(md sip.MediaDesc) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.media = append(l.media, md)
	return nil
}

func (l *fakeLeg) done() <-chan struct{} { return l.hungUp }

func (l *fakeLeg) close() {
	l.mu.Lock()
	l.closes++
	l.mu.Unlock()
	l.endOnce.Do(func() { close(l.ended) })
}

func (l *fakeLeg) end(err error) {
	l.mu.Lock()
	l.endErr = err
	l.mu.Unlock()
	l.close()
}

func (l *fakeLeg) events() *legCallbacks      { return l.ev }
func (l *fakeLeg) setEvents(lc *legCallbacks) { l.ev = lc }

func (l *fakeLeg) runDocument(context.Context, *Call, string, string) bool { return l.connect }

// state is what the test checks once the leg is over.
func (l *fakeLeg) state() (canceled bool, endErr error, closes int, media []sip.MediaDesc) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.canceled, l.endErr, l.closes, append([]sip.MediaDesc(nil), l.media...)
}

// fakeLegs opens the test's legs by URI and joins parties.
type fakeLegs struct {
	legs    map[string]*fakeLeg
	openErr map[string]error
	bridged chan *fakeBridge // every bridge made (buffered)

	mu      sync.Mutex
	opened  []*fakeLeg
	bridges []*fakeBridge
}

func (f *fakeLegs) open(t dialEndpoint) (dialLeg, netip.AddrPort, error) {
	if err := f.openErr[t.uri]; err != nil {
		return nil, netip.AddrPort{}, err
	}
	l := f.legs[t.uri]
	f.mu.Lock()
	f.opened = append(f.opened, l)
	f.mu.Unlock()
	return l, netip.MustParseAddrPort("127.0.0.1:40000"), nil
}

// bridge refuses a party still in a bridge, as media.NewBridge does (ErrBusy).
func (f *fakeLegs) bridge(a, b dialParty) (dialBridge, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, br := range f.bridges {
		if !br.isStopped() && (br.a == a || br.b == a || br.a == b || br.b == b) {
			return nil, media.ErrBusy
		}
	}
	br := &fakeBridge{a: a, b: b}
	f.bridges = append(f.bridges, br)
	f.bridged <- br
	return br, nil
}

func (f *fakeLegs) made() []*fakeBridge {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]*fakeBridge(nil), f.bridges...)
}

// fakeClock is the Dial's time: it moves when the test says, and its timer fires when the test says.
type fakeClock struct {
	armed chan time.Duration // a timer was set (buffered)

	mu    sync.Mutex
	now   time.Time
	timer chan time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) NewTimer(d time.Duration) (<-chan time.Time, func() bool) {
	c.mu.Lock()
	c.timer = make(chan time.Time, 1)
	fire := c.timer
	c.mu.Unlock()
	c.armed <- d
	return fire, func() bool { return true }
}

func (c *fakeClock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

func (c *fakeClock) fire() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.timer <- c.now
}

// fakeCaller is the inbound call a Dial runs on: its Channel and its BridgeLeg.
type fakeCaller struct {
	Channel // what a Dial does not use: nil, so a call of it fails the test loudly
	ctx     context.Context
	hangup  context.CancelFunc
	digits  chan byte
	waiting chan struct{} // the attempt took the caller's keys: it is bridged and waiting (buffered)

	mu        sync.Mutex
	answered  bool
	rang      int
	earlies   int
	infoRelay func(byte)
	transfer  func(*sip.Transfer) bool
}

var _ BridgeLeg = (*fakeCaller)(nil)

func (f *fakeCaller) Info() CallInfo {
	return CallInfo{CallID: "caller@test", CallerIDNumber: "+15550001"}
}
func (f *fakeCaller) Context() context.Context { return f.ctx }
func (f *fakeCaller) Bridge() BridgeLeg        { return f }
func (f *fakeCaller) Session() *media.Session  { return nil }

func (f *fakeCaller) Digits() <-chan byte {
	f.waiting <- struct{}{}
	return f.digits
}

func (f *fakeCaller) Ring() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.rang++
	return nil
}

func (f *fakeCaller) Answer(context.Context) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.answered = true
	return nil
}

func (f *fakeCaller) EarlyMedia(context.Context) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.earlies++
	return nil
}

func (f *fakeCaller) RelayInfoDigits(fn func(byte)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.infoRelay = fn
}

func (f *fakeCaller) OnTransfer(fn func(*sip.Transfer) bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.transfer = fn
}

func (f *fakeCaller) relaying() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.infoRelay != nil || f.transfer != nil
}

// dialRig is one Dial attempt on fakes.
type dialRig struct {
	t      *testing.T
	c      *Call
	ch     *fakeCaller
	caller *fakeParty
	legs   *fakeLegs
	clock  *fakeClock
	plan   dialPlan
	result chan dialResult
}

// newDialRig prepares a Dial of targets (their SIP URIs); the test adjusts plan before start.
func newDialRig(t *testing.T, targets ...string) *dialRig {
	ctx, hangup := context.WithCancel(context.Background())
	t.Cleanup(hangup)
	r := &dialRig{
		t:      t,
		ch:     &fakeCaller{ctx: ctx, hangup: hangup, digits: make(chan byte), waiting: make(chan struct{}, 4)},
		caller: newFakeParty("caller"),
		legs:   &fakeLegs{legs: map[string]*fakeLeg{}, openErr: map[string]error{}, bridged: make(chan *fakeBridge, 16)},
		clock:  &fakeClock{armed: make(chan time.Duration, 4), now: time.Unix(1_700_000_000, 0)},
		plan:   dialPlan{timeout: 30 * time.Second},
		result: make(chan dialResult, 1),
	}
	for _, uri := range targets {
		r.legs.legs[uri] = &fakeLeg{
			t: dialEndpoint{uri: uri}, p: newFakeParty(uri), ringing: make(chan sip.OutboundRequest, 1),
			outcome: make(chan error, 1), hungUp: make(chan struct{}), ended: make(chan struct{}), connect: true,
			final: sip.MediaDesc{Addr: netip.MustParseAddrPort("192.0.2.1:30000")},
		}
		r.plan.targets = append(r.plan.targets, dialEndpoint{uri: uri})
	}
	r.c = NewCall(r.ch, "acct", "key", Deps{Logger: slog.New(slog.DiscardHandler), Recordings: t.TempDir()})
	return r
}

func (r *dialRig) leg(uri string) *fakeLeg { return r.legs.legs[uri] }

// start runs the attempt on a goroutine of its own, as the call's goroutine would.
func (r *dialRig) start() {
	env := dialEnv{caller: r.caller, legs: r.legs, clock: r.clock}
	go func() { r.result <- r.c.attemptDial(context.Background(), r.plan, r.ch, env) }()
}

// ringingAll waits until every target has its INVITE.
func (r *dialRig) ringingAll() map[string]sip.OutboundRequest {
	reqs := map[string]sip.OutboundRequest{}
	for uri, l := range r.legs.legs {
		if r.legs.openErr[uri] == nil {
			reqs[uri] = await(r.t, l.ringing, uri+" rings")
		}
	}
	return reqs
}

func (r *dialRig) done() dialResult {
	r.t.Helper()
	return await(r.t, r.result, "the Dial returns")
}

// undone checks that the attempt left nothing behind: every leg it opened is hung up or ended and no
// longer rings, every bridge and recording is stopped, no ringback plays, no relay is set, and no
// goroutine of it is left.
func (r *dialRig) undone() {
	t := r.t
	t.Helper()
	for _, l := range r.legs.opened {
		await(t, l.ended, l.t.uri+" is hung up or ended")
		if d, ok := l.dialog().(*fakeDialog); ok && d.transferring() {
			t.Errorf("%s: still hands its REFERs to the Dial", l.t.uri)
		}
	}
	for i, br := range r.legs.made() {
		if !br.isStopped() {
			t.Errorf("bridge %d left running", i)
		}
		for _, rec := range br.recs {
			if !rec.isStopped() {
				t.Errorf("bridge %d: its recording was left running", i)
			}
		}
	}
	for _, rec := range r.caller.recs {
		if !rec.isStopped() {
			t.Error("the caller's recording was left running")
		}
	}
	if n := r.caller.ringbacks(); n != 0 {
		t.Errorf("%d ringbacks still play to the caller", n)
	}
	if r.ch.relaying() {
		t.Error("the caller's INFO keys or REFERs are still relayed")
	}
	// The legs' dials end once called off; what is left of the attempt ends with them.
	deadline := time.Now().Add(awaitGuard)
	for left := dialGoroutines(); len(left) > 0; left = dialGoroutines() {
		if time.Now().After(deadline) {
			t.Fatalf("%d goroutines of the Dial left:\n%s", len(left), strings.Join(left, "\n\n"))
		}
		runtime.Gosched()
		time.Sleep(time.Millisecond)
	}
}

// dialMarks name the goroutines a Dial attempt starts (or the test starts for it).
var dialMarks = []string{"flow.(*dialAttempt)", "flow.startKeySender", "flow.startRingback", "flow.reapDialLegs",
	"flow.(*transfers)", "flow.startTapRecording", "flow.(*dialRig)", "flow.(*fakeLeg)"}

// dialGoroutines are the stacks of the goroutines of Dial attempts still running: counted by what
// they run, so goroutines other tests leave behind do not count.
func dialGoroutines() []string {
	buf := make([]byte, 1<<20)
	var left []string
	for _, g := range strings.Split(string(buf[:runtime.Stack(buf, true)]), "\n\n") {
		if strings.Contains(g, "dialGoroutines") { // this one
			continue
		}
		for _, m := range dialMarks {
			if strings.Contains(g, m) {
				left = append(left, g)
				break
			}
		}
	}
	return left
}

// The first target to answer is bridged to the caller; every other target still ringing is
// cancelled at once, not when the bridge ends.
func TestDialAttemptFirstAnswerWinsAndTheOthersAreCancelled(t *testing.T) {
	r := newDialRig(t, "sip:a@192.0.2.1", "sip:b@192.0.2.2", "sip:c@192.0.2.3")
	r.start()
	reqs := r.ringingAll()
	for uri, req := range reqs {
		if req.Target != uri || req.FromUser != "+15550001" || req.RingTimeout != 30*time.Second {
			t.Errorf("%s: INVITE %+v", uri, req)
		}
	}
	b := r.leg("sip:b@192.0.2.2")
	b.outcome <- nil
	br := await(t, r.legs.bridged, "the bridge")
	if !br.joins(r.caller, b.p) {
		t.Fatalf("bridged %v to %v, want the caller to b", br.a, br.b)
	}
	for _, uri := range []string{"sip:a@192.0.2.1", "sip:c@192.0.2.3"} {
		l := r.leg(uri)
		await(t, l.ended, uri+" cancelled while the winner is bridged")
		if canceled, err, _, _ := l.state(); !canceled || !errors.Is(err, sip.ErrCanceled) {
			t.Errorf("%s: canceled %v, ended by %v; want CANCEL", uri, canceled, err)
		}
	}
	await(t, r.ch.waiting, "the bridge waits")
	close(b.hungUp)
	res := r.done()
	if res.status != "completed" || res.sid != "leg-sip:b@192.0.2.2" || res.callerHungUp {
		t.Errorf("result %+v, want completed with b's Call-ID", res)
	}
	if canceled, _, closes, media := b.state(); canceled || closes == 0 || len(media) != 1 || media[0] != b.final {
		t.Errorf("winner: canceled %v, closes %d, media %v", canceled, closes, media)
	}
	r.undone()
}

// No target answers: DialCallStatus is busy if any was busy, else no-answer if any rang out, else
// failed (Twilio's ranking); a target that could not even be opened counts as failed.
func TestDialAttemptAllTargetsFailGiveTwiliosStatus(t *testing.T) {
	busy := fmt.Errorf("486 Busy Here: %w", sip.ErrBusy)
	noAnswer := fmt.Errorf("ring timeout: %w", sip.ErrNoAnswer)
	failed := &sip.DialError{Code: 503, Reason: "Service Unavailable"}
	for _, tc := range []struct {
		name     string
		outcomes []error // of targets t0, t1...; nil: cannot be opened
		want     string
	}{
		{"busy beats no-answer", []error{noAnswer, busy}, "busy"},
		{"no-answer beats failed", []error{failed, noAnswer}, "no-answer"},
		{"all failed", []error{failed, failed}, "failed"},
		{"unopened and rang out", []error{nil, noAnswer}, "no-answer"},
		{"none opened", []error{nil}, "failed"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var uris []string
			for i := range tc.outcomes {
				uris = append(uris, fmt.Sprintf("sip:t%d@192.0.2.%d", i, i+1))
			}
			r := newDialRig(t, uris...)
			for i, err := range tc.outcomes {
				if err == nil {
					r.legs.openErr[uris[i]] = errors.New("no RTP port")
				}
			}
			r.start()
			r.ringingAll()
			for i, err := range tc.outcomes {
				if err != nil {
					r.leg(uris[i]).outcome <- err
				}
			}
			res := r.done()
			if res.status != tc.want || res.callerHungUp || res.sid != "" {
				t.Errorf("result %+v, want %s", res, tc.want)
			}
			for i, err := range tc.outcomes {
				if _, endErr, _, _ := r.leg(uris[i]).state(); err != nil && !errors.Is(endErr, err) {
					t.Errorf("%s ended by %v, want %v", uris[i], endErr, err)
				}
			}
			if len(r.legs.made()) != 0 {
				t.Error("a failed Dial bridged the caller")
			}
			r.undone()
		})
	}
}

// The caller hangs up while the targets ring: every target is cancelled and the Dial reports
// canceled, the caller gone (no action document runs for it).
func TestDialAttemptCallerHangupCancelsEveryTarget(t *testing.T) {
	r := newDialRig(t, "sip:a@192.0.2.1", "sip:b@192.0.2.2")
	r.start()
	r.ringingAll()
	r.ch.hangup()
	res := r.done()
	if res.status != "canceled" || !res.callerHungUp {
		t.Errorf("result %+v, want canceled by the caller", res)
	}
	for uri, l := range r.legs.legs {
		await(t, l.ended, uri+" ended")
		if canceled, err, _, _ := l.state(); !canceled || !errors.Is(err, sip.ErrCanceled) {
			t.Errorf("%s: canceled %v, ended by %v", uri, canceled, err)
		}
	}
	r.undone()
}

// The callee hangs up: the Dial is completed, with the seconds it was bridged.
func TestDialAttemptCalleeHangupCompletesWithTheDuration(t *testing.T) {
	r := newDialRig(t, "sip:a@192.0.2.1")
	r.start()
	r.ringingAll()
	a := r.leg("sip:a@192.0.2.1")
	r.clock.advance(9 * time.Second) // ringing is not bridged time
	a.outcome <- nil
	await(t, r.ch.waiting, "the bridge waits")
	r.clock.advance(42*time.Second + 400*time.Millisecond)
	close(a.hungUp)
	res := r.done()
	if res.status != "completed" || res.duration != 42 || res.callerHungUp {
		t.Errorf("result %+v, want completed after 42 s", res)
	}
	r.undone()
}

// An answered caller hears a ringback while the targets ring, until a target's early media (a 183
// with SDP) replaces it: the first target's, which stays what the caller hears until a target
// answers; a second target's early media is not passed on. The answer replaces it with the
// answering target.
func TestDialAttemptCallerHearsTheFirstEarlyMedia(t *testing.T) {
	r := newDialRig(t, "sip:a@192.0.2.1", "sip:b@192.0.2.2")
	r.start()
	reqs := r.ringingAll()
	a, b := r.leg("sip:a@192.0.2.1"), r.leg("sip:b@192.0.2.2")
	reqs[a.t.uri].OnProgress(sip.Progress{Code: 180, Reason: "Ringing"})
	await(t, r.caller.played, "the ringback plays")
	earlyA := sip.MediaDesc{Addr: netip.MustParseAddrPort("192.0.2.1:31000")}
	reqs[a.t.uri].OnProgress(sip.Progress{Code: 183, EarlyMedia: &earlyA})
	early := await(t, r.legs.bridged, "a's early media reaches the caller")
	if !early.joins(r.caller, a.p) {
		t.Fatalf("early media bridged %v to %v, want the caller to a", early.a, early.b)
	}
	earlyB := sip.MediaDesc{Addr: netip.MustParseAddrPort("192.0.2.2:31000")}
	reqs[b.t.uri].OnProgress(sip.Progress{Code: 183, EarlyMedia: &earlyB})
	b.outcome <- nil
	call := await(t, r.legs.bridged, "the answer's bridge")
	if !call.joins(r.caller, b.p) || !early.isStopped() {
		t.Fatalf("answer bridged %v to %v (a's early media stopped: %v), want the caller to b", call.a, call.b, early.isStopped())
	}
	await(t, r.ch.waiting, "the bridge waits")
	if n := r.caller.ringbacks(); n != 0 {
		t.Errorf("the ringback still plays under the bridge (%d)", n)
	}
	if _, _, _, media := a.state(); len(media) != 1 || media[0] != earlyA {
		t.Errorf("a's media %v, want its early media", media)
	}
	if _, _, _, media := b.state(); len(media) != 1 || media[0] != b.final {
		t.Errorf("b's media %v, want only its answer's (its early media is not heard)", media)
	}
	r.ch.hangup()
	if res := r.done(); res.status != "completed" || !res.callerHungUp || res.sid != "leg-sip:b@192.0.2.2" {
		t.Errorf("result %+v", res)
	}
	r.undone()
}

// answerOnBridge: the unanswered caller gets the early media in a 183 of its own, and is answered
// only when the target is.
func TestDialAttemptAnswerOnBridgePassesEarlyMediaUnanswered(t *testing.T) {
	r := newDialRig(t, "sip:a@192.0.2.1")
	r.plan.answerOnBridge = true
	r.start()
	reqs := r.ringingAll()
	a := r.leg("sip:a@192.0.2.1")
	md := sip.MediaDesc{Addr: netip.MustParseAddrPort("192.0.2.1:31000")}
	reqs[a.t.uri].OnProgress(sip.Progress{Code: 183, EarlyMedia: &md})
	await(t, r.legs.bridged, "early media")
	r.ch.mu.Lock()
	answered, rang, earlies := r.ch.answered, r.ch.rang, r.ch.earlies
	r.ch.mu.Unlock()
	if answered || rang != 1 || earlies != 1 {
		t.Errorf("caller answered %v, 180s %d, 183s %d; want unanswered, 180 and 183 once", answered, rang, earlies)
	}
	a.outcome <- nil
	await(t, r.ch.waiting, "the bridge waits")
	r.ch.mu.Lock()
	answered = r.ch.answered
	r.ch.mu.Unlock()
	if !answered {
		t.Error("the caller was not answered with the target")
	}
	if n := len(r.legs.made()); n != 1 {
		t.Errorf("%d bridges, want the early media's kept on answer", n)
	}
	close(a.hungUp)
	r.done()
	r.undone()
}

// timeLimit ends the bridge when it passes: completed, with the limit as the duration, the callee
// hung up and the caller still there.
func TestDialAttemptTimeLimitEndsTheBridge(t *testing.T) {
	r := newDialRig(t, "sip:a@192.0.2.1")
	r.plan.timeLimit = 30 * time.Second
	r.start()
	r.ringingAll()
	a := r.leg("sip:a@192.0.2.1")
	a.outcome <- nil
	if d := await(t, r.clock.armed, "the time limit is set"); d != 30*time.Second {
		t.Errorf("time limit %v, want 30s", d)
	}
	r.clock.advance(30 * time.Second)
	r.clock.fire()
	res := r.done()
	if res.status != "completed" || res.duration != 30 || res.callerHungUp {
		t.Errorf("result %+v, want completed after 30 s, the caller still there", res)
	}
	if _, _, closes, _ := a.state(); closes == 0 {
		t.Error("the callee was not hung up")
	}
	r.undone()
}

// However far the attempt got when it ended, cleanup undoes all of it: targets cancelled or hung up,
// bridges and recordings stopped, ringback silent, relays off, no goroutine left.
func TestDialAttemptCleanupUndoesEverythingHoweverFarItGot(t *testing.T) {
	for _, tc := range []struct {
		name string
		plan func(*dialPlan)
		// drive takes the attempt to its stage and ends it there; want is its status.
		drive func(r *dialRig, reqs map[string]sip.OutboundRequest)
		want  string
	}{
		{"ringing", nil, func(r *dialRig, _ map[string]sip.OutboundRequest) { r.ch.hangup() }, "canceled"},
		{"ringback playing", nil, func(r *dialRig, reqs map[string]sip.OutboundRequest) {
			reqs["sip:a@192.0.2.1"].OnProgress(sip.Progress{Code: 180})
			await(r.t, r.caller.played, "ringback")
			r.ch.hangup()
		}, "canceled"},
		{"early media bridged and recorded from ringing", func(p *dialPlan) { p.record = recordFromRinging }, func(r *dialRig, reqs map[string]sip.OutboundRequest) {
			md := sip.MediaDesc{Addr: netip.MustParseAddrPort("192.0.2.1:31000")}
			reqs["sip:a@192.0.2.1"].OnProgress(sip.Progress{Code: 183, EarlyMedia: &md})
			await(r.t, r.legs.bridged, "early media")
			r.ch.hangup()
		}, "canceled"},
		{"the callee's document refused the call", nil, func(r *dialRig, _ map[string]sip.OutboundRequest) {
			a := r.leg("sip:a@192.0.2.1")
			a.t.whisper, a.connect = "/screen", false
			a.outcome <- nil
		}, whisperStatus},
		{"bridged, recorded and relaying keys", func(p *dialPlan) { p.record = recordFromAnswer; p.targets[0].sendDigits = "1234" }, func(r *dialRig, _ map[string]sip.OutboundRequest) {
			r.leg("sip:a@192.0.2.1").outcome <- nil
			await(r.t, r.ch.waiting, "the bridge waits")
			if !r.ch.relaying() {
				r.t.Error("keys and REFERs are not relayed while bridged")
			}
			r.ch.hangup()
		}, "completed"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := newDialRig(t, "sip:a@192.0.2.1", "sip:b@192.0.2.2")
			if tc.plan != nil {
				tc.plan(&r.plan)
			}
			r.start()
			tc.drive(r, r.ringingAll())
			if res := r.done(); res.status != tc.want {
				t.Errorf("result %+v, want %s", res, tc.want)
			}
			r.undone()
			recorded := len(r.caller.recs)
			for _, br := range r.legs.made() {
				recorded += len(br.recs)
			}
			if (r.plan.record == recordFromAnswer || r.plan.record == recordFromRinging) && recorded == 0 {
				t.Error("the Dial's recording never started")
			}
		})
	}
}
