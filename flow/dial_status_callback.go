package flow

import (
	"errors"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/pivotua/pivotua/httpfetch"
	"github.com/pivotua/pivotua/sip"
)

// A <Number> or <Sip> noun's statusCallback follows that callee leg as Twilio's does: initiated when
// its INVITE goes out, ringing at its first 18x, answered at its 2xx, completed when it ends (with the
// leg's own final CallStatus: completed once answered, else busy, no-answer, failed or canceled).
// Each is a signed request with the leg's CallSid (its SIP Call-ID, chosen before the INVITE so every
// event names it, and the DialCallSid the action gets when it wins), ParentCallSid (the caller's),
// Direction=outbound-dial, CallbackSource, SequenceNumber and Timestamp, posted in order through a
// callbackPoster of the leg's own.

// legCallbackSpec is a noun's statusCallback, statusCallbackEvent and statusCallbackMethod; url "" =
// none.
type legCallbackSpec struct {
	url, method string
	events      []string // of CallbackInitiated ... CallbackCompleted
}

// parseLegCallback reads the three attributes of a <Number> or <Sip>. Events are separated by spaces
// (Twilio also accepts commas); the default is completed.
func parseLegCallback(p *twimlParser, a map[string]string, path string) *legCallbackSpec {
	spec := &legCallbackSpec{
		url:    p.urlAttr(a, path, "statusCallback"),
		method: p.enumAttr(a, path, "statusCallbackMethod", "POST", "GET", "POST"),
		events: []string{CallbackCompleted},
	}
	if s, ok := a["statusCallbackEvent"]; ok {
		spec.events = nil
		for _, ev := range strings.FieldsFunc(s, func(r rune) bool { return r == ' ' || r == ',' }) {
			switch ev {
			case CallbackInitiated, CallbackRinging, CallbackAnswered, CallbackCompleted:
				spec.events = append(spec.events, ev)
			default:
				p.fail(path+"@statusCallbackEvent", "must be initiated, ringing, answered and/or completed, separated by spaces")
				return nil
			}
		}
	}
	if spec.url == "" {
		return nil
	}
	return spec
}

// legCallbacks posts one callee leg's progress. Its methods are called by the call's goroutine, but
// for finish, which a leg's closing may call from the goroutine that reaps it: mu orders them.
// A nil *legCallbacks posts nothing.
type legCallbacks struct {
	want   map[string]bool
	req    httpfetch.PivotRequest
	called string // the callee: the number, or the SIP URI
	caller string
	callID string // the caller's, for the debug records
	iter   int
	poster *callbackPoster

	mu       sync.Mutex
	seq      int
	rang     bool
	answered time.Time
	ended    bool
}

// startLegCallbacks prepares the callbacks of a leg about to be placed with Call-ID legID; nil
// when t has no statusCallback or it cannot be resolved (logged: the leg is still placed).
func (c *Call) startLegCallbacks(t dialEndpoint, legID, callerID string) *legCallbacks {
	a := c.pivot.action
	spec := t.statusCallback
	if spec == nil || a == nil || c.deps.Documents == nil {
		return nil
	}
	target, err := c.resolveURL(spec.url)
	if err != nil {
		c.log.Warn("dial: statusCallback unusable, the leg is placed without it", "url", spec.url, "err", err)
		return nil
	}
	base := c.pivotRequest(a, target, spec.method)
	called := t.number
	if called == "" {
		called = t.uri
	}
	lc := &legCallbacks{
		want: map[string]bool{}, called: called, caller: callerID, callID: c.info.CallID, iter: c.pivot.iteration,
		req: httpfetch.PivotRequest{
			URL: target, Method: spec.method, Format: httpfetch.FormatTwiML, BodyFormat: httpfetch.BodyForm,
			Timeout: base.Timeout, SigningKey: base.SigningKey,
			Params: httpfetch.CallParams{
				AccountID: base.Params.AccountID, CallID: legID, ParentCallID: base.Params.CallID,
				Direction: "outbound-dial", From: callerID, To: called,
			},
		},
		poster: newCallbackPoster(callbackPosterConfig{
			fetch: c.deps.Documents, debug: c.deps.Debug, accountID: c.accountID, keep: a.debug,
			what: "dial: statusCallback", log: c.log.With("dial_call_id", legID),
		}),
	}
	for _, ev := range spec.events {
		lc.want[ev] = true
	}
	return lc
}

// initiated reports the INVITE sent.
func (lc *legCallbacks) initiated() {
	if lc != nil {
		lc.mu.Lock()
		defer lc.mu.Unlock()
		lc.post(CallbackInitiated, "initiated", nil)
	}
}

// ringing reports the leg's first 18x; later ones are not reported again.
func (lc *legCallbacks) ringing() {
	if lc == nil {
		return
	}
	lc.mu.Lock()
	defer lc.mu.Unlock()
	if lc.rang || lc.ended {
		return
	}
	lc.rang = true
	lc.post(CallbackRinging, "ringing", nil)
}

// answer reports the leg's 2xx.
func (lc *legCallbacks) answer() {
	if lc == nil {
		return
	}
	lc.mu.Lock()
	defer lc.mu.Unlock()
	lc.answered = time.Now()
	lc.post(CallbackAnswered, "in-progress", map[string]string{"SipResponseCode": "200"})
}

// finish reports the leg over, once: completed with its duration once answered, else the status
// err gives (busy, no-answer, failed, canceled); the series ends.
func (lc *legCallbacks) finish(err error) {
	if lc == nil {
		return
	}
	lc.mu.Lock()
	defer lc.mu.Unlock()
	if lc.ended {
		return
	}
	lc.ended = true
	extra := map[string]string{}
	status := "completed"
	if lc.answered.IsZero() {
		status = "canceled"
		if err != nil {
			status = dialFailureStatus([]error{err})
		}
		var de *sip.DialError
		if errors.As(err, &de) && de.Code != 0 {
			extra["SipResponseCode"] = strconv.Itoa(de.Code)
		}
	}
	secs := 0
	if !lc.answered.IsZero() {
		secs = int(time.Since(lc.answered).Round(time.Second) / time.Second)
	}
	extra["CallDuration"] = strconv.Itoa(secs)
	extra["Duration"] = strconv.Itoa((secs + 59) / 60)
	lc.post(CallbackCompleted, status, extra)
	lc.poster.close()
}

// post queues event's callback (CallStatus status) when the noun asked for it; lc.mu is held.
func (lc *legCallbacks) post(event, status string, extra map[string]string) {
	if !lc.want[event] {
		return
	}
	vars := map[string]string{
		"CallbackSource": "call-progress-events",
		"SequenceNumber": strconv.Itoa(lc.seq),
		"Timestamp":      time.Now().UTC().Format(time.RFC1123Z),
		"Called":         lc.called,
		"Caller":         lc.caller,
	}
	for k, v := range extra {
		vars[k] = v
	}
	lc.seq++
	r := lc.req
	r.Params.CallStatus, r.Params.Variables = status, vars
	lc.poster.post(callbackPost{event: event, req: r, callID: lc.callID, iteration: lc.iter})
}

// end closes a leg that was not answered (err: why) or was reaped, reporting err's status first.
func (o *outboundLeg) end(err error) {
	o.events.finish(err)
	o.close()
}
