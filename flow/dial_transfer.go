package flow

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pivotua/pivotua/sip"
)

// This file is a bridged Dial's side of a transfer a party asks for by REFER (RFC 3515 blind
// transfer; sip/refer_in.go accepts the REFER with sip.accept_refer on): the Refer-To target is
// dialled as a new leg, and when it answers it takes the referrer's place in the bridge; the other
// party never leaves it. A target that fails leaves the bridge as it was.

// EventTransfer names a transfer a bridged party asked for by REFER: by (caller or callee), from
// (the referrer's Call-ID), to (the target), referred_by, status (completed or failed), code.
const EventTransfer = "transfer"

// defaultTransferTimeout is how long a transfer target may ring when the Dial names no timeout.
const defaultTransferTimeout = 30 * time.Second

// OnTransfer hands the caller's accepted REFERs to fn (nil: none, a REFER then gets 403).
func (l *inboundLeg) OnTransfer(fn func(*sip.Transfer) bool) { l.sip.OnTransfer(fn) }

// transferAsk is a REFER accepted by sip, on its way to the call's goroutine.
type transferAsk struct {
	t        *sip.Transfer
	byCaller bool // the caller's side referred (else the callee's)
}

// transferRun is a transfer in progress: its target ringing.
type transferRun struct {
	transferAsk
	from     string          // the referrer's Call-ID, for the event
	answers  chan dialAnswer // the target's answer (cap 1)
	gone     bool            // the referrer hung up meanwhile
	started  time.Time
	callerID string
}

// transfers is what a bridged Dial keeps for its transfers: the REFERs sip hands over, one at a
// time, and the goroutines that report outcomes (Transfer.Finish, which waits for the referrer's
// BYE) so the Dial does not end before them.
type transfers struct {
	busy      atomic.Bool // a transfer runs: another REFER gets 491 (sip's handler returns false)
	asks      chan transferAsk
	ctx       context.Context // the targets' dials: ends with the Dial
	cancel    context.CancelFunc
	finishing sync.WaitGroup
}

func newTransfers() *transfers {
	ctx, cancel := context.WithCancel(context.Background())
	return &transfers{asks: make(chan transferAsk, 1), ctx: ctx, cancel: cancel}
}

// handler is what a bridged dialog's OnTransfer gets. It runs on a sipgo goroutine and never blocks:
// busy admits one transfer at a time, and asks has room for it.
func (x *transfers) handler(byCaller bool) func(*sip.Transfer) bool {
	return func(t *sip.Transfer) bool {
		if !x.busy.CompareAndSwap(false, true) {
			return false
		}
		x.asks <- transferAsk{t: t, byCaller: byCaller}
		return true
	}
}

// report tells the referrer the outcome (and, after a success, lets it hang up or sends BYE) on a
// goroutine of its own, then runs after (closing the leg the transfer replaced).
func (x *transfers) report(t *sip.Transfer, code int, reason string, after func()) {
	x.finishing.Add(1)
	go func() {
		defer x.finishing.Done()
		t.Finish(code, reason)
		if after != nil {
			after()
		}
	}()
}

// stop calls off a transfer still ringing (its target gets CANCEL, the referrer 487) and waits until
// every referrer has its outcome.
func (x *transfers) stop(run *transferRun) {
	x.cancel()
	if run != nil {
		x.finishing.Add(1)
		go func() {
			defer x.finishing.Done()
			a := <-run.answers
			a.leg.close()
			run.t.Finish(487, "Request Terminated")
		}()
	}
	x.finishing.Wait()
}

