package sip

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"
)

// Config is the signalling part of pivotua's config file.
type Config struct {
	// Listen holds transport URLs such as "udp://127.0.0.1:5060", "tcp://127.0.0.1:5060"
	// and "tls://127.0.0.1:5061". Dial's legs leave from these addresses.
	// Port 0 binds an ephemeral port (tests); Addrs reports what was bound.
	Listen []string
	// ExternalIP is the host put in Contact headers; empty means each listener's own address.
	ExternalIP string
	// AllowCIDRs lists the sources allowed to send INVITE; empty allows any.
	AllowCIDRs []netip.Prefix
	// MaxCalls caps concurrent calls; INVITEs beyond it get 503. 0 means no cap.
	MaxCalls int
	// UserAgent is sent in User-Agent and Server headers.
	UserAgent string
	Logger    *slog.Logger
	// Guard is what every request must pass before sipgo and the handlers
	// see it: size and header caps, RFC 3261 checks, rate limit, scanners.
	Guard GuardConfig
	// Egress limits where Dial's legs send SIP (sip.egress in the config).
	Egress EgressPolicy
	// TLS is the certificate of the tls:// listeners; required when there is one.
	TLS TLSConfig
	// InboundAuth, when set, lets an INVITE from outside AllowCIDRs (or any,
	// when AllowCIDRs is empty) in if it proves one of these by digest
	// (digest_server.go); without it, such an INVITE gets 403.
	InboundAuth []InboundCredential
	// SRTP is the SRTP policy (rtp.srtp) of inbound calls and of Dial legs whose
	// OutboundRequest names none. Empty means SRTPOff.
	SRTP SRTPPolicy
	// SessionTimer is how RFC 4028 session timers are answered; zero: not at all.
	SessionTimer SessionTimerConfig
	// AcceptRefer lets a peer's REFER in a leg bridged by a Dial transfer
	// that leg (sip.accept_refer, refer_in.go); false answers every REFER 403.
	AcceptRefer bool
}

// allow is what we serve, for Allow in OPTIONS, 405, our 2xx, our INVITEs
// and REGISTERs. NOTIFY is for the ones that report on our REFERs; REFER
// itself only when sip.accept_refer lets a bridged party transfer its leg
// (refer_in.go), so a peer that reads Allow does not try a transfer we refuse.
func (s *Server) allow() string {
	const methods = "INVITE, ACK, BYE, CANCEL, OPTIONS, INFO, UPDATE, PRACK, NOTIFY"
	if s.cfg.AcceptRefer {
		return methods + ", REFER"
	}
	return methods
}

// Handler runs one inbound call. It is called on the INVITE's own goroutine and
// must not return before the call has a final response; when it returns, the
// server sends BYE (answered) or 500 (unanswered) if the handler did not.
type Handler func(c *InboundCall)

// Listener is one bound signalling socket.
type Listener struct {
	Transport string // "udp", "tcp" or "tls"
	Addr      netip.AddrPort
}

// Server answers SIP on every configured listener and hands new calls to a Handler.
type Server struct {
	cfg     Config
	log     *slog.Logger
	handler Handler

	ua     *sipgo.UserAgent
	srv    *sipgo.Server
	client *sipgo.Client
	// dialogUA per transport, so Contact carries the right transport and port. Written in Listen only.
	dialogUA map[string]*sipgo.DialogUA
	// sources holds a dialog UA per listener, for Dial's legs that name the
	// address they leave from (OutboundRequest.Source). Written in Listen only.
	sources  map[sourceKey]*sipgo.DialogUA
	uaSource map[*sipgo.DialogUA]netip.Addr // the listener address each of those leaves from
	// streams opens Dial's TCP and TLS connections (tls_dial.go).
	streams *streamDialer
	certs   *certStore // the tls:// listeners' certificate; nil without one

	listeners []Listener
	closers   []func() error
	// udpServing: one per UDP listener, closed once sipgo serves it. Written in Listen only.
	udpServing []chan struct{}
	guard      *guard         // set in Listen, read by the handlers and the UDP sockets
	inbound    *inboundDigest // nil without Config.InboundAuth; set in NewServer
	ended      *endedMemory   // what we ended early: answered BYEs and accepted INVITEs (ended_memory.go)

	// calls maps sipgo dialog IDs to live calls; guarded by mu.
	mu    sync.Mutex
	calls map[string]*InboundCall
	// outbound maps our own Call-IDs to Dial legs (call_outbound.go); guarded by mu.
	outbound map[string]*OutboundCall

	dns hostResolver // nil: net.DefaultResolver; set by tests before Listen

	active         atomic.Int64
	draining       atomic.Bool
	sessionExpired atomic.Uint64 // calls ended for want of a session refresh (session_timer.go)
}

