package flow

import (
	"context"
	"log/slog"
	"strings"
	"time"

	"github.com/pivotua/pivotua/codec"
	"github.com/pivotua/pivotua/media"
	"github.com/pivotua/pivotua/sip"
)

// A Dial noun's url (Twilio's <Number url> and <Sip url>) is a document run
// on the callee once it answers and before it is bridged: a whisper that
// tells the callee who is calling, or a screen that asks it to accept with a
// key. The caller keeps hearing ringback meanwhile and hears none of it.
// When the document runs to its end the parties are bridged; when it hangs up
// (or the callee does) they are not, and the Dial reports no-answer.

// whisperStatus is DialCallStatus when the callee's document ended the leg:
// the callee answered but did not take the call.
const whisperStatus = "no-answer"

// calleeLeg is the Channel of an answered Dial callee while its noun's
// document runs: its RTP session, and keys from RFC 4733, in-band tones and
// SIP INFO.
type calleeLeg struct {
	legMedia
	leg  *outboundLeg
	info CallInfo
}

var _ Channel = (*calleeLeg)(nil)

// newCalleeLeg makes an answered outbound leg a Channel: a Dial callee's (runWhisper) or a call the
// Calls API placed (originate.go). log is the leg's logger.
func newCalleeLeg(leg *outboundLeg, info CallInfo, obs Observer, log *slog.Logger) *calleeLeg {
	l := &calleeLeg{legMedia: newLegMedia(context.Background(), leg.sess, obs, log), leg: leg, info: info}
	leg.sess.OnDigit(func(d media.Digit) { l.deliverDigit(d.Key, d.Source) })
	leg.call.OnDigit(func(k byte) { l.deliverDigit(k, "sip-info") })
	go func() { // the leg is over when the callee hangs up or its media times out
		select {
		case <-leg.call.Done():
		case <-leg.sess.Done():
		case <-l.ctx.Done():
		}
		l.finish()
	}()
	return l
}

// stop ends the leg's use as a Channel; the bridge takes its keys and media from here.
func (l *calleeLeg) stop() {
	l.finish()
	l.logDroppedKeys()
	l.leg.sess.OnDigit(nil)
	l.leg.call.OnDigit(nil)
}

func (l *calleeLeg) Info() CallInfo { return l.info }

// Ring and Answer have nothing to do: the callee answered before its document runs.
func (l *calleeLeg) Ring() error                  { return nil }
func (l *calleeLeg) Answer(context.Context) error { return nil }

func (l *calleeLeg) Play(ctx context.Context, p *codec.Prompt, stopKeys string) (bool, error) {
	return l.play(ctx, p, stopKeys)
}

// Reject on an answered leg can only hang up.
func (l *calleeLeg) Reject(int, string) error { return l.Hangup() }

// Hangup sends the callee BYE; its RTP session stays open until the Dial closes the leg.
func (l *calleeLeg) Hangup() error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err := l.leg.call.Hangup(ctx)
	l.finish()
	return err
}

// EndedBy names the far end, here the callee, "caller" as the inbound leg does: the callee's leg
// tells no media timeout apart.
func (l *calleeLeg) EndedBy() string { return "caller" }

// Refer is refused: a Dial callee is pivotua's own outbound leg, and transferring it would leave the
// caller bridged to whoever the callee chose.
func (l *calleeLeg) Refer(context.Context, string) (sip.ReferResult, error) {
	return sip.ReferResult{}, ErrReferNotSupported
}

// Bridge is nil: this leg is the callee a Dial bridges, so a Dial in its document has no caller side
// of its own to bridge and fails.
func (l *calleeLeg) Bridge() BridgeLeg { return nil }

func (l *calleeLeg) SendDigits(ctx context.Context, digits string, toneDuration time.Duration) error {
	return l.sendDigits(ctx, digits, toneDuration)
}

// runWhisper runs the winner's noun document on the callee and reports whether the parties may be
// bridged: the document ran to its end with the callee still there. It returns early, false, when
// the caller hangs up (ctx and the caller's channel).
func (c *Call) runWhisper(ctx context.Context, winner *outboundLeg, callerID, display string) bool {
	t := winner.target
	target, err := c.resolveURL(t.whisper)
	if err != nil {
		c.log.Warn("dial: the noun's url is unusable, not connecting", "url", t.whisper, "err", err)
		return false
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	defer context.AfterFunc(c.ch.Context(), cancel)()

	user, host := sipUserHost(t.uri)
	info := CallInfo{
		CallID: winner.call.CallID(), From: callerID, FromRealm: c.info.FromRealm, To: user, ToRealm: host,
		Request: user, RequestRealm: host, CallerIDName: display, CallerIDNumber: callerID,
	}
	if info.CallerIDName == "" {
		info.CallerIDName = callerID
	}
	log := c.log.With("dial_call_id", info.CallID) // the caller's attributes and the callee's Call-ID
	ch := newCalleeLeg(winner, info, c.deps.Observer, log)
	defer ch.stop()
	wc := newCall(ch, c.accountID, c.signingKey, c.deps, log)
	wc.answered, wc.pivot.parentID = true, c.info.CallID
	a := *c.pivot.action
	a.voiceURL, a.method, a.cdrURL = target, t.whisperMethod, ""
	c.log.Info("dial: running the callee's document", "url", target, "dial_call_id", info.CallID)
	out := a.run(ctx, wc, &Node{Module: "pivot"})
	if out.next != nil {
		c.log.Warn("dial: the callee's document must be TwiML, not a Kazoo callflow; not connecting", "url", target)
		return false
	}
	return !wc.ended() && ctx.Err() == nil // a Hangup or Reject in the document ended the leg too
}

// sipUserHost splits sip:user@host;params into user and host (host keeps its port).
func sipUserHost(uri string) (user, host string) {
	rest := uri
	if len(rest) >= 5 && strings.EqualFold(rest[:5], "sips:") {
		rest = rest[5:]
	} else if len(rest) >= 4 && strings.EqualFold(rest[:4], "sip:") {
		rest = rest[4:]
	}
	if i := strings.IndexAny(rest, ";?"); i >= 0 {
		rest = rest[:i]
	}
	if i := strings.LastIndexByte(rest, '@'); i >= 0 {
		return rest[:i], rest[i+1:]
	}
	return "", rest
}
