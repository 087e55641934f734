package flow

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/pivotua/pivotua/codec"
	"github.com/pivotua/pivotua/media"
	"github.com/pivotua/pivotua/sip"
)

// Trunk is a carrier Dial sends numbers to (config "trunks"): a number N
// becomes sip:N@<the trunk URI's host, port and parameters>, authenticated
// with Username/Password when the trunk challenges.
type Trunk struct {
	Name, URI, Username, Password string
	// Accounts may dial through the trunk; empty: every account.
	Accounts []string
	// Source is the listener address the trunk's legs leave from (carriers
	// admit by source IP); invalid: the first listener of the URI's transport.
	Source netip.Addr
	// RootCAs are what the trunk's TLS certificate must chain to (ca_file);
	// nil: the system's roots.
	RootCAs *x509.CertPool
	// SRTP is the trunk's SRTP policy (trunks[].srtp); empty: rtp.srtp.
	SRTP sip.SRTPPolicy
}

// Dial's record modes (Twilio's record attribute).
const (
	recordNone        = "do-not-record"
	recordFromAnswer  = "record-from-answer"
	recordFromRinging = "record-from-ringing"
)

// dialPlan is one Dial, from TwiML <Dial> or the resources and sip_uri modules.
type dialPlan struct {
	targets        []dialEndpoint // rung at once; the first to answer wins
	callerID       string         // From user; "" = the caller's number
	timeout        time.Duration  // ring timeout
	timeLimit      time.Duration  // longest bridged call; 0 = none
	hangupOnStar   bool           // the caller's * ends the bridge (the caller stays)
	record         string         // recordNone, recordFromAnswer, recordFromRinging
	dual           bool           // record each party on its own channel
	answerOnBridge bool           // leave the caller unanswered (180/183) until the callee answers
	ringTone       string         // ringback country (codec.Ringback) for an answered caller; "" = us
	refused        []string       // why targets were left out (no trunk, a trunk closed to the account)

	// recordCallback is TwiML's recordingStatusCallback* (dial_record.go); nil: none.
	recordCallback *recordingCallbackSpec
	// trim cuts the silence before and after the speech out of the recording (Dial trim).
	trim bool
}

// refuse leaves a number out of the plan for err, and logs why.
func (pl *dialPlan) refuse(c *Call, verb, number string, err error) {
	c.log.Warn(verb+": number not dialled", "number", number, "err", err)
	pl.refused = append(pl.refused, err.Error())
}

// dialEndpoint is a resolved target: a SIP URI, its digest credentials, the
// document to run on it once it answers (dial_whisper.go) and the keys to send
// it once bridged.
type dialEndpoint struct {
	uri, username, password string
	source                  netip.Addr     // the trunk's source; invalid: the transport's listener
	roots                   *x509.CertPool // the trunk's CA; nil: the system's
	whisper, whisperMethod  string         // the noun's url and method; "" = bridge at once
	sendDigits              string
	srtp                    sip.SRTPPolicy // the trunk's; "" = the server's

	// number is the number dialled through a trunk (the callee a statusCallback names); "" for a URI.
	number string
	// statusCallback is the <Number> or <Sip> noun's (dial_status_callback.go); nil: none.
	statusCallback *legCallbackSpec
}

// dialState is what a call keeps of its Dials.
type dialState struct {
	last   dialResult // the last Dial's result, sent with the next request
	lastID string     // the last answered Dial leg's Call-ID, for the call record
}

// dialResult is what the next pivot request reports about the last Dial.
type dialResult struct {
	status       string // completed, busy, no-answer, failed, canceled; "" before any Dial
	sid          string // the answered leg's Call-ID
	duration     int    // seconds bridged
	callerHungUp bool
}

func (r dialResult) durationParam() string {
	if r.status == "" {
		return ""
	}
	return strconv.Itoa(r.duration)
}