// NewServer validates cfg and prepares a server; Listen binds it.
func NewServer(cfg Config, h Handler) (*Server, error) {
	if h == nil {
		return nil, errors.New("sip: nil handler")
	}
	if len(cfg.Listen) == 0 {
		return nil, errors.New("sip: no listen address")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.UserAgent == "" {
		cfg.UserAgent = "pivotua"
	}
	s := &Server{cfg: cfg, log: cfg.Logger, handler: h, calls: map[string]*InboundCall{}, dialogUA: map[string]*sipgo.DialogUA{},
		sources: map[sourceKey]*sipgo.DialogUA{}, uaSource: map[*sipgo.DialogUA]netip.Addr{}, streams: newStreamDialer(),
		ended: newEndedMemory(sip.Timer_J)}
	if len(cfg.InboundAuth) > 0 {
		s.inbound = newInboundDigest(cfg.InboundAuth)
	}
	return s, nil
}

// sourceKey names one listener: the transport and address Dial's legs may leave from.
type sourceKey struct {
	transport string
	addr      netip.Addr
}

// ParseListen splits "udp://127.0.0.1:5060" into its transport and address.
func ParseListen(s string) (transport string, addr netip.AddrPort, err error) {
	u, err := url.Parse(s)
	if err != nil || u.Host == "" {
		return "", addr, fmt.Errorf("listen %q: want udp://IP:PORT, tcp://IP:PORT or tls://IP:PORT", s)
	}
	transport = strings.ToLower(u.Scheme)
	if transport != "udp" && transport != "tcp" && transport != "tls" {
		return "", addr, fmt.Errorf("listen %q: transport %q is not udp, tcp or tls", s, u.Scheme)
	}
	addr, err = netip.ParseAddrPort(u.Host)
	if err != nil {
		return "", addr, fmt.Errorf("listen %q: %v", s, err)
	}
	return transport, addr, nil
}

// Listen binds every listener and starts serving on them in the background.
// It returns once all sockets are bound, so a client may call at once.
func (s *Server) Listen() error {
	// The guard judges input before sipgo parses it (UDP) or handles it (TCP);
	// sipgo's own lines about unparsable input go to its summary, not the log.
	s.guard = newGuard(s.cfg.Guard, s.cfg.UserAgent, s.log.With("component", "sip-guard"))
	quiet := slog.New(summarizingHandler{next: s.log.Handler(), summary: s.guard.summary}).With("component", "sipgo")
	if s.cfg.TLS.CertFile != "" || s.cfg.TLS.KeyFile != "" {
		s.certs = &certStore{certFile: s.cfg.TLS.CertFile, keyFile: s.cfg.TLS.KeyFile}
		if err := s.certs.load(); err != nil {
			return fmt.Errorf("sip: %w", err)
		}
	}
	ua, err := sipgo.NewUA(sipgo.WithUserAgent(s.cfg.UserAgent),
		// sipgo's own TLS dials (an in-dialog request to a next hop other than
		// the one Dial connected to) check the system roots and the host name.
		sipgo.WithUserAgenTLSConfig(s.streams.clientConf),
		sipgo.WithUserAgentParser(s.guard.parser),
		sipgo.WithUserAgentTransportLayerOptions(sip.WithTransportLayerLogger(quiet)),
		sipgo.WithUserAgentTransactionLayerOptions(sip.WithTransactionLayerLogger(quiet),
			// Late retransmissions and stray responses: nothing to act on.
			sip.WithTransactionLayerUnhandledResponseHandler(func(r *sip.Response) {
				s.log.Debug("unmatched SIP response", "response", r.StartLine(), "source", r.Source())
			})))
	if err != nil {
		return fmt.Errorf("sip: %w", err)
	}
	s.ua = ua
	s.srv, err = sipgo.NewServer(ua, sipgo.WithServerLogger(quiet))
	if err != nil {
		return fmt.Errorf("sip: %w", err)
	}
	// Bind every socket first, but serve none until the handlers and the dialog
	// UAs they read are in place: a request may arrive the moment one is served.
	var serve []func()
	for _, l := range s.cfg.Listen {
		transport, addr, err := ParseListen(l)
		if err != nil {
			s.Close()
			return err
		}
		bound, start, err := s.bind(transport, addr)
		if err != nil {
			s.Close()
			return err
		}
		s.listeners = append(s.listeners, Listener{Transport: transport, Addr: bound})
		serve = append(serve, start)
	}
	host := s.cfg.ExternalIP
	if host == "" {
		host = s.listeners[0].Addr.Addr().String()
	}
	s.client, err = sipgo.NewClient(ua, sipgo.WithClientHostname(host), sipgo.WithClientLogger(quiet))
	if err != nil {
		s.Close()
		return fmt.Errorf("sip: %w", err)
	}
	for _, l := range s.listeners {
		key := sourceKey{l.Transport, l.Addr.Addr()}
		if _, ok := s.sources[key]; ok {
			continue
		}
		// Via, Contact and From name the listener the request leaves from
		// (or external_ip), not the first listener of all.
		h := s.cfg.ExternalIP
		if h == "" {
			h = l.Addr.Addr().String()
		}
		contact := sip.ContactHeader{Address: sip.Uri{User: "pivotua", Host: h, Port: int(l.Addr.Port())}}
		if l.Transport != "udp" {
			// RFC 3261 §18: the peer's in-dialog requests come back over this transport.
			contact.Address.UriParams = sip.NewParams()
			contact.Address.UriParams.Add("transport", l.Transport)
		}
		opts := []sipgo.ClientOption{sipgo.WithClientHostname(h), sipgo.WithClientLogger(quiet)}
		if l.Transport == "udp" {
			// UDP requests of ours (Dial's INVITE, ACK, CANCEL, BYE) leave from the
			// listening socket, where the guard reads their answers. Without a local
			// address sipgo opens an unguarded ephemeral socket per destination, which
			// its transport layer then closes twice at shutdown ("UDP ref went negative").
			opts = append(opts, sipgo.WithClientConnectionAddr(l.Addr.String()))
		} else {
			// Streams leave from the listener's address (streamDialer) on a port
			// of their own; Via names the listening port.
			opts = append(opts, sipgo.WithClientPort(int(l.Addr.Port())))
		}
		client, err := sipgo.NewClient(ua, opts...)
		if err != nil {
			s.Close()
			return fmt.Errorf("sip: %w", err)
		}
		// Every request of ours goes where sip.egress checked (egress_pin.go).
		client.TxRequester = pinningRequester{srv: s, ua: ua}
		dua := &sipgo.DialogUA{Client: client, ContactHDR: contact}
		s.sources[key] = dua
		s.uaSource[dua] = l.Addr.Addr()
		if _, ok := s.dialogUA[l.Transport]; !ok {
			s.dialogUA[l.Transport] = dua
		}
	}
	// Every handler runs behind the guard (guard.go); methods we do not serve get 405.
	s.srv.OnInvite(s.guarded(s.onInvite))
	s.srv.OnAck(s.guarded(s.onAck))
	s.srv.OnBye(s.guarded(s.onBye))
	s.srv.OnCancel(s.guarded(s.onCancel))
	s.srv.OnOptions(s.guarded(s.onOptions))
	s.srv.OnInfo(s.guarded(s.onInfo))
	s.srv.OnRefer(s.guarded(s.onRefer))
	s.srv.OnNotify(s.guarded(s.onNotify))
	s.srv.OnUpdate(s.guarded(s.onUpdate))
	s.srv.OnPrack(s.guarded(s.onPrack))
	s.srv.OnNoRoute(s.guarded(s.onUnsupported))
	for _, start := range serve {
		go start()
	}
	// Dial's own TCP and TLS connections reach sipgo through these (tls_dial.go).
	for _, t := range []string{"tcp", "tls"} {
		for _, l := range s.listeners {
			if l.Transport != t {
				continue
			}
			f := newConnFeeder(net.TCPAddrFromAddrPort(l.Addr))
			s.streams.feeders[t] = f
			if t == "tcp" {
				go func() { _ = s.srv.ServeTCP(f) }()
			} else {
				go func() { _ = s.srv.ServeTLS(f) }()
			}
			break
		}
	}
	// Dial sends from the UDP listener (see dialogUA above), which sipgo
	// knows only once it serves it.
	for _, serving := range s.udpServing {
		<-serving
	}
	return nil
}

func (s *Server) bind(transport string, addr netip.AddrPort) (bound netip.AddrPort, serve func(), err error) {
	switch transport {
	case "udp":
		pc, err := listenUDP(addr)
		if err != nil {
			return addr, nil, fmt.Errorf("sip: listen udp %s: %w", addr, err)
		}
		s.closers = append(s.closers, pc.Close)
		// sipgo reads through the guard, which judges each datagram first.
		gc := newGuardedPacketConn(pc, s.guard)
		s.udpServing = append(s.udpServing, gc.serving)
		return pc.LocalAddr().(*net.UDPAddr).AddrPort(), func() { _ = s.srv.ServeUDP(gc) }, nil
	case "tls":
		if s.certs == nil {
			return addr, nil, fmt.Errorf("sip: listen tls %s: %w: sip.tls.cert_file and key_file are required", addr, ErrTLSCertificate)
		}
		ln, err := net.ListenTCP("tcp", net.TCPAddrFromAddrPort(addr))
		if err != nil {
			return addr, nil, fmt.Errorf("sip: listen tls %s: %w", addr, err)
		}
		hl := newHandshakeListener(ln, s.certs.serverConfig(), s.log.With("component", "sip-tls"))
		s.closers = append(s.closers, hl.Close)
		return ln.Addr().(*net.TCPAddr).AddrPort(), func() { _ = s.srv.ServeTLS(hl) }, nil
	default:
		ln, err := net.ListenTCP("tcp", net.TCPAddrFromAddrPort(addr))
		if err != nil {
			return addr, nil, fmt.Errorf("sip: listen tcp %s: %w", addr, err)
		}
		s.closers = append(s.closers, ln.Close)
		return ln.Addr().(*net.TCPAddr).AddrPort(), func() { _ = s.srv.ServeTCP(ln) }, nil
	}
}

// udpReadBuffer is the SIP UDP socket's receive buffer (SO_RCVBUF; the kernel caps it at
// net.core.rmem_max). One goroutine reads the socket; while it is held up (a GC cycle, a busy
// CPU) what arrives waits here, and what does not fit is dropped and retransmitted by the caller
// 500 ms later (RFC 3261 §17.1.1.2, Timer A). 4 MiB holds about a second of 1,000 call setups.
const udpReadBuffer = 4 << 20

// listenUDP opens a UDP listener with udpReadBuffer.
func listenUDP(addr netip.AddrPort) (*net.UDPConn, error) {
	pc, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(addr))
	if err != nil {
		return nil, err
	}
	if err := pc.SetReadBuffer(udpReadBuffer); err != nil {
		pc.Close()
		return nil, fmt.Errorf("receive buffer: %w", err)
	}
	return pc, nil
}

