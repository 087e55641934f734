package flow

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pivotua/pivotua/codec"
	"github.com/pivotua/pivotua/media"
	"github.com/pivotua/pivotua/sip"
)

// legMedia is what a leg that runs documents has besides its SIP dialog: its RTP session, the keys
// on their way to the call's goroutine, barge-in, and the context that ends with the leg.
type legMedia struct {
	media *media.Session // opened with the leg so the port drains from the start
	obs   Observer       // nil counts nothing
	log   *slog.Logger

	// digits carries keys from the media session's clock (RFC 4733, in-band) and from sipgo (INFO)
	// to the call's goroutine.
	digits chan byte
	// barge is set while Play runs with stop keys: one of them stops the prompt.
	barge atomic.Pointer[barge]
	// A caller can press keys nobody reads at will: the first dropped key is logged, the rest are
	// counted and summed up at most every droppedKeysLogEvery and when the leg closes. Written by
	// whichever goroutine delivers a key (media clock, sipgo), hence atomics.
	droppedKeys  atomic.Int64 // dropped since the last line logged
	dropLoggedAt atomic.Int64 // unix nanoseconds of that line; 0: none yet
	now          func() time.Time

	// ctx is cancelled when the leg is over, whichever side ended it.
	ctx    context.Context
	finish context.CancelFunc
}

// legContextKey marks a leg's context with the leg's digits channel, which no other leg has: bound
// knows by it a context that already ends with the leg.
type legContextKey struct{}

// newLegMedia makes a leg whose context ends with parent (the dialog's, for an inbound leg) or when
// finished.
func newLegMedia(parent context.Context, sess *media.Session, obs Observer, log *slog.Logger) legMedia {
	digits := make(chan byte, digitBuffer)
	ctx, finish := context.WithCancel(context.WithValue(parent, legContextKey{}, digits))
	return legMedia{media: sess, obs: obs, log: log, digits: digits, ctx: ctx, finish: finish, now: time.Now}
}

// inboundLeg is the Channel of one inbound call: its SIP dialog and its RTP
// session. The call's goroutine (the interpreter) calls its methods; sipgo
// goroutines deliver re-INVITEs through OnMediaChange, and watch() turns the
// end of either half into the end of the call.
type inboundLeg struct {
	legMedia
	sip       *sip.InboundCall
	advertise netip.Addr // the address put in our SDP

	answerMu   sync.Mutex // held while answering: a second Answer waits for the first's outcome
	answerDone bool
	answerErr  error

	// infoRelay, set by a Dial while bridged, also gets the INFO keys (to send them to the callee).
	infoRelay atomic.Pointer[func(key byte)]

	// unwatch stops the watch newInboundLeg set on the media session.
	unwatch func() bool
}

var _ Channel = (*inboundLeg)(nil)

// droppedKeysLogEvery is the shortest time between two log lines about dropped keys on one leg.
const droppedKeysLogEvery = 10 * time.Second

// digitBuffer is how many keys may wait for the call's goroutine; a caller cannot press faster than
// the interpreter reads for long, so a full buffer means nobody is listening and the key is dropped.
const digitBuffer = maxTypeAhead

func newInboundLeg(call *sip.InboundCall, engine *media.Engine, advertise netip.Addr, obs Observer, log *slog.Logger) (*inboundLeg, error) {
	sess, err := engine.Open(media.WithSessionLogger(log))
	if err != nil {
		return nil, fmt.Errorf("open media session: %w", err)
	}
	if !advertise.IsValid() || advertise.IsUnspecified() {
		advertise = sess.LocalAddr().Addr()
	}
	// The call ends when the dialog ends (BYE, CANCEL): the leg's context is the dialog's child. It
	// ends too when the media times out: AfterDone waits without a goroutine (one would cost a stack
	// a call).
	l := &inboundLeg{legMedia: newLegMedia(call.Context(), sess, obs, log), sip: call, advertise: advertise}
	sess.OnDigit(func(d media.Digit) { l.deliverDigit(d.Key, d.Source) })
	call.OnDigit(func(k byte) {
		if relay := l.infoRelay.Load(); relay != nil {
			(*relay)(k)
		}
		l.deliverDigit(k, "sip-info")
	})
	l.unwatch = sess.AfterDone(l.mediaEnded)
	return l, nil
}

