package sip

import (
	"context"
	"fmt"
	mathrand "math/rand/v2"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"
)

// SessionTimerConfig is how pivotua answers RFC 4028 session timers. The zero
// value turns them off: Session-Expires is ignored and never answered.
type SessionTimerConfig struct {
	// MinSE is the shortest interval accepted; a shorter offer gets 422 with
	// this as Min-SE (RFC 4028 §5). Never below 90 s (§4).
	MinSE time.Duration
	// Expires is the longest interval granted: a longer offer is lowered to
	// it (§9), and it is what we offer a caller that supports timers but
	// asked for none.
	Expires time.Duration
}

func (c SessionTimerConfig) on() bool { return c.Expires > 0 }

// RFC 4028 §4: no Min-SE may be below 90 seconds.
const minSessionExpires = 90 * time.Second

// maxDeltaSeconds bounds a caller's delta-seconds: anything longer is lowered
// to Expires anyway, so a 40-digit value costs no more than "1800".
const maxDeltaSeconds = 1 << 31

// parseSessionSeconds reads the delta-seconds (1*DIGIT) that starts a
// Session-Expires or Min-SE value (RFC 4028 §4) and the parameters after it.
// Values past maxDeltaSeconds read as maxDeltaSeconds.
func parseSessionSeconds(name, v string) (time.Duration, string, error) {
	num, params, _ := strings.Cut(v, ";")
	num = strings.TrimSpace(num)
	if num == "" {
		return 0, "", fmt.Errorf("%s %q: %w", name, v, ErrSessionExpires)
	}
	for _, r := range num {
		if r < '0' || r > '9' {
			return 0, "", fmt.Errorf("%s %q: not a number of seconds: %w", name, v, ErrSessionExpires)
		}
	}
	n, err := strconv.ParseUint(num, 10, 64)
	if err != nil || n > maxDeltaSeconds {
		n = maxDeltaSeconds
	}
	return time.Duration(n) * time.Second, params, nil
}

// sessionTerms is what a dialog's session timer was agreed to: the interval
// and who refreshes (RFC 4028 §9). A zero interval means no session timer.
type sessionTerms struct {
	interval  time.Duration
	refresher string // "uac" (the caller refreshes) or "uas" (we do)
	// peerTimer: the caller said Supported: timer (or Require), so our 2xx
	// may carry Require: timer (§9).
	peerTimer bool
}

// headers are the session timer headers of our 2xx to the INVITE or a refresh.
func (t sessionTerms) headers() []sip.Header {
	if t.interval == 0 {
		return nil
	}
	hs := []sip.Header{
		sip.NewHeader("Session-Expires", fmt.Sprintf("%d;refresher=%s", int64(t.interval/time.Second), t.refresher)),
	}
	if t.peerTimer {
		hs = append(hs, sip.NewHeader("Require", "timer"))
	}
	return hs
}

// byeAt is how long after a refresh the side that does not refresh sends BYE:
// before the session expires, interval - min(32 s, interval/3) (RFC 4028 §10).
func (t sessionTerms) byeAt() time.Duration { return t.interval - min(32*time.Second, t.interval/3) }

// hasOptionTag reports whether one of the request's name headers lists tag.
func hasOptionTag(req *sip.Request, tag string, names ...string) bool {
	for _, name := range names {
		for _, h := range req.GetHeaders(name) {
			for _, v := range strings.Split(h.Value(), ",") {
				if strings.EqualFold(strings.TrimSpace(v), tag) {
					return true
				}
			}
		}
	}
	return false
}

// oneHeader is the request's only value of a header known by its long and
// compact names; two of them are refused (which would we believe?).
func oneHeader(req *sip.Request, names ...string) (string, bool, error) {
	var vals []string
	for _, n := range names {
		for _, h := range req.GetHeaders(n) {
			vals = append(vals, h.Value())
		}
	}
	switch len(vals) {
	case 0:
		return "", false, nil
	case 1:
		return vals[0], true, nil
	}
	return "", false, fmt.Errorf("%s given %d times: %w", names[0], len(vals), ErrSessionExpires)
}

// refusal is a request's session timer that we answer with an error.
type refusal struct {
	code   int
	reason string
	hdrs   []sip.Header
}

