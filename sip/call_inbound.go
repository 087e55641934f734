package sip

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"
)

// CallInfo is what the INVITE says about the call, as plain values.
type CallInfo struct {
	CallID                   string
	FromUser, FromHost       string
	FromDisplay              string
	ToUser, ToHost           string
	RequestUser, RequestHost string
	AssertedUser             string // P-Asserted-Identity number (tel:) or user part (sip:); empty without one
	AssertedDisplay          string
	CustomHeaders            map[string]string // the INVITE's X- headers, names as sent
	Transport                string            // "udp", "tcp" or "tls"
	Source                   string            // host:port the INVITE came from
	UserAgent                string
}

// InboundCall is one INVITE dialog where pivotua is the UAS. Its methods are
// safe to call from the handler goroutine while sipgo delivers ACK, BYE,
// CANCEL and re-INVITEs on others.
type InboundCall struct {
	srv  *Server
	dlg  *sipgo.DialogServerSession
	tx   sip.ServerTransaction // the INVITE's
	info CallInfo
	// offer is the INVITE's SDP; nil for a delayed-offer INVITE (we offer in the 200).
	offer      *remoteOffer
	infoDigits infoDigits          // DTMF by SIP INFO
	refer      referState          // our pending REFER, for its NOTIFYs (refer.go)
	transfers  transferState       // the caller's REFERs (refer_in.go)
	session    *sessionTimer       // RFC 4028; set before the call is served, its terms under its own lock
	reliable   reliableProvisional // RFC 3262 reliable 18x (prack.go)

	// mu guards the fields below.
	mu       sync.Mutex
	final    bool // a final response went out (or is going out)
	answered bool // that final response was 2xx
	status   int  // the final status we sent; 0 when none (e.g. the caller cancelled first)
	local    localSDP
	media    MediaDesc
	onMedia  func(MediaDesc)
	reinvite chan *sip.Request // ACKs for a pending re-INVITE 200; nil when none pending
	acked    bool              // the ACK that confirmed the dialog arrived
	ackBody  []byte            // its body: a delayed offer's answer (not the whole ACK, kept for the call's life)
	// settled closes when the INVITE transaction needs no one any more: our final response was
	// sent (for a 200: its ACK arrived or never will), or the handler returned.
	settled    chan struct{}
	settleOnce sync.Once

	byeSent atomic.Bool // our BYE went out (once)
	// acceptedHeld counts who still holds the INVITE's transaction once we answered it with 2xx
	// (invite_accepted.go): acceptedHolders from then on, 0 while not answered.
	acceptedHeld atomic.Int32

	// targetMu guards target: where our requests in the call go under
	// sip.egress, set by the first one (egressDestination).
	targetMu sync.Mutex
	target   netip.AddrPort
}

func (c *InboundCall) settle() { c.settleOnce.Do(func() { close(c.settled) }) }

func (s *Server) newInboundCall(req *sip.Request, tx sip.ServerTransaction) (*InboundCall, int, string) {
	c := &InboundCall{srv: s, info: callInfoOf(req), settled: make(chan struct{})}
	c.local.policy = s.cfg.SRTP
	if len(req.Body()) > 0 {
		if ct := req.ContentType(); ct != nil && !strings.EqualFold(strings.TrimSpace(strings.Split(ct.Value(), ";")[0]), "application/sdp") {
			return nil, 415, "Unsupported Media Type: only application/sdp"
		}
		off, err := parseRemoteSDP(req.Body())
		if err != nil {
			return nil, 488, "Not Acceptable Here: " + err.Error()
		}
		md, err := c.local.accept(off)
		if err != nil {
			return nil, 488, "Not Acceptable Here: " + err.Error()
		}
		c.offer, c.media = &off, md
	}
	dlg, err := s.dialogUAFor(req).ReadInvite(req, tx)
	if err != nil {
		if errors.Is(err, sipgo.ErrDialogInviteNoContact) {
			return nil, 400, "Bad Request: missing Contact"
		}
		return nil, 400, "Bad Request: " + err.Error()
	}
	pruneDialogInvite(dlg.InviteRequest)
	c.dlg, c.tx = dlg, tx
	var id [8]byte
	_, _ = rand.Read(id[:])
	c.local.sessionID = binary.BigEndian.Uint64(id[:]) >> 1
	c.local.version = 1
	return c, 0, ""
}

