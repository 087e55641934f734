package sip

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/emiago/sipgo/sip"
)

// This file is the REFERs a peer sends pivotua inside a call (RFC 3515 blind
// transfer): with sip.accept_refer on, one that comes in a dialog whose owner
// takes transfers (OnTransfer: a leg bridged by a Dial) is accepted with 202
// and reported on by NOTIFY (RFC 3515 §2.4.4, a message/sipfrag body per
// RFC 3420); the owner dials the target and tells the outcome with
// Transfer.Finish. Every other REFER in a call is refused with a reason.

const (
	// maxReferredBy bounds the Referred-By value read (RFC 3892); a longer one is dropped.
	maxReferredBy = 256
	// maxTransfersPerDialog bounds the REFERs one dialog may have accepted, so a
	// peer cannot make pivotua dial at will by REFERring again after each failure.
	maxTransfersPerDialog = 3
	// transferByeGrace is how long the referrer has, after the NOTIFY of a
	// successful transfer, to hang up itself (RFC 5589 §6) before we send BYE.
	transferByeGrace = 4 * time.Second
	// notifyTimeout bounds one NOTIFY transaction (64*T1, the transaction's own bound).
	notifyTimeout = 32 * time.Second
)

// Transfer is a REFER a peer sent in one of our dialogs and that we accepted
// (202): its referrer waits for the outcome, which Finish reports.
type Transfer struct {
	// Target is the Refer-To URI without its headers: a sip: or sips: URI
	// that passed CheckReferTarget.
	Target string
	// ReferredBy is the REFER's Referred-By as "<sip:user@host>" (RFC 3892),
	// its parameters dropped; "" when it had none or an unusable one.
	ReferredBy string

	side    transferSide
	state   *transferState
	id      uint32        // the REFER's CSeq number: the NOTIFYs' Event id (RFC 3515 §2.4.6)
	trying  chan struct{} // closed once the "100 Trying" NOTIFY was sent (or failed)
	finish  sync.Once
	logger  func(msg string, args ...any)
	timeout time.Duration // transferByeGrace; tests shorten it
}

// transferSide is the dialog a REFER came in, as the transfer needs it: to
// send NOTIFYs in it, to hang it up, and to know when it ended.
type transferSide interface {
	request(ctx context.Context, req *sip.Request) (*sip.Response, error)
	newRequest(method sip.RequestMethod) *sip.Request
	hangup(ctx context.Context) error
	Done() <-chan struct{}
}

// transferState is one dialog's inbound REFERs: who takes them and whether
// one is in progress. Its own mutex: REFERs arrive on sipgo goroutines.
type transferState struct {
	mu       sync.Mutex
	handler  func(*Transfer) bool // nil: the dialog takes no transfers now
	pending  bool
	accepted int
}

func (s *transferState) set(fn func(*Transfer) bool) {
	s.mu.Lock()
	s.handler = fn
	s.mu.Unlock()
}

// OnTransfer registers fn to be handed (on a sipgo goroutine) each REFER the
// caller sends that sip.accept_refer lets through; fn must not block, and
// returns false to refuse the transfer (491: another is in progress). nil
// takes no transfers: a REFER then gets 403.
func (c *InboundCall) OnTransfer(fn func(*Transfer) bool) { c.transfers.set(fn) }

// OnTransfer is InboundCall.OnTransfer for the callee's REFERs.
func (oc *OutboundCall) OnTransfer(fn func(*Transfer) bool) { oc.transfers.set(fn) }

// inboundSide is an inbound call as a transferSide.
type inboundSide struct{ c *InboundCall }

func (s inboundSide) newRequest(method sip.RequestMethod) *sip.Request {
	inv := s.c.dlg.InviteRequest
	req := sip.NewRequest(method, inv.Contact().Address)
	req.SetTransport(inv.Transport())
	if dest, ok := s.c.srv.invitesConnection(inv); ok {
		req.SetDestination(dest)
	}
	return req
}

func (s inboundSide) request(ctx context.Context, req *sip.Request) (*sip.Response, error) {
	return s.c.dlg.Do(ctx, req)
}

func (s inboundSide) hangup(ctx context.Context) error { return s.c.Hangup(ctx) }
func (s inboundSide) Done() <-chan struct{}            { return s.c.Done() }

// outboundSide is a Dial leg as a transferSide.
type outboundSide struct{ oc *OutboundCall }

func (s outboundSide) newRequest(method sip.RequestMethod) *sip.Request {
	return sip.NewRequest(method, s.oc.dlg.InviteResponse.Contact().Address)
}

func (s outboundSide) request(ctx context.Context, req *sip.Request) (*sip.Response, error) {
	return s.oc.dlg.Do(ctx, req)
}

func (s outboundSide) hangup(ctx context.Context) error { return s.oc.Hangup(ctx) }
func (s outboundSide) Done() <-chan struct{}            { return s.oc.Done() }