// negotiate decides a dialog's session timer from an INVITE or refresh (RFC
// 4028 §9). current is the dialog's terms (zero for an initial INVITE): a
// refresh without Session-Expires keeps them, since a peer that vanished is
// what the timer is for. A refusal is a 400 naming the bad header or a 422
// carrying our Min-SE.
//
// When we refresh, we do it by UPDATE if the caller's INVITE listed it in
// Allow, else by re-INVITE (RFC 4028 §7.4), so either side may be the refresher.
func (c SessionTimerConfig) negotiate(req *sip.Request, current sessionTerms) (sessionTerms, *refusal) {
	if !c.on() {
		return sessionTerms{}, nil
	}
	bad := func(err error) (sessionTerms, *refusal) {
		return sessionTerms{}, &refusal{code: 400, reason: "Bad Request: " + err.Error()}
	}
	peerTimer := hasOptionTag(req, "timer", "Supported", "k", "Require")
	se, ok, err := oneHeader(req, "Session-Expires", "x")
	if err != nil {
		return bad(err)
	}
	if !ok {
		if current.interval > 0 {
			return current, nil
		}
		if !peerTimer {
			return sessionTerms{}, nil // a caller that knows nothing of timers gets none
		}
		// §9: the UAS may ask for one; the caller said it can refresh.
		return sessionTerms{interval: c.Expires, refresher: "uac", peerTimer: true}, nil
	}
	offered, params, err := parseSessionSeconds("Session-Expires", se)
	if err != nil {
		return bad(err)
	}
	if offered < c.MinSE {
		// §6: too short for us; the caller may retry with our Min-SE.
		return sessionTerms{}, &refusal{code: 422, reason: "Session Interval Too Small",
			hdrs: []sip.Header{sip.NewHeader("Min-SE", strconv.Itoa(int(c.MinSE/time.Second)))}}
	}
	var theirMin time.Duration
	if v, ok, err := oneHeader(req, "Min-SE"); err != nil {
		return bad(err)
	} else if ok {
		if theirMin, _, err = parseSessionSeconds("Min-SE", v); err != nil {
			return bad(err)
		}
	}
	// §9: lower a long offer to ours, never below the Min-SE the request carries.
	interval := min(offered, c.Expires)
	if interval < theirMin {
		interval = min(theirMin, offered)
	}
	refresher := ""
	for _, p := range strings.Split(params, ";") {
		k, v, _ := strings.Cut(strings.TrimSpace(p), "=")
		if strings.EqualFold(k, "refresher") {
			refresher = strings.ToLower(strings.TrimSpace(v))
		}
	}
	switch refresher {
	case "uac", "uas":
	case "":
		// §9: the UAS chooses; the caller that supports timers refreshes.
		refresher = "uas"
		if peerTimer {
			refresher = "uac"
		}
	default:
		return bad(fmt.Errorf("Session-Expires refresher %q is not uac or uas: %w", refresher, ErrSessionExpires))
	}
	if refresher == "uac" && !peerTimer {
		refresher = "uas" // §9: a caller without timer support cannot be the refresher
	}
	return sessionTerms{interval: interval, refresher: refresher, peerTimer: peerTimer}, nil
}

// sessionTimer runs one inbound dialog's session timer: when we refresh, it
// sends UPDATE (or re-INVITE) at half the interval (RFC 4028 §10); when the
// caller does, it sends BYE if no refresh came by byeAt.
type sessionTimer struct {
	call      *InboundCall
	canUpdate bool // the INVITE's Allow listed UPDATE: we refresh by UPDATE, else by re-INVITE
	// mu guards terms and timer; a refresh from the caller and the timer's
	// own goroutine both reset it.
	mu    sync.Mutex
	terms sessionTerms
	timer *time.Timer // nil before start, and after the dialog ended
	ended bool
}

func (st *sessionTimer) wait(t sessionTerms) time.Duration {
	if t.refresher == "uas" {
		return t.interval / 2
	}
	return t.byeAt()
}

