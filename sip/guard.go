package sip

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"
)

// Guard defaults.
const (
	// DefaultMaxMessageBytes caps one SIP message (a UDP datagram can carry no
	// more). On UDP sipgo's read buffer (sip.TransportBufferReadSize, 32 KiB)
	// is the effective cap when it is smaller.
	DefaultMaxMessageBytes = 65535
	// DefaultMaxHeaders caps the header fields of one message.
	DefaultMaxHeaders = 256
)

// GuardConfig is what the guard in front of sipgo enforces on every request.
type GuardConfig struct {
	MaxMessageBytes int // 0: DefaultMaxMessageBytes
	MaxHeaders      int // 0: DefaultMaxHeaders
	RateLimit       RateLimit
}

// scannerUserAgents are the User-Agent substrings of SIP scanners, whose
// requests are dropped without an answer (noise reduction, not security).
var scannerUserAgents = []string{
	"friendly-scanner", "sipvicious", "sipcli", "vaxsipuseragent", "iwar", "sip-scan", "sundayddr", "nmap nse",
}

func isScanner(userAgent string) bool {
	for _, s := range scannerUserAgents {
		if containsFoldASCII(userAgent, s) {
			return true
		}
	}
	return false
}

// containsFoldASCII is strings.Contains with ASCII letters folded; sub is
// lower case.
func containsFoldASCII(s, sub string) bool {
	for i := 0; i+len(sub) <= len(s); i++ {
		if equalFoldASCII(s[i:i+len(sub)], sub) {
			return true
		}
	}
	return false
}

// guard judges requests before sipgo and pivotua see them: on UDP it reads
// each datagram first (guardedPacketConn), on TCP it runs as handler middleware
// on what sipgo parsed. It answers a fault statelessly with 4xx/5xx and a
// Warning naming it, or drops what cannot or should not be answered.
type guard struct {
	cfg       GuardConfig
	userAgent string
	limiter   *rateLimiter
	summary   *inputSummary
	// parser is the one sipgo parses with (its MaxMessageLength is ours);
	// the guard parses only responses with it: requests it checks against
	// what this parser refuses (checkParsable) instead.
	parser *sip.Parser

	mu   sync.Mutex               // guards live and every liveDialog in it
	live map[string][]*liveDialog // dialogs of live calls, inbound and outbound (Dial), by Call-ID
}

// liveDialog is what an in-dialog request must match to skip the rate limit:
// a live Call-ID alone is no proof, since anyone may copy it into a request.
type liveDialog struct {
	callID    string
	localTag  string       // ours: the To tag of the peer's in-dialog requests
	remoteTag string       // the peer's: their From tag; empty until known (a Dial before its 2xx)
	peers     []netip.Addr // where the peer's requests may come from
}

func newGuard(cfg GuardConfig, userAgent string, log *slog.Logger) *guard {
	if cfg.MaxMessageBytes <= 0 {
		cfg.MaxMessageBytes = DefaultMaxMessageBytes
	}
	if cfg.MaxHeaders <= 0 {
		cfg.MaxHeaders = DefaultMaxHeaders
	}
	p := sip.NewParser()
	p.MaxMessageLength = cfg.MaxMessageBytes
	return &guard{
		cfg: cfg, userAgent: userAgent, limiter: newRateLimiter(cfg.RateLimit),
		summary: newInputSummary(log), parser: p, live: map[string][]*liveDialog{},
	}
}

// dialogStarted exempts the in-dialog requests of one dialog from the rate
// limit until dialogEnded: those carrying its Call-ID and tags, from one of
// peers. A Dial leg to our own listener is two dialogs under one Call-ID.
func (g *guard) dialogStarted(callID, localTag, remoteTag string, peers ...netip.Addr) *liveDialog {
	d := &liveDialog{callID: callID, localTag: localTag, remoteTag: remoteTag}
	for _, p := range peers {
		d.peers = append(d.peers, p.Unmap())
	}
	g.mu.Lock()
	g.live[callID] = append(g.live[callID], d)
	g.mu.Unlock()
	return d
}

// dialogAnswered completes an outbound dialog with the callee's tag and the
// address its 2xx came from.
func (g *guard) dialogAnswered(d *liveDialog, remoteTag string, peer netip.Addr) {
	g.mu.Lock()
	d.remoteTag = remoteTag
	if peer.IsValid() && !slices.Contains(d.peers, peer.Unmap()) {
		d.peers = append(d.peers, peer.Unmap())
	}
	g.mu.Unlock()
}

