package flow

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"time"
)

// The registry of calls is what the Calls API (package callapi) sees and steers: every inbound call
// flow.Server takes and every call Server.Originate places gets a sid (Twilio's form, CA + 32 hex,
// which its helper libraries accept) and an entry, kept while the call is live and for a bounded
// while after it ended. The entry's steers channel is how a request from outside reaches the call:
// a steer cancels the action the call's goroutine runs (Call.runSteerable), which then reads it, so
// nothing outside that goroutine touches the Call and no other goroutine per call waits for one.

// Call directions as the Calls API reports them (Twilio's names).
const (
	DirectionInbound     = "inbound"
	DirectionOutboundAPI = "outbound-api"
)

// Call statuses as the Calls API reports them (Twilio's names).
const (
	StatusQueued     = "queued"
	StatusRinging    = "ringing"
	StatusInProgress = "in-progress"
	StatusCompleted  = "completed"
	StatusBusy       = "busy"
	StatusFailed     = "failed"
	StatusNoAnswer   = "no-answer"
	StatusCanceled   = "canceled"
)

// CallRecord is what the registry knows of one call, as a copy the caller may keep.
type CallRecord struct {
	Sid       string // CA + 32 hex
	SIPCallID string // the SIP Call-ID; "" while an outbound call has not been answered
	AccountID string
	From, To  string
	Direction string // DirectionInbound or DirectionOutboundAPI
	Status    string // one of the Status constants
	// Created is when the call reached pivotua (inbound) or was requested (outbound); Answered and
	// Ended are zero until then.
	Created, Answered, Ended time.Time
	Updated                  time.Time
	SIPResponseCode          int // the final SIP response of an outbound call; 0 when none
	// OtherLeg is the Call-ID of the leg a Dial (or a transfer) bridged the call to, while bridged.
	OtherLeg string
	// Node is the node holding the call and EndReason why another node ended it (its own died);
	// both only when nodes share their calls (calls_cluster.go).
	Node, EndReason string
}

// Live reports whether the call is not over yet.
func (r CallRecord) Live() bool { return r.Ended.IsZero() }

// Duration is how long the call was answered, in whole seconds (Twilio's duration); 0 for one
// never answered.
func (r CallRecord) Duration() int {
	if r.Answered.IsZero() {
		return 0
	}
	end := r.Ended
	if end.IsZero() {
		end = time.Now()
	}
	return int(end.Sub(r.Answered).Round(time.Second) / time.Second)
}

// CallUpdate is a change the Calls API asks of a call: new instructions (URL and Method, a parsed
// TwiML document, or a validated Kazoo callflow node that replaces the flow running), or a Status
// (StatusCompleted hangs up a live call, StatusCanceled cancels one that is not answered yet).
type CallUpdate struct {
	URL, Method string
	TwiML       *TwiML
	Flow        *Node
	Status      string
	// Action names the update in the call's events ("" is the Calls API's "update"; the channels
	// API's are hangup, transfer, pivot).
	Action string
}

// steer is a CallUpdate on its way to the call's goroutine.
type steer struct {
	hangup      bool
	url, method string
	doc         *TwiML
	flow        *Node
}

// callEntry is one call in the registry. sid never changes, nor steers until the call ended (end
// drops it: nothing steers an ended call, and the registry keeps thousands of them); rec, cancelDial
// and interrupt are guarded by the registry's mutex.
type callEntry struct {
	reg       *Calls
	sid       string
	direction string     // rec.Direction, which never changes: read without the lock
	steers    chan steer // capacity 1: the latest update waits for the call's goroutine
	rec       CallRecord
	// cancelDial ends an outbound call's INVITE while it rings (Status canceled or completed before
	// an answer); nil once answered or for an inbound call.
	cancelDial context.CancelFunc
	// interrupt cancels the action the call's goroutine runs (Call.runSteerable), while one runs: a
	// steer sent calls it, so no goroutine per call waits for steers.
	interrupt context.CancelFunc
}

// Calls is the registry of live and recently ended calls. Its methods are safe for concurrent use.
type Calls struct {
	mu       sync.Mutex
	bySid    map[string]*callEntry
	bySIP    map[string]*callEntry // by SIP Call-ID, so a sid from an inbound webhook's CallSid works too
	ended    []*callEntry          // oldest first
	maxEnded int
	keep     time.Duration
	now      func() time.Time
	cluster  *clusterState // nil: this node's calls only (calls_cluster.go)
}

// NewCalls returns a registry that keeps at most maxEnded ended calls, each for at most keep.
func NewCalls(maxEnded int, keep time.Duration) *Calls {
	return &Calls{bySid: map[string]*callEntry{}, bySIP: map[string]*callEntry{}, maxEnded: maxEnded, keep: keep, now: time.Now}
}