// mediaEnded runs when the media session ends: on a media timeout it hangs up.
func (l *inboundLeg) mediaEnded() {
	if errors.Is(l.media.Err(), media.ErrMediaTimeout) && l.ctx.Err() == nil {
		l.log.Info("media timeout: no RTP from the caller, hanging up")
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_ = l.sip.Hangup(ctx)
		cancel()
	}
	l.finish()
}

// close frees the media session; the leg is unusable afterwards.
func (l *inboundLeg) close() {
	l.unwatch()
	l.finish()
	l.logDroppedKeys()
	_ = l.media.Close()
}

func (l *inboundLeg) Info() CallInfo {
	in := l.sip.Info()
	name, number := in.FromDisplay, in.FromUser
	if in.AssertedUser != "" {
		name, number = in.AssertedDisplay, in.AssertedUser
	}
	if name == "" {
		name = number
	}
	return CallInfo{
		CallID: in.CallID, From: in.FromUser, FromRealm: in.FromHost, To: in.ToUser, ToRealm: in.ToHost,
		Request: in.RequestUser, RequestRealm: in.RequestHost, CallerIDName: name, CallerIDNumber: number,
		CustomSIPHeaders: in.CustomHeaders,
	}
}

func (l *inboundLeg) Ring() error { return l.sip.Ring() }

// Refer sends the caller a REFER to target (TwiML <Refer>) and waits for its outcome.
func (l *inboundLeg) Refer(ctx context.Context, target string) (sip.ReferResult, error) {
	return l.sip.Refer(ctx, target)
}

// EndedBy tells a media timeout (mediaEnded hung up) from the caller's BYE or CANCEL.
func (l *inboundLeg) EndedBy() string {
	if errors.Is(l.media.Err(), media.ErrMediaTimeout) {
		return "media_timeout"
	}
	return "caller"
}

func (l *inboundLeg) Answer(ctx context.Context) error {
	l.answerMu.Lock()
	defer l.answerMu.Unlock()
	if !l.answerDone {
		l.answerDone, l.answerErr = true, l.answer(ctx)
	}
	return l.answerErr
}

// answer answers the call and starts its media, once (Answer).
func (l *inboundLeg) answer(ctx context.Context) error {
	md, err := l.sip.Answer(ctx, netip.AddrPortFrom(l.advertise, l.media.LocalAddr().Port()))
	if err != nil {
		l.finish()
		return fmt.Errorf("answer: %w", err)
	}
	if err := l.applyMedia(&md); err != nil {
		return err
	}
	l.sip.OnMediaChange(l.mediaChanged)
	return nil
}

// mediaChanged applies the media a re-INVITE negotiated.
func (l *inboundLeg) mediaChanged(md sip.MediaDesc) {
	if err := l.applyMedia(&md); err != nil {
		l.log.Warn("re-INVITE media not applied", "error", err)
	}
}

func (l *inboundLeg) applyMedia(md *sip.MediaDesc) error {
	err := l.media.Start(media.Params{
		Remote:           md.Addr,
		Law:              codec.Law(md.PayloadType),
		PayloadType:      md.PayloadType,
		EventPayloadType: md.EventPayloadType,
		SRTP:             srtpOf(*md),
	})
	if err != nil {
		return fmt.Errorf("start media: %w", err)
	}
	l.media.SetSending(md.Direction.WeSend())
	return nil
}

// barge stops a playing prompt when a key among keys arrives.
type barge struct {
	keys string
	stop func()
	hit  atomic.Bool
}

func (b *barge) key(k byte) {
	if strings.IndexByte(b.keys, k) >= 0 {
		b.hit.Store(true)
		b.stop()
	}
}

