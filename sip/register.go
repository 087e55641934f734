package sip

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"
)

// Registration defaults (RFC 3261 §10). The retry schedule is the one the
// project promises: 1 s doubling to 5 min, each wait ±20 %, so that nodes
// that lost one registrar do not come back to it in step.
const (
	DefaultRegisterExpires = time.Hour
	DefaultKeepalive       = 30 * time.Second
	registerRetryMin       = time.Second
	registerRetryMax       = 5 * time.Minute
	// registerRoundTimeout bounds one REGISTER transaction (UDP retransmits
	// it at 0.5, 1, 2, 4, 4 s meanwhile): a registrar that has not answered
	// in that time is down, and the retry schedule takes over.
	registerRoundTimeout = 10 * time.Second
	// unregisterTimeout bounds the Expires: 0 at shutdown (UDP sends it at
	// 0, 0.5, 1.5 and 3.5 s meanwhile).
	unregisterTimeout = 5 * time.Second
	// maxRegisterExpires caps what we ask for or accept (RFC 3261 §20.19
	// allows 2^32-1 seconds; a day keeps a lost binding from lingering).
	maxRegisterExpires = 24 * time.Hour
	// minRefresh keeps a registrar that grants a second or less from making
	// us send REGISTER in a loop.
	minRefresh = time.Second
)

// Attempt results, as RegistrationConfig.OnAttempt reports them (and
// pivotua_registration_attempts_total counts them).
const (
	RegisterResultRegistered   = "registered"
	RegisterResultUnregistered = "unregistered" // the Expires: 0 at shutdown was accepted
	RegisterResultAuthFailed   = "auth_failed"  // our credentials were refused, or the challenge was unusable
	RegisterResultRejected     = "rejected"     // any other final failure, or a 2xx that kept no binding
	RegisterResultTimeout      = "timeout"      // no final answer in time
	RegisterResultError        = "error"        // we could not send: DNS, egress policy, transport
)

// RegistrationState is where one registration stands.
type RegistrationState string

const (
	RegistrationRegistering  RegistrationState = "registering"  // the first attempt is under way
	RegistrationRegistered   RegistrationState = "registered"   // the registrar holds our binding
	RegistrationRetrying     RegistrationState = "retrying"     // the last attempt failed; the next follows the backoff
	RegistrationUnregistered RegistrationState = "unregistered" // stopped
)

// RegistrationConfig is one trunk that pivotua registers with (RFC 3261 §10.2),
// so that the carrier can reach it behind NAT or without a fixed address.
type RegistrationConfig struct {
	// Trunk names it in logs, metrics and /readyz.
	Trunk string
	// URI is the trunk's sip: or sips: URI: its host and port are the
	// registrar (and the domain of the address of record); its transport
	// parameter (udp, tcp, tls; sips: means tls) is the registration's.
	URI string
	// Username and Password make the address of record (Username@host) and
	// answer the registrar's digest challenges (401, 407).
	Username, Password string
	// Expires is what we ask for; the registrar may grant less (or, with 423,
	// demand more). The binding is refreshed at half of what was granted.
	Expires time.Duration
	// OutboundProxy, when set, is a sip: URI where REGISTER is sent instead of
	// the registrar (with a Route header naming it, RFC 3261 §8.1.2).
	OutboundProxy string
	// ContactUser is the user part of our Contact, hence the Request-URI user
	// of calls the registrar sends us; empty: Username.
	ContactUser string
	// Keepalive is how often an OPTIONS goes to the registrar while registered,
	// keeping NAT bindings (and a TCP connection) open; one that draws no
	// answer at all triggers a REGISTER at once. Zero: none.
	Keepalive time.Duration
	// RootCAs are the roots the registrar's TLS certificate must chain to
	// (trunks[].ca_file, as for Dial); nil: the system's. Its host name (the
	// URI's, or the outbound proxy's) is checked either way.
	RootCAs *x509.CertPool
	// OnAttempt, if set, is called after each REGISTER attempt with its result
	// (RegisterResult...). It must not block.
	OnAttempt func(result string)

	// Set by tests only: the retry schedule and the per-round timeout.
	retryMin, retryMax, roundTimeout time.Duration
}

// RegistrationStatus is a snapshot of one registration.
type RegistrationStatus struct {
	Trunk string
	State RegistrationState
	Since time.Time     // when State was entered
	Until time.Time     // registered: when the binding lapses unless refreshed
	Error string        // retrying: why the last attempt failed
	Retry time.Duration // retrying: the wait before the next attempt
}

