package flow

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/pivotua/pivotua/httpfetch"
	"github.com/pivotua/pivotua/sip"
)

// A call the API places (Twilio's calls.create, the channels API's PUT) is an outbound leg standing
// alone: its own RTP session and INVITE, and once the callee answers, a Channel of its own (placedLeg:
// a Dial callee's calleeLeg that is also its own BridgeLeg, so a Dial in its document bridges it),
// running the document exactly as an inbound call's, with Direction=outbound-api and the registry's
// sid as its CallSid; or a Kazoo callflow given with the request. Its status callbacks go out in
// order from one goroutine per call.

const (
	// originateFetchTimeout is the document fetch's deadline for an API call (pivot's default).
	originateFetchTimeout = 5 * time.Second
	// callbackTimeout bounds one status callback.
	callbackTimeout = 5 * time.Second
	// EventAPI is the call inspector's event of a Calls API action on the call: action, and what it
	// asked.
	EventAPI = "api"
)

// Status callback events (Twilio's StatusCallbackEvent values).
const (
	CallbackInitiated = "initiated"
	CallbackRinging   = "ringing"
	CallbackAnswered  = "answered"
	CallbackCompleted = "completed"
)

// OriginateRequest is one call to place.
type OriginateRequest struct {
	AccountID string
	// To is a sip: or sips: URI, or a number dialled through the first trunk open to the account.
	To   string
	From string // caller ID: the INVITE's From user
	// URL and Method fetch the document run once the callee answers; TwiML is the document itself;
	// Flow is a validated Kazoo callflow run instead (the channels API's: a pivot node, or any flow).
	URL, Method string
	TwiML       *TwiML
	Flow        *Node
	// FallbackURL and FallbackMethod are fetched when URL fails (Twilio's FallbackUrl).
	FallbackURL, FallbackMethod string
	Timeout                     time.Duration // how long the callee may ring; 0: sip's default
	TimeLimit                   time.Duration // longest answered call; 0: no limit
	SendDigits                  string        // keys sent once answered, before the document ('w' waits 0.5 s)
	Callback                    StatusCallback
}

// StatusCallback is where a call's status changes are posted (Twilio's StatusCallback).
type StatusCallback struct {
	URL, Method string
	Events      []string // of CallbackInitiated ... CallbackCompleted; empty: completed only
}

// Originate places a call as req asks and returns its record at once (status queued); the call goes
// on in its own goroutine. It fails with ErrBadCallTarget for a To it cannot dial and ErrNoCapacity
// when no outbound SIP or RTP port is there.
func (s *Server) Originate(req OriginateRequest) (CallRecord, error) {
	d := s.cfg.Dial
	if s.cfg.Calls == nil || d.Outbound == nil || d.Engine == nil {
		return CallRecord{}, fmt.Errorf("%w: outbound SIP is not configured", ErrNoCapacity)
	}
	if msg := checkCallerID(req.From); msg != "" || req.From == "" {
		if msg == "" {
			msg = "required"
		}
		return CallRecord{}, fmt.Errorf("%w: From %q %s", ErrBadCallerID, req.From, msg)
	}
	ep, err := s.originateTarget(req)
	if err != nil {
		return CallRecord{}, err
	}
	first, flow, err := originateFlow(req)
	if err != nil {
		return CallRecord{}, err
	}
	log := s.log.With("account_id", req.AccountID)
	leg, local, err := openOutboundLeg(d, ep, nil, log)
	if err != nil {
		return CallRecord{}, fmt.Errorf("%w: %v", ErrNoCapacity, err)
	}
	user, _ := sipUserHost(ep.uri)
	e := s.cfg.Calls.register(CallRecord{AccountID: req.AccountID, From: req.From, To: req.To, Direction: DirectionOutboundAPI, Status: StatusQueued})
	ctx, cancel := context.WithCancel(context.Background())
	rec := s.cfg.Calls.update(e, func(*CallRecord) { e.cancelDial = cancel })
	log = log.With("call_sid", e.sid)
	log.Info("calls API: placing a call", "to", ep.uri)
	cb := s.startCallbacks(req, e.sid, user, log)
	sreq := sip.OutboundRequest{
		Target: ep.uri, FromUser: req.From, Username: ep.username, Password: ep.password,
		Source: ep.source, RootCAs: ep.roots, LocalRTP: local, RingTimeout: req.Timeout, SRTP: ep.srtp,
	}
	go s.runOriginated(ctx, cancel, e, leg, sreq, req, first, flow, cb, log)
	return rec, nil
}

