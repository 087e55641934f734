package sip

import (
	"context"
	"crypto/rand"
	"crypto/x509"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"
)

// DefaultRingTimeout applies when OutboundRequest.RingTimeout is zero.
const DefaultRingTimeout = 30 * time.Second

// cancelGrace is how long Dial waits, after sending CANCEL, for the 487 (or a
// 200 that crossed the CANCEL) before it reports the outcome anyway; sipgo
// finishes the transaction in the background.
const cancelGrace = 2 * time.Second

// OutboundRequest describes one outbound leg (Dial's B leg).
type OutboundRequest struct {
	// Target is the sip: or sips: URI to call; ";transport=tcp" sends the
	// INVITE over TCP, ";transport=tls" or a sips: URI over TLS, else UDP.
	// It leaves from a listener of that transport (Source).
	Target string
	// Source is the address of the listener the leg leaves from (trunks[].source);
	// invalid: the transport's first listener. Via, Contact and From name it.
	Source netip.Addr
	// RootCAs are the roots a TLS peer's certificate must chain to
	// (trunks[].ca_file); nil: the system's. Its host name is checked either way.
	RootCAs *x509.CertPool
	// FromUser and FromDisplay are the caller ID: From is
	// "FromDisplay" <sip:FromUser@our host>.
	FromUser, FromDisplay string
	// Username and Password answer a 401 or 407 digest challenge.
	Username, Password string
	// LocalRTP is the RTP address offered in the INVITE's SDP.
	LocalRTP netip.AddrPort
	// RingTimeout cancels the INVITE when no final response came in time;
	// zero means DefaultRingTimeout.
	RingTimeout time.Duration
	// SRTP is the leg's SRTP policy (a trunk's trunks[].srtp); empty means the
	// server's (Config.SRTP).
	SRTP SRTPPolicy
	// ReferredBy goes into the INVITE's Referred-By (RFC 3892) when the leg
	// is a transfer's target; "" for none. Transfer.ReferredBy is clean.
	ReferredBy string
	// OnProgress is called (on a goroutine of Dial) for each 180/183 the
	// callee sends. It must not block.
	OnProgress func(Progress)
	// CallID is the INVITE's Call-ID (RFC 3261 §8.1.1.4), from NewCallID, so
	// the caller can name the leg before it is placed (a Dial callee's
	// status callbacks); empty: a new one.
	CallID string
}

// Progress is a provisional response of the callee.
type Progress struct {
	Code   int
	Reason string
	// EarlyMedia is the negotiated remote media of a 18x with SDP (RFC 3261
	// §13.2.1: an early answer to our offer); nil without SDP.
	EarlyMedia *MediaDesc
}

// DialError is Dial's error for an INVITE that got no 2xx. It wraps
// ErrBusy, ErrNoAnswer, ErrDeclined or ErrCanceled.
type DialError struct {
	Code   int // the final response's status code; 0 when none came (timeout, CANCEL, transport error)
	Reason string
	kind   error
	cause  error // what refused the leg before or instead of a response (ErrEgressDenied, ErrControlCharacter); may be nil
}

func (e *DialError) Error() string {
	if e.Code != 0 {
		return fmt.Sprintf("%v: %d %s", e.kind, e.Code, e.Reason)
	}
	if e.Reason != "" {
		return fmt.Sprintf("%v: %s", e.kind, e.Reason)
	}
	return e.kind.Error()
}

func (e *DialError) Unwrap() []error {
	if e.cause != nil {
		return []error{e.kind, e.cause}
	}
	return []error{e.kind}
}

// refusedDial is the DialError of a leg refused before anything was sent.
func refusedDial(err error) *DialError {
	return &DialError{Reason: err.Error(), kind: ErrDeclined, cause: err}
}

// dialFailure maps a final non-2xx status to its DialError: 486 and 600
// busy; 408 and 480 no answer; every other 4xx-6xx declined.
func dialFailure(code int, reason string) *DialError {
	kind := ErrDeclined
	switch code {
	case 486, 600:
		kind = ErrBusy
	case 408, 480:
		kind = ErrNoAnswer
	case 487:
		kind = ErrCanceled
	}
	return &DialError{Code: code, Reason: reason, kind: kind}
}