// dialogUAFor picks the dialog UA (and so the Contact) of the request's transport.
func (s *Server) dialogUAFor(req *sip.Request) *sipgo.DialogUA {
	if ua := s.dialogUA[strings.ToLower(req.Transport())]; ua != nil {
		return ua
	}
	return s.dialogUA["udp"]
}

// Listeners reports the bound sockets (with real ports when 0 was configured).
func (s *Server) Listeners() []Listener { return s.listeners }

// ActiveCalls is the number of calls between INVITE and their end.
func (s *Server) ActiveCalls() int { return int(s.active.Load()) }

// Drain makes the server refuse new INVITEs with 503 (and answer OPTIONS 503)
// while live calls go on.
func (s *Server) Drain() { s.draining.Store(true) }

// Close stops listening. Live calls are not touched: end them first.
func (s *Server) Close() {
	s.streams.close()
	for _, c := range s.closers {
		_ = c()
	}
	if s.ua != nil {
		_ = s.ua.Close()
	}
}

// Hangup sends BYE on every live call (used at shutdown after the grace period).
func (s *Server) HangupAll(ctx context.Context) {
	s.mu.Lock()
	calls := make([]*InboundCall, 0, len(s.calls))
	for _, c := range s.calls {
		calls = append(calls, c)
	}
	s.mu.Unlock()
	var wg sync.WaitGroup
	for _, c := range calls {
		wg.Add(1)
		go func() { defer wg.Done(); _ = c.Hangup(ctx) }()
	}
	wg.Wait()
}

