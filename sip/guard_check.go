package sip

import (
	"bytes"
	"fmt"
	"iter"
	"strconv"
	"strings"
)

// sipHead is a SIP request's start line and header fields as sent, before
// (and independent of) sipgo's parser, which accepts too much (RFC 4475
// messages it lets through) and too little to answer (it drops what it cannot
// parse). The guard judges requests on this view. Its strings are parts of
// one copy of the header section (a folded value excepted).
type sipHead struct {
	line                 string // the request line as sent
	method, uri, version string
	// lineErr names a malformed request line; the headers may still be good
	// enough to answer 400.
	lineErr string
	fields  []headerField
	body    []byte
	// fieldBuf holds fields when they fit: a call's requests take no second
	// allocation for them.
	fieldBuf [24]headerField
}

type headerField struct {
	name  string // lower-case long form ("v" becomes "via")
	sent  string // the name as sent ("v", "X-Account")
	value string // folded lines joined with one space, trimmed
	wire  string // value as handed to sipgo (see tighten); set by tighten
}

// compactHeaders maps RFC 3261 §7.3.3 compact forms to long names.
var compactHeaders = map[string]string{
	"i": "call-id", "m": "contact", "e": "content-encoding", "l": "content-length",
	"c": "content-type", "f": "from", "s": "subject", "k": "supported", "t": "to", "v": "via",
}

// knownHeaders maps the lower-case names (long and compact) of the fields
// the guard looks at or commonly sees to their long form, so that naming a
// field costs no allocation (headerName).
var knownHeaders = func() map[string]string {
	m := map[string]string{}
	for _, n := range []string{
		"via", "from", "to", "call-id", "cseq", "contact", "max-forwards", "content-length", "content-type",
		"route", "record-route", "refer-to", "referred-by", "user-agent", "server", "subject", "supported",
		"require", "proxy-require", "accept", "allow", "date", "expires", "content-encoding", "session-expires",
		"min-se", "rseq", "rack", "event", "p-asserted-identity", "privacy", "authorization", "www-authenticate",
		"proxy-authorization", "diversion", "warning", "reason", "replaces",
	} {
		m[n] = n
	}
	for short, long := range compactHeaders {
		m[short] = long
	}
	return m
}()

// headerName is the lower-case long form of a field name as sent.
func headerName(sent string) string {
	var buf [24]byte
	if len(sent) <= len(buf) {
		for i := 0; i < len(sent); i++ {
			c := sent[i]
			if 'A' <= c && c <= 'Z' {
				c += 'a' - 'A'
			}
			buf[i] = c
		}
		if long, ok := knownHeaders[string(buf[:len(sent)])]; ok {
			return long
		}
	}
	name := strings.ToLower(sent)
	if long, ok := compactHeaders[name]; ok {
		return long
	}
	return name
}

// get returns the values of every field named name (lower-case long form).
func (h *sipHead) get(name string) []string {
	var out []string
	for _, f := range h.fields {
		if f.name == name {
			out = append(out, f.value)
		}
	}
	return out
}

func (h *sipHead) first(name string) string {
	for _, f := range h.fields {
		if f.name == name {
			return f.value
		}
	}
	return ""
}

// count is how many fields are named name.
func (h *sipHead) count(name string) int {
	n := 0
	for _, f := range h.fields {
		if f.name == name {
			n++
		}
	}
	return n
}

// splitMessage cuts a datagram into its header section and body at the first
// empty line. A message without one is all header section.
func splitMessage(data []byte) (head, body []byte) {
	if i := bytes.Index(data, []byte("\r\n\r\n")); i >= 0 {
		return data[:i], data[i+4:]
	}
	if i := bytes.Index(data, []byte("\n\n")); i >= 0 {
		return data[:i], data[i+2:]
	}
	return data, nil
}

// scanRequest reads a request's start line and header fields. It fails only
// when there is nothing to answer: not a request, or header lines that are
// not "name: value", or more than maxHeaders of them.
func scanRequest(data []byte, maxHeaders int) (*sipHead, error) {
	h := new(sipHead)
	if err := h.scan(data, maxHeaders); err != nil {
		return nil, err
	}
	return h, nil
}