// Registration keeps one binding alive with its registrar until Stop.
type Registration struct {
	srv *Server
	cfg RegistrationConfig
	log *slog.Logger

	// Fixed at start.
	transport    string
	registrar    sip.Uri // Request-URI: sip:host[:port], no user (RFC 3261 §10.2)
	aor          sip.Uri // To and From
	contact      sip.ContactHeader
	route        *sip.Uri // the outbound proxy, when set
	dest         sip.Uri  // where requests physically go: the proxy or the registrar
	callID       string   // one Call-ID for every REGISTER (RFC 3261 §10.2.4)
	fromTag      string
	client       *sipgo.Client
	source       netip.Addr // TCP, TLS: the listener's address the connection leaves from
	retryMin     time.Duration
	retryMax     time.Duration
	roundTimeout time.Duration

	stop     chan struct{} // closed by Stop, once
	stopOnce sync.Once
	done     chan struct{} // closed when the loop has returned (after the unregister)

	// Owned by the loop goroutine; the rest read them through Status.
	mu      sync.Mutex
	status  RegistrationStatus
	cseq    uint32
	expires time.Duration // what we ask for; raised by a 423's Min-Expires
}

// registerError is one failed attempt: its result for the metrics and what went wrong.
type registerError struct {
	result string
	msg    string
}

func (e *registerError) Error() string { return e.msg }

func failed(result, format string, args ...any) *registerError {
	return &registerError{result: result, msg: fmt.Sprintf(format, args...)}
}

// ErrNoTransport is returned by StartRegistration when no listener serves the
// trunk URI's transport.
var ErrNoTransport = errors.New("no listener for the trunk's transport")

// StartRegistration checks cfg and starts registering in the background (at
// once: a restart re-registers). Call it after Listen; Stop unregisters.
func (s *Server) StartRegistration(cfg RegistrationConfig) (*Registration, error) {
	if err := checkValues("trunk uri", cfg.URI, "username", cfg.Username, "contact user", cfg.ContactUser,
		"outbound proxy", cfg.OutboundProxy); err != nil {
		return nil, fmt.Errorf("trunk %s: %w", cfg.Trunk, err)
	}
	uri, transport, err := parseTrunkURI(cfg.URI)
	if err != nil {
		return nil, fmt.Errorf("trunk %s: uri: %w", cfg.Trunk, err)
	}
	ua := s.dialogUA[transport]
	if ua == nil {
		return nil, fmt.Errorf("trunk %s: %w: %s (sip.listen has none)", cfg.Trunk, ErrNoTransport, transport)
	}
	r := &Registration{
		srv: s, cfg: cfg, transport: transport, client: ua.Client, source: s.uaSource[ua],
		log:  s.log.With("trunk", cfg.Trunk),
		stop: make(chan struct{}), done: make(chan struct{}),
		callID: newCallID(), fromTag: sip.GenerateTagN(16),
		expires:  clampExpires(cfg.Expires),
		cseq:     1 + rand.Uint32N(1<<16),
		retryMin: cmpOr(cfg.retryMin, registerRetryMin), retryMax: cmpOr(cfg.retryMax, registerRetryMax),
		roundTimeout: cmpOr(cfg.roundTimeout, registerRoundTimeout),
	}
	r.registrar = sip.Uri{Scheme: uri.Scheme, Host: uri.Host, Port: uri.Port}
	if uri.UriParams != nil {
		if t, ok := uri.UriParams.Get("transport"); ok {
			r.registrar.UriParams = sip.NewParams()
			r.registrar.UriParams.Add("transport", t)
		}
	}
	r.aor = sip.Uri{Scheme: uri.Scheme, User: escapeUser(cfg.Username), Host: uri.Host}
	r.dest = r.registrar
	if cfg.OutboundProxy != "" {
		proxy, _, err := parseTrunkURI(cfg.OutboundProxy)
		if err != nil {
			return nil, fmt.Errorf("trunk %s: outbound proxy: %w", cfg.Trunk, err)
		}
		proxy.User = ""
		if proxy.UriParams == nil {
			proxy.UriParams = sip.NewParams()
		}
		proxy.UriParams.Add("lr", "")
		r.route, r.dest = &proxy, proxy
	}
	r.contact = *ua.ContactHDR.Clone()
	r.contact.Address.User = escapeUser(cmpOr(cfg.ContactUser, cfg.Username))
	r.status = RegistrationStatus{Trunk: cfg.Trunk, State: RegistrationRegistering, Since: time.Now()}
	go r.run()
	return r, nil
}

