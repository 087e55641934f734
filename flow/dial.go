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
	leg dialLeg
	err error
}

type dialProgress struct {
	leg dialLeg
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

// bridgeDial rings plan's targets at once, bridges the caller to the first that answers (CANCEL to
// the rest) and returns when either side hangs up, the time limit passes or the caller presses *
// (hangupOnStar). It runs on the call's goroutine; dial_attempt.go has each step.
func (c *Call) bridgeDial(ctx context.Context, plan dialPlan) dialResult {
	d := c.deps.Dial
	bc := c.ch.Bridge()
	if bc == nil || bc.Session() == nil || d.Outbound == nil || d.Engine == nil {
		c.log.Warn("dial: no outbound SIP configured")
		return dialResult{status: "failed"}
	}
	return c.attemptDial(ctx, plan, bc, sipDialEnv(d, bc.Session(), c.log))
}

// attemptDial is bridgeDial on env's media and legs (dial_deps.go).
func (c *Call) attemptDial(ctx context.Context, plan dialPlan, bc BridgeLeg, env dialEnv) dialResult {
	if len(plan.targets) == 0 {
		return dialResult{status: "failed"}
	}
	if !plan.answerOnBridge {
		if err := c.answer(ctx); err != nil {
			return dialResult{status: "failed", callerHungUp: true}
		}
	}
	a := newDialAttempt(c, plan, bc, env)
	defer a.cleanup()
	a.ringTargets(ctx)
	if a.waitForAnswer(ctx) && a.connect(ctx) {
		a.stayBridged(ctx)
	}
	return a.res
}

// ringback loops a country's ringback tone to the answered caller while the
// targets ring.
type ringback struct {
	cancel context.CancelFunc
	done   chan struct{}
}

func startRingback(caller dialParty, country string) *ringback {
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