// scan is scanRequest into h, which it resets first.
func (h *sipHead) scan(data []byte, maxHeaders int) error {
	*h = sipHead{}
	h.fields = h.fieldBuf[:0]
	head, body := splitMessage(data)
	h.body = body
	rest := string(head) // the one copy: every string of h is a part of it
	start := nextHeadLine(&rest)
	h.line = start
	// RFC 3261 §25.1: Request-Line = Method SP Request-URI SP SIP-Version CRLF,
	// single spaces, no LWS inside the URI (RFC 4475 §3.1.2.7-3.1.2.10).
	method, tail, _ := strings.Cut(start, " ")
	uri, version, ok := strings.Cut(tail, " ")
	switch {
	case !ok || strings.IndexByte(version, ' ') >= 0:
		h.lineErr = "malformed Request-Line (want Method SP Request-URI SP SIP-Version)"
		if f := strings.Fields(start); len(f) > 0 {
			h.method = f[0]
		}
	default:
		h.method, h.uri, h.version = method, uri, version
		if strings.ContainsAny(h.uri, "<>\t") {
			h.lineErr = "Request-URI must not be enclosed in <>"
		}
	}
	if h.method == "" || !isToken(h.method) {
		return fmt.Errorf("not a SIP request line: %.40q", start)
	}
	for rest != "" {
		l := nextHeadLine(&rest)
		if l == "" {
			continue
		}
		if l[0] == ' ' || l[0] == '\t' {
			// RFC 3261 §7.3.1: a line starting with whitespace continues the previous field.
			if len(h.fields) == 0 {
				return fmt.Errorf("continuation line before any header field")
			}
			f := &h.fields[len(h.fields)-1]
			f.value = strings.TrimSpace(f.value + " " + strings.TrimSpace(l))
			continue
		}
		name, value, ok := strings.Cut(l, ":")
		name = strings.TrimRight(name, " \t")
		if !ok || !isToken(name) {
			return fmt.Errorf("malformed header line %.40q", l)
		}
		if len(h.fields) >= maxHeaders {
			return fmt.Errorf("more than %d header fields", maxHeaders)
		}
		h.fields = append(h.fields, headerField{name: headerName(name), sent: name, value: strings.TrimSpace(value)})
	}
	return nil
}

// nextHeadLine cuts the next line off *rest: a line ends in CRLF or a bare
// LF; the last line of the header section has no end and keeps any CR.
func nextHeadLine(rest *string) string {
	line, after, found := strings.Cut(*rest, "\n")
	*rest = after
	if found {
		line = strings.TrimSuffix(line, "\r")
	}
	return line
}

// fault is why a request is refused. An answerable fault gets a response with
// code and reason and a Warning naming the fault; drop means no answer.
type fault struct {
	code    int
	reason  string
	warning string   // what was wrong, for the Warning header and the log
	extra   []string // more header lines ("Unsupported: foo")
}

func badRequest(format string, args ...any) *fault {
	return &fault{code: 400, reason: "Bad Request", warning: fmt.Sprintf(format, args...)}
}