// OutboundCall is one INVITE dialog where pivotua is the UAC: an answered
// Dial leg. Its methods are safe for concurrent use.
type OutboundCall struct {
	srv        *Server
	dlg        *sipgo.DialogClientSession
	callID     string
	ua         *sipgo.DialogUA
	infoDigits infoDigits    // DTMF by SIP INFO
	transfers  transferState // the callee's REFERs (refer_in.go)
	byeSent    atomic.Bool   // our BYE went out (once)

	fromTag string // ours, in From of every request we send in the dialog

	mu sync.Mutex // guards the fields below
	// dest is where the leg's requests go (pinningRequester): the target's
	// checked address until a 2xx, then its checked next hop; zero after a 2xx
	// when no sip.egress is set (sipgo routes by the 2xx then).
	dest     netip.AddrPort
	local    localSDP
	media    MediaDesc
	onMedia  func(MediaDesc)
	reinvite chan *sip.Request // ACKs for our pending re-INVITE 200; nil when none pending
}

// Dial sends an INVITE with an SDP offer for r.LocalRTP and waits for the
// answer. It returns the answered call (2xx, ACK sent), or a *DialError:
// ErrBusy (486, 600), ErrNoAnswer (408, 480, or no answer within
// RingTimeout, after which it sends CANCEL), ErrCanceled (ctx ended: CANCEL
// sent), ErrDeclined (any other final status, a transport failure, or an
// unusable SDP answer, in which case the call was answered and hung up).
// Digest challenges (401, 407) are answered with r.Username/Password.
func (s *Server) Dial(ctx context.Context, r OutboundRequest) (*OutboundCall, error) {
	if s.client == nil {
		return nil, errors.New("sip: Dial before Listen")
	}
	// Defence in depth: flow validates documents, but nothing a webhook wrote
	// may reach the wire with a CR or LF in it (header injection).
	if err := checkValues("target", r.Target, "from user", r.FromUser, "from display name", r.FromDisplay,
		"username", r.Username); err != nil {
		return nil, refusedDial(err)
	}
	// RFC 3261 §19.1.5: a target's URI headers become headers of the INVITE,
	// never part of its Request-URI (§8.1.1.1).
	bare, uriHeaders, err := SplitURIHeaders(strings.TrimSpace(r.Target))
	if err != nil {
		return nil, refusedDial(err)
	}
	var target sip.Uri
	if err := sip.ParseUri(bare, &target); err != nil {
		return nil, &DialError{Reason: fmt.Sprintf("bad target %q: %v", r.Target, err), kind: ErrDeclined}
	}
	if target.Host == "" {
		return nil, &DialError{Reason: fmt.Sprintf("bad target %q: no host", r.Target), kind: ErrDeclined}
	}
	transport := targetTransport(target)
	ua := s.dialogUA[transport]
	if r.Source.IsValid() {
		ua = s.sources[sourceKey{transport, r.Source}]
	}
	if ua == nil {
		reason := "no " + transport + " listener for " + r.Target
		if r.Source.IsValid() {
			reason = fmt.Sprintf("no %s listener on %s (the leg's source) for %s", transport, r.Source, r.Target)
		}
		return nil, &DialError{Reason: reason, kind: ErrDeclined}
	}
	// RFC 3263 §4.2: the target's host, resolved here and checked
	// against sip.egress before anything is sent; the INVITE goes to the
	// checked address, so a second lookup cannot rebind it elsewhere.
	peers, port, err := s.resolveTarget(ctx, target.Host, target.Port, transport)
	if err != nil {
		s.log.Warn("dial refused", "target", r.Target, "error", err)
		return nil, refusedDial(err)
	}
	ringTimeout := r.RingTimeout
	if ringTimeout <= 0 {
		ringTimeout = DefaultRingTimeout
	}

	dest := netip.AddrPortFrom(peers[0], uint16(port))
	callID := r.CallID
	if callID == "" {
		callID = NewCallID()
	}
	oc := &OutboundCall{srv: s, callID: callID, ua: ua, fromTag: sip.GenerateTagN(16), dest: dest}
	oc.local.sessionID = randomSessionID()
	oc.local.version = 1
	oc.local.addr = r.LocalRTP
	oc.local.policy = s.cfg.SRTP
	if r.SRTP != "" {
		oc.local.policy = r.SRTP
	}
	offer, err := oc.local.offer()
	if err != nil {
		return nil, err
	}

	// sipgo writes user and password as they are, here and in To.
	target.User, target.Password = escapeUser(target.User), escapeUser(target.Password)
	req := sip.NewRequest(sip.INVITE, target)
	req.SetTransport(strings.ToUpper(transport))
	req.SetDestination(dest.String())
	host := ua.ContactHDR.Address.Host
	from := &sip.FromHeader{DisplayName: quoteDisplayName(r.FromDisplay), Address: sip.Uri{Scheme: "sip", User: escapeUser(r.FromUser), Host: host}, Params: sip.NewParams()}
	from.Params.Add("tag", oc.fromTag)
	to := &sip.ToHeader{Address: sip.Uri{Scheme: target.Scheme, User: target.User, Host: target.Host, Port: target.Port}, Params: sip.NewParams()}
	callIDHdr := sip.CallIDHeader(oc.callID)
	cseq := &sip.CSeqHeader{SeqNo: 1, MethodName: sip.INVITE}
	maxFwd := sip.MaxForwardsHeader(70)
	req.AppendHeader(from)
	req.AppendHeader(to)
	req.AppendHeader(&callIDHdr)
	req.AppendHeader(cseq)
	req.AppendHeader(&maxFwd)
	req.AppendHeader(sip.HeaderClone(&ua.ContactHDR))
	req.AppendHeader(sip.NewHeader("Allow", s.allow()))
	for _, h := range uriHeaders {
		req.AppendHeader(h.header())
	}
	if r.ReferredBy != "" {
		req.AppendHeader(sip.NewHeader("Referred-By", r.ReferredBy))
	}
	req.AppendHeader(sip.NewHeader("Content-Type", "application/sdp"))
	req.SetBody(offer)

	// Registered before the INVITE leaves, so a fast BYE or re-INVITE finds us
	// and the callee's in-dialog requests (INFO, re-INVITE, UPDATE, OPTIONS)
	// do not count against its source's rate limit. Our Call-IDs are random,
	// so no one else can borrow the exemption.
	s.mu.Lock()
	if s.outbound == nil {
		s.outbound = map[string]*OutboundCall{}
	}
	s.outbound[oc.callID] = oc
	s.mu.Unlock()
	live := s.guard.dialogStarted(oc.callID, oc.fromTag, "", peers...)
	// forget runs when the dialog ends (BYE either way) or never came up (no
	// 2xx: sipgo does not end the dialog's context then).
	var forgetOnce sync.Once
	forget := func() {
		forgetOnce.Do(func() {
			s.guard.dialogEnded(live)
			s.mu.Lock()
			delete(s.outbound, oc.callID)
			s.mu.Unlock()
		})
	}

	unlock := func() {}
	var stream streamKey // the INVITE's connection; zero on UDP
	if transport != "udp" {
		// The INVITE goes on a connection from the leg's source, checked
		// (TLS) for the target's host name: opened here, or one that was
		// opened for the same (tls_dial.go).
		k := streamKey{transport: transport, peer: netip.AddrPortFrom(peers[0], uint16(port)),
			host: target.Host, roots: r.RootCAs}
		if src := s.uaSource[ua]; !src.IsUnspecified() {
			k.source = src
		}
		stream = k
		unlock = s.streams.lock(k)
		if err := s.streams.ensure(ctx, k); err != nil {
			unlock()
			forget()
			s.log.Warn("dial failed", "target", r.Target, "error", err)
			return nil, refusedDial(err)
		}
	}
	dlg, err := ua.WriteInvite(context.Background(), req)
	unlock() // the INVITE has left on the connection ensured for it
	if err != nil {
		forget()
		return nil, &DialError{Reason: "send INVITE: " + err.Error(), kind: ErrDeclined}
	}
	oc.dlg = dlg
	context.AfterFunc(dlg.Context(), forget)

	waitCtx, cancelWait := context.WithCancelCause(context.Background())
	defer cancelWait(nil)
	type answer struct {
		md  MediaDesc
		err error
	}
	answered := make(chan answer, 1)
	go func() {
		var md MediaDesc
		var mdErr, hopErr error
		err := dlg.WaitAnswer(waitCtx, sipgo.AnswerOptions{
			Username: r.Username,
			Password: r.Password,
			OnResponse: func(res *sip.Response) error {
				switch {
				case res.StatusCode == 180 || res.StatusCode == 183:
					p := Progress{Code: res.StatusCode, Reason: res.Reason}
					if off, err := parseRemoteSDP(res.Body()); err == nil {
						if early, err := oc.local.acceptAnswer(off); err == nil {
							p.EarlyMedia = &early
						}
					}
					if r.OnProgress != nil {
						r.OnProgress(p)
					}
				case res.IsSuccess():
					// The ACK and every later request go to the 2xx's next hop
					// (RFC 3261 §12.1.2): it must pass sip.egress like the target.
					hop, err := s.checkNextHop(waitCtx, res, transport)
					if err != nil {
						s.log.Warn("dial refused", "target", r.Target, "error", err)
						hopErr = err
						return err
					}
					oc.setDestination(hop)
					if err := s.ensureNextHop(waitCtx, res, stream, hop); err != nil {
						s.log.Warn("dial failed", "target", r.Target, "error", err)
						hopErr = err
						return err
					}
					tag, _ := res.To().Params.Get("tag")
					src, _ := netip.ParseAddrPort(res.Source())
					s.guard.dialogAnswered(live, tag, src.Addr())
					off, err := parseRemoteSDP(res.Body())
					if err == nil {
						md, err = oc.local.acceptAnswer(off)
					}
					mdErr = err
				}
				return nil
			},
		})
		if hopErr != nil {
			// Nothing goes to a refused next hop, not even the ACK: the callee
			// gives up after its 2xx retransmissions (RFC 3261 §13.3.1.4).
			err = refusedDial(hopErr)
		} else if err != nil && dlg.InviteResponse != nil && dlg.InviteResponse.IsSuccess() {
			// A 2xx may cross our CANCEL (RFC 3261 §9.1): the dialog is then up and
			// must be acknowledged and ended, at its next hop if sip.egress allows
			// it (sipgo read this 2xx without OnResponse).
			bctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			if hop, hopErr := s.checkNextHop(bctx, dlg.InviteResponse, transport); hopErr == nil {
				oc.setDestination(hop)
				_ = dlg.Ack(bctx)
				_ = dlg.Bye(bctx)
			} else {
				s.log.Warn("2xx after CANCEL left unacknowledged", "call_id", oc.callID, "error", hopErr)
			}
			cancel()
		}
		if err == nil {
			if ackErr := dlg.Ack(context.Background()); ackErr != nil {
				err = ackErr
			} else if mdErr != nil {
				bctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				_ = dlg.Bye(bctx)
				cancel()
				err = &DialError{Code: 200, Reason: "unusable SDP answer: " + mdErr.Error(), kind: ErrDeclined}
			}
		}
		if err != nil {
			_ = dlg.Close()
			forget()
		}
		answered <- answer{md, err}
	}()

	ring := time.NewTimer(ringTimeout)
	defer ring.Stop()
	var stopped error // ErrNoAnswer or ErrCanceled once we sent CANCEL
	select {
	case a := <-answered:
		return oc.finishDial(a.md, a.err, nil)
	case <-ring.C:
		stopped = ErrNoAnswer
	case <-ctx.Done():
		stopped = ErrCanceled
	}
	cancelWait(errors.New("dial stopped"))
	grace := time.NewTimer(cancelGrace)
	defer grace.Stop()
	select {
	case a := <-answered:
		return oc.finishDial(a.md, a.err, stopped)
	case <-grace.C:
		return nil, &DialError{Reason: "CANCEL sent, no final response yet", kind: stopped}
	}
}