func (l *inboundLeg) Play(ctx context.Context, p *codec.Prompt, stopKeys string) (bool, error) {
	if err := l.Answer(ctx); err != nil {
		return false, err
	}
	return l.play(ctx, p, stopKeys)
}

// play plays p on the leg's session; a key among stopKeys stops it (stopped is true), interrupting
// the session's prompt, so the prompt needs no context of its own (bound).
func (l *legMedia) play(ctx context.Context, p *codec.Prompt, stopKeys string) (stopped bool, err error) {
	ctx, cancel := l.bound(ctx)
	defer cancel()
	if stopKeys == "" {
		return false, l.media.Play(ctx, p)
	}
	b := &barge{keys: stopKeys, stop: l.media.Interrupt}
	l.barge.Store(b)
	defer l.barge.Store(nil)
	err = l.media.Play(ctx, p)
	if b.hit.Load() {
		return true, nil
	}
	return false, err
}

// bound derives a context that also ends when the leg ends, so media operations stop with it. A ctx
// that already ends with the leg (a call's verbs run under the leg's context) is returned as it is: a
// call's goroutine rests in a media operation (a prompt), and a derived context, its Done channel and
// its place among its parent's children, or a callback on the leg's context, would be half a kilobyte
// a call for the call's life.
func (l *legMedia) bound(ctx context.Context) (context.Context, context.CancelFunc) {
	if ctx.Value(legContextKey{}) == any(l.digits) {
		return ctx, func() {}
	}
	ctx, cancel := context.WithCancel(ctx)
	stop := context.AfterFunc(l.ctx, cancel)
	return ctx, func() { stop(); cancel() }
}

func (l *inboundLeg) Reject(code int, reason string) error {
	err := l.sip.Reject(code, reason)
	l.finish()
	return err
}

func (l *inboundLeg) Hangup() error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err := l.sip.Hangup(ctx)
	l.finish()
	return err
}

func (l *legMedia) Context() context.Context { return l.ctx }

func (l *legMedia) deliverDigit(k byte, source string) {
	if l.obs != nil {
		l.obs.DTMF(source)
	}
	select {
	case l.digits <- k:
		l.log.Debug("dtmf", "key", string(k), "source", source)
	default:
		l.keyDropped(k, source)
	}
	if b := l.barge.Load(); b != nil { // after the key is in digits, where the stopped Play finds it
		b.key(k)
	}
}

// keyDropped logs the first key dropped at once, then at most one line every droppedKeysLogEvery
// with how many were dropped since the last.
func (l *legMedia) keyDropped(k byte, source string) {
	l.droppedKeys.Add(1)
	now := l.now().UnixNano()
	last := l.dropLoggedAt.Load()
	if last != 0 && now-last < int64(droppedKeysLogEvery) || !l.dropLoggedAt.CompareAndSwap(last, now) {
		return
	}
	n := l.droppedKeys.Swap(0)
	if last == 0 {
		l.log.Warn("dtmf dropped: nobody is reading keys", "key", string(k), "source", source)
		return
	}
	l.log.Warn("dtmf dropped: nobody is reading keys", "dropped", n, "since", time.Duration(now-last).Round(time.Second))
}

// logDroppedKeys sums up the keys dropped since the last line, when the leg closes.
func (l *legMedia) logDroppedKeys() {
	if n := l.droppedKeys.Swap(0); n > 0 {
		l.log.Warn("dtmf dropped: nobody is reading keys", "dropped", n, "at", "call end")
	}
}

func (l *legMedia) Digits() <-chan byte { return l.digits }

func (l *inboundLeg) SendDigits(ctx context.Context, digits string, toneDuration time.Duration) error {
	if err := l.Answer(ctx); err != nil {
		return err
	}
	return l.sendDigits(ctx, digits, toneDuration)
}

func (l *legMedia) sendDigits(ctx context.Context, digits string, toneDuration time.Duration) error {
	ctx, cancel := l.bound(ctx)
	defer cancel()
	return l.media.SendDigits(ctx, digits, toneDuration)
}

func (l *legMedia) StartRecording(w io.Writer) (Recording, error) {
	return l.media.StartRecording(w)
}