func (g *guard) dialogEnded(d *liveDialog) {
	g.mu.Lock()
	defer g.mu.Unlock()
	ds := slices.DeleteFunc(g.live[d.callID], func(x *liveDialog) bool { return x == d })
	if len(ds) == 0 {
		delete(g.live, d.callID)
		return
	}
	g.live[d.callID] = ds
}

// requestKey is what the rate limit looks at in a request.
type requestKey struct {
	method, callID, fromTag, toTag string
	src                            netip.Addr
}

// counted reports whether a request counts against its source's rate limit:
// out-of-dialog requests do; requests within a live dialog do not, whichever
// side placed it: a trunk's INFO (DTMF), re-INVITE or UPDATE on a Dial leg is
// as much part of a call as the caller's on an inbound one. Within a dialog
// means (RFC 3261 §12.2.2) the dialog's Call-ID, our tag as To tag, the
// peer's as From tag, and from the dialog's peer; a CANCEL (RFC 3261 §9.1)
// has no To tag yet but the INVITE's From tag. ACK and BYE get no pass of
// their own: a stranger's BYEs with made-up Call-IDs cost it like OPTIONS,
// while a caller blocked for a flood can still end its live call. The ACK of
// a non-2xx final is within the dialog too: sipgo keeps it until that ACK.
func (g *guard) counted(k requestKey) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	for _, d := range g.live[k.callID] {
		if !slices.Contains(d.peers, k.src.Unmap()) {
			continue
		}
		if k.method == "CANCEL" && k.toTag == "" && d.remoteTag != "" && k.fromTag == d.remoteTag {
			return false
		}
		if k.toTag == d.localTag && (d.remoteTag == "" || k.fromTag == d.remoteTag) {
			return false
		}
	}
	return true
}

// admit applies the scanner filter and the rate limit. A refusal (drop
// silently) comes with the kind and detail to note it under.
func (g *guard) admit(k requestKey, userAgent string) (ok bool, kind, detail string) {
	if isScanner(userAgent) {
		return false, "scanner", userAgent
	}
	if !g.counted(k) {
		return true, "", ""
	}
	src := k.src
	ok, blockedNow := g.limiter.allow(src)
	if blockedNow {
		g.summary.log.Warn("SIP source blocked by rate_limit", "source", src.String(),
			"requests", g.cfg.RateLimit.Requests, "window", g.cfg.RateLimit.Window, "block", g.cfg.RateLimit.Block)
	}
	if !ok {
		return false, "rate-limited", ""
	}
	return true, "", ""
}

// tagParam is the tag parameter of a From or To value (RFC 3261 §19.3):
// among the header parameters, after <> when there are any, else after the
// URI's first ";".
func tagParam(v string) string {
	v = strings.TrimSpace(v)
	var params string
	if lt := indexOutsideQuotes(v, '<'); lt >= 0 {
		gt := strings.IndexByte(v[lt:], '>')
		if gt < 0 {
			return ""
		}
		// What precedes the first ";" outside quotes is not a parameter.
		_, params, _ = cutOutsideQuotes(v[lt+gt+1:], ';')
	} else if _, p, ok := strings.Cut(v, ";"); ok {
		params = p
	} else {
		return ""
	}
	for p := range outsideQuotes(params, ';') {
		k, val, _ := strings.Cut(p, "=")
		if strings.EqualFold(strings.TrimSpace(k), "tag") {
			return strings.TrimSpace(val)
		}
	}
	return ""
}

// inspectDatagram judges one UDP datagram from src. It returns the bytes to
// hand to sipgo (nil: none) and a stateless response to send back (nil: none)
// with its destination. A request the guard rebuilds (sipHead.appendCanonical)
// is written into out when it fits there, else into a new buffer; limit caps
// what pass may hold.
func (g *guard) inspectDatagram(data []byte, src netip.AddrPort, limit int, out []byte) (pass, reply []byte, replyTo netip.AddrPort) {
	h := headPool.Get().(*sipHead)
	pass, reply = g.judgeDatagram(h, data, src, limit, out)
	if reply != nil {
		replyTo = responseAddr(h, src)
	}
	*h = sipHead{} // let go of the datagram's text
	headPool.Put(h)
	return pass, reply, replyTo
}

// headPool recycles the sipHeads of datagrams: sipgo's reader goroutines
// judge one datagram at a time each, and a sipHead with room for its fields
// is 1.7 KiB.
var headPool = sync.Pool{New: func() any { return new(sipHead) }}