// originateTarget resolves To: a SIP URI as written (sip's egress rules apply when it is dialled), a
// number through the account's trunk.
func (s *Server) originateTarget(req OriginateRequest) (dialEndpoint, error) {
	to := strings.TrimSpace(req.To)
	if isSIPTarget(to) {
		if msg := CheckSIPURI(to); msg != "" {
			return dialEndpoint{}, fmt.Errorf("%w: To %q %s", ErrBadCallTarget, to, msg)
		}
		return dialEndpoint{uri: to}, nil
	}
	ep, err := trunkURI(s.cfg.Dial.Trunks, "", normaliseNumber(to), req.AccountID)
	if err != nil {
		return dialEndpoint{}, fmt.Errorf("%w: To %q: %w", ErrBadCallTarget, to, err)
	}
	return ep, nil
}

// isSIPTarget reports whether a To or transfer target is a SIP URI rather than a number.
func isSIPTarget(to string) bool {
	lower := strings.ToLower(strings.TrimSpace(to))
	return strings.HasPrefix(lower, "sip:") || strings.HasPrefix(lower, "sips:")
}

// originateFlow is what the answered call runs: first (the Url's pivot or the inline document), and a
// placeholder pivot node whose "_" child fetches FallbackUrl when first fails; or the request's own
// callflow, with no first action.
func originateFlow(req OriginateRequest) (kazooAction, *Node, error) {
	if req.Flow != nil {
		return nil, req.Flow, nil
	}
	first := &pivotAction{voiceURL: req.URL, method: req.Method, format: httpfetch.FormatTwiML, bodyFormat: httpfetch.BodyForm,
		timeout: originateFetchTimeout, debug: true, inline: req.TwiML}
	if first.method == "" {
		first.method = "POST"
	}
	flow := &Node{Module: "pivot"}
	if req.FallbackURL == "" {
		return first, flow, nil
	}
	method := strings.ToLower(req.FallbackMethod)
	if method == "" {
		method = "post"
	}
	data, err := json.Marshal(map[string]any{"voice_url": req.FallbackURL, "method": method, "req_format": "twiml", "debug": true})
	if err != nil {
		return nil, nil, err
	}
	fallback := &Node{Module: "pivot", Data: data}
	if errs := ValidateNode(fallback, "FallbackUrl"); len(errs) > 0 {
		return nil, nil, errors.Join(errs...)
	}
	flow.Children = map[string]*Node{"_": fallback}
	return first, flow, nil
}

// runOriginated rings the callee, runs the document once it answers, and reports every step to the
// registry and the status callbacks.
func (s *Server) runOriginated(ctx context.Context, cancel context.CancelFunc, e *callEntry, leg *outboundLeg, sreq sip.OutboundRequest,
	req OriginateRequest, first kazooAction, flow *Node, cb *statusCallbacks, log *slog.Logger) {
	defer cancel()
	defer cb.close()
	calls := s.cfg.Calls
	rang := make(chan struct{}, 1)
	sreq.OnProgress = func(sip.Progress) {
		select {
		case rang <- struct{}{}:
		default:
		}
	}
	initiated := calls.update(e, func(*CallRecord) {})
	initiated.Status = "initiated" // a callback's status only: the call itself is queued until it rings
	cb.post(CallbackInitiated, initiated)
	type dialed struct {
		call *sip.OutboundCall
		err  error
	}
	done := make(chan dialed, 1)
	go func() {
		oc, err := s.cfg.Dial.Outbound.Dial(ctx, sreq)
		done <- dialed{oc, err}
	}()
	var res dialed
	for wait := true; wait; {
		select {
		case <-rang:
			cb.post(CallbackRinging, calls.update(e, func(r *CallRecord) { r.Status = StatusRinging }))
			rang = nil
		case res = <-done:
			wait = false
		}
	}
	if res.err != nil {
		_ = leg.sess.Close()
		status := dialFailureStatus([]error{res.err})
		var de *sip.DialError
		code := 0
		if errors.As(res.err, &de) {
			code = de.Code
		}
		log.Info("calls API: the call was not answered", "status", status, "err", res.err)
		calls.update(e, func(r *CallRecord) { r.SIPResponseCode = code })
		s.placedEnded(cb, calls.end(e, status))
		return
	}
	leg.call = res.call
	defer leg.close()
	answeredAt := time.Now()
	info := CallInfo{CallID: res.call.CallID(), From: req.From, To: sipUser(sreq.Target), CallerIDNumber: req.From, CallerIDName: req.From}
	_, info.ToRealm = sipUserHost(sreq.Target)
	info.Request, info.RequestRealm = info.To, info.ToRealm
	log = log.With("call_id", info.CallID)
	cb.post(CallbackAnswered, calls.update(e, func(r *CallRecord) {
		r.SIPCallID, r.Status, r.Answered, r.SIPResponseCode = info.CallID, StatusInProgress, answeredAt, 200
		e.cancelDial = nil
	}))
	if err := leg.startMedia(res.call.Media()); err != nil {
		log.Warn("calls API: callee media", "err", err)
		s.placedEnded(cb, calls.end(e, StatusFailed))
		return
	}
	res.call.OnMediaChange(func(md sip.MediaDesc) {
		if err := leg.startMedia(md); err != nil {
			log.Warn("calls API: callee re-INVITE media not applied", "err", err)
		}
	})
	ch := newPlacedLeg(leg, info, s.cfg.Observer, log)
	defer ch.stop()
	deps := s.cfg.Deps
	deps.Logger = s.log.With("account_id", req.AccountID, "call_sid", e.sid)
	c := NewCall(ch, req.AccountID, s.cfg.APIKeys[req.AccountID], deps)
	c.answered, c.answeredAt, c.ctl = true, answeredAt, e
	c.sendEvent(EventAPI, map[string]any{"action": "create", "sid": e.sid, "to": req.To, "from": req.From})
	runCtx := context.Background()
	if req.TimeLimit > 0 {
		var stop context.CancelFunc
		runCtx, stop = context.WithTimeout(runCtx, req.TimeLimit)
		defer stop()
	}
	if req.SendDigits != "" {
		if err := ch.SendDigits(runCtx, req.SendDigits, 0); err != nil {
			log.Warn("calls API: SendDigits not sent", "err", err)
		}
	}
	c.run(runCtx, flow, first, false)
	s.placedEnded(cb, calls.end(e, StatusCompleted))
}