// checkRequest applies RFC 3261 and RFC 4475 rules sipgo does not: one fault,
// the first found, or nil when the request may go on to sipgo and pivotua.
// It assumes the request is answerable (Via and CSeq present: see answerable).
func checkRequest(h *sipHead) *fault {
	if h.lineErr != "" {
		return badRequest("%s", h.lineErr)
	}
	// RFC 3261 §8.2.2: RFC 4475 §3.1.2.16 asks for 505 for an unknown version.
	if !strings.EqualFold(h.version, "SIP/2.0") {
		return &fault{code: 505, reason: "Version Not Supported", warning: "SIP version " + h.version + " is not SIP/2.0"}
	}
	for _, name := range [...]string{"via", "call-id", "from", "to", "cseq"} {
		if h.count(name) == 0 {
			return badRequest("missing %s header", headerDisplayName(name))
		}
	}
	// RFC 3261 §7.3.1: these may appear once (RFC 4475 §3.3.9, §3.3.10).
	for _, name := range [...]string{"call-id", "from", "to", "cseq", "max-forwards", "content-length", "content-type"} {
		if n := h.count(name); n > 1 {
			return badRequest("%d %s headers where one is allowed", n, headerDisplayName(name))
		}
	}
	if strings.TrimSpace(h.first("call-id")) == "" {
		return badRequest("empty Call-ID")
	}
	// RFC 3261 §8.1.1.5: CSeq = 1*DIGIT LWS Method, the number below 2**31, the
	// method the request's own (RFC 4475 §3.1.2.17-18).
	num, method, ok := strings.Cut(strings.TrimSpace(h.first("cseq")), " ")
	method = strings.TrimSpace(method)
	if !ok || !isDigits(num) || method == "" {
		return badRequest("malformed CSeq %q", h.first("cseq"))
	}
	if n, err := strconv.ParseUint(num, 10, 32); err != nil || n > 1<<31-1 {
		return badRequest("CSeq number %s is not below 2**31", num)
	}
	// sipgo upper-cases the method it parsed (TCP path), so compare without case.
	if !strings.EqualFold(method, h.method) {
		return badRequest("CSeq method %s does not match the request method %s", method, h.method)
	}
	// RFC 3261 §20.22: Max-Forwards is 0-255. It may be missing (RFC 2543
	// peers, RFC 4475 §3.4.1), and 0 is processed by a UAS (RFC 4475 §3.3.7).
	if h.count("max-forwards") == 1 {
		mf := h.first("max-forwards")
		if n, err := strconv.ParseUint(mf, 10, 16); err != nil || !isDigits(mf) || n > 255 {
			return badRequest("Max-Forwards %q is not 0 to 255", mf)
		}
	}
	if f := checkVia(h); f != nil {
		return f
	}
	for _, name := range [...]string{"from", "to"} {
		if err := checkNameAddr(h.first(name), true); err != "" {
			return badRequest("%s header: %s", headerDisplayName(name), err)
		}
	}
	for _, f := range h.fields {
		if f.name != "contact" {
			continue
		}
		if err := checkNameAddr(f.value, false); err != "" {
			return badRequest("Contact header: %s", err)
		}
	}
	if h.count("date") > 0 {
		// RFC 3261 §20.17: SIP-date is an RFC 1123 date in GMT (RFC 4475 §3.1.2.11).
		if d := h.first("date"); !strings.HasSuffix(strings.TrimSpace(d), " GMT") {
			return badRequest("Date %q is not in GMT", d)
		}
	}
	if f := checkContentLength(h); f != nil {
		return f
	}
	// RFC 3261 §8.2.2.1: a URI scheme we do not serve gets 416 (RFC 4475 §3.3.2-3).
	scheme, rest, _ := strings.Cut(h.uri, ":")
	if !equalFoldASCII(scheme, "sip") && !equalFoldASCII(scheme, "sips") {
		return &fault{code: 416, reason: "Unsupported URI Scheme", warning: "Request-URI scheme " + strings.ToLower(scheme) + " is not sip or sips"}
	}
	// RFC 3261 §19.1.5: header fields in a Request-URI are not allowed (RFC 4475 §3.1.2.10).
	// A user part may hold "?" (user-unreserved), so look after the last "@".
	if i := strings.LastIndexByte(rest, '@'); i >= 0 {
		rest = rest[i+1:]
	}
	if strings.Contains(rest, "?") {
		return badRequest("Request-URI carries header fields (?)")
	}
	if f := checkPorts(h); f != nil {
		return f
	}
	if h.method == "ACK" || h.method == "CANCEL" {
		return nil // RFC 3261 §8.2.2.3: Require is ignored on these; no answer beyond the transaction's own
	}
	// RFC 3261 §8.2.2.3: pivotua supports only the extensions of supportedExtensions;
	// Proxy-Require is for proxies.
	if f := checkRequire(h); f != nil {
		return f
	}
	if h.method == "INVITE" {
		if f := checkInviteBody(h); f != nil {
			return f
		}
	}
	return nil
}

// isSupportedExtension: the option tags a request may Require of us are
// session timers (RFC 4028, session_timer.go) and reliable provisional
// responses (RFC 3262, prack.go).
func isSupportedExtension(tag string) bool {
	return equalFoldASCII(tag, "timer") || equalFoldASCII(tag, "100rel")
}