// onRefer answers a REFER from a peer. One outside any dialog of ours gets
// 481 (and, not being in a live dialog, was counted by the guard's rate
// limit). With sip.accept_refer off, one inside a call gets 403 (RFC 3515
// §2.4.2 lets a UA decline a REFER); with it on, see acceptTransfer.
func (s *Server) onRefer(req *sip.Request, tx sip.ServerTransaction) {
	var side transferSide
	var state *transferState
	var read func() error // the dialog's CSeq check (RFC 3261 §12.2.2)
	if c := s.lookup(req); c != nil {
		side, state, read = inboundSide{c}, &c.transfers, func() error { return c.dlg.ReadRequest(req, tx) }
	} else if oc := s.lookupOutbound(req); oc != nil && oc.dlg != nil && oc.dlg.InviteResponse != nil {
		// A Dial to our own listener is two dialogs under one Call-ID: the callee's requests carry our tag in To.
		if tag, _ := req.To().Params.Get("tag"); tag != oc.fromTag {
			s.respond(req, tx, 481, "Call/Transaction Does Not Exist")
			return
		}
		side, state, read = outboundSide{oc}, &oc.transfers, func() error { return oc.dlg.ReadRequest(req, tx) }
	} else {
		s.respond(req, tx, 481, "Call/Transaction Does Not Exist")
		return
	}
	if !s.cfg.AcceptRefer {
		s.log.Debug("REFER refused", "call_id", callID(req), "source", req.Source())
		s.respond(req, tx, 403, "Forbidden", sip.NewHeader("Warning", warningValue("sip.accept_refer is off")))
		return
	}
	s.acceptTransfer(req, tx, side, state, read)
}

// acceptTransfer answers a REFER in a call while sip.accept_refer is on:
// 403 when the dialog takes no transfers (not bridged: checked first, so
// that such a REFER touches nothing of the dialog, not even its CSeq) or had
// its share; 400 for a missing, repeated or unusable Refer-To; 501 for
// Replaces (attended transfer); 491 while one is in progress; else 202, a
// NOTIFY "100 Trying" and the Transfer handed to the dialog's owner.
func (s *Server) acceptTransfer(req *sip.Request, tx sip.ServerTransaction, side transferSide, state *transferState, read func() error) {
	refuse := func(code int, reason, why string) {
		s.log.Info("REFER refused", "call_id", callID(req), "source", req.Source(), "code", code, "reason", why)
		s.respond(req, tx, code, reason, sip.NewHeader("Warning", warningValue(why)))
	}
	state.mu.Lock()
	taken := state.handler != nil
	state.mu.Unlock()
	if !taken {
		refuse(403, "Forbidden", "pivotua only transfers a leg bridged by a Dial")
		return
	}
	if err := read(); err != nil {
		s.respond(req, tx, 500, "Server Internal Error", sip.NewHeader("Retry-After", "1"))
		return
	}
	target, err := referToTarget(req)
	if err != nil {
		if errors.Is(err, errReplaces) {
			refuse(501, "Not Implemented", err.Error())
			return
		}
		refuse(400, "Bad Request", err.Error())
		return
	}
	state.mu.Lock()
	fn := state.handler
	switch {
	case fn == nil:
		state.mu.Unlock()
		refuse(403, "Forbidden", "pivotua only transfers a leg bridged by a Dial")
		return
	case state.pending:
		state.mu.Unlock()
		refuse(491, "Request Pending", "a transfer is already in progress in this dialog")
		return
	case state.accepted >= maxTransfersPerDialog:
		state.mu.Unlock()
		refuse(403, "Forbidden", fmt.Sprintf("at most %d transfers per call leg", maxTransfersPerDialog))
		return
	}
	state.pending = true
	state.accepted++
	state.mu.Unlock()

	t := &Transfer{Target: target, ReferredBy: referredBy(req), side: side, state: state,
		id: req.CSeq().SeqNo, trying: make(chan struct{}), timeout: transferByeGrace,
		logger: func(msg string, args ...any) { s.log.Debug(msg, append(args, "call_id", callID(req))...) }}
	if !fn(t) {
		t.release()
		refuse(491, "Request Pending", "a transfer is already in progress in this call")
		return
	}
	s.log.Info("REFER accepted", "call_id", callID(req), "target", target)
	s.respond(req, tx, 202, "Accepted")
	go func() {
		defer close(t.trying)
		t.notify(100, "Trying", false)
	}()
}