// placedEnded reports a placed call's end: its completed callback and the metrics.
func (s *Server) placedEnded(cb *statusCallbacks, rec CallRecord) {
	cb.post(CallbackCompleted, rec)
	if s.cfg.Observer != nil {
		s.cfg.Observer.CallPlaced(placedOutcome(rec))
	}
}

// placedOutcome is a placed call's outcome in the metrics' words (Observer.CallEnded's).
func placedOutcome(rec CallRecord) string {
	switch rec.Status {
	case StatusCompleted:
		return "completed"
	case StatusCanceled:
		return "canceled"
	case StatusBusy, StatusNoAnswer:
		return "rejected"
	}
	if rec.SIPResponseCode == 0 { // refused before an INVITE left, or no response came
		return "failed"
	}
	return callOutcome(rec.SIPResponseCode)
}

func sipUser(uri string) string {
	u, _ := sipUserHost(uri)
	return u
}

// statusCallbacks posts a call's status changes to its StatusCallback, in order, through a
// callbackPoster.
type statusCallbacks struct {
	s      *Server
	req    OriginateRequest
	sid    string
	called string
	want   map[string]bool
	poster *callbackPoster // nil: no StatusCallback
	seq    int             // the next SequenceNumber; owned by the call's goroutine, which posts
}

func (s *Server) startCallbacks(req OriginateRequest, sid, called string, log *slog.Logger) *statusCallbacks {
	cb := &statusCallbacks{s: s, req: req, sid: sid, called: called, want: map[string]bool{}}
	if req.Callback.URL == "" {
		return cb
	}
	for _, ev := range req.Callback.Events {
		cb.want[ev] = true
	}
	if len(cb.want) == 0 {
		cb.want[CallbackCompleted] = true
	}
	cb.poster = newCallbackPoster(callbackPosterConfig{
		fetch: s.cfg.Documents, debug: s.cfg.Debug, accountID: req.AccountID, keep: true,
		what: "calls API: status callback", log: log,
	})
	return cb
}

// post queues event's callback when the request asked for it; the final status of an unanswered
// call goes out as Twilio's completed event (CallStatus busy, no-answer, failed or canceled).
func (cb *statusCallbacks) post(event string, rec CallRecord) {
	if cb.poster == nil || !cb.want[event] {
		return
	}
	callID := rec.SIPCallID
	if callID == "" {
		callID = cb.sid
	}
	cb.poster.post(callbackPost{event: event, req: cb.request(event, rec), callID: callID})
	cb.seq++
}

// close waits for the callbacks queued to go out; it runs on the call's goroutine once the call is
// over, so a slow target holds nothing but that goroutine.
func (cb *statusCallbacks) close() {
	cb.poster.close()
	cb.poster.wait()
}