// trunkURI resolves a number to a SIP URI through the trunk named name, for the account accountID:
// the trunk must be open to it (Trunk.Accounts). Without a name it is the first trunk the account may
// use.
func trunkURI(trunks []Trunk, name, number, accountID string) (dialEndpoint, error) {
	if len(trunks) == 0 {
		return dialEndpoint{}, errors.New("no trunk is configured for numbers")
	}
	var t *Trunk
	for i := range trunks {
		tr := &trunks[i]
		if name != "" && tr.Name != name {
			continue
		}
		if !tr.openTo(accountID) {
			if name != "" {
				return dialEndpoint{}, fmt.Errorf("%w: trunk %q is not open to account %s", ErrTrunkNotAllowed, name, accountID)
			}
			continue
		}
		t = tr
		break
	}
	switch {
	case t == nil && name != "":
		return dialEndpoint{}, fmt.Errorf("no trunk named %q", name)
	case t == nil:
		return dialEndpoint{}, fmt.Errorf("%w: no trunk is open to account %s", ErrTrunkNotAllowed, accountID)
	}
	if msg := CheckSIPURI(t.URI); msg != "" {
		return dialEndpoint{}, fmt.Errorf("trunk %q: uri %q %s", t.Name, t.URI, msg)
	}
	// Checked here, not only where a document names the number: resources dials the caller's own
	// Request-URI user by default, and an '@' or ';' in it would move the host or add parameters.
	if msg := checkPhoneNumber(number); msg != "" {
		return dialEndpoint{}, fmt.Errorf("number %q %s", number, msg)
	}
	scheme, hostPart, _ := strings.Cut(t.URI, ":") // sip or sips
	if i := strings.LastIndexByte(hostPart, '@'); i >= 0 {
		hostPart = hostPart[i+1:]
	}
	return dialEndpoint{uri: strings.ToLower(scheme) + ":" + number + "@" + hostPart, username: t.Username, password: t.Password,
		source: t.Source, roots: t.RootCAs, srtp: t.SRTP}, nil
}

// openTo reports whether account may dial through the trunk.
func (t *Trunk) openTo(account string) bool {
	return len(t.Accounts) == 0 || slices.Contains(t.Accounts, account)
}

type dialAnswer struct {
	leg *outboundLeg
	err error
}

type dialProgress struct {
	leg *outboundLeg
	p   sip.Progress
}

// runDial runs one Dial for verb (the TwiML verb or Kazoo module) and keeps its result for the next
// pivot request.
func (c *Call) runDial(ctx context.Context, plan dialPlan, verb string) dialResult {
	res := c.bridgeDial(ctx, plan)
	c.dial.last = res
	if res.sid != "" {
		c.dial.lastID = res.sid
	}
	data := map[string]any{"verb": verb, "status": res.status, "dial_call_id": res.sid, "duration": res.duration}
	if len(plan.refused) > 0 {
		reason := strings.Join(plan.refused, "; ")
		data["reason"] = reason
		c.log.Info(verb+" done", "status", res.status, "dial_call_id", res.sid, "duration", res.duration, "reason", reason)
	} else {
		c.log.Info(verb+" done", "status", res.status, "dial_call_id", res.sid, "duration", res.duration)
	}
	c.event(EventDial, data)
	return res
}