// responseAddr is where a UDP response goes (RFC 3261 §18.2.2, RFC 3581 §4):
// the source address, and the port of the top Via's sent-by (5060 when it
// has none) unless the Via asks for rport.
func responseAddr(h *sipHead, src netip.AddrPort) netip.AddrPort {
	hop, _, _ := cutOutsideQuotes(h.first("via"), ',')
	protocol, params, _ := cutOutsideQuotes(hop, ';')
	for p := range outsideQuotes(params, ';') {
		if strings.EqualFold(strings.TrimSpace(p), "rport") {
			return src
		}
	}
	by := sentBy(protocol)
	if by == "" {
		return src
	}
	port := uint16(5060)
	if i := strings.LastIndexByte(by, ':'); i >= 0 && !strings.HasSuffix(by, "]") {
		if p, err := strconv.ParseUint(by[i+1:], 10, 16); err == nil && p > 0 {
			port = uint16(p)
		}
	}
	return netip.AddrPortFrom(src.Addr(), port)
}

// judgeDatagram judges a datagram into h (which the caller owns and reads
// back for the reply's destination; see inspectDatagram).
func (g *guard) judgeDatagram(h *sipHead, data []byte, src netip.AddrPort, limit int, out []byte) (pass, reply []byte) {
	if len(data) > limit {
		g.summary.note("oversize", src.String(), fmt.Sprintf("%d bytes over the %d-byte cap", len(data), limit), data)
		return nil, nil
	}
	if len(bytes.Trim(data, "\r\n\x00")) == 0 {
		return data, nil // RFC 5626 keep-alive: sipgo answers it
	}
	if bytes.HasPrefix(data, []byte("SIP/")) {
		// A response is passed as it came, so it is parsed here as sipgo
		// will: responses come from peers we called, not on an inbound
		// call's hot path, and this keeps their rules in one place (sipgo's).
		if !validStatusLine(data) {
			g.summary.note("bad-response", src.String(), "malformed Status-Line", data)
			return nil, nil
		}
		if _, err := g.parser.ParseSIP(data); err != nil {
			g.summary.note("bad-response", src.String(), err.Error(), data)
			return nil, nil
		}
		return data, nil
	}
	if err := h.scan(data, g.cfg.MaxHeaders); err != nil {
		g.summary.note("malformed", src.String(), err.Error(), data)
		return nil, nil
	}
	k := requestKey{method: h.method, callID: h.first("call-id"), fromTag: tagParam(h.first("from")), toTag: tagParam(h.first("to")), src: src.Addr().Unmap()}
	if ok, kind, detail := g.admit(k, h.first("user-agent")); !ok {
		g.summary.note(kind, src.String(), detail, data)
		return nil, nil
	}
	if !answerable(h) {
		g.summary.note("unanswerable", src.String(), "no Via or CSeq to answer with", data)
		return nil, nil
	}
	if f := checkRequest(h); f != nil {
		return nil, g.refuse(h, f, src, data)
	}
	// RFC 3261 §18.3: octets past Content-Length are discarded (RFC 4475 §3.1.1.8).
	contentLength := -1
	if h.count("content-length") == 1 {
		contentLength, _ = strconv.Atoi(h.first("content-length"))
	}
	size := h.tighten(contentLength)
	// What sipgo's parser would refuse is refused here, with a 400 instead
	// of its silent drop, and without parsing the message twice.
	if f := checkParsable(h, size, min(limit, g.parser.MaxMessageLength)); f != nil {
		return nil, g.refuse(h, f, src, data)
	}
	if cap(out) < size {
		out = make([]byte, 0, size)
	}
	return h.appendCanonical(out[:0]), nil
}

// refuse logs a refused request and builds its stateless answer (none for ACK).
func (g *guard) refuse(h *sipHead, f *fault, src netip.AddrPort, data []byte) []byte {
	g.summary.note("refused-"+strconv.Itoa(f.code), src.String(), f.warning, data)
	if h.method == "ACK" {
		return nil // RFC 3261 §17.2.3: ACK is never answered
	}
	return statelessResponse(h, f, g.userAgent)
}

// answerable: a client matches a response by its top Via branch and CSeq
// (RFC 3261 §17.1.3), so without both no answer would reach a transaction;
// and none may hold a line break, which would end up in the answer's header.
func answerable(h *sipHead) bool {
	via, cseq := false, false
	for _, f := range h.fields {
		switch {
		case f.name == "via":
			via = true
		case f.name == "cseq" && !cseq: // the answer copies the first
			cseq = true
		default:
			continue
		}
		if strings.ContainsAny(f.value, "\r\n") {
			return false
		}
	}
	return via && cseq
}

func validStatusLine(data []byte) bool {
	line := firstLine(data)
	parts := strings.SplitN(line, " ", 3)
	if len(parts) < 2 || !strings.EqualFold(parts[0], "SIP/2.0") || len(parts[1]) != 3 || !isDigits(parts[1]) {
		return false
	}
	return parts[1][0] >= '1' && parts[1][0] <= '6'
}

