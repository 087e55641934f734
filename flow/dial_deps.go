package flow

import (
	"context"
	"io"
	"log/slog"
	"net/netip"
	"time"

	"github.com/pivotua/pivotua/codec"
	"github.com/pivotua/pivotua/media"
	"github.com/pivotua/pivotua/sip"
)

// This file declares what a Dial attempt (dial_attempt.go) needs of media and of outbound SIP, beside
// the Channel of deps.go: the media of a party (dialParty), two parties joined (dialBridge), an
// outbound leg (dialLeg, its answered dialog a dialDialog), what opens legs and joins parties
// (dialLegs) and the clock of the time limit and the duration (dialClock). The real ones are thin
// adapters over media.Session, media.Bridge, outboundLeg and sip.OutboundCall (below), wired by
// bridgeDial; dial_attempt_internal_test.go drives the attempt with fakes, without sockets.

// dialParty is one party's media as a Dial uses it: the caller's session, a target's, or the leg
// that took a party's place in a transfer. rtpParty (a media.Session) is the real one.
type dialParty interface {
	// Play plays p to the party (the ringback of an answered caller) until it ends or ctx ends.
	Play(ctx context.Context, p *codec.Prompt) error
	// SendDigits sends the party keys as RFC 4733 events (<Number sendDigits>, relayed INFO keys).
	SendDigits(ctx context.Context, digits string, toneDuration time.Duration) error
	// RecordBothWays records what the party sends and what it is sent, from now (record-from-ringing
	// before there is a bridge to record).
	RecordBothWays(w io.Writer, dual bool) (Recording, error)
	// session is the engine's session, which only the real bridge (sipLegs.bridge) joins; a test's
	// party has none.
	session() *media.Session
}

// dialBridge is two parties' media joined, each hearing the other (a room of two: media.Bridge
// relays audio and RFC 4733 keys), until Stop; Stop twice is harmless.
type dialBridge interface {
	Stop()
	// Record records both parties from now, mixed or one a channel each (dual).
	Record(w io.Writer, dual bool) (Recording, error)
}

// dialDialog is an answered outbound leg's SIP dialog as a Dial uses it; *sip.OutboundCall is it.
type dialDialog interface {
	CallID() string
	// Media is the callee's media as its answer (or its last re-INVITE) gave it.
	Media() sip.MediaDesc
	// OnMediaChange hands fn the media of each re-INVITE the callee sends.
	OnMediaChange(fn func(sip.MediaDesc))
	// OnDigit hands fn each key the callee sends by SIP INFO; nil: no more.
	OnDigit(fn func(key byte))
	// OnTransfer hands fn each REFER the callee sends that sip accepted; nil: none (403).
	OnTransfer(fn func(*sip.Transfer) bool)
}

// dialLeg is one outbound leg of a Dial (a target, or a transfer's target): its media, opened before
// the INVITE, and once answered its dialog. sipLeg (an outboundLeg placed through OutboundSIP) is the
// real one. The call's goroutine owns it; ring runs on a goroutine of its own and returns before the
// leg's answer is reported over a channel.
type dialLeg interface {
	endpoint() *dialEndpoint
	// party is the leg's media: bridged to the other party, sent keys, recorded.
	party() dialParty
	// ring sends req's INVITE and waits for the final response: nil once answered (dialog is then
	// set), an error for a failure; ctx ending CANCELs it.
	ring(ctx context.Context, req sip.OutboundRequest) error
	// dialog is the answered leg's dialog; nil before it answered.
	dialog() dialDialog
	// startMedia points the leg's media at the callee's (early or final) media.
	startMedia(md sip.MediaDesc) error
	// done is closed when the callee hung up or its media timed out.
	done() <-chan struct{}
	// close hangs up an answered leg (BYE) and frees its media; end does the same for a leg that did
	// not answer (err: why), reporting err's status first. Either, once or more, is the leg's last word.
	close()
	end(err error)
	// events are the noun's statusCallbacks (dial_status_callback.go); nil: none.
	events() *legCallbacks
	setEvents(lc *legCallbacks)
	// runDocument runs the noun's url document on the answered callee (dial_whisper.go): true when
	// the parties may be bridged.
	runDocument(ctx context.Context, c *Call, callerID, display string) bool
}