// finishDial turns WaitAnswer's result into Dial's; stopped is set when we
// sent CANCEL (ring timeout or ctx).
func (oc *OutboundCall) finishDial(md MediaDesc, err error, stopped error) (*OutboundCall, error) {
	if err == nil {
		if stopped != nil { // answered just as we gave up: keep to our word
			_ = oc.Hangup(context.Background())
			return nil, &DialError{Reason: "answered after CANCEL", kind: stopped}
		}
		oc.mu.Lock()
		oc.media = md
		oc.mu.Unlock()
		return oc, nil
	}
	var de *DialError
	if errors.As(err, &de) {
		return nil, de
	}
	var res *sipgo.ErrDialogResponse
	if errors.As(err, &res) && res.Res != nil {
		if stopped != nil && res.Res.StatusCode == 487 {
			return nil, &DialError{Code: 487, Reason: res.Res.Reason, kind: stopped}
		}
		return nil, dialFailure(res.Res.StatusCode, res.Res.Reason)
	}
	if stopped != nil {
		return nil, &DialError{Reason: err.Error(), kind: stopped}
	}
	if errors.Is(err, sip.ErrTransactionTimeout) {
		return nil, &DialError{Code: 408, Reason: "no response (timer B)", kind: ErrNoAnswer}
	}
	return nil, &DialError{Reason: err.Error(), kind: ErrDeclined}
}