// request is one callback with Twilio's parameters, signed like every request.
func (cb *statusCallbacks) request(event string, rec CallRecord) httpfetch.PivotRequest {
	vars := map[string]string{
		"CallbackSource": "call-progress-events",
		"SequenceNumber": strconv.Itoa(cb.seq),
		"Timestamp":      time.Now().UTC().Format(time.RFC1123Z),
		"Called":         cb.called,
		"Caller":         cb.req.From,
		"SipCallId":      rec.SIPCallID,
	}
	if rec.SIPResponseCode != 0 {
		vars["SipResponseCode"] = strconv.Itoa(rec.SIPResponseCode)
	}
	if event == CallbackCompleted {
		secs := rec.Duration()
		vars["CallDuration"] = strconv.Itoa(secs)
		vars["Duration"] = strconv.Itoa((secs + 59) / 60)
	}
	method := strings.ToUpper(cb.req.Callback.Method)
	if method == "" {
		method = "POST"
	}
	return httpfetch.PivotRequest{
		URL: cb.req.Callback.URL, Method: method, Format: httpfetch.FormatTwiML, BodyFormat: httpfetch.BodyForm,
		Timeout: callbackTimeout, SigningKey: cb.s.cfg.APIKeys[cb.req.AccountID],
		Params: httpfetch.CallParams{
			AccountID: cb.req.AccountID, CallID: cb.sid, Direction: DirectionOutboundAPI,
			From: cb.req.From, To: cb.req.To, CallStatus: rec.Status, Variables: vars,
		},
	}
}

// UpdateCall steers the account's call key (Calls.Update) and notes the action in the call's
// events.
func (s *Server) UpdateCall(accountID, key string, u CallUpdate) (CallRecord, error) {
	if s.cfg.Calls == nil {
		return CallRecord{}, fmt.Errorf("%w: %s", ErrCallNotFound, key)
	}
	rec, err := s.cfg.Calls.updateAnywhere(accountID, key, u)
	if err != nil {
		return rec, err
	}
	if s.cfg.Events != nil {
		action := u.Action
		if action == "" {
			action = "update"
		}
		data := map[string]any{"action": action, "sid": rec.Sid}
		switch {
		case u.Status != "":
			data["status"] = u.Status
		case u.TwiML != nil:
			data["twiml"] = true
		case u.Flow != nil:
			data["module"], data["data"] = u.Flow.Module, string(u.Flow.Data)
		default:
			data["url"] = u.URL
		}
		id := rec.SIPCallID
		if id == "" {
			id = rec.Sid
		}
		s.cfg.Events(Event{AccountID: accountID, CallID: id, At: time.Now(), Name: EventAPI, Data: data})
	}
	return rec, nil
}

// TransferCall bridges the account's live call key to target, as a Dial would (the channels API's
// transfer): a number through the account's trunk (module resources) or a sip: URI (sip_uri) replaces
// what the call runs; when that leg ends, so does the call. A target the account cannot dial is
// refused here with ErrBadCallTarget, before the call is touched.
func (s *Server) TransferCall(accountID, key, target string) (CallRecord, error) {
	ep, err := s.originateTarget(OriginateRequest{AccountID: accountID, To: target})
	if err != nil {
		return CallRecord{}, err
	}
	module, data := "resources", map[string]any{"to_did": normaliseNumber(target)}
	if isSIPTarget(target) {
		module, data = "sip_uri", map[string]any{"uri": ep.uri}
	}
	raw, err := json.Marshal(data)
	if err != nil {
		return CallRecord{}, err
	}
	n := &Node{Module: module, Data: raw}
	if errs := ValidateNode(n, "transfer"); len(errs) > 0 {
		return CallRecord{}, fmt.Errorf("%w: %w", ErrBadCallTarget, errors.Join(errs...))
	}
	return s.UpdateCall(accountID, key, CallUpdate{Flow: n, Action: "transfer"})
}

// CheckCallerID returns why id cannot be the caller ID (From user) of an outbound call, or "".
func CheckCallerID(id string) string { return checkCallerID(id) }

// GetCall returns the account's call whose sid or SIP Call-ID is key.
func (s *Server) GetCall(accountID, key string) (CallRecord, bool) {
	if s.cfg.Calls == nil {
		return CallRecord{}, false
	}
	return s.cfg.Calls.getAnywhere(accountID, key)
}

// ListCalls returns the account's calls, live and recently ended, newest first.
func (s *Server) ListCalls(accountID string) []CallRecord {
	if s.cfg.Calls == nil {
		return nil
	}
	return s.cfg.Calls.listAnywhere(accountID)
}