// statelessResponse builds a response to h from its own Via, From, To,
// Call-ID and CSeq (RFC 3261 §8.2.6.2), with a Warning naming the fault.
func statelessResponse(h *sipHead, f *fault, server string) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "SIP/2.0 %d %s\r\n", f.code, f.reason)
	for _, f := range h.fields {
		if f.name == "via" {
			b.WriteString("Via: " + f.value + "\r\n")
		}
	}
	if v := h.first("from"); v != "" {
		b.WriteString("From: " + v + "\r\n")
	}
	if v := h.first("to"); v != "" {
		if !strings.Contains(strings.ToLower(v), "tag=") {
			var tag [6]byte
			_, _ = rand.Read(tag[:])
			v += ";tag=" + hex.EncodeToString(tag[:])
		}
		b.WriteString("To: " + v + "\r\n")
	}
	if v := h.first("call-id"); v != "" {
		b.WriteString("Call-ID: " + v + "\r\n")
	}
	b.WriteString("CSeq: " + h.first("cseq") + "\r\n")
	b.WriteString("Warning: " + warningValue(f.warning) + "\r\n")
	for _, e := range f.extra {
		b.WriteString(e + "\r\n")
	}
	b.WriteString("Server: " + server + "\r\nContent-Length: 0\r\n\r\n")
	return b.Bytes()
}

// warningValue is an RFC 3261 §20.43 Warning: 399 (miscellaneous) with the
// text as a quoted string.
func warningValue(text string) string {
	text = strings.Map(func(r rune) rune {
		if r == '"' || r == '\\' {
			return '\''
		}
		if r < ' ' || r == 0x7f {
			return -1
		}
		return r
	}, text)
	if len(text) > 200 {
		text = text[:200]
	}
	return `399 pivotua "` + strings.ToValidUTF8(text, "?") + `"`
}

// headOf reads what sipgo parsed back into a sipHead, for the TCP path.
func headOf(req *sip.Request) *sipHead {
	h := &sipHead{method: string(req.Method), uri: req.Recipient.String(), version: req.SipVersion}
	for _, hd := range req.Headers() {
		h.fields = append(h.fields, headerField{name: headerName(hd.Name()), value: hd.Value()})
	}
	return h
}

// inspectParsed judges a request sipgo parsed from a stream (TCP): the same
// rules as for datagrams, minus framing, which sipgo's stream parser owns.
func (g *guard) inspectParsed(req *sip.Request) (f *fault, drop bool) {
	src, _ := sourceAddr(req)
	ua := ""
	if h := req.GetHeader("User-Agent"); h != nil {
		ua = h.Value()
	}
	k := requestKey{method: string(req.Method), callID: callID(req), src: src}
	if f := req.From(); f != nil {
		k.fromTag, _ = f.Params.Get("tag")
	}
	if to := req.To(); to != nil {
		k.toTag, _ = to.Params.Get("tag")
	}
	if ok, kind, detail := g.admit(k, ua); !ok {
		g.summary.note(kind, req.Source(), detail, nil)
		return nil, true
	}
	h := headOf(req)
	if f = checkRequest(h); f != nil {
		g.summary.note("refused-"+strconv.Itoa(f.code), req.Source(), f.warning, []byte(req.StartLine()))
		return f, req.IsAck()
	}
	return nil, false
}

// guarded wraps a request handler with the guard. UDP requests were judged
// as datagrams before sipgo parsed them; the rest are judged here.
func (s *Server) guarded(next sipgo.RequestHandler) sipgo.RequestHandler {
	return func(req *sip.Request, tx sip.ServerTransaction) {
		if !strings.EqualFold(req.Transport(), "udp") {
			f, drop := s.guard.inspectParsed(req)
			if drop {
				return
			}
			if f != nil {
				hdrs := []sip.Header{sip.NewHeader("Warning", warningValue(f.warning))}
				for _, e := range f.extra {
					name, value, _ := strings.Cut(e, ":")
					hdrs = append(hdrs, sip.NewHeader(name, strings.TrimSpace(value)))
				}
				s.respond(req, tx, f.code, f.reason, hdrs...)
				return
			}
		}
		next(req, tx)
	}
}

// onUnsupported answers methods pivotua does not serve (REGISTER, MESSAGE,
// unknown ones) with 405 and Allow, without sipgo's warning per request.
func (s *Server) onUnsupported(req *sip.Request, tx sip.ServerTransaction) {
	if req.IsAck() {
		return
	}
	s.respond(req, tx, 405, "Method Not Allowed", sip.NewHeader("Allow", s.allow()))
}