// NewCallID returns a new random Call-ID of pivotua's (RFC 3261 §8.1.1.4: globally unique), for
// OutboundRequest.CallID.
func NewCallID() string { return newCallID() }

func newCallID() string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:]) + "@pivotua"
}

func randomSessionID() uint64 {
	var id [8]byte
	_, _ = rand.Read(id[:])
	return binary.BigEndian.Uint64(id[:]) >> 1
}

// setDestination records where the leg's requests go after its 2xx (zero: sipgo's routing).
func (oc *OutboundCall) setDestination(hop netip.AddrPort) {
	oc.mu.Lock()
	oc.dest = hop
	oc.mu.Unlock()
}

func (oc *OutboundCall) destination() netip.AddrPort {
	oc.mu.Lock()
	defer oc.mu.Unlock()
	return oc.dest
}

// CallID is the outbound dialog's own Call-ID (Twilio's DialCallSid).
func (oc *OutboundCall) CallID() string { return oc.callID }

// Media is the negotiated remote media (from the 2xx, or the latest re-INVITE).
func (oc *OutboundCall) Media() MediaDesc {
	oc.mu.Lock()
	defer oc.mu.Unlock()
	return oc.media
}

// Done is closed when the dialog ends: BYE either way.
func (oc *OutboundCall) Done() <-chan struct{} { return oc.dlg.Context().Done() }