// start arms the timer once the 2xx was ACKed; it stops when the dialog ends.
func (st *sessionTimer) start() {
	if st == nil {
		return
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.terms.interval == 0 || st.timer != nil || st.ended {
		return
	}
	st.timer = time.AfterFunc(st.wait(st.terms), st.fire)
	context.AfterFunc(st.call.Context(), func() {
		st.mu.Lock()
		st.ended = true
		st.timer.Stop()
		st.mu.Unlock()
	})
}

// refreshed records a refresh (ours or the caller's) under terms t: one timer
// per dialog is reset, so a flood of refreshes costs no more than one.
func (st *sessionTimer) refreshed(t sessionTerms) {
	st.mu.Lock()
	defer st.mu.Unlock()
	st.terms = t
	if st.timer == nil || st.ended || t.interval == 0 {
		return
	}
	st.timer.Reset(st.wait(t))
}

func (st *sessionTimer) current() sessionTerms {
	if st == nil {
		return sessionTerms{}
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	return st.terms
}

func (st *sessionTimer) fire() {
	c := st.call
	t := st.current()
	if c.Context().Err() != nil {
		return
	}
	if t.refresher == "uac" {
		c.srv.sessionExpired.Add(1)
		c.srv.log.Info("session timer expired: the caller did not refresh; sending BYE", "call_id", c.info.CallID,
			"session_expires", t.interval)
		c.byeWithReason(`SIP;cause=408;text="Session timer expired"`)
		return
	}
	t, err := c.sendRefresh(t, st.canUpdate)
	if err != nil {
		if c.Context().Err() != nil {
			return // the call ended while we waited: nothing expired
		}
		c.srv.sessionExpired.Add(1)
		c.srv.log.Info("session refresh failed; sending BYE", "call_id", c.info.CallID, "error", err)
		c.byeWithReason(`SIP;cause=408;text="Session refresh failed"`)
		return
	}
	st.refreshed(t)
}

// sendRefresh refreshes the session under terms t (RFC 4028 §7.4) and wants a
// 2xx, whose Session-Expires gives the terms from now on. A 422 raises the
// interval to its Min-SE and a 491 (glare with a re-INVITE of the caller)
// waits RFC 3261 §14.1's random delay; each is retried once. Anything else
// (408, 481, a timeout, a second refusal) fails the refresh.
func (c *InboundCall) sendRefresh(t sessionTerms, byUpdate bool) (sessionTerms, error) {
	raised, waited := false, false
	for {
		res, err := c.refreshOnce(t, byUpdate)
		if err != nil {
			return t, err
		}
		switch {
		case res.IsSuccess():
			if v := res.GetHeader("Session-Expires"); v != nil {
				if granted, _, err := parseSessionSeconds("Session-Expires", v.Value()); err == nil && granted >= minSessionExpires {
					t.interval = granted
				}
			}
			return t, nil
		case res.StatusCode == 422 && !raised:
			raised = true
			v := res.GetHeader("Min-SE")
			if v == nil {
				return t, fmt.Errorf("%s answered 422 without Min-SE", res.CSeq().MethodName)
			}
			minSE, _, err := parseSessionSeconds("Min-SE", v.Value())
			if err != nil {
				return t, fmt.Errorf("%s answered 422: %w", res.CSeq().MethodName, err)
			}
			t.interval = max(t.interval, minSE)
			continue
		case res.StatusCode == 491 && !waited:
			waited = true
			// RFC 3261 §14.1: the caller chose the Call-ID, so we are not its
			// owner and wait 0 to 2 s in units of 10 ms before trying again.
			delay := time.Duration(mathrand.IntN(201)) * 10 * time.Millisecond
			select {
			case <-time.After(delay):
			case <-c.Context().Done():
				return t, c.Context().Err()
			}
			continue
		}
		return t, fmt.Errorf("%s answered %d %s", res.CSeq().MethodName, res.StatusCode, res.Reason)
	}
}

// refreshOnce sends one session refresh and returns its final response. By
// UPDATE it carries no SDP (RFC 4028 §7.4: no offer, so the session is left
// alone). By re-INVITE it offers the SDP we last sent, byte for byte: same
// o= version since nothing changed (RFC 3264 §8), the same a=crypto on SRTP.
// A 2xx to the re-INVITE is ACKed here, and its answer taken.
func (c *InboundCall) refreshOnce(t sessionTerms, byUpdate bool) (*sip.Response, error) {
	method := sip.UPDATE
	var offer []byte
	if !byUpdate {
		method = sip.INVITE
		c.mu.Lock()
		offer = c.local.last
		c.mu.Unlock()
		if len(offer) == 0 {
			return nil, fmt.Errorf("re-INVITE: %w", ErrNoSDP)
		}
	}
	inv := c.dlg.InviteRequest
	req := sip.NewRequest(method, inv.Contact().Address)
	req.SetTransport(inv.Transport())
	// RFC 4028 §7.4: refresher names the side of this transaction that
	// refreshes, and we are its UAC here, whatever we were in the INVITE.
	req.AppendHeader(sip.NewHeader("Session-Expires", fmt.Sprintf("%d;refresher=uac", int64(t.interval/time.Second))))
	req.AppendHeader(sip.NewHeader("Supported", "timer"))
	if t.peerTimer {
		req.AppendHeader(sip.NewHeader("Require", "timer"))
	}
	if offer != nil {
		req.AppendHeader(sip.NewHeader("Content-Type", "application/sdp"))
		req.SetBody(offer)
	}
	dest, pinned := c.srv.invitesConnection(inv)
	if pinned {
		req.SetDestination(dest)
	}
	ctx, cancel := context.WithTimeout(c.Context(), 32*time.Second) // 64*T1: the transaction's own bound
	defer cancel()
	tx, err := c.dlg.TransactionRequest(ctx, req)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", method, err)
	}
	res, err := finalResponse(ctx, tx)
	if err != nil || method != sip.INVITE || !res.IsSuccess() {
		tx.Terminate()
		if err != nil {
			return nil, fmt.Errorf("%s: %w", method, err)
		}
		return res, nil
	}
	c.sendACK(refreshACK(req, res, dest))
	c.takeRefreshAnswer(res)
	// RFC 6026 §7.2: the caller retransmits its 2xx until our ACK arrives;
	// the transaction stays (Accepted, until Timer M) so that each gets an
	// ACK of its own (RFC 3261 §13.2.2.4), on a new branch.
	tx.OnRetransmission(func(r *sip.Response) {
		if r.IsSuccess() {
			c.sendACK(refreshACK(req, r, dest))
		}
	})
	return res, nil
}

// finalResponse waits for the transaction's final response.
func finalResponse(ctx context.Context, tx sip.ClientTransaction) (*sip.Response, error) {
	for {
		select {
		case res := <-tx.Responses():
			if res.IsProvisional() {
				continue
			}
			return res, nil
		case <-tx.Done():
			return nil, tx.Err()
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

func (c *InboundCall) sendACK(ack *sip.Request) {
	if err := c.srv.dialogUAFor(c.dlg.InviteRequest).Client.WriteRequest(ack); err != nil {
		c.srv.log.Debug("ACK of our re-INVITE failed", "call_id", c.info.CallID, "error", err)
	}
}

// refreshACK is the ACK of a 2xx to our re-INVITE req (RFC 3261 §13.2.2.4:
// the UAC's own, with the re-INVITE's CSeq number), to dest when set.
func refreshACK(req *sip.Request, res *sip.Response, dest string) *sip.Request {
	ack := sip.NewRequest(sip.ACK, req.Recipient)
	ack.SetTransport(req.Transport())
	if dest != "" {
		ack.SetDestination(dest)
	} else {
		ack.SetDestination(req.Destination())
	}
	for _, h := range []sip.Header{req.From(), res.To(), req.CallID()} {
		if h != nil {
			ack.AppendHeader(sip.HeaderClone(h))
		}
	}
	ack.AppendHeader(&sip.CSeqHeader{SeqNo: req.CSeq().SeqNo, MethodName: sip.ACK})
	maxFwd := sip.MaxForwardsHeader(70)
	ack.AppendHeader(&maxFwd)
	for _, h := range req.GetHeaders("Route") {
		ack.AppendHeader(sip.HeaderClone(h))
	}
	return ack
}

// takeRefreshAnswer takes the media of the answer in the 2xx to our
// re-INVITE: the caller may move its address or codec, never the SRTP keys.
func (c *InboundCall) takeRefreshAnswer(res *sip.Response) {
	ans, err := parseRemoteSDP(res.Body())
	if err != nil {
		return // no usable answer: the session stays as it was
	}
	md, err := ans.negotiate()
	if err != nil {
		return
	}
	c.mu.Lock()
	cur := c.media
	changed := md.Addr != cur.Addr || md.PayloadType != cur.PayloadType || md.Direction != cur.Direction
	if changed {
		md.SRTP, md.savp = cur.SRTP, cur.savp
		c.media = md
	}
	fn := c.onMedia
	c.mu.Unlock()
	if changed && fn != nil {
		fn(md)
	}
}

// byeWithReason ends the call with a BYE saying why (RFC 3326 Reason).
func (c *InboundCall) byeWithReason(reason string) {
	if !c.byeSent.CompareAndSwap(false, true) {
		return
	}
	dest, _ := c.srv.invitesConnection(c.dlg.InviteRequest)
	if err := sendBye(context.Background(), reasonBye{c.dlg, dest, reason}); err != nil {
		c.srv.log.Debug("BYE failed", "call_id", c.info.CallID, "error", err)
	}
}

type reasonBye struct {
	*sipgo.DialogServerSession
	dest, reason string
}

func (b reasonBye) Bye(ctx context.Context) error {
	inv := b.InviteRequest
	bye := sip.NewRequest(sip.BYE, inv.Contact().Address)
	bye.SetTransport(inv.Transport())
	if b.dest != "" {
		bye.SetDestination(b.dest)
	}
	bye.AppendHeader(sip.NewHeader("Reason", b.reason))
	return b.WriteBye(ctx, bye)
}

// handleUpdate answers an UPDATE (RFC 3311) in an inbound dialog: without SDP
// it is a session refresh (RFC 4028 §7.4) answered with the session timer's
// headers; an offer in it is refused (488), media changes go by re-INVITE.
func (c *InboundCall) handleUpdate(req *sip.Request, tx sip.ServerTransaction) {
	if err := c.dlg.ReadRequest(req, tx); err != nil {
		c.srv.respond(req, tx, 500, "Server Internal Error", sip.NewHeader("Retry-After", "1"))
		return
	}
	if len(req.Body()) > 0 {
		c.srv.respond(req, tx, 488, "Not Acceptable Here", sip.NewHeader("Warning", warningValue("an offer in UPDATE is not supported: use re-INVITE")))
		return
	}
	hdrs, ok := c.sessionRefresh(req, tx)
	if !ok {
		return
	}
	c.srv.respond(req, tx, 200, "OK", hdrs...)
}

// sessionRefresh reads a refresh (UPDATE or re-INVITE) from the caller: it
// agrees the terms again and resets the timer, and returns the headers of our
// 2xx. When the request's terms are refused it answers it and returns false.
func (c *InboundCall) sessionRefresh(req *sip.Request, tx sip.ServerTransaction) ([]sip.Header, bool) {
	st := c.session
	if st == nil {
		return nil, true
	}
	c.mu.Lock()
	answered := c.answered
	c.mu.Unlock()
	if !answered {
		return nil, true // no timer before the dialog is confirmed
	}
	t, ref := c.srv.cfg.SessionTimer.negotiate(req, st.current())
	if ref != nil {
		c.srv.respond(req, tx, ref.code, ref.reason, ref.hdrs...)
		return nil, false
	}
	st.refreshed(t)
	return t.headers(), true
}

// newSessionTimer reads an initial INVITE's session timer; a refusal is answered here.
func (s *Server) newSessionTimer(req *sip.Request, tx sip.ServerTransaction) (*sessionTimer, bool) {
	canUpdate := hasOptionTag(req, "UPDATE", "Allow")
	t, ref := s.cfg.SessionTimer.negotiate(req, sessionTerms{})
	if ref != nil {
		s.log.Debug("INVITE's session timer refused", "call_id", callID(req), "code", ref.code, "reason", ref.reason)
		hdrs := ref.hdrs
		if ref.code == 400 {
			hdrs = append(hdrs, sip.NewHeader("Warning", warningValue(ref.reason)))
		}
		s.respond(req, tx, ref.code, strings.Map(dropControl, ref.reason), hdrs...)
		return nil, false
	}
	return &sessionTimer{terms: t, canUpdate: canUpdate}, true
}

// SessionTimerExpired counts calls we ended because their session was not
// refreshed: the caller never refreshed, or our refresh failed.
func (s *Server) SessionTimerExpired() uint64 { return s.sessionExpired.Load() }