func (s *Server) respond(req *sip.Request, tx sip.ServerTransaction, code int, reason string, hdrs ...sip.Header) {
	res := sip.NewResponseFromRequest(req, code, reason, nil)
	for _, h := range hdrs {
		res.AppendHeader(h)
	}
	if err := tx.Respond(res); err != nil {
		s.log.Debug("respond failed", "call_id", callID(req), "code", code, "error", err)
	}
}

func callID(req *sip.Request) string {
	if h := req.CallID(); h != nil {
		return h.Value()
	}
	return ""
}

func sourceAddr(req *sip.Request) (netip.Addr, bool) {
	host, _, err := net.SplitHostPort(req.Source())
	if err != nil {
		return netip.Addr{}, false
	}
	a, err := netip.ParseAddr(host)
	return a.Unmap(), err == nil
}

func (s *Server) allowed(req *sip.Request) bool {
	if len(s.cfg.AllowCIDRs) == 0 {
		return true
	}
	src, ok := sourceAddr(req)
	if !ok {
		return false
	}
	for _, p := range s.cfg.AllowCIDRs {
		if p.Contains(src) {
			return true
		}
	}
	return false
}

func (s *Server) lookup(req *sip.Request) *InboundCall {
	id, err := sip.DialogIDFromRequestUAS(req)
	if err != nil {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls[id]
}

func (s *Server) onInvite(req *sip.Request, tx sip.ServerTransaction) {
	if s.ended.inviteEnded(req) {
		return // a retransmission of an INVITE we accepted, whose transaction we ended (invite_accepted.go)
	}
	// RFC 3261 §17.2.1: 100 Trying at once, before anything that may take time.
	s.respond(req, tx, 100, "Trying")

	if to := req.To(); to != nil {
		if tag, _ := to.Params.Get("tag"); tag != "" {
			if c := s.lookup(req); c != nil {
				c.handleReinvite(req, tx)
				return
			}
			if s.outboundInDialog(req, tx) {
				return
			}
			s.respond(req, tx, 481, "Call/Transaction Does Not Exist")
			return
		}
	}
	// With inbound credentials, an empty allow_cidrs trusts no address: every INVITE proves itself.
	if s.inbound != nil && (len(s.cfg.AllowCIDRs) == 0 || !s.allowed(req)) {
		if !s.authorizeInbound(req, tx) {
			return
		}
	} else if !s.allowed(req) {
		// Anyone can send these at will: a line each at debug, a summary at warning.
		s.log.Debug("INVITE refused by allow_cidrs", "call_id", callID(req), "source", req.Source())
		s.guard.summary.tally("refused-403-allow_cidrs", req.Source())
		s.respond(req, tx, 403, "Forbidden")
		return
	}
	if s.draining.Load() {
		s.respond(req, tx, 503, "Service Unavailable", sip.NewHeader("Retry-After", "5"))
		return
	}
	if n := s.active.Add(1); s.cfg.MaxCalls > 0 && n > int64(s.cfg.MaxCalls) {
		s.active.Add(-1)
		s.respond(req, tx, 503, "Service Unavailable", sip.NewHeader("Retry-After", "5"))
		return
	}

	st, ok := s.newSessionTimer(req, tx)
	if !ok {
		s.active.Add(-1)
		return
	}
	c, code, reason := s.newInboundCall(req, tx)
	if c == nil {
		s.active.Add(-1)
		// reason may quote the caller's SDP: warningValue drops its control characters.
		s.respond(req, tx, code, strings.Map(dropControl, reason), sip.NewHeader("Warning", warningValue(reason)))
		return
	}
	st.call, c.session = c, st
	s.mu.Lock()
	s.calls[c.dlg.ID] = c
	s.mu.Unlock()
	// Its in-dialog requests are not rate-counted: those with its tags, from where the INVITE came.
	localTag, _ := c.dlg.InviteRequest.To().Params.Get("tag")
	var remoteTag string
	if f := req.From(); f != nil {
		remoteTag, _ = f.Params.Get("tag")
	}
	src, _ := sourceAddr(req)
	live := s.guard.dialogStarted(c.info.CallID, localTag, remoteTag, src)
	// The call runs on a goroutine of its own, not on this one: sipgo's handler goroutine is deep in
	// sipgo's frames, so its stack, grown during the pivot fetch, never shrank back while the call
	// played (16 KB a call). This one only keeps the INVITE transaction alive, which sipgo ends when
	// the handler returns: until our final response is out (a 200's ACK arrived or timed out) or the
	// call is over.
	go func() {
		defer func() {
			s.guard.dialogEnded(live)
			s.mu.Lock()
			delete(s.calls, c.dlg.ID)
			s.mu.Unlock()
			c.releaseAccepted() // the call is over
			s.active.Add(-1)
		}()
		c.run(s.handler)
	}()
	select {
	case <-c.settled:
		if c.FinalStatus() != 0 {
			forget(req)
		}
	case <-c.Done():
	}
}

// forget empties a request whose server transaction outlives our use of it: once the final response
// is out, a transaction reads only the request's method (to match a retransmission), yet keeps the
// request until Timer L or J ends it, 32 s on UDP (RFC 6026 §8.7, RFC 3261 §17.2.2), and sipgo
// v1.7.2 keeps an INVITE's that long even when the call's BYE ended the transaction first. What the
// call needs of it was copied when it arrived (CallInfo, the offer, the dialog's own copy). Its
// headers and body are a few KB a call, which the garbage collector would otherwise mark for half a
// minute after every call.
func forget(req *sip.Request) {
	// The body first: SetBody writes a Content-Length. Then a header a pass, bounded even if a name
	// did not match.
	req.SetBody(nil)
	for range len(req.Headers()) {
		hs := req.Headers()
		if len(hs) == 0 {
			break
		}
		req.RemoveHeader(hs[0].Name())
	}
}

// forgetAnswer empties our 2xx to an INVITE once it will not be sent again, all but its status and
// To header: the dialog keeps it for the call's life (and the INVITE transaction for Timer L), and
// reads only those two from then on, to build our in-dialog requests (the To, with our tag, is their
// From) and to check that a BYE may go. Another goroutine may be doing that meanwhile; neither the
// status nor the To header is written here.
func forgetAnswer(res *sip.Response) {
	res.SetBody(nil)
	var drop []string
	for _, h := range res.Headers() {
		if h.Name() != "To" {
			drop = append(drop, h.Name())
		}
	}
	for _, name := range drop {
		res.RemoveHeader(name)
	}
}

func (s *Server) onAck(req *sip.Request, tx sip.ServerTransaction) {
	if c := s.lookup(req); c != nil {
		c.handleAck(req, tx)
		return
	}
	s.outboundInDialog(req, tx)
}

func (s *Server) onBye(req *sip.Request, tx sip.ServerTransaction) {
	c := s.lookup(req)
	if c == nil {
		switch {
		case s.outboundInDialog(req, tx):
		case s.ended.byeEnded(req):
			s.respond(req, tx, 200, "OK") // a retransmission: our 200 was lost
		default:
			s.respond(req, tx, 481, "Call/Transaction Does Not Exist")
		}
		return
	}
	c.handleBye(req, tx)
}

// byeAnswered ends the transaction of a BYE just answered with 200, which would otherwise keep the
// BYE and the 200 for Timer J, 32 s after the call on UDP (sipgo's keeps the BYE whole): ended
// remembers the dialog instead, and answers a retransmission (onBye). The dialog first, so no
// retransmission falls between the two.
func (s *Server) byeAnswered(req *sip.Request, tx sip.ServerTransaction) {
	s.ended.byeAnswered(req)
	tx.Terminate()
}

func (s *Server) onUpdate(req *sip.Request, tx sip.ServerTransaction) {
	c := s.lookup(req)
	if c == nil {
		if !s.outboundInDialog(req, tx) {
			s.respond(req, tx, 481, "Call/Transaction Does Not Exist")
		}
		return
	}
	c.handleUpdate(req, tx)
}

func (s *Server) onInfo(req *sip.Request, tx sip.ServerTransaction) {
	c := s.lookup(req)
	if c == nil {
		if !s.outboundInDialog(req, tx) {
			s.respond(req, tx, 481, "Call/Transaction Does Not Exist")
		}
		return
	}
	c.infoDigits.handle(s, req, tx)
}

// onCancel sees only CANCELs that matched no INVITE transaction (sipgo answers
// the others itself, with 200 to the CANCEL and 487 to the INVITE).
func (s *Server) onCancel(req *sip.Request, tx sip.ServerTransaction) {
	s.respond(req, tx, 481, "Call/Transaction Does Not Exist")
}

func (s *Server) onOptions(req *sip.Request, tx sip.ServerTransaction) {
	if s.draining.Load() {
		s.respond(req, tx, 503, "Service Unavailable")
		return
	}
	s.respond(req, tx, 200, "OK",
		sip.NewHeader("Allow", s.allow()),
		sip.NewHeader("Accept", "application/sdp"),
		sip.NewHeader("Supported", "timer, 100rel"))
}