// OnMediaChange registers fn to be called (on a sipgo goroutine) when a
// re-INVITE from the callee changes the remote media.
func (oc *OutboundCall) OnMediaChange(fn func(MediaDesc)) {
	oc.mu.Lock()
	oc.onMedia = fn
	oc.mu.Unlock()
}

// Hangup sends BYE (once) and waits for its answer, at most until ctx ends.
func (oc *OutboundCall) Hangup(ctx context.Context) error {
	if !oc.byeSent.CompareAndSwap(false, true) {
		return nil
	}
	return sendBye(ctx, oc.dlg)
}

// sendBye ends dlg with BYE and waits for the answer, at most 32 s (64*T1, as a
// non-INVITE transaction's Timer F), unless the far end ended the dialog first.
// Whatever the answer, the dialog is over for us.
func sendBye(ctx context.Context, dlg interface {
	Bye(context.Context) error
	Close() error
	Context() context.Context
}) error {
	if dlg.Context().Err() != nil {
		return nil // the far end ended it first
	}
	ctx, cancel := context.WithTimeout(ctx, 32*time.Second)
	defer cancel()
	err := dlg.Bye(ctx)
	_ = dlg.Close()
	return err
}

// lookupOutbound finds the outbound dialog an in-dialog request belongs to:
// our Call-IDs are ours alone.
func (s *Server) lookupOutbound(req *sip.Request) *OutboundCall {
	id := callID(req)
	if id == "" {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.outbound[id]
}

// outboundInDialog handles an in-dialog request (BYE, re-INVITE, ACK, INFO)
// for one of our outbound legs; false when it belongs to none.
func (s *Server) outboundInDialog(req *sip.Request, tx sip.ServerTransaction) bool {
	oc := s.lookupOutbound(req)
	if oc == nil || oc.dlg == nil {
		return false
	}
	switch req.Method {
	case sip.BYE:
		if err := oc.dlg.ReadBye(req, tx); err != nil {
			s.respond(req, tx, 500, "Server Internal Error")
			break
		}
		s.byeAnswered(req, tx)
	case sip.INVITE:
		oc.handleReinvite(req, tx)
	case sip.ACK:
		oc.mu.Lock()
		if oc.reinvite != nil {
			select {
			case oc.reinvite <- req:
			default:
			}
		}
		oc.mu.Unlock()
	case sip.INFO:
		oc.infoDigits.handle(s, req, tx)
	default:
		s.respond(req, tx, 200, "OK")
	}
	return true
}

// handleReinvite answers the callee's re-INVITE like the inbound side does (see answerReinvite).
func (oc *OutboundCall) handleReinvite(req *sip.Request, tx sip.ServerTransaction) {
	if err := oc.dlg.ReadRequest(req, tx); err != nil {
		oc.srv.respond(req, tx, 500, "Server Internal Error", sip.NewHeader("Retry-After", "1"))
		return
	}
	oc.srv.answerReinvite(dialogMedia{mu: &oc.mu, local: &oc.local, media: &oc.media, onMedia: &oc.onMedia, reinvite: &oc.reinvite},
		req, tx, oc.ua.ContactHDR, oc.Done())
}

// targetTransport is the transport a Dial target asks for: TLS for sips:
// (RFC 3261 §26.2.2) or ";transport=tls", TCP for ";transport=tcp", else UDP.
func targetTransport(u sip.Uri) string {
	if strings.EqualFold(u.Scheme, "sips") {
		return "tls"
	}
	if u.UriParams != nil {
		if t, ok := u.UriParams.Get("transport"); ok {
			switch strings.ToLower(t) {
			case "tcp":
				return "tcp"
			case "tls":
				return "tls"
			}
		}
	}
	return "udp"
}