// equalFoldASCII compares with ASCII letters folded, and nothing else: an
// ASCII keyword must not match look-alikes such as "ſ" (U+017F), which
// strings.EqualFold folds to "s".
func equalFoldASCII(a, b string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := 0; i < len(a); i++ {
		x, y := a[i], b[i]
		if 'A' <= x && x <= 'Z' {
			x += 'a' - 'A'
		}
		if 'A' <= y && y <= 'Z' {
			y += 'a' - 'A'
		}
		if x != y {
			return false
		}
	}
	return true
}

// checkRequire answers 420 with Unsupported for option tags of Require that
// are not supportedExtensions.
func checkRequire(h *sipHead) *fault {
	var unsupported []string
	for _, f := range h.fields {
		if f.name != "require" {
			continue
		}
		for tag := range strings.SplitSeq(f.value, ",") {
			if tag = strings.TrimSpace(tag); tag != "" && !isSupportedExtension(tag) {
				unsupported = append(unsupported, tag)
			}
		}
	}
	if len(unsupported) == 0 {
		return nil
	}
	return &fault{code: 420, reason: "Bad Extension", warning: "unsupported extension " + strings.Join(unsupported, ", "),
		extra: []string{"Unsupported: " + strings.Join(unsupported, ", ")}}
}

// checkContentLength checks RFC 3261 §20.14 on a datagram: one non-negative
// number no larger than the body (RFC 4475 §3.1.2.2, §3.1.2.3). A body longer
// than Content-Length is cut by the caller (§18.3; RFC 4475 §3.1.1.8).
func checkContentLength(h *sipHead) *fault {
	if h.count("content-length") == 0 {
		return nil
	}
	cl := h.first("content-length")
	n, err := strconv.ParseUint(cl, 10, 31)
	if err != nil || !isDigits(cl) {
		return badRequest("Content-Length %q is not a non-negative number", cl)
	}
	if h.body != nil && int(n) > len(h.body) {
		return badRequest("Content-Length %d is larger than the %d-byte body", n, len(h.body))
	}
	return nil
}

// checkInviteBody answers what pivotua cannot take: a body that is not SDP
// (415 with Accept, RFC 3261 §21.4.13) or an Accept without SDP (406, RFC 4475 §3.3.15).
func checkInviteBody(h *sipHead) *fault {
	if len(bytes.TrimSpace(h.body)) > 0 {
		ct := h.first("content-type")
		mt, _, _ := strings.Cut(ct, ";")
		if !strings.EqualFold(strings.TrimSpace(mt), "application/sdp") {
			return &fault{code: 415, reason: "Unsupported Media Type", warning: "body type " + strings.TrimSpace(mt) + " is not application/sdp",
				extra: []string{"Accept: application/sdp"}}
		}
	}
	if h.count("accept") == 0 {
		return nil
	}
	for _, f := range h.fields {
		if f.name != "accept" {
			continue
		}
		if strings.TrimSpace(f.value) == "" {
			return nil
		}
		for t := range strings.SplitSeq(f.value, ",") {
			mt, _, _ := strings.Cut(t, ";")
			mt = strings.TrimSpace(mt)
			if equalFoldASCII(mt, "application/sdp") || equalFoldASCII(mt, "application/*") || mt == "*/*" {
				return nil
			}
		}
	}
	return &fault{code: 406, reason: "Not Acceptable", warning: "Accept does not include application/sdp"}
}

// checkVia rejects empty Via values or parameters (RFC 4475 §3.1.2.1) and a
// branch that is only the RFC 3261 magic cookie, which would match every other
// such request as one transaction (RFC 4475 §3.2.1: reject statelessly).
func checkVia(h *sipHead) *fault {
	top := true
	for _, f := range h.fields {
		if f.name != "via" {
			continue
		}
		for hop := range outsideQuotes(f.value, ',') {
			hop = strings.TrimSpace(hop)
			if hop == "" {
				return badRequest("empty Via value")
			}
			if err := checkParams(hop); err != "" {
				return badRequest("Via: %s", err)
			}
			if top {
				top = false
				if branchIsOnlyCookie(hop) {
					return badRequest("Via branch z9hG4bK has no transaction ID")
				}
			}
		}
	}
	return nil
}