// Finish reports the transfer's outcome to the referrer: a NOTIFY whose
// sipfrag is "SIP/2.0 code reason" and that ends the subscription (RFC 3515
// §2.4.5). After a 2xx the referrer has transferByeGrace to hang up (RFC 5589
// §6), else we send BYE. It blocks for as long as that takes; the first call
// counts.
func (t *Transfer) Finish(code int, reason string) {
	t.finish.Do(func() {
		<-t.trying
		t.release() // the outcome is known: the dialog may ask again while the NOTIFY is on its way
		t.notify(code, reason, true)
		if code < 200 || code > 299 {
			return
		}
		timer := time.NewTimer(t.timeout)
		defer timer.Stop()
		select {
		case <-t.side.Done():
			return
		case <-timer.C:
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = t.side.hangup(ctx)
	})
}

// release lets the dialog take another REFER.
func (t *Transfer) release() {
	t.state.mu.Lock()
	t.state.pending = false
	t.state.mu.Unlock()
}

// notify sends one NOTIFY of the REFER's implicit subscription (RFC 3515
// §2.4.4): Event refer with the REFER's CSeq as id, its state, and the
// sipfrag. A failure is logged: the referrer learns nothing more either way.
func (t *Transfer) notify(code int, reason string, terminated bool) {
	select {
	case <-t.side.Done():
		return
	default:
	}
	if err := checkValue("reason phrase", reason); err != nil {
		reason = "Unknown"
	}
	req := t.side.newRequest(sip.NOTIFY)
	req.AppendHeader(sip.NewHeader("Event", "refer;id="+strconv.FormatUint(uint64(t.id), 10)))
	state := "active;expires=60"
	if terminated {
		state = "terminated;reason=noresource"
	}
	req.AppendHeader(sip.NewHeader("Subscription-State", state))
	req.AppendHeader(sip.NewHeader("Content-Type", "message/sipfrag;version=2.0"))
	req.SetBody([]byte(fmt.Sprintf("SIP/2.0 %d %s\r\n", code, reason)))
	ctx, cancel := context.WithTimeout(context.Background(), notifyTimeout)
	defer cancel()
	res, err := t.side.request(ctx, req)
	switch {
	case err != nil:
		t.logger("NOTIFY for a transfer failed", "code", code, "error", err)
	case !res.IsSuccess():
		t.logger("NOTIFY for a transfer refused", "code", code, "response", res.StatusCode)
	}
}

// errReplaces is referToTarget's error for a Refer-To with Replaces: an
// attended transfer (RFC 3891), which pivotua does not do (501).
var errReplaces = fmt.Errorf("%w: Replaces (attended transfer) is not supported", ErrReferTarget)

// referToTarget reads the REFER's one Refer-To (RFC 3515 §2.1: exactly one)
// and returns its URI without headers, checked as <Refer>'s targets are
// (CheckReferTarget): sip: or sips:, at most maxReferTarget bytes, no
// control characters, only X- and User-to-User headers.
func referToTarget(req *sip.Request) (string, error) {
	hs := req.GetHeaders("Refer-To")
	if len(hs) != 1 {
		return "", fmt.Errorf("%w: %d Refer-To headers, want one", ErrReferTarget, len(hs))
	}
	v := strings.TrimSpace(hs[0].Value())
	if len(v) > maxReferTarget+64 {
		return "", fmt.Errorf("%w: %d bytes, over %d", ErrReferTarget, len(v), maxReferTarget)
	}
	if err := checkValue("Refer-To", v); err != nil {
		return "", err
	}
	uri := v
	if i := strings.IndexByte(v, '<'); i >= 0 {
		end := strings.IndexByte(v[i:], '>')
		if end < 0 {
			return "", fmt.Errorf("%w: no closing '>'", ErrReferTarget)
		}
		uri = v[i+1 : i+end]
	} else if j := strings.IndexByte(v, ';'); j >= 0 {
		uri = v[:j] // RFC 3261 §20: without <>, what follows ';' is the header's parameters
	}
	if _, headers, ok := strings.Cut(uri, "?"); ok {
		for _, f := range strings.Split(headers, "&") {
			name, _, _ := strings.Cut(f, "=")
			if strings.EqualFold(name, "Replaces") {
				return "", errReplaces
			}
		}
	}
	if err := CheckReferTarget(uri); err != nil {
		return "", err
	}
	base, _, _ := strings.Cut(uri, "?")
	return base, nil
}

// referredBy is the REFER's Referred-By (RFC 3892) as "<scheme:user@host:port>",
// or "" when it has none usable: not sip: or sips:, over maxReferredBy bytes,
// or with control characters. Its parameters (a cid, a display name) are dropped.
func referredBy(req *sip.Request) string {
	h := req.GetHeader("Referred-By")
	if h == nil {
		return ""
	}
	v := strings.TrimSpace(h.Value())
	if len(v) > maxReferredBy || checkValue("Referred-By", v) != nil {
		return ""
	}
	var u sip.Uri
	if _, err := sip.ParseAddressValue(v, &u, nil); err != nil {
		return ""
	}
	scheme := strings.ToLower(u.Scheme)
	if (scheme != "sip" && scheme != "sips") || u.Host == "" || strings.ContainsAny(u.Host, "<>\"; \t?@") {
		return ""
	}
	out := scheme + ":"
	if u.User != "" {
		out += escapeUser(u.User) + "@"
	}
	out += u.Host
	if u.Port > 0 {
		out += ":" + strconv.Itoa(u.Port)
	}
	return "<" + out + ">"
}