// bridgeDial rings plan's targets at once, bridges the caller to the first that
// answers (CANCEL to the rest) and returns when either side hangs up, the
// time limit passes or the caller presses * (hangupOnStar). It runs on the
// call's goroutine.
func (c *Call) bridgeDial(ctx context.Context, plan dialPlan) dialResult {
	res := dialResult{status: "failed"}
	d := c.deps.Dial
	bc := c.ch.Bridge()
	if bc == nil || d.Outbound == nil || d.Engine == nil {
		c.log.Warn("dial: no outbound SIP configured")
		return res
	}
	if len(plan.targets) == 0 {
		return res
	}
	if !plan.answerOnBridge {
		if err := c.answer(ctx); err != nil {
			res.callerHungUp = true
			return res
		}
	}
	callerID, display := plan.callerID, ""
	if callerID == "" {
		callerID, display = c.info.CallerIDNumber, c.info.CallerIDName
	}
	dctx, cancelAll := context.WithCancel(ctx)
	defer cancelAll()
	progress := make(chan dialProgress, 32)
	answers := make(chan dialAnswer, len(plan.targets))
	pending := 0
	var failures []error
	caller := bc.Session()
	for _, t := range plan.targets {
		leg, local, err := openOutboundLeg(d, t, caller, c.log)
		if err != nil {
			failures = append(failures, err)
			continue
		}
		pending++
		legID := sip.NewCallID()
		leg.events = c.startLegCallbacks(t, legID, callerID)
		req := sip.OutboundRequest{
			Target: t.uri, FromUser: callerID, FromDisplay: display,
			Username: t.username, Password: t.password,
			Source: t.source, RootCAs: t.roots,
			LocalRTP: local, RingTimeout: plan.timeout, SRTP: t.srtp, CallID: legID,
			OnProgress: func(p sip.Progress) {
				select {
				case progress <- dialProgress{leg, p}:
				default:
				}
			},
		}
		go func() {
			oc, err := d.Outbound.Dial(dctx, req)
			leg.call = oc
			answers <- dialAnswer{leg, err}
		}()
		leg.events.initiated()
		c.log.Info("dial: ringing", "target", t.uri)
	}

	var winner, early *outboundLeg
	var bridge *media.Bridge
	var tone *ringback // stopped below, before this function goes on to bridge or return
	rang, callerGone := false, false
	// record-from-ringing starts rec at the first 18x, else the answer does; finishing is once.
	var rec *dialRecording
	defer func() { rec.finish(c) }()
	for winner == nil && pending > 0 && !callerGone {
		select {
		case pe := <-progress:
			pe.leg.events.ringing()
			if plan.record == recordFromRinging && rec == nil {
				rec = c.startDialRecording(nil, caller, plan)
			}
			if !c.answered && !rang {
				rang = true
				if err := c.ch.Ring(); err != nil && !c.ended() {
					c.log.Warn("ringing failed", "err", err)
				}
			}
			if c.answered && tone == nil && early == nil {
				// An answered caller's phone no longer rings by itself: play it the ringback
				// a carrier would, until a callee's early media or answer replaces it.
				tone = startRingback(caller, plan.ringTone)
			}
			if pe.p.EarlyMedia == nil || early != nil {
				continue
			}
			// The callee's ringback or announcement: passed to the caller (answered, or
			// unanswered with answerOnBridge, in a 183 of our own).
			if err := pe.leg.startMedia(*pe.p.EarlyMedia); err != nil {
				continue
			}
			if !c.answered {
				if err := bc.EarlyMedia(ctx); err != nil {
					c.log.Debug("dial: no early media toward the caller", "err", err)
					continue
				}
			}
			if br, err := media.NewBridge(caller, pe.leg.sess); err == nil {
				early, bridge = pe.leg, br
				tone.stop()
			}
		case a := <-answers:
			pending--
			if a.err != nil {
				failures = append(failures, a.err)
				c.log.Info("dial: target failed", "target", a.leg.target.uri, "err", a.err)
				if a.leg == early {
					bridge.Stop()
					early, bridge = nil, nil
					tone = nil // the next target's ringing brings the ringback back
				}
				a.leg.end(a.err)
				continue
			}
			winner = a.leg
			winner.events.answer()
		case <-c.ch.Context().Done():
			callerGone = true
		}
	}
	tone.stop()
	cancelAll() // CANCEL every other target
	if pending > 0 {
		go reapDialLegs(answers, pending)
	}
	if winner == nil {
		if bridge != nil {
			bridge.Stop()
		}
		if c.ended() {
			res.status, res.callerHungUp = "canceled", true
			return res
		}
		res.status = dialFailureStatus(failures)
		return res
	}
	defer func() { winner.close() }() // winner: the callee of the moment (a transfer replaces it)
	res.sid = winner.call.CallID()
	c.log.Info("dial: answered", "target", winner.target.uri, "dial_call_id", res.sid)
	c.ctl.bridgedTo(res.sid)
	defer c.ctl.bridgedTo("")
	if bridge != nil && early != winner {
		bridge.Stop()
		bridge = nil
	}
	if err := winner.startMedia(winner.call.Media()); err != nil {
		c.log.Warn("dial: callee media", "err", err)
		return res
	}
	winner.call.OnMediaChange(func(md sip.MediaDesc) {
		if err := winner.startMedia(md); err != nil {
			c.log.Warn("dial: callee re-INVITE media not applied", "err", err)
		}
	})
	if winner.target.whisper != "" {
		if bridge != nil { // the callee's document is for the callee alone
			bridge.Stop()
			bridge = nil
		}
		if c.answered || early != nil {
			tone = startRingback(caller, plan.ringTone)
		}
		connect := c.runWhisper(ctx, winner, callerID, display)
		tone.stop()
		if !connect {
			res.status, res.callerHungUp = whisperStatus, c.ended()
			return res
		}
	}
	if err := c.answer(ctx); err != nil {
		if bridge != nil {
			bridge.Stop()
		}
		res.status, res.callerHungUp = "canceled", true
		return res
	}
	if bridge == nil {
		br, err := media.NewBridge(caller, winner.sess)
		if err != nil {
			c.log.Error("dial: bridge", "err", err)
			return res
		}
		bridge = br
	}
	defer func() { bridge.Stop() }() // bridge: the one of the moment (a transfer replaces it)
	answeredAt := time.Now()
	if rec == nil {
		rec = c.startDialRecording(bridge, caller, plan)
	}
	// Keys for the callee: <Number sendDigits> (an extension, a PIN) once it answers, then what the
	// caller sends by SIP INFO; and the callee's INFO keys for the caller. They replace the relayed
	// audio toward that party while they sound.
	toCallee := startKeySender(winner.sess, winner.target.sendDigits, c.log)
	defer func() { toCallee.stop() }()
	toCaller := startKeySender(caller, "", c.log)
	defer func() { toCaller.stop() }()
	bc.RelayInfoDigits(toCallee.send)
	defer bc.RelayInfoDigits(nil)
	winner.call.OnDigit(toCaller.send)

	// Either party may ask by REFER to be replaced by someone else (dial_transfer.go). Once the caller
	// was, callerLeg is the leg that took its place and the caller's own dialog no longer ends the Dial.
	xfers := newTransfers()
	var run *transferRun
	var callerLeg *outboundLeg
	bc.OnTransfer(xfers.handler(true))
	winner.call.OnTransfer(xfers.handler(false))
	defer func() {
		bc.OnTransfer(nil)
		winner.call.OnTransfer(nil)
		if callerLeg != nil {
			callerLeg.call.OnTransfer(nil)
			callerLeg.close()
		}
		xfers.stop(run)
	}()
	callerSess := caller
	callerDone, ctxDone, digits := c.ch.Context().Done(), ctx.Done(), c.ch.Digits()
	callerFrom := c.info.CallID

	var limit <-chan time.Time
	if plan.timeLimit > 0 {
		t := time.NewTimer(plan.timeLimit)
		defer t.Stop()
		limit = t.C
	}
	calleeDone := winner.done()
	res.status = "completed"
wait:
	for {
		var ringing chan dialAnswer
		if run != nil {
			ringing = run.answers
		}
		select {
		case <-callerDone:
			if run != nil && run.byCaller { // a blind transferor may hang up at once (RFC 5589 §6)
				run.gone, callerDone, ctxDone = true, nil, nil
				continue
			}
			res.callerHungUp = true
			break wait
		case <-ctxDone:
			if run != nil && run.byCaller {
				run.gone, callerDone, ctxDone = true, nil, nil
				continue
			}
			res.callerHungUp = true
			break wait
		case <-calleeDone:
			if run != nil && !run.byCaller {
				run.gone, calleeDone = true, nil
				continue
			}
			c.log.Info("dial: the callee hung up")
			break wait
		case <-limit:
			c.log.Info("dial: time limit reached", "limit", plan.timeLimit)
			break wait
		case k := <-digits: // relayed in the media already; here only * matters
			if k == '*' && plan.hangupOnStar {
				c.log.Info("dial: the caller pressed *, ending the bridge")
				break wait
			}
		case ask := <-xfers.asks:
			from := winner.call.CallID()
			if ask.byCaller && callerLeg != nil {
				from = callerLeg.call.CallID()
			} else if ask.byCaller {
				from = callerFrom
			}
			run = c.startTransfer(xfers, ask, plan, from, callerID, display, caller)
		case a := <-ringing:
			done := run
			run = nil
			if a.err == nil {
				a.err = a.leg.startMedia(a.leg.call.Media())
			}
			if a.err != nil {
				a.leg.close()
				code, reason := transferFailure(a.err)
				c.transferFailed(xfers, done, code, reason, a.err)
				if done.gone { // the referrer hung up for nothing: its side of the Dial is over
					res.callerHungUp = done.byCaller
					break wait
				}
				continue
			}
			// The target answered: it takes the referrer's place, the other party stays.
			bridge.Stop()
			rec.finish(c)
			newLeg := a.leg
			if done.byCaller {
				old := callerLeg // nil: the caller itself, which sip hangs up after its NOTIFY
				bc.OnTransfer(nil)
				if old != nil {
					old.call.OnTransfer(nil)
				}
				callerLeg, callerSess = newLeg, newLeg.sess
				callerDone, ctxDone, digits = newLeg.done(), nil, nil
				toCaller.stop()
				toCaller = startKeySender(newLeg.sess, "", c.log)
				winner.call.OnDigit(toCaller.send)
				bc.RelayInfoDigits(nil)
				newLeg.call.OnDigit(toCallee.send)
				newLeg.call.OnTransfer(xfers.handler(true))
				xfers.report(done.t, 200, "OK", func() {
					if old != nil {
						old.close()
					}
				})
			} else {
				old := winner
				old.call.OnTransfer(nil)
				winner, calleeDone = newLeg, newLeg.done()
				c.ctl.bridgedTo(newLeg.call.CallID())
				toCallee.stop()
				toCallee = startKeySender(newLeg.sess, "", c.log)
				if callerLeg != nil {
					callerLeg.call.OnDigit(toCallee.send)
				} else {
					bc.RelayInfoDigits(toCallee.send)
				}
				newLeg.call.OnDigit(toCaller.send)
				newLeg.call.OnTransfer(xfers.handler(false))
				xfers.report(done.t, 200, "OK", old.close)
			}
			c.log.Info("dial: transferred", "by", done.by(), "target", done.t.Target, "dial_call_id", newLeg.call.CallID())
			c.transferEvent(done, "completed", 200)
			xfers.busy.Store(false)
			br, err := media.NewBridge(callerSess, winner.sess)
			if err != nil {
				c.log.Error("dial: bridge after a transfer", "err", err)
				break wait
			}
			bridge = br
			if plan.record == recordFromRinging {
				rec = c.startDialRecording(nil, callerSess, plan)
			} else {
				rec = c.startDialRecording(bridge, nil, plan)
			}
		}
	}
	res.duration = int(time.Since(answeredAt).Round(time.Second) / time.Second)
	bridge.Stop()
	winner.close() // BYE to the callee at once when the caller hung up (deferred close is then a no-op)
	if callerLeg != nil {
		// The caller was transferred away: what the document says next has nobody to run for.
		res.callerHungUp = true
	}
	rec.finish(c)
	return res
}