func branchIsOnlyCookie(hop string) bool {
	_, params, _ := cutOutsideQuotes(hop, ';')
	for p := range outsideQuotes(params, ';') {
		k, val, _ := strings.Cut(p, "=")
		if strings.EqualFold(strings.TrimSpace(k), "branch") && strings.TrimSpace(val) == "z9hG4bK" {
			return true
		}
	}
	return false
}

// checkNameAddr checks a From, To or Contact value: balanced quotes, no
// whitespace inside <>, a display name of tokens when not quoted, no
// header-carrying URI outside <>, no empty parameters (RFC 3261 §20.10,
// RFC 4475 §3.1.2.1, §3.1.2.5, §3.1.2.12-14). single: one value only.
func checkNameAddr(v string, single bool) string {
	if v == "*" && !single {
		return ""
	}
	if !quotesBalanced(v) {
		return "unterminated quoted string"
	}
	sep := byte(',')
	if single {
		sep = 0 // no split: the whole value is one
	}
	for one := range outsideQuotes(v, sep) {
		if err := checkOneNameAddr(strings.TrimSpace(one)); err != "" {
			return err
		}
	}
	return ""
}

func checkOneNameAddr(one string) string {
	if one == "" {
		return "empty value"
	}
	lt := indexOutsideQuotes(one, '<')
	if lt < 0 {
		uri, params, hasParams := strings.Cut(one, ";")
		if strings.ContainsAny(uri, "?,") {
			return "a URI with header fields or commas must be enclosed in <>"
		}
		if strings.ContainsAny(strings.TrimSpace(uri), " \t\"") {
			return "malformed address " + strconv.Quote(uri)
		}
		if hasParams && hasEmptyPiece(params) {
			return "empty parameter"
		}
		return ""
	}
	gt := strings.IndexByte(one[lt:], '>')
	if gt < 0 {
		return "< without >"
	}
	spec := one[lt+1 : lt+gt]
	if strings.ContainsAny(spec, " \t") {
		return "whitespace inside <addr-spec>"
	}
	display := strings.TrimSpace(one[:lt])
	if display != "" && display[0] != '"' {
		for w := range strings.FieldsSeq(display) {
			if !isToken(w) {
				return "display name " + strconv.Quote(display) + " must be quoted"
			}
		}
	}
	return checkParams(one[lt+gt+1:])
}

// checkParams rejects ";;" and a trailing ";" in a value's parameters (what
// follows its first ";" outside quotes and <>).
func checkParams(v string) string {
	if _, params, found := cutOutsideQuotes(v, ';'); found && hasEmptyPiece(params) {
		return "empty parameter"
	}
	return ""
}

// hasEmptyPiece: some part of s between ";" (outside quotes and <>) is blank.
func hasEmptyPiece(s string) bool {
	for p := range outsideQuotes(s, ';') {
		if strings.TrimSpace(p) == "" {
			return true
		}
	}
	return false
}

func quotesBalanced(s string) bool {
	in := false
	for i := 0; i < len(s); i++ {
		switch {
		case in && s[i] == '\\':
			i++
		case s[i] == '"':
			in = !in
		}
	}
	return !in
}

// outsideQuotes yields the parts of s between seps outside quoted strings and
// <...>. Sep 0 yields s whole.
func outsideQuotes(s string, sep byte) iter.Seq[string] {
	return func(yield func(string) bool) {
		for {
			before, after, found := cutOutsideQuotes(s, sep)
			if !yield(before) || !found {
				return
			}
			s = after
		}
	}
}

// cutOutsideQuotes is strings.Cut at the first sep outside quoted strings and
// <...>: a cut there leaves no quote or <> open, so each part can be read alone.
func cutOutsideQuotes(s string, sep byte) (before, after string, found bool) {
	if sep == 0 {
		return s, "", false
	}
	in, angle := false, 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case in && c == '\\':
			i++
		case c == '"':
			in = !in
		case !in && c == '<':
			angle++
		case !in && c == '>' && angle > 0:
			angle--
		case !in && angle == 0 && c == sep:
			return s[:i], s[i+1:], true
		}
	}
	return s, "", false
}