func callInfoOf(req *sip.Request) CallInfo {
	info := CallInfo{
		CallID:      callID(req),
		RequestUser: req.Recipient.User,
		RequestHost: req.Recipient.Host,
		Transport:   strings.ToLower(req.Transport()),
		Source:      req.Source(),
	}
	if f := req.From(); f != nil {
		info.FromUser, info.FromHost, info.FromDisplay = f.Address.User, f.Address.Host, f.DisplayName
	}
	if t := req.To(); t != nil {
		info.ToUser, info.ToHost = t.Address.User, t.Address.Host
	}
	info.AssertedUser, info.AssertedDisplay = assertedIdentity(req)
	if h := req.GetHeader("User-Agent"); h != nil {
		info.UserAgent = h.Value()
	}
	for _, h := range req.Headers() {
		if n := h.Name(); len(n) > 2 && (n[0] == 'X' || n[0] == 'x') && n[1] == '-' {
			if info.CustomHeaders == nil {
				info.CustomHeaders = map[string]string{}
			}
			info.CustomHeaders[n] = h.Value()
		}
	}
	return info
}

// assertedIdentity is the caller's number and display name from the first
// usable P-Asserted-Identity: a tel: URI or a sip:/sips: URI with a user part.
// Carriers often assert a tel: URI, alone or beside a sip: one (RFC 3325
// §9.1), in one header line or several. sipgo parses only sip: URIs, so a
// tel: number comes from the URI's raw text. Empty without a usable identity.
func assertedIdentity(req *sip.Request) (number, display string) {
	for _, h := range req.GetHeaders("P-Asserted-Identity") {
		// Commas inside a quoted display name do not separate identities.
		for v := range outsideQuotes(h.Value(), ',') {
			var u sip.Uri
			name, err := sip.ParseAddressValue(strings.TrimSpace(v), &u, nil)
			if err != nil {
				continue
			}
			switch u.Scheme {
			case "sip", "sips":
				number = u.User
			case "tel":
				number = telNumber(u.Raw())
			}
			if number != "" {
				return number, name
			}
		}
	}
	return "", ""
}

// telNumber is the number of a tel: URI's text after "tel:" (RFC 3966): its
// parameters (";phone-context=...", ";ext=...") and visual separators dropped,
// so "+1-415-555-0100;phone-context=x" is "+14155550100".
func telNumber(raw string) string {
	number, _, _ := strings.Cut(raw, ";")
	return strings.Map(func(r rune) rune {
		switch r {
		case '-', '.', '(', ')', ' ':
			return -1
		}
		return r
	}, number)
}

// dialogInviteHeaders are the INVITE's headers the dialog reads for the call's life: the responses to
// the INVITE copy Via, From, To, Call-ID and CSeq (RFC 3261 §8.2.6.2) and Record-Route (§12.1.1);
// our requests in the dialog take the remote target from Contact, the route set from Record-Route,
// the tags from From and To, and the CSeq (§12.2.1.1); Require and Supported say whether a 18x is
// sent reliably (RFC 3262 §3). Compact forms beside the long ones (§7.3.3).
var dialogInviteHeaders = []string{"Via", "v", "From", "f", "To", "t", "Call-ID", "i", "CSeq", "Contact", "m",
	"Record-Route", "Require", "Supported", "k", "Content-Length", "l"}

// pruneDialogInvite drops from the dialog's copy of the INVITE (sipgo's, kept for the call's life)
// what the dialog does not read: the body, parsed already, and the other headers, read into CallInfo
// (a carrier's INVITE carries a kilobyte or two of both). It runs before the call is published, so
// nothing reads the copy meanwhile; the server transaction keeps the INVITE as received.
func pruneDialogInvite(inv *sip.Request) {
	var drop []string
	for _, h := range inv.Headers() {
		name := h.Name()
		if !slices.ContainsFunc(dialogInviteHeaders, func(keep string) bool { return strings.EqualFold(keep, name) }) {
			drop = append(drop, name)
		}
	}
	for _, name := range drop {
		inv.RemoveHeader(name)
	}
	inv.SetBody(nil)
}

// Info describes the call as the INVITE did.
func (c *InboundCall) Info() CallInfo { return c.info }

// CallID is Info().CallID without a copy of the whole CallInfo, for a frame that stays on the call's
// stack for its life.
func (c *InboundCall) CallID() string { return c.info.CallID }

// HasOffer reports whether the INVITE carried SDP (false: delayed offer).
func (c *InboundCall) HasOffer() bool { return c.offer != nil }

// Done is closed when the dialog ends: CANCEL, BYE either way, or a failed transaction.
func (c *InboundCall) Done() <-chan struct{} { return c.dlg.Context().Done() }

// Context ends when the dialog does (Done), so that waiting for it costs no goroutine
// (context.AfterFunc).
func (c *InboundCall) Context() context.Context { return c.dlg.Context() }

// FinalStatus is the final response we sent: 200 when answered, the error
// status when rejected, 0 when none went out (the caller cancelled first).
func (c *InboundCall) FinalStatus() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.status
}