// newCallSid returns CA and 32 random hex digits, Twilio's form of a call sid.
func newCallSid() string { return newSid("CA") }

// register adds a live call; rec's Sid is set here.
func (r *Calls) register(rec CallRecord) *callEntry {
	now := r.now()
	rec.Sid, rec.Created, rec.Updated = newCallSid(), now, now
	e := &callEntry{reg: r, sid: rec.Sid, direction: rec.Direction, steers: make(chan steer, 1), rec: rec}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.pruneLocked(now)
	r.bySid[e.sid] = e
	if rec.SIPCallID != "" {
		r.bySIP[rec.SIPCallID] = e
	}
	r.shareLocked(&e.rec)
	return e
}

// update changes a live entry's record under the lock.
func (r *Calls) update(e *callEntry, fn func(*CallRecord)) CallRecord {
	if r == nil || e == nil {
		return CallRecord{}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	fn(&e.rec)
	e.rec.Updated = r.now()
	if id := e.rec.SIPCallID; id != "" && r.bySIP[id] == nil {
		r.bySIP[id] = e
	}
	r.shareLocked(&e.rec)
	return e.rec
}

// end marks the call over with its final status and keeps it among the ended calls.
func (r *Calls) end(e *callEntry, status string) CallRecord {
	if r == nil || e == nil {
		return CallRecord{}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	now := r.now()
	if !e.rec.Ended.IsZero() {
		return e.rec
	}
	e.rec.Status, e.rec.Ended, e.rec.Updated, e.cancelDial = status, now, now, nil
	e.steers = nil // the call's goroutine, its only reader without the lock, ended the call: it is done with it
	r.shareLocked(&e.rec)
	r.ended = append(r.ended, e)
	r.pruneLocked(now)
	return e.rec
}

// pruneLocked forgets ended calls beyond maxEnded or older than keep.
func (r *Calls) pruneLocked(now time.Time) {
	drop := 0
	for drop < len(r.ended) && (len(r.ended)-drop > r.maxEnded || now.Sub(r.ended[drop].rec.Ended) > r.keep) {
		e := r.ended[drop]
		delete(r.bySid, e.sid)
		if r.bySIP[e.rec.SIPCallID] == e {
			delete(r.bySIP, e.rec.SIPCallID)
		}
		drop++
	}
	if drop > 0 {
		// Reslice rather than shift: at max_ended (10,000 by default) a shift copied every kept
		// entry for each call that ended, under the registry's lock (5 % of pivotua's CPU at 1,000
		// setups a second). append moves the kept ones to a new array when this one is used up;
		// until then the slots before the start are cleared so the GC can have their calls.
		clear(r.ended[:drop])
		r.ended = r.ended[drop:]
	}
}

// lookupLocked finds an account's call by its sid or its SIP Call-ID.
func (r *Calls) lookupLocked(accountID, key string) *callEntry {
	e := r.bySid[key]
	if e == nil {
		e = r.bySIP[key]
	}
	if e == nil || e.rec.AccountID != accountID {
		return nil
	}
	return e
}

// Get returns the account's call whose sid (or SIP Call-ID) is key.
func (r *Calls) Get(accountID, key string) (CallRecord, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.pruneLocked(r.now())
	e := r.lookupLocked(accountID, key)
	if e == nil {
		return CallRecord{}, false
	}
	return e.rec, true
}

// List returns the account's calls, live and ended, newest first.
func (r *Calls) List(accountID string) []CallRecord {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.pruneLocked(r.now())
	var out []CallRecord
	for _, e := range r.bySid {
		if e.rec.AccountID == accountID {
			out = append(out, e.rec)
		}
	}
	slices.SortFunc(out, func(a, b CallRecord) int {
		if c := b.Created.Compare(a.Created); c != 0 {
			return c
		}
		return cmpString(a.Sid, b.Sid)
	})
	return out
}

func cmpString(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// LiveOutbound counts the account's live calls placed through the Calls API.
func (r *Calls) LiveOutbound(accountID string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, e := range r.bySid {
		if e.rec.AccountID == accountID && e.rec.Direction == DirectionOutboundAPI && e.rec.Ended.IsZero() {
			n++
		}
	}
	return n
}

// LivePlaced counts the live calls placed through the Calls API, of every account: a drain waits
// for them as for inbound calls.
func (r *Calls) LivePlaced() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, e := range r.bySid {
		if e.direction == DirectionOutboundAPI && e.rec.Ended.IsZero() {
			n++
		}
	}
	return n
}

// HangupPlaced ends every live call placed through the Calls API (the drain's grace is over): BYE to
// the answered, CANCEL to the ringing. Inbound calls are sip.Server.HangupAll's.
func (r *Calls) HangupPlaced() {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, e := range r.bySid {
		if e.direction != DirectionOutboundAPI || !e.rec.Ended.IsZero() {
			continue
		}
		if e.cancelDial != nil {
			e.cancelDial()
			continue
		}
		e.steerLocked(steer{hangup: true})
	}
}

// Update steers the account's call key: ErrCallNotFound when there is none, ErrCallNotLive when it is
// over, ErrCallNotRinging for a cancel of an answered call. New instructions and a hangup reach the
// call's goroutine, which acts on them at once (the verb running stops); a call still ringing out is
// canceled here, and new instructions for it wait until it answers.
func (r *Calls) Update(accountID, key string, u CallUpdate) (CallRecord, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	e := r.lookupLocked(accountID, key)
	if e == nil {
		return CallRecord{}, fmt.Errorf("%w: %s", ErrCallNotFound, key)
	}
	if !e.rec.Ended.IsZero() {
		return e.rec, fmt.Errorf("%w: %s is %s", ErrCallNotLive, e.sid, e.rec.Status)
	}
	s := steer{url: u.URL, method: u.Method, doc: u.TwiML, flow: u.Flow}
	switch u.Status {
	case StatusCanceled, StatusCompleted:
		answered := !e.rec.Answered.IsZero()
		if u.Status == StatusCanceled && answered {
			return e.rec, fmt.Errorf("%w: %s is %s", ErrCallNotRinging, e.sid, e.rec.Status)
		}
		if e.cancelDial != nil {
			e.cancelDial()
			return e.rec, nil
		}
		s = steer{hangup: true}
	}
	e.steerLocked(s)
	return e.rec, nil
}

// steerLocked hands s to the call's goroutine and interrupts the action it runs. The latest update
// wins: one not yet taken by the call is replaced. The registry's mutex is held.
func (e *callEntry) steerLocked(s steer) {
	select {
	case <-e.steers:
	default:
	}
	e.steers <- s
	if e.interrupt != nil {
		e.interrupt()
	}
}

// running sets (or, with nil, clears) the cancel of the action the call's goroutine runs; a steer
// that came before the action started cancels it at once.
func (e *callEntry) running(cancel context.CancelFunc) {
	e.reg.mu.Lock()
	defer e.reg.mu.Unlock()
	e.interrupt = cancel
	if cancel != nil && len(e.steers) > 0 {
		cancel()
	}
}

// answeredNow notes the answer of a call that has an entry (nil: none).
func (e *callEntry) answeredNow(at time.Time) {
	if e == nil {
		return
	}
	e.reg.update(e, func(r *CallRecord) { r.Status, r.Answered = StatusInProgress, at })
}

// bridgedTo notes the Call-ID of the leg the call is bridged to ("" once it is not) for an entry
// (nil: none).
func (e *callEntry) bridgedTo(callID string) {
	if e == nil {
		return
	}
	e.reg.update(e, func(r *CallRecord) { r.OtherLeg = callID })
}

// runSteerable runs one action of the call so that an update from the Calls API can interrupt it: the
// action's context ends when one arrives (a prompt stops at its next frame, a Gather stops listening,
// a fetch is abandoned) and the update is returned for Run to act on.
func (c *Call) runSteerable(ctx context.Context, a kazooAction, n *Node) (kazooOutcome, *steer) {
	if c.ctl == nil {
		return a.run(ctx, c, n), nil
	}
	actx, cancel := context.WithCancel(ctx)
	c.ctl.running(cancel)
	out := a.run(actx, c, n)
	c.ctl.running(nil)
	cancel()
	select {
	case s := <-c.ctl.steers: // it interrupted the action, or came as it ended: either way it is next
		return out, &s
	default:
		return out, nil
	}
}

// steerAction is what a steer runs, and the node it runs as: the new document, fetched (with the
// running pivot's request format, timeout and debug flag, TwiML naming by default) or given inline;
// or a callflow node of its own, which Run then compiles as any other (no action is returned).
func (c *Call) steerAction(s *steer) (kazooAction, *Node) {
	if s.flow != nil {
		return nil, s.flow
	}
	a := pivotAction{method: "POST", format: "twiml", bodyFormat: "form", timeout: 5 * time.Second}
	if c.pivot.action != nil {
		a = *c.pivot.action
	}
	a.voiceURL, a.inline = s.url, s.doc
	if s.method != "" {
		a.method = s.method
	}
	return &a, &Node{Module: "pivot"}
}
