package flow

import (
	"context"
	"time"

	"github.com/pivotua/pivotua/sip"
)

// dialAttempt is one Dial on its way: its targets ringing, then the caller bridged to the one that
// answered until either side leaves. Each thing that can happen to it is one method, called on the
// call's goroutine only; bridgeDial waits for the events and hands each to its method, and cleanup
// undoes whatever was set up, however far the attempt got. It reaches media and outbound SIP only
// through the interfaces of dial_deps.go (its dialEnv), so it is tested without sockets.
type dialAttempt struct {
	c                 *Call
	plan              dialPlan
	bc                BridgeLeg
	caller            dialParty // the caller's own media: the bridge's, the ringback's
	legs              dialLegs  // opens the targets' legs (on the caller's tick) and joins parties
	clock             dialClock
	callerID, display string // the From of every leg
	res               dialResult

	// While the targets ring.
	cancelAll context.CancelFunc // CANCELs every target still ringing
	progress  chan dialProgress
	answers   chan dialAnswer
	pending   int       // targets that have neither answered nor failed
	failures  []error   // why targets failed
	rang      bool      // the caller was sent 180
	early     dialLeg   // the target whose early media the caller hears; nil: none
	tone      *ringback // the ringback an answered caller hears; nil: none

	// Once a target answered. A transfer (dial_transfer.go) may replace either party: winner is the
	// callee of the moment, callerLeg the leg that took the caller's place (nil: the caller itself).
	winner     dialLeg
	bridge     dialBridge     // the bridge of the moment: the early media's, then the call's
	rec        *dialRecording // the Dial's record; nil: none
	answeredAt time.Time
	relaying   bool // keys and transfers are relayed (startRelays); cleanup undoes it
	toCallee   *keySender
	toCaller   *keySender
	xfers      *transfers
	run        *transferRun // a transfer whose target rings; nil: none
	callerLeg  dialLeg
	callerSess dialParty // the caller's side of the bridge: callerLeg's media after a transfer

	// What ends the bridge; a transfer points them at the party that took a referrer's place, and a
	// referrer that may hang up without ending the Dial (RFC 5589 §6) has its own set to nil.
	callerDone, ctxDone, calleeDone <-chan struct{}
	digits                          <-chan byte
}

func newDialAttempt(c *Call, plan dialPlan, bc BridgeLeg, env dialEnv) *dialAttempt {
	a := &dialAttempt{c: c, plan: plan, bc: bc, caller: env.caller, legs: env.legs, clock: env.clock,
		res: dialResult{status: "failed"}, callerID: plan.callerID}
	if a.callerID == "" {
		a.callerID, a.display = c.info.CallerIDNumber, c.info.CallerIDName
	}
	a.callerSess = a.caller
	return a
}

// ringTargets sends every target its INVITE at once; their provisional responses arrive on
// a.progress and their outcomes on a.answers.
func (a *dialAttempt) ringTargets(ctx context.Context) {
	c := a.c
	var dctx context.Context
	dctx, a.cancelAll = context.WithCancel(ctx)
	progress := make(chan dialProgress, 32)
	answers := make(chan dialAnswer, len(a.plan.targets))
	a.progress, a.answers = progress, answers
	for _, t := range a.plan.targets {
		leg, local, err := a.legs.open(t)
		if err != nil {
			a.failures = append(a.failures, err)
			continue
		}
		a.pending++
		legID := sip.NewCallID()
		leg.setEvents(c.startLegCallbacks(t, legID, a.callerID))
		req := sip.OutboundRequest{
			Target: t.uri, FromUser: a.callerID, FromDisplay: a.display,
			Username: t.username, Password: t.password,
			Source: t.source, RootCAs: t.roots,
			LocalRTP: local, RingTimeout: a.plan.timeout, SRTP: t.srtp, CallID: legID,
			OnProgress: func(p sip.Progress) {
				select {
				case progress <- dialProgress{leg, p}:
				default:
				}
			},
		}
		go func() {
			err := leg.ring(dctx, req)
			answers <- dialAnswer{leg, err}
		}()
		leg.events().initiated()
		c.log.Info("dial: ringing", "target", t.uri)
	}
}