// startTransfer dials the target of ask as a new leg opened by legs (on the caller's tick like every
// Dial leg); nil when it cannot be dialled at all (the referrer then has its failure).
func (c *Call) startTransfer(x *transfers, ask transferAsk, plan dialPlan, from, callerID, display string, legs dialLegs) *transferRun {
	run := &transferRun{transferAsk: ask, from: from, answers: make(chan dialAnswer, 1), started: time.Now(), callerID: callerID}
	c.log.Info("dial: transfer asked", "by", run.by(), "target", ask.t.Target, "referred_by", ask.t.ReferredBy)
	ep, err := c.transferEndpoint(ask.t.Target)
	if err != nil {
		c.transferFailed(x, run, 403, "Forbidden", err)
		return nil
	}
	leg, local, err := legs.open(ep)
	if err != nil {
		c.transferFailed(x, run, 503, "Service Unavailable", err)
		return nil
	}
	timeout := plan.timeout
	if timeout <= 0 {
		timeout = defaultTransferTimeout
	}
	req := sip.OutboundRequest{
		Target: ep.uri, FromUser: callerID, FromDisplay: display,
		Username: ep.username, Password: ep.password, Source: ep.source, RootCAs: ep.roots,
		LocalRTP: local, RingTimeout: timeout, SRTP: ep.srtp, ReferredBy: ask.t.ReferredBy,
	}
	go func() {
		err := leg.ring(x.ctx, req)
		run.answers <- dialAnswer{leg, err}
	}()
	return run
}

// transferEndpoint is the leg to dial for a Refer-To target: checked as a <Sip> noun is, and when
// its host is a trunk's, with that trunk's credentials, source and SRTP, if the trunk is open to the
// account (trunks[].accounts).
func (c *Call) transferEndpoint(target string) (dialEndpoint, error) {
	if msg := CheckSIPURI(target); msg != "" {
		return dialEndpoint{}, fmt.Errorf("transfer target %q %s", target, msg)
	}
	_, host := sipUserHost(target)
	for i := range c.deps.Dial.Trunks {
		tr := &c.deps.Dial.Trunks[i]
		if _, trunkHost := sipUserHost(tr.URI); !strings.EqualFold(trunkHost, host) {
			continue
		}
		if !tr.openTo(c.accountID) {
			return dialEndpoint{}, fmt.Errorf("%w: trunk %q is not open to account %s", ErrTrunkNotAllowed, tr.Name, c.accountID)
		}
		return dialEndpoint{uri: target, username: tr.Username, password: tr.Password, source: tr.Source, roots: tr.RootCAs, srtp: tr.SRTP}, nil
	}
	return dialEndpoint{uri: target}, nil
}

// transferFailed reports a transfer that did not connect: the referrer gets the failure in its
// NOTIFY, and the bridge stays as it was.
func (c *Call) transferFailed(x *transfers, run *transferRun, code int, reason string, err error) {
	c.log.Info("dial: transfer failed", "by", run.by(), "target", run.t.Target, "code", code, "err", err)
	c.transferEvent(run, "failed", code)
	x.report(run.t, code, reason, nil)
	x.busy.Store(false)
}

// transferEvent reports a transfer's outcome in the call's events.
func (c *Call) transferEvent(run *transferRun, status string, code int) {
	c.event(EventTransfer, map[string]any{"by": run.by(), "from": run.from, "to": clip(run.t.Target),
		"referred_by": run.t.ReferredBy, "status": status, "code": code})
}

func (r *transferRun) by() string {
	if r.byCaller {
		return "caller"
	}
	return "callee"
}

// transferFailure is the status a referrer's NOTIFY reports for a target that did not answer: its
// own final response when it sent one, else 403 for a target sip.egress refuses, 408 for one that
// did not answer in time, 487 for a transfer called off, 503 otherwise.
func transferFailure(err error) (int, string) {
	var de *sip.DialError
	switch {
	case errors.As(err, &de) && de.Code >= 300:
		return de.Code, de.Reason
	case errors.Is(err, sip.ErrEgressDenied):
		return 403, "Forbidden"
	case errors.Is(err, sip.ErrNoAnswer):
		return 408, "Request Timeout"
	case errors.Is(err, sip.ErrCanceled):
		return 487, "Request Terminated"
	}
	return 503, "Service Unavailable"
}