// parseTrunkURI reads a trunk's sip: or sips: URI and the transport it names
// (RFC 3261 §19.1.1: sips means TLS; the transport parameter otherwise, UDP
// by default).
func parseTrunkURI(s string) (sip.Uri, string, error) {
	var u sip.Uri
	if err := sip.ParseUri(strings.TrimSpace(s), &u); err != nil {
		return u, "", fmt.Errorf("%q is not a SIP URI: %v", s, err)
	}
	if u.Host == "" {
		return u, "", fmt.Errorf("%q has no host", s)
	}
	if u.Port < 0 || u.Port > 65535 {
		return u, "", fmt.Errorf("%q: port %d is not 0 to 65535", s, u.Port)
	}
	transport := "udp"
	if strings.EqualFold(u.Scheme, "sips") {
		transport = "tls"
	}
	if u.UriParams != nil {
		if t, ok := u.UriParams.Get("transport"); ok {
			transport = strings.ToLower(t)
		}
	}
	switch transport {
	case "udp", "tcp", "tls":
	default:
		return u, "", fmt.Errorf("%q: transport %q is not udp, tcp or tls", s, transport)
	}
	return u, transport, nil
}

func cmpOr[T comparable](a, b T) T {
	var zero T
	if a != zero {
		return a
	}
	return b
}

func clampExpires(d time.Duration) time.Duration {
	switch {
	case d <= 0:
		return DefaultRegisterExpires
	case d > maxRegisterExpires:
		return maxRegisterExpires
	}
	return d.Truncate(time.Second)
}

// Status is the registration's state now.
func (r *Registration) Status() RegistrationStatus {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.status
}

// Stop ends the registration: the refreshes stop and, if the registrar holds
// our binding, a REGISTER with Expires: 0 removes it (RFC 3261 §10.2.2),
// waiting at most until ctx ends. It returns when that is done.
func (r *Registration) Stop(ctx context.Context) {
	r.stopOnce.Do(func() { close(r.stop) })
	select {
	case <-r.done:
	case <-ctx.Done():
	}
}

// setState records and logs a change of state, once per change.
func (r *Registration) setState(st RegistrationState, until time.Time, errMsg string, retry time.Duration) {
	r.mu.Lock()
	prev := r.status
	r.status.State, r.status.Until, r.status.Error, r.status.Retry = st, until, errMsg, retry
	if prev.State != st {
		r.status.Since = time.Now()
	}
	r.mu.Unlock()
	if prev.State == st && prev.Error == errMsg {
		return
	}
	switch st {
	case RegistrationRegistered:
		r.log.Info("registration: registered", "registrar", r.registrar.String(), "until", until.Format(time.RFC3339))
	case RegistrationRetrying:
		r.log.Warn("registration: failed", "registrar", r.registrar.String(), "error", errMsg, "retry_in", retry.Round(time.Millisecond))
	case RegistrationUnregistered:
		r.log.Info("registration: unregistered", "registrar", r.registrar.String())
	}
}

// run is the registration's loop: register, refresh at half of what was
// granted (sooner when a keep-alive goes unanswered), retry on failure after
// the backoff, and unregister when stopped.
func (r *Registration) run() {
	defer close(r.done)
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		select {
		case <-r.stop:
		case <-r.done:
		}
		cancel()
	}()
	defer cancel()
	registered := false
	backoff := r.retryMin
	for {
		granted, err := r.attempt(ctx, r.expires)
		if ctx.Err() != nil {
			break
		}
		r.report(err, RegisterResultRegistered)
		if err == nil {
			registered = true
			backoff = r.retryMin
			r.setState(RegistrationRegistered, time.Now().Add(granted), "", 0)
			if !r.holdBinding(ctx, max(granted/2, minRefresh)) {
				break
			}
			continue
		}
		wait := jitter(backoff)
		r.setState(RegistrationRetrying, time.Time{}, err.Error(), wait)
		backoff = min(backoff*2, r.retryMax)
		if !sleep(ctx, wait) {
			break
		}
	}
	// Stopped. The binding may be held even if the last refresh failed
	// (the registrar may only have been slow), so any earlier success counts.
	if registered {
		// Bounded tighter than a refresh: shutdown waits for it.
		uctx, ucancel := context.WithTimeout(context.Background(), min(r.roundTimeout, unregisterTimeout))
		_, err := r.attempt(uctx, 0)
		ucancel()
		r.report(err, RegisterResultUnregistered)
		if err != nil {
			r.log.Warn("registration: unregister failed; the binding lapses on its own", "error", err)
		}
	}
	r.setState(RegistrationUnregistered, time.Time{}, "", 0)
}