// waitForAnswer waits until a target answers (true), or every target failed or the caller left
// (false, with the result set). Either way the targets still ringing are cancelled.
func (a *dialAttempt) waitForAnswer(ctx context.Context) bool {
	callerGone := false
	for a.winner == nil && a.pending > 0 && !callerGone {
		select {
		case pe := <-a.progress:
			a.onProgress(ctx, pe)
		case ans := <-a.answers:
			a.onAnswer(ans)
		case <-a.c.ch.Context().Done():
			callerGone = true
		}
	}
	a.tone.stop()
	a.cancelAll()
	if a.pending > 0 {
		go reapDialLegs(a.answers, a.pending)
	}
	switch {
	case a.winner != nil:
		return true
	case a.c.ended():
		a.res.status, a.res.callerHungUp = "canceled", true
	default:
		a.res.status = dialFailureStatus(a.failures)
	}
	return false
}

// onProgress is a target's 18x: the caller is told it rings (180), an answered caller hears a
// ringback, and the first early media is passed to the caller.
func (a *dialAttempt) onProgress(ctx context.Context, pe dialProgress) {
	c := a.c
	pe.leg.events().ringing()
	if a.plan.record == recordFromRinging && a.rec == nil {
		a.rec = c.startDialRecording(nil, a.caller, a.plan)
	}
	if !c.answered && !a.rang {
		a.rang = true
		if err := c.ch.Ring(); err != nil && !c.ended() {
			c.log.Warn("ringing failed", "err", err)
		}
	}
	if c.answered && a.tone == nil && a.early == nil {
		// An answered caller's phone no longer rings by itself: play it the ringback a carrier
		// would, until a callee's early media or answer replaces it.
		a.tone = startRingback(a.caller, a.plan.ringTone)
	}
	if pe.p.EarlyMedia == nil || a.early != nil {
		return
	}
	// The callee's ringback or announcement: passed to the caller (answered, or unanswered with
	// answerOnBridge, in a 183 of our own).
	if err := pe.leg.startMedia(*pe.p.EarlyMedia); err != nil {
		return
	}
	if !c.answered {
		if err := a.bc.EarlyMedia(ctx); err != nil {
			c.log.Debug("dial: no early media toward the caller", "err", err)
			return
		}
	}
	if br, err := a.legs.bridge(a.caller, pe.leg.party()); err == nil {
		a.early, a.bridge = pe.leg, br
		a.tone.stop()
	}
}

// onAnswer is a target's final outcome: a failure is counted (and its early media, if the caller
// heard it, stopped); the first 2xx wins.
func (a *dialAttempt) onAnswer(ans dialAnswer) {
	a.pending--
	if ans.err != nil {
		a.failures = append(a.failures, ans.err)
		a.c.log.Info("dial: target failed", "target", ans.leg.endpoint().uri, "err", ans.err)
		if ans.leg == a.early {
			a.bridge.Stop()
			a.early, a.bridge = nil, nil
			a.tone = nil // the next target's ringing brings the ringback back
		}
		ans.leg.end(ans.err)
		return
	}
	a.winner = ans.leg
	a.winner.events().answer()
}

// connect takes the winner's media, runs its whisper document, answers the caller and bridges the
// two; false (with the result set) when one of those ends the Dial.
func (a *dialAttempt) connect(ctx context.Context) bool {
	c, w := a.c, a.winner
	dlg := w.dialog()
	a.res.sid = dlg.CallID()
	c.log.Info("dial: answered", "target", w.endpoint().uri, "dial_call_id", a.res.sid)
	c.ctl.bridgedTo(a.res.sid)
	if a.bridge != nil && a.early != w {
		a.bridge.Stop()
		a.bridge = nil
	}
	if err := w.startMedia(dlg.Media()); err != nil {
		c.log.Warn("dial: callee media", "err", err)
		return false
	}
	dlg.OnMediaChange(func(md sip.MediaDesc) {
		if err := w.startMedia(md); err != nil {
			c.log.Warn("dial: callee re-INVITE media not applied", "err", err)
		}
	})
	if w.endpoint().whisper != "" {
		if a.bridge != nil { // the callee's document is for the callee alone
			a.bridge.Stop()
			a.bridge = nil
		}
		if c.answered || a.early != nil {
			a.tone = startRingback(a.caller, a.plan.ringTone)
		}
		connect := w.runDocument(ctx, c, a.callerID, a.display)
		a.tone.stop()
		if !connect {
			a.res.status, a.res.callerHungUp = whisperStatus, c.ended()
			return false
		}
	}
	if err := c.answer(ctx); err != nil {
		a.res.status, a.res.callerHungUp = "canceled", true
		return false
	}
	if a.bridge == nil {
		br, err := a.legs.bridge(a.caller, w.party())
		if err != nil {
			c.log.Error("dial: bridge", "err", err)
			return false
		}
		a.bridge = br
	}
	a.answeredAt = a.clock.Now()
	if a.rec == nil {
		a.rec = c.startDialRecording(a.bridge, a.caller, a.plan)
	}
	a.startRelays()
	return true
}