// dialLegs opens a Dial's outbound legs and joins parties' media; sipLegs is the real one.
type dialLegs interface {
	// open opens t's media, on the caller's tick so a bridge relays in the tick it reads; local is
	// the RTP address the INVITE's offer names.
	open(t dialEndpoint) (leg dialLeg, local netip.AddrPort, err error)
	// bridge joins a and b until the bridge's Stop; a party already joined elsewhere is refused.
	bridge(a, b dialParty) (dialBridge, error)
}

// dialClock is the time of a Dial: its time limit and the duration it reports; realClock is the
// real one.
type dialClock interface {
	Now() time.Time
	// NewTimer fires once after d; stop releases it.
	NewTimer(d time.Duration) (fire <-chan time.Time, stop func() bool)
}

// dialEnv is what one Dial attempt runs on.
type dialEnv struct {
	caller dialParty // the caller's media
	legs   dialLegs
	clock  dialClock
}

// sipDialEnv is the real dialEnv of a caller's session: legs opened on the engine and placed through
// d.Outbound.
func sipDialEnv(d DialDeps, caller *media.Session, log *slog.Logger) dialEnv {
	return dialEnv{caller: rtpParty{caller}, legs: sipLegs{d: d, caller: caller, log: log}, clock: realClock{}}
}

// rtpParty is a media.Session as a Dial's party.
type rtpParty struct{ *media.Session }

var _ dialParty = rtpParty{}

func (p rtpParty) RecordBothWays(w io.Writer, dual bool) (Recording, error) {
	t, err := startTapRecording(p.Session, w, dual)
	if err != nil {
		return nil, err
	}
	return t, nil
}

func (p rtpParty) session() *media.Session { return p.Session }

// rtpBridge is a media.Bridge as a Dial's bridge.
type rtpBridge struct{ *media.Bridge }

func (b rtpBridge) Record(w io.Writer, dual bool) (Recording, error) {
	r, err := b.Bridge.Record(w, dual)
	if err != nil {
		return nil, err
	}
	return r, nil
}

// sipLegs opens legs on d.Engine, ticking with the caller's session, and places them through
// d.Outbound.
type sipLegs struct {
	d      DialDeps
	caller *media.Session
	log    *slog.Logger
}

var _ dialLegs = sipLegs{}

func (s sipLegs) open(t dialEndpoint) (dialLeg, netip.AddrPort, error) {
	leg, local, err := openOutboundLeg(s.d, t, s.caller, s.log)
	if err != nil {
		return nil, local, err
	}
	return &sipLeg{outboundLeg: leg, out: s.d.Outbound}, local, nil
}

func (s sipLegs) bridge(a, b dialParty) (dialBridge, error) {
	br, err := media.NewBridge(a.session(), b.session())
	if err != nil {
		return nil, err
	}
	return rtpBridge{br}, nil
}

// sipLeg is an outboundLeg as a Dial's leg, placed through out.
type sipLeg struct {
	*outboundLeg
	out OutboundSIP
}

var (
	_ dialLeg    = (*sipLeg)(nil)
	_ dialDialog = (*sip.OutboundCall)(nil)
)

func (l *sipLeg) endpoint() *dialEndpoint { return &l.target }
func (l *sipLeg) party() dialParty        { return rtpParty{l.sess} }

func (l *sipLeg) ring(ctx context.Context, req sip.OutboundRequest) error {
	oc, err := l.out.Dial(ctx, req)
	l.call = oc
	return err
}

func (l *sipLeg) dialog() dialDialog {
	if l.call == nil {
		return nil
	}
	return l.call
}

func (l *sipLeg) events() *legCallbacks      { return l.outboundLeg.events }
func (l *sipLeg) setEvents(lc *legCallbacks) { l.outboundLeg.events = lc }

func (l *sipLeg) runDocument(ctx context.Context, c *Call, callerID, display string) bool {
	return c.runWhisper(ctx, l.outboundLeg, callerID, display)
}

// realClock is the wall clock.
type realClock struct{}

func (realClock) Now() time.Time { return time.Now() }

func (realClock) NewTimer(d time.Duration) (<-chan time.Time, func() bool) {
	t := time.NewTimer(d)
	return t.C, t.Stop
}