func indexOutsideQuotes(s string, c byte) int {
	in := false
	for i := 0; i < len(s); i++ {
		switch {
		case in && s[i] == '\\':
			i++
		case s[i] == '"':
			in = !in
		case !in && s[i] == c:
			return i
		}
	}
	return -1
}

// isToken reports RFC 3261 §25.1 token characters only (and at least one).
func isToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case strings.IndexByte("-.!%*_+`'~", c) >= 0:
		default:
			return false
		}
	}
	return true
}

func isDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// headerDisplayName spells a lower-case header name as RFC 3261 does.
func headerDisplayName(name string) string {
	switch name {
	case "call-id":
		return "Call-ID"
	case "cseq":
		return "CSeq"
	}
	parts := strings.Split(name, "-")
	for i, p := range parts {
		if p != "" {
			parts[i] = strings.ToUpper(p[:1]) + p[1:]
		}
	}
	return strings.Join(parts, "-")
}

// structuredHeaders are the fields whose LWS around separators sipgo's parser
// mishandles (RFC 4475 §3.1.1.1 puts LWS around ";", "=" and "/").
var structuredHeaders = map[string]bool{
	"via": true, "from": true, "to": true, "contact": true, "route": true, "record-route": true,
	"cseq": true, "call-id": true, "max-forwards": true, "content-length": true, "content-type": true,
}

// tighten sets each field's wire form (its value, with tightenLWS applied to
// structuredHeaders) and cuts the body to contentLength (-1: none); it
// returns the size of the canonical form.
func (h *sipHead) tighten(contentLength int) int {
	if contentLength >= 0 && contentLength < len(h.body) {
		h.body = h.body[:contentLength]
	}
	size := len(h.line) + 4 + len(h.body)
	for i := range h.fields {
		f := &h.fields[i]
		f.wire = f.value
		if structuredHeaders[f.name] {
			f.wire = tightenLWS(f.value, f.name == "via")
		}
		size += len(f.sent) + 2 + len(f.wire) + 2
	}
	return size
}

// appendCanonical appends the message the way sipgo parses best: one line
// per field, no folding, and in structured fields no LWS around separators
// (RFC 3261 §7.3.1 lets a recipient replace LWS with a single SP). tighten
// must have run.
func (h *sipHead) appendCanonical(b []byte) []byte {
	b = append(b, h.line...)
	b = append(b, "\r\n"...)
	for _, f := range h.fields {
		b = append(b, f.sent...)
		b = append(b, ": "...)
		b = append(b, f.wire...)
		b = append(b, "\r\n"...)
	}
	b = append(b, "\r\n"...)
	return append(b, h.body...)
}

// tightenLWS drops whitespace around ";", "=", "," (and "/" in Via) outside
// quoted strings and <>, and collapses other whitespace runs to one SP. A
// value it leaves as it was comes back without a copy.
func tightenLWS(v string, slash bool) string {
	if !strings.ContainsAny(v, " \t") {
		return v // only whitespace changes
	}
	sep := func(c byte) bool { return c == ';' || c == '=' || c == ',' || (slash && c == '/') }
	var stack [256]byte
	out := stack[:0] // never longer than v: a run of whitespace becomes at most one SP
	if len(v) > len(stack) {
		out = make([]byte, 0, len(v))
	}
	in, angle := false, 0
	pendingSpace := false
	for i := 0; i < len(v); i++ {
		c := v[i]
		if in {
			out = append(out, c)
			if c == '\\' && i+1 < len(v) {
				i++
				out = append(out, v[i])
			} else if c == '"' {
				in = false
			}
			continue
		}
		if c == ' ' || c == '\t' {
			pendingSpace = true
			continue
		}
		if pendingSpace && len(out) > 0 && !sep(out[len(out)-1]) && !(angle == 0 && sep(c)) {
			out = append(out, ' ')
		}
		pendingSpace = false
		switch {
		case c == '"':
			in = true
		case c == '<':
			angle++
		case c == '>' && angle > 0:
			angle--
		}
		out = append(out, c)
	}
	if string(out) == v {
		return v
	}
	return string(out)
}