// startRelays carries keys and transfers across the bridge: <Number sendDigits> (an extension, a
// PIN) to the callee once it answered, then what the caller sends by SIP INFO, and the callee's INFO
// keys for the caller (they replace the relayed audio toward that party while they sound); and
// either party's REFER (dial_transfer.go).
func (a *dialAttempt) startRelays() {
	c, w := a.c, a.winner
	a.relaying = true
	a.toCallee = startKeySender(w.party(), w.endpoint().sendDigits, c.log)
	a.toCaller = startKeySender(a.caller, "", c.log)
	a.bc.RelayInfoDigits(a.toCallee.send)
	w.dialog().OnDigit(a.toCaller.send)
	a.xfers = newTransfers()
	a.bc.OnTransfer(a.xfers.handler(true))
	w.dialog().OnTransfer(a.xfers.handler(false))
}

// stayBridged holds the bridge until a party leaves, the time limit passes or the caller presses *
// (hangupOnStar), handing transfers on as they come.
func (a *dialAttempt) stayBridged(ctx context.Context) {
	a.callerDone, a.ctxDone, a.digits = a.c.ch.Context().Done(), ctx.Done(), a.c.ch.Digits()
	a.calleeDone = a.winner.done()
	var limit <-chan time.Time
	if a.plan.timeLimit > 0 {
		fire, stop := a.clock.NewTimer(a.plan.timeLimit)
		defer stop()
		limit = fire
	}
	a.res.status = "completed"
	for end := false; !end; {
		var ringing chan dialAnswer
		if a.run != nil {
			ringing = a.run.answers
		}
		select {
		case <-a.callerDone:
			end = a.onCallerGone()
		case <-a.ctxDone:
			end = a.onCallerGone()
		case <-a.calleeDone:
			end = a.onCalleeGone()
		case <-limit:
			a.c.log.Info("dial: time limit reached", "limit", a.plan.timeLimit)
			end = true
		case k := <-a.digits: // relayed in the media already; here only * matters
			if k == '*' && a.plan.hangupOnStar {
				a.c.log.Info("dial: the caller pressed *, ending the bridge")
				end = true
			}
		case ask := <-a.xfers.asks:
			a.onTransferAsk(ask)
		case ans := <-ringing:
			end = a.onTransferAnswer(ans)
		}
	}
	a.res.duration = int(a.clock.Now().Sub(a.answeredAt).Round(time.Second) / time.Second)
	a.bridge.Stop()
	a.winner.close() // BYE to the callee at once when the caller hung up (cleanup's close is then a no-op)
	if a.callerLeg != nil {
		// The caller was transferred away: what the document says next has nobody to run for.
		a.res.callerHungUp = true
	}
	a.rec.finish(a.c)
}

// onCallerGone is the caller's (or its replacement's) hangup, or the call's context ending: it ends
// the Dial, but for a blind transferor, who may hang up at once (RFC 5589 §6).
func (a *dialAttempt) onCallerGone() (end bool) {
	if a.run != nil && a.run.byCaller {
		a.run.gone, a.callerDone, a.ctxDone = true, nil, nil
		return false
	}
	a.res.callerHungUp = true
	return true
}

// onCalleeGone is the callee's hangup: it ends the Dial, but for a blind transferor.
func (a *dialAttempt) onCalleeGone() (end bool) {
	if a.run != nil && !a.run.byCaller {
		a.run.gone, a.calleeDone = true, nil
		return false
	}
	a.c.log.Info("dial: the callee hung up")
	return true
}

// onTransferAsk is a REFER sip accepted from either party: its target is dialled.
func (a *dialAttempt) onTransferAsk(ask transferAsk) {
	from := a.winner.dialog().CallID()
	switch {
	case ask.byCaller && a.callerLeg != nil:
		from = a.callerLeg.dialog().CallID()
	case ask.byCaller:
		from = a.c.info.CallID
	}
	a.run = a.c.startTransfer(a.xfers, ask, a.plan, from, a.callerID, a.display, a.legs)
}