func (r *Registration) report(err error, okResult string) {
	if r.cfg.OnAttempt == nil {
		return
	}
	result := okResult
	var re *registerError
	if errors.As(err, &re) {
		result = re.result
	} else if err != nil {
		result = RegisterResultError
	}
	r.cfg.OnAttempt(result)
}

// holdBinding waits until the refresh is due, sending keep-alives meanwhile.
// It returns early (true) when a keep-alive drew no answer, and false when
// the registration was stopped.
func (r *Registration) holdBinding(ctx context.Context, refresh time.Duration) bool {
	due := time.NewTimer(refresh)
	defer due.Stop()
	var tick <-chan time.Time
	if r.cfg.Keepalive > 0 {
		t := time.NewTicker(r.cfg.Keepalive)
		defer t.Stop()
		tick = t.C
	}
	for {
		select {
		case <-ctx.Done():
			return false
		case <-due.C:
			return true
		case <-tick:
			if err := r.keepalive(ctx); err != nil && ctx.Err() == nil {
				r.log.Warn("registration: keep-alive unanswered; registering again", "error", err)
				return true
			}
		}
	}
}

// keepalive sends one OPTIONS to the registrar; any answer means the path
// (NAT binding, connection) is alive.
func (r *Registration) keepalive(ctx context.Context) error {
	req, err := r.newRequest(sip.OPTIONS, 0)
	if err != nil {
		return err
	}
	_, err = r.do(ctx, req)
	return err
}

// jitter spreads d by ±20 %.
func jitter(d time.Duration) time.Duration {
	return time.Duration(float64(d) * (0.8 + 0.4*rand.Float64()))
}

func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// attempt sends REGISTER asking for expires (0: remove the binding) and
// answers at most two digest challenges: one per request, plus one more only
// when the registrar says our nonce went stale (RFC 2617 §3.2.1) and gives a
// new one. A 423 raises expires to the registrar's Min-Expires once. It
// returns how long the registrar keeps the binding.
func (r *Registration) attempt(ctx context.Context, expires time.Duration) (time.Duration, error) {
	var authName, authValue, lastNonce string
	challenges, intervalRaised := 0, false
	for {
		req, err := r.newRequest(sip.REGISTER, expires)
		if err != nil {
			return 0, err
		}
		if authName != "" {
			req.AppendHeader(sip.NewHeader(authName, authValue))
		}
		res, err := r.do(ctx, req)
		if err != nil {
			return 0, err
		}
		switch code := res.StatusCode; {
		case code >= 200 && code < 300:
			if expires == 0 {
				return 0, nil
			}
			return r.granted(res, expires)
		case code == 401 || code == 407:
			challengeHdr, answerHdr := "WWW-Authenticate", "Authorization"
			if code == 407 {
				challengeHdr, answerHdr = "Proxy-Authenticate", "Proxy-Authorization"
			}
			var values []string
			for _, h := range res.GetHeaders(challengeHdr) {
				values = append(values, h.Value())
			}
			ch, err := pickChallenge(values)
			if err != nil {
				return 0, failed(RegisterResultAuthFailed, "%d %s: unusable %s: %v", code, truncate(res.Reason, 64), challengeHdr, err)
			}
			if challenges > 0 && (!ch.stale || ch.nonce == lastNonce || challenges >= 2) {
				return 0, failed(RegisterResultAuthFailed, "%d %s: the registrar refused our credentials for %s", code, truncate(res.Reason, 64), r.cfg.Username)
			}
			challenges++
			lastNonce = ch.nonce
			authName = answerHdr
			authValue = ch.authorization("REGISTER", r.registrar.String(), r.cfg.Username, r.cfg.Password, 1)
		case code == 423 && !intervalRaised && expires > 0:
			// RFC 3261 §10.2.8: ask again with at least Min-Expires.
			minExp, ok := parseDeltaSeconds(headerValue(res, "Min-Expires"))
			if !ok || minExp <= expires || minExp > maxRegisterExpires {
				return 0, failed(RegisterResultRejected, "423 with Min-Expires %q we cannot meet", truncate(headerValue(res, "Min-Expires"), 32))
			}
			intervalRaised = true
			expires = minExp
			r.mu.Lock()
			r.expires = minExp // later refreshes ask for it too
			r.mu.Unlock()
		default:
			return 0, failed(RegisterResultRejected, "%d %s", code, truncate(strings.Map(dropControl, res.Reason), 64))
		}
	}
}

