package sip

import (
	"bytes"
	"fmt"
	"strconv"
	"strings"
)

// sipHead is a SIP request's start line and header fields as sent, before
// (and independent of) sipgo's parser, which accepts too much (RFC 4475
// messages it lets through) and too little to answer (it drops what it cannot
// parse). The guard judges requests on this view.
type sipHead struct {
	line                 string // the request line as sent
	method, uri, version string
	// lineErr names a malformed request line; the headers may still be good
	// enough to answer 400.
	lineErr string
	fields  []headerField
	body    []byte
}

type headerField struct {
	name  string // lower-case long form ("v" becomes "via")
	sent  string // the name as sent ("v", "X-Account")
	value string // folded lines joined with one space, trimmed
}

// compactHeaders maps RFC 3261 §7.3.3 compact forms to long names.
var compactHeaders = map[string]string{
	"i": "call-id", "m": "contact", "e": "content-encoding", "l": "content-length",
	"c": "content-type", "f": "from", "s": "subject", "k": "supported", "t": "to", "v": "via",
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
	head, body := splitMessage(data)
	lines := strings.Split(string(head), "\n")
	for i := range len(lines) - 1 {
		lines[i] = strings.TrimSuffix(lines[i], "\r") // the line ended in CRLF, or a bare LF
	}
	h := &sipHead{body: body, line: lines[0], fields: make([]headerField, 0, len(lines)-1)}
	start := lines[0]
	// RFC 3261 §25.1: Request-Line = Method SP Request-URI SP SIP-Version CRLF,
	// single spaces, no LWS inside the URI (RFC 4475 §3.1.2.7-3.1.2.10).
	parts := strings.Split(start, " ")
	switch {
	case len(parts) != 3:
		h.lineErr = "malformed Request-Line (want Method SP Request-URI SP SIP-Version)"
		if f := strings.Fields(start); len(f) > 0 {
			h.method = f[0]
		}
	default:
		h.method, h.uri, h.version = parts[0], parts[1], parts[2]
		if strings.ContainsAny(h.uri, "<>\t") {
			h.lineErr = "Request-URI must not be enclosed in <>"
		}
	}
	if h.method == "" || !isToken(h.method) {
		return nil, fmt.Errorf("not a SIP request line: %.40q", start)
	}
	for _, l := range lines[1:] {
		if l == "" {
			continue
		}
		if l[0] == ' ' || l[0] == '\t' {
			// RFC 3261 §7.3.1: a line starting with whitespace continues the previous field.
			if len(h.fields) == 0 {
				return nil, fmt.Errorf("continuation line before any header field")
			}
			f := &h.fields[len(h.fields)-1]
			f.value = strings.TrimSpace(f.value + " " + strings.TrimSpace(l))
			continue
		}
		name, value, ok := strings.Cut(l, ":")
		name = strings.TrimRight(name, " \t")
		if !ok || !isToken(name) {
			return nil, fmt.Errorf("malformed header line %.40q", l)
		}
		if len(h.fields) >= maxHeaders {
			return nil, fmt.Errorf("more than %d header fields", maxHeaders)
		}
		sent := name
		name = strings.ToLower(name)
		if long, ok := compactHeaders[name]; ok {
			name = long
		}
		h.fields = append(h.fields, headerField{name: name, sent: sent, value: strings.TrimSpace(value)})
	}
	return h, nil
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
	for _, name := range []string{"via", "call-id", "from", "to", "cseq"} {
		if len(h.get(name)) == 0 {
			return badRequest("missing %s header", headerDisplayName(name))
		}
	}
	// RFC 3261 §7.3.1: these may appear once (RFC 4475 §3.3.9, §3.3.10).
	for _, name := range []string{"call-id", "from", "to", "cseq", "max-forwards", "content-length", "content-type"} {
		if n := len(h.get(name)); n > 1 {
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
	if mf := h.get("max-forwards"); len(mf) == 1 {
		if n, err := strconv.ParseUint(mf[0], 10, 16); err != nil || !isDigits(mf[0]) || n > 255 {
			return badRequest("Max-Forwards %q is not 0 to 255", mf[0])
		}
	}
	if f := checkVia(h.get("via")); f != nil {
		return f
	}
	for _, name := range []string{"from", "to"} {
		if err := checkNameAddr(h.first(name), true); err != "" {
			return badRequest("%s header: %s", headerDisplayName(name), err)
		}
	}
	for _, c := range h.get("contact") {
		if err := checkNameAddr(c, false); err != "" {
			return badRequest("Contact header: %s", err)
		}
	}
	if d := h.get("date"); len(d) > 0 && !strings.HasSuffix(strings.TrimSpace(d[0]), " GMT") {
		// RFC 3261 §20.17: SIP-date is an RFC 1123 date in GMT (RFC 4475 §3.1.2.11).
		return badRequest("Date %q is not in GMT", d[0])
	}
	if f := checkContentLength(h); f != nil {
		return f
	}
	// RFC 3261 §8.2.2.1: a URI scheme we do not serve gets 416 (RFC 4475 §3.3.2-3).
	scheme, rest, _ := strings.Cut(h.uri, ":")
	scheme = strings.ToLower(scheme)
	if scheme != "sip" && scheme != "sips" {
		return &fault{code: 416, reason: "Unsupported URI Scheme", warning: "Request-URI scheme " + scheme + " is not sip or sips"}
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
	var unsupported []string
	for _, r := range h.get("require") {
		for _, tag := range strings.Split(r, ",") {
			if tag = strings.TrimSpace(tag); tag != "" && !supportedExtensions[strings.ToLower(tag)] {
				unsupported = append(unsupported, tag)
			}
		}
	}
	if len(unsupported) > 0 {
		return &fault{code: 420, reason: "Bad Extension", warning: "unsupported extension " + strings.Join(unsupported, ", "),
			extra: []string{"Unsupported: " + strings.Join(unsupported, ", ")}}
	}
	if h.method == "INVITE" {
		if f := checkInviteBody(h); f != nil {
			return f
		}
	}
	return nil
}

// supportedExtensions are the option tags a request may Require of us:
// session timers (RFC 4028, session_timer.go) and reliable provisional
// responses (RFC 3262, prack.go).
var supportedExtensions = map[string]bool{"timer": true, "100rel": true}

// checkContentLength checks RFC 3261 §20.14 on a datagram: one non-negative
// number no larger than the body (RFC 4475 §3.1.2.2, §3.1.2.3). A body longer
// than Content-Length is cut by the caller (§18.3; RFC 4475 §3.1.1.8).
func checkContentLength(h *sipHead) *fault {
	cl := h.get("content-length")
	if len(cl) == 0 {
		return nil
	}
	n, err := strconv.ParseUint(cl[0], 10, 31)
	if err != nil || !isDigits(cl[0]) {
		return badRequest("Content-Length %q is not a non-negative number", cl[0])
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
	accepts := h.get("accept")
	if len(accepts) == 0 {
		return nil
	}
	for _, a := range accepts {
		if strings.TrimSpace(a) == "" {
			return nil
		}
		for _, t := range strings.Split(a, ",") {
			mt, _, _ := strings.Cut(t, ";")
			switch strings.ToLower(strings.TrimSpace(mt)) {
			case "application/sdp", "application/*", "*/*":
				return nil
			}
		}
	}
	return &fault{code: 406, reason: "Not Acceptable", warning: "Accept does not include application/sdp"}
}

// checkVia rejects empty Via values or parameters (RFC 4475 §3.1.2.1) and a
// branch that is only the RFC 3261 magic cookie, which would match every other
// such request as one transaction (RFC 4475 §3.2.1: reject statelessly).
func checkVia(vias []string) *fault {
	for i, v := range vias {
		for j, hop := range splitOutsideQuotes(v, ',') {
			hop = strings.TrimSpace(hop)
			if hop == "" {
				return badRequest("empty Via value")
			}
			if err := checkParams(hop); err != "" {
				return badRequest("Via: %s", err)
			}
			if i == 0 && j == 0 {
				for _, p := range splitOutsideQuotes(hop, ';')[1:] {
					k, val, _ := strings.Cut(p, "=")
					if strings.EqualFold(strings.TrimSpace(k), "branch") && strings.TrimSpace(val) == "z9hG4bK" {
						return badRequest("Via branch z9hG4bK has no transaction ID")
					}
				}
			}
		}
	}
	return nil
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
	values := []string{v}
	if !single {
		values = splitOutsideQuotes(v, ',')
	}
	for _, one := range values {
		one = strings.TrimSpace(one)
		if one == "" {
			return "empty value"
		}
		lt := indexOutsideQuotes(one, '<')
		var params string
		if lt >= 0 {
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
				for _, w := range strings.Fields(display) {
					if !isToken(w) {
						return "display name " + strconv.Quote(display) + " must be quoted"
					}
				}
			}
			params = one[lt+gt+1:]
		} else {
			uri, p, _ := strings.Cut(one, ";")
			if strings.ContainsAny(uri, "?,") {
				return "a URI with header fields or commas must be enclosed in <>"
			}
			if strings.ContainsAny(strings.TrimSpace(uri), " \t\"") {
				return "malformed address " + strconv.Quote(uri)
			}
			params = ";" + p
			if p == "" && !strings.Contains(one, ";") {
				params = ""
			}
		}
		if err := checkParams("x" + params); err != "" {
			return err
		}
	}
	return ""
}

// checkParams rejects ";;" and a trailing ";" in a value's parameters.
func checkParams(v string) string {
	parts := splitOutsideQuotes(v, ';')
	for _, p := range parts[1:] {
		if strings.TrimSpace(p) == "" {
			return "empty parameter"
		}
	}
	return ""
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

// splitOutsideQuotes splits s at sep outside quoted strings and <...>.
func splitOutsideQuotes(s string, sep byte) []string {
	var out []string
	in, angle, start := false, 0, 0
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
			out = append(out, s[start:i])
			start = i + 1
		}
	}
	return append(out, s[start:])
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

// canonical rebuilds the message the way sipgo parses best: one line per
// field, no folding, and in structured fields no LWS around separators
// (RFC 3261 §7.3.1 lets a recipient replace LWS with a single SP).
func (h *sipHead) canonical(contentLength int) []byte {
	body := h.body
	if contentLength >= 0 && contentLength < len(body) {
		body = body[:contentLength]
	}
	values := make([]string, len(h.fields))
	size := len(h.line) + 4 + len(body)
	for i, f := range h.fields {
		values[i] = f.value
		if structuredHeaders[f.name] {
			values[i] = tightenLWS(f.value, f.name == "via")
		}
		size += len(f.sent) + 2 + len(values[i]) + 2
	}
	b := make([]byte, 0, size)
	b = append(b, h.line...)
	b = append(b, "\r\n"...)
	for i, f := range h.fields {
		b = append(b, f.sent...)
		b = append(b, ": "...)
		b = append(b, values[i]...)
		b = append(b, "\r\n"...)
	}
	b = append(b, "\r\n"...)
	return append(b, body...)
}

// tightenLWS drops whitespace around ";", "=", "," (and "/" in Via) outside
// quoted strings and <>, and collapses other whitespace runs to one SP.
func tightenLWS(v string, slash bool) string {
	if !strings.ContainsAny(v, " \t") {
		return v // only whitespace changes
	}
	sep := func(c byte) bool { return c == ';' || c == '=' || c == ',' || (slash && c == '/') }
	out := make([]byte, 0, len(v)) // never longer: a run of whitespace becomes at most one SP
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
	return string(out)
}