// Answered reports whether a 2xx was sent.
func (c *InboundCall) Answered() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.answered
}

// OnMediaChange registers fn to be called (on a sipgo goroutine) when a
// re-INVITE changes the remote media: hold, resume, a new address or codec.
func (c *InboundCall) OnMediaChange(fn func(MediaDesc)) {
	c.mu.Lock()
	c.onMedia = fn
	c.mu.Unlock()
}

// Ring sends 180 Ringing; it does nothing once a final response went out.
func (c *InboundCall) Ring() error {
	c.mu.Lock()
	final := c.final
	c.mu.Unlock()
	if final {
		return nil
	}
	if err := c.provisional(180, "Ringing", nil, false); err != nil {
		return c.ended(err)
	}
	return nil
}

// Answer sends 200 OK with SDP for local (the RTP address to advertise) and
// retransmits it until the ACK arrives (RFC 3261 §13.3.1.4). It returns the
// negotiated remote media: from the INVITE's offer, or for a delayed-offer
// INVITE from the answer in the ACK. Answering twice returns the same media.
func (c *InboundCall) Answer(ctx context.Context, local netip.AddrPort) (MediaDesc, error) {
	// RFC 3262 §3: no 2xx while a reliable 18x with SDP waits for its PRACK.
	c.reliable.send.Lock()
	c.reliable.send.Unlock() //nolint:staticcheck // a barrier, not a critical section
	if !c.claimAnswer(local) {
		return c.answerAgain()
	}

	// The 200 is built and sent on a goroutine of its own, ctx watched beside it: sipgo's WriteResponse
	// blocks until the ACK (or 64*T1), and the SDP's marshalling is deeper than the stack a call keeps
	// for its life (flow's takeCall).
	done := make(chan error, 1)
	go c.sendAnswer(done)
	select {
	case err := <-done:
		return c.answerSent(err)
	case <-ctx.Done():
		return MediaDesc{}, ctx.Err()
	}
}

// claimAnswer makes our final response a 200 from local; false when a final response was chosen
// already.
func (c *InboundCall) claimAnswer(local netip.AddrPort) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.final {
		return false
	}
	c.final, c.answered, c.status = true, true, 200
	c.local.addr = local
	c.acceptedHeld.Store(acceptedHolders)
	return true
}

// answerAgain is Answer once a final response was chosen: the media when it was a 200.
func (c *InboundCall) answerAgain() (MediaDesc, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.answered {
		return c.media, nil
	}
	return MediaDesc{}, ErrAlreadyAnswered
}

// sendAnswer sends our 200 with the SDP answer (or, to a delayed-offer INVITE, our offer) and tells
// done how it went once the ACK came, or never will.
func (c *InboundCall) sendAnswer(done chan<- error) {
	defer c.releaseAccepted()
	c.mu.Lock()
	var body []byte
	var err error
	if c.offer != nil {
		body, err = c.local.answer(c.media)
	} else {
		body, err = c.local.offer()
	}
	c.mu.Unlock()
	if err != nil {
		done <- err
		return
	}
	res := sip.NewSDPResponseFromRequest(c.dlg.InviteRequest, body)
	res.AppendHeader(sip.NewHeader("Allow", c.srv.allow()))
	res.AppendHeader(sip.NewHeader("Supported", "timer"))
	for _, h := range c.session.current().headers() {
		res.AppendHeader(h)
	}
	c.srv.ended.inviteAccepted(c.dlg.InviteRequest) // for Timer L, as the transaction (invite_accepted.go)
	err = c.dlg.WriteResponse(res)
	forgetAnswer(res) // it is not sent again: the ACK came, or never will
	c.settle()
	done <- err
}

// answerSent is Answer's outcome once the 200 went out (err: it did not, or no ACK came): the
// negotiated media, from the INVITE's offer or the ACK's answer.
func (c *InboundCall) answerSent(err error) (MediaDesc, error) {
	if err != nil {
		return MediaDesc{}, c.answerFailed(err)
	}
	c.session.start()
	if c.offer != nil {
		return c.media, nil
	}
	return c.mediaFromAck()
}

// answerFailed is Answer's error when the 200 did not go out or got no ACK (then the call is ended
// with a BYE).
func (c *InboundCall) answerFailed(err error) error {
	if strings.Contains(err.Error(), "No ACK") {
		_ = c.bye(context.Background())
		return ErrNoAck
	}
	return c.ended(err)
}