// do sends one request and waits for its final answer, at most one round.
func (r *Registration) do(ctx context.Context, req *sip.Request) (*sip.Response, error) {
	// RFC 3263 §4.2: the destination as Dial resolves it, checked by sip.egress.
	peers, port, err := r.srv.resolveTarget(ctx, r.dest.Host, r.dest.Port, r.transport)
	if err != nil {
		return nil, failed(RegisterResultError, "%v", err)
	}
	peer := netip.AddrPortFrom(peers[0], uint16(port))
	req.SetDestination(peer.String())
	rctx, cancel := context.WithTimeout(ctx, r.roundTimeout)
	defer cancel()
	tx, err := r.send(rctx, req, peer)
	if err != nil {
		var re *registerError
		if errors.As(err, &re) {
			return nil, err
		}
		return nil, failed(RegisterResultError, "send %s to %s: %v", req.Method, req.Destination(), err)
	}
	defer tx.Terminate()
	res, err := finalResponse(rctx, tx)
	if err != nil {
		r.dropStream(ctx, peer)
		return nil, r.unanswered(req, err)
	}
	return res, nil
}

// dropStream closes the registration's TCP or TLS connection to peer after a
// request on it drew no answer: a registrar that went away without closing it
// (a crash behind a NAT or firewall that dropped its state) leaves it up but
// dead, and the next attempt would reuse it forever instead of connecting again.
// Not when the registration was stopped (ctx ended): that says nothing about
// the connection, which live calls may be using.
func (r *Registration) dropStream(ctx context.Context, peer netip.AddrPort) {
	if r.transport == "udp" || ctx.Err() != nil {
		return
	}
	d := r.srv.streams
	d.mu.Lock()
	c := d.conns[peerKey{r.transport, peer}]
	d.mu.Unlock()
	if c != nil {
		_ = c.Close()
	}
}

// unanswered is the failure of a request that left but drew no final answer.
func (r *Registration) unanswered(req *sip.Request, err error) error {
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, sip.ErrTransactionTimeout) {
		return failed(RegisterResultTimeout, "no answer from %s within %s", req.Destination(), r.roundTimeout)
	}
	return failed(RegisterResultError, "%s to %s: %v", req.Method, req.Destination(), err)
}

// send starts req's client transaction. Over TCP and TLS the request leaves
// on a connection the stream dialer opened, as Dial's do (tls_dial.go): from
// the listener's address, its certificate checked against RootCAs for the
// registrar's host name, TLS 1.2 or newer. The connection stays up and is
// reused by the refreshes and keep-alives, and the registrar sends our calls
// back over it (RFC 5626 §5.3, RFC 5923): sipgo serves it like an accepted
// one. Without this sipgo would open it itself, checking the certificate
// against the system's roots for the registrar's IP address.
func (r *Registration) send(ctx context.Context, req *sip.Request, peer netip.AddrPort) (sip.ClientTransaction, error) {
	if r.transport == "udp" {
		return r.client.TransactionRequest(ctx, req)
	}
	k := streamKey{transport: r.transport, peer: peer, source: r.source,
		host: strings.Trim(r.dest.Host, "[]"), roots: r.cfg.RootCAs}
	if k.source.IsUnspecified() {
		k.source = netip.Addr{}
	}
	// Held until the request has left on the connection ensured for it.
	unlock := r.srv.streams.lock(k)
	defer unlock()
	if err := r.srv.streams.ensure(ctx, k); err != nil {
		return nil, failed(RegisterResultError, "%v", err)
	}
	return r.client.TransactionRequest(ctx, req)
}