// ringback loops a country's ringback tone to the answered caller while the
// targets ring.
type ringback struct {
	cancel context.CancelFunc
	done   chan struct{}
}

func startRingback(caller *media.Session, country string) *ringback {
	ctx, cancel := context.WithCancel(context.Background())
	r := &ringback{cancel: cancel, done: make(chan struct{})}
	p := codec.Ringback(country)
	go func() {
		defer close(r.done)
		for ctx.Err() == nil {
			if caller.Play(ctx, p) != nil {
				return
			}
		}
	}()
	return r
}

// stop ends the tone and waits until it no longer plays; nil and stopped
// ringbacks are fine.
func (r *ringback) stop() {
	if r == nil {
		return
	}
	r.cancel()
	<-r.done
}

// reapDialLegs collects the targets still ringing after the dial was decided:
// each gets CANCEL (its context ended); one that answered anyway is hung up.
func reapDialLegs(answers <-chan dialAnswer, n int) {
	for range n {
		a := <-answers
		a.leg.end(a.err)
	}
}

// dialFailureStatus is DialCallStatus when no target answered: busy if any
// was busy, else no-answer if any rang out, else canceled or failed.
func dialFailureStatus(failures []error) string {
	status := "failed"
	rank := map[string]int{"busy": 4, "no-answer": 3, "canceled": 2, "failed": 1}
	for _, err := range failures {
		s := "failed"
		switch {
		case errors.Is(err, sip.ErrBusy):
			s = "busy"
		case errors.Is(err, sip.ErrNoAnswer):
			s = "no-answer"
		case errors.Is(err, sip.ErrCanceled):
			s = "canceled"
		}
		if rank[s] > rank[status] {
			status = s
		}
	}
	return status
}

// normaliseNumber drops the spaces, dashes, dots and parentheses people write
// in phone numbers.
func normaliseNumber(s string) string {
	return strings.Map(func(r rune) rune {
		if r == ' ' || r == '-' || r == '(' || r == ')' || r == '.' {
			return -1
		}
		return r
	}, strings.TrimSpace(s))
}