// mediaFromAck is the media of a delayed-offer call: our offer in the 200, the caller's answer in the
// ACK.
func (c *InboundCall) mediaFromAck() (MediaDesc, error) {
	c.mu.Lock()
	ackBody := c.ackBody
	c.mu.Unlock()
	off, err := parseRemoteSDP(ackBody)
	if err == nil {
		var md MediaDesc
		if md, err = c.local.acceptAnswer(off); err == nil {
			c.mu.Lock()
			c.media = md
			c.mu.Unlock()
			return md, nil
		}
	}
	// RFC 3261 §13.3.1.4 leaves a bad answer in the ACK to the UAS: end the call.
	_ = c.bye(context.Background())
	return MediaDesc{}, fmt.Errorf("answer in ACK: %w", err)
}

// Reject sends a final non-2xx response. It fails once a final response was sent.
func (c *InboundCall) Reject(code int, reason string) error {
	if code < 300 || code > 699 {
		return fmt.Errorf("reject: %d is not a final error status", code)
	}
	if err := checkValue("reason phrase", reason); err != nil {
		return fmt.Errorf("reject: %w", err)
	}
	c.mu.Lock()
	if c.final {
		c.mu.Unlock()
		return ErrAlreadyAnswered
	}
	c.final, c.status = true, code
	c.mu.Unlock()
	err := c.dlg.Respond(code, reason, nil)
	c.settle()
	if err != nil {
		return c.ended(err)
	}
	return nil
}

// Hangup ends the call: BYE when answered, 480 Temporarily Unavailable when not.
func (c *InboundCall) Hangup(ctx context.Context) error {
	c.mu.Lock()
	final, answered := c.final, c.answered
	c.mu.Unlock()
	if !final {
		err := c.Reject(480, "Temporarily Unavailable")
		if errors.Is(err, ErrAlreadyAnswered) {
			return c.Hangup(ctx)
		}
		return err
	}
	if !answered {
		return nil
	}
	return c.bye(ctx)
}

func (c *InboundCall) bye(ctx context.Context) error {
	if !c.byeSent.CompareAndSwap(false, true) {
		return nil
	}
	if dest, ok := c.srv.invitesConnection(c.dlg.InviteRequest); ok {
		return sendBye(ctx, byeOnConnection{c.dlg, dest})
	}
	return sendBye(ctx, c.dlg)
}

// ended maps an error from a dialog operation to ErrCallEnded when the dialog is gone.
func (c *InboundCall) ended(err error) error {
	select {
	case <-c.Done():
		return fmt.Errorf("%w: %v", ErrCallEnded, err)
	default:
		return err
	}
}

// run calls the handler and makes sure the call ends properly whatever it did.
func (c *InboundCall) run(h Handler) {
	defer c.settle() // last: after the final response below
	defer func() {
		if r := recover(); r != nil {
			c.srv.log.Error("call handler panicked", "call_id", c.info.CallID, "panic", r)
		}
		c.mu.Lock()
		final, answered := c.final, c.answered
		c.mu.Unlock()
		switch {
		case !final:
			_ = c.Reject(500, "Server Internal Error")
		case answered:
			_ = c.bye(context.Background())
		}
	}()
	h(c)
}

func (c *InboundCall) handleAck(req *sip.Request, tx sip.ServerTransaction) {
	c.mu.Lock()
	if c.reinvite != nil {
		select {
		case c.reinvite <- req:
		default:
		}
	}
	if !c.acked {
		c.acked, c.ackBody = true, req.Body()
	}
	c.mu.Unlock()
	_ = c.dlg.ReadAck(req, tx)
}

func (c *InboundCall) handleBye(req *sip.Request, tx sip.ServerTransaction) {
	if err := c.dlg.ReadBye(req, tx); err != nil {
		c.srv.respond(req, tx, 500, "Server Internal Error")
		return
	}
	c.srv.byeAnswered(req, tx)
}

// handleReinvite answers a re-INVITE once the dialog is established (see answerReinvite).
func (c *InboundCall) handleReinvite(req *sip.Request, tx sip.ServerTransaction) {
	if err := c.dlg.ReadRequest(req, tx); err != nil {
		c.srv.respond(req, tx, 500, "Server Internal Error", sip.NewHeader("Retry-After", "1"))
		return
	}
	c.mu.Lock()
	if !c.answered {
		c.mu.Unlock()
		// RFC 3261 §14.2: a re-INVITE before our final answer to the first one.
		c.srv.respond(req, tx, 491, "Request Pending")
		return
	}
	c.mu.Unlock()
	hdrs, ok := c.sessionRefresh(req, tx)
	if !ok {
		return
	}
	c.srv.answerReinvite(dialogMedia{mu: &c.mu, local: &c.local, media: &c.media, onMedia: &c.onMedia, reinvite: &c.reinvite, headers: hdrs},
		req, tx, c.srv.dialogUAFor(req).ContactHDR, c.Done())
}