// newRequest builds a REGISTER (or a keep-alive OPTIONS) with the next CSeq
// (RFC 3261 §10.2: same Call-ID, CSeq one higher each time).
func (r *Registration) newRequest(method sip.RequestMethod, expires time.Duration) (*sip.Request, error) {
	r.mu.Lock()
	r.cseq++
	seq := r.cseq
	r.mu.Unlock()
	req := sip.NewRequest(method, r.registrar)
	req.SetTransport(strings.ToUpper(r.transport))
	from := &sip.FromHeader{Address: r.aor, Params: sip.NewParams()}
	from.Params.Add("tag", r.fromTag)
	to := &sip.ToHeader{Address: r.aor, Params: sip.NewParams()}
	callID := sip.CallIDHeader(r.callID)
	maxFwd := sip.MaxForwardsHeader(70)
	// RFC 3581: rport asks the registrar to answer where the request came
	// from, which is what gets through a NAT; the transport fills in the port.
	via := &sip.ViaHeader{ProtocolName: "SIP", ProtocolVersion: "2.0", Transport: strings.ToUpper(r.transport),
		Host: r.contact.Address.Host, Params: sip.NewParams()}
	via.Params.Add("branch", sip.GenerateBranchN(16))
	via.Params.Add("rport", "")
	req.AppendHeader(via)
	req.AppendHeader(from)
	req.AppendHeader(to)
	req.AppendHeader(&callID)
	req.AppendHeader(&sip.CSeqHeader{SeqNo: seq, MethodName: method})
	req.AppendHeader(&maxFwd)
	if r.route != nil {
		req.AppendHeader(&sip.RouteHeader{Address: *r.route})
	}
	if method == sip.REGISTER {
		req.AppendHeader(sip.HeaderClone(&r.contact))
		req.AppendHeader(sip.NewHeader("Expires", strconv.Itoa(int(expires/time.Second))))
	}
	req.AppendHeader(sip.NewHeader("User-Agent", r.srv.cfg.UserAgent))
	req.AppendHeader(sip.NewHeader("Allow", r.srv.allow())) // what the bound contact serves
	req.SetBody(nil)
	return req, nil
}

// granted reads how long the registrar keeps our binding from its 2xx
// (RFC 3261 §10.2.4): our Contact's expires parameter, else the Expires
// header, else what we asked. It never exceeds what we asked (a registrar
// may shorten, not lengthen); none at all means our binding is not there.
func (r *Registration) granted(res *sip.Response, asked time.Duration) (time.Duration, error) {
	got, found := time.Duration(0), false
	for _, h := range res.GetHeaders("Contact") {
		c, ok := h.(*sip.ContactHeader)
		if !ok || !sameContact(c.Address, r.contact.Address) {
			continue
		}
		if v, ok := c.Params.Get("expires"); ok {
			got, found = parseDeltaSecondsClamped(v)
		}
		if !found {
			if d, ok := parseDeltaSecondsClamped(headerValue(res, "Expires")); ok {
				got, found = d, true
			}
		}
		if !found {
			got, found = asked, true
		}
		break
	}
	if !found {
		if len(res.GetHeaders("Contact")) > 0 {
			return 0, failed(RegisterResultRejected, "%d: the registrar lists bindings but not ours (%s)", res.StatusCode, r.contact.Address.String())
		}
		// A registrar that lists no bindings at all: its Expires, else what we asked.
		got = asked
		if d, ok := parseDeltaSecondsClamped(headerValue(res, "Expires")); ok {
			got = d
		}
	}
	if got <= 0 {
		return 0, failed(RegisterResultRejected, "%d: the registrar granted our binding no time", res.StatusCode)
	}
	return min(got, asked), nil
}

// sameContact compares Contact URIs as RFC 3261 §19.1.4 would for our own:
// user, host and port.
func sameContact(a, b sip.Uri) bool {
	return a.User == b.User && strings.EqualFold(a.Host, b.Host) && a.Port == b.Port
}

func headerValue(res *sip.Response, name string) string {
	if h := res.GetHeader(name); h != nil {
		return strings.TrimSpace(h.Value())
	}
	return ""
}

// parseDeltaSeconds reads delta-seconds (RFC 3261 §25.1: digits only); false
// for anything else, including an empty or negative value.
func parseDeltaSeconds(v string) (time.Duration, bool) {
	if v == "" || len(v) > 20 || !isDigits(v) {
		return 0, false
	}
	n, err := strconv.ParseUint(v, 10, 64)
	if err != nil || n > uint64(maxRegisterExpires/time.Second) {
		return maxRegisterExpires + time.Second, err == nil || errors.Is(err, strconv.ErrRange)
	}
	return time.Duration(n) * time.Second, true
}

// parseDeltaSecondsClamped is parseDeltaSeconds with absurd values (2^63)
// brought down to maxRegisterExpires.
func parseDeltaSecondsClamped(v string) (time.Duration, bool) {
	d, ok := parseDeltaSeconds(v)
	return min(d, maxRegisterExpires), ok
}