// onTransferAnswer is the transfer target's outcome: when it answered it takes the referrer's place
// and the other party stays; when it failed the referrer is told and the bridge stays as it was
// (unless the referrer hung up meanwhile: its side of the Dial is then over).
func (a *dialAttempt) onTransferAnswer(ans dialAnswer) (end bool) {
	c, done := a.c, a.run
	a.run = nil
	if ans.err == nil {
		ans.err = ans.leg.startMedia(ans.leg.dialog().Media())
	}
	if ans.err != nil {
		ans.leg.close()
		code, reason := transferFailure(ans.err)
		c.transferFailed(a.xfers, done, code, reason, ans.err)
		if done.gone {
			a.res.callerHungUp = done.byCaller
			return true
		}
		return false
	}
	a.bridge.Stop()
	a.rec.finish(c)
	if done.byCaller {
		a.replaceCaller(ans.leg, done)
	} else {
		a.replaceCallee(ans.leg, done)
	}
	c.log.Info("dial: transferred", "by", done.by(), "target", done.t.Target, "dial_call_id", ans.leg.dialog().CallID())
	c.transferEvent(done, "completed", 200)
	a.xfers.busy.Store(false)
	br, err := a.legs.bridge(a.callerSess, a.winner.party())
	if err != nil {
		c.log.Error("dial: bridge after a transfer", "err", err)
		return true
	}
	a.bridge = br
	if a.plan.record == recordFromRinging {
		a.rec = c.startDialRecording(nil, a.callerSess, a.plan)
	} else {
		a.rec = c.startDialRecording(a.bridge, nil, a.plan)
	}
	return false
}

// replaceCaller puts newLeg in the caller's place: the caller's own dialog (or the leg that had
// replaced it) no longer ends the Dial, and keys and transfers follow the new leg.
func (a *dialAttempt) replaceCaller(newLeg dialLeg, done *transferRun) {
	old := a.callerLeg // nil: the caller itself, which sip hangs up after its NOTIFY
	a.bc.OnTransfer(nil)
	if old != nil {
		old.dialog().OnTransfer(nil)
	}
	a.callerLeg, a.callerSess = newLeg, newLeg.party()
	a.callerDone, a.ctxDone, a.digits = newLeg.done(), nil, nil
	a.toCaller.stop()
	a.toCaller = startKeySender(newLeg.party(), "", a.c.log)
	a.winner.dialog().OnDigit(a.toCaller.send)
	a.bc.RelayInfoDigits(nil)
	newLeg.dialog().OnDigit(a.toCallee.send)
	newLeg.dialog().OnTransfer(a.xfers.handler(true))
	a.xfers.report(done.t, 200, "OK", func() {
		if old != nil {
			old.close()
		}
	})
}

// replaceCallee puts newLeg in the callee's place.
func (a *dialAttempt) replaceCallee(newLeg dialLeg, done *transferRun) {
	old := a.winner
	old.dialog().OnTransfer(nil)
	a.winner, a.calleeDone = newLeg, newLeg.done()
	a.c.ctl.bridgedTo(newLeg.dialog().CallID())
	a.toCallee.stop()
	a.toCallee = startKeySender(newLeg.party(), "", a.c.log)
	if a.callerLeg != nil {
		a.callerLeg.dialog().OnDigit(a.toCallee.send)
	} else {
		a.bc.RelayInfoDigits(a.toCallee.send)
	}
	newLeg.dialog().OnDigit(a.toCaller.send)
	newLeg.dialog().OnTransfer(a.xfers.handler(false))
	a.xfers.report(done.t, 200, "OK", old.close)
}

// cleanup undoes what the attempt set up, in the reverse order: relays and transfers, the bridge,
// the callee (BYE), the recording, and the targets' dials.
func (a *dialAttempt) cleanup() {
	if a.relaying {
		a.bc.OnTransfer(nil)
		a.winner.dialog().OnTransfer(nil)
		if a.callerLeg != nil {
			a.callerLeg.dialog().OnTransfer(nil)
			a.callerLeg.close()
		}
		a.xfers.stop(a.run)
		a.bc.RelayInfoDigits(nil)
		a.toCaller.stop()
		a.toCallee.stop()
	}
	if a.bridge != nil {
		a.bridge.Stop()
	}
	if a.winner != nil {
		a.c.ctl.bridgedTo("")
		a.winner.close()
	}
	a.rec.finish(a.c)
	if a.cancelAll != nil {
		a.cancelAll()
	}
}
