package sip

import (
	"strconv"
	"strings"
)

// This file holds what sipgo v1.7.2's parser (sip.Parser.ParseSIP, with the
// header parsers of its DefaultHeadersParser) refuses in a request, checked
// on the canonical form the guard hands it. The guard answers those requests
// 400 naming the fault, where sipgo would drop them with an ERROR line, and
// needs no trial parse of its own to find them. Each check names the sipgo
// function it follows; FuzzGuardPassesOnlyParsable holds them to it, and a
// sipgo upgrade means reading its parser again.
//
// The ways ParseSIP fails on a request, and where each is caught:
//   - Parse: the message is longer than MaxMessageLength: the size check here.
//   - nextLine: a CR not followed by LF inside a line (the guard cut lines at
//     LF): bareCR, for the Request-Line and every field.
//   - parseLine: no two spaces (Request-Line check in checkRequest), or a
//     version not starting "SIP" or "sip" (isRequest; checkRequest lets
//     "Sip/2.0" through as SIP/2.0): checked here.
//   - parseRequestLine: the Request-URI fails ParseUri (scanURI) or is "*".
//   - ParseHeader: one of the field parsers fails on the field's wire value,
//     per comma-separated part for Via, Contact and the routes:
//     Call-ID and Content-Type empty; Max-Forwards, Content-Length and CSeq
//     numbers; From, To and Referred-By (ParseAddressValue, no "*"); Contact;
//     Route, Record-Route and Refer-To (parseRouteAddress); Via (parseViaHeader).
//   - Parse: Content-Length larger than the body (ErrParseReadBodyIncomplete),
//     a case checkContentLength leaves when the message has no empty line.
//
// A field's name needs no check: the guard only keeps tokens, and the field
// parsers ignore the names of fields they do not know.

// checkParsable returns the first reason sipgo's parser would refuse the
// canonical form of h (tighten has run; size is its length), or nil.
func checkParsable(h *sipHead, size, limit int) *fault {
	if size > limit {
		return badRequest("message is %d bytes once its header fields are unfolded, over the %d-byte cap", size, limit)
	}
	if bareCR(h.line) {
		return badRequest("CR without LF in the Request-Line")
	}
	if len(h.version) < 3 || (h.version[:3] != "SIP" && h.version[:3] != "sip") {
		return badRequest("SIP version %s is not spelt SIP/2.0", h.version)
	}
	if wildcard, problem := scanURI(h.uri); problem != "" {
		return badRequest("Request-URI %s", problem)
	} else if wildcard {
		return badRequest("Request-URI * is only for REGISTER's Contact")
	}
	contentLength := -1
	for _, f := range h.fields {
		if bareCR(f.wire) {
			return badRequest("CR without LF in the %s header", headerDisplayName(f.name))
		}
		if problem := parsableField(f.name, f.wire); problem != "" {
			return badRequest("%s header: %s", headerDisplayName(f.name), problem)
		}
		if f.name == "content-length" {
			n, _ := strconv.ParseUint(strings.TrimSpace(f.wire), 10, 32)
			contentLength = int(n) // sipgo keeps the last
		}
	}
	if contentLength > len(h.body) {
		return badRequest("Content-Length %d is larger than the %d-byte body", contentLength, len(h.body))
	}
	return nil
}

func bareCR(s string) bool { return strings.IndexByte(s, '\r') >= 0 }

// parsableField is why sipgo's parser for a field named name (lower-case
// long form) refuses its wire value v, or "" (also for fields it does not
// parse: it keeps them as text).
func parsableField(name, v string) string {
	switch name {
	case "call-id", "content-type": // parseCallIdHeader, parseContentTypeHeader
		if strings.TrimSpace(v) == "" {
			return "empty value"
		}
	case "max-forwards": // parseMaxForwardsHeader
		if _, err := strconv.ParseUint(v, 10, 32); err != nil {
			return "value " + strconv.Quote(v) + " is not a number"
		}
	case "content-length": // parseContentLengthHeader
		if _, err := strconv.ParseUint(strings.TrimSpace(v), 10, 32); err != nil {
			return "value " + strconv.Quote(v) + " is not a number"
		}
	case "cseq": // parseCSeqHeader
		ws := strings.IndexAny(v, " \t")
		if ws < 1 || len(v)-ws < 2 {
			return "want a number, one space and a method"
		}
		if n, err := strconv.ParseUint(v[:ws], 10, 32); err != nil || n > 1<<31-1 {
			return "number " + strconv.Quote(v[:ws]) + " is not below 2**31"
		}
	case "from", "to", "referred-by": // parseFromHeader, parseToHeader, parseReferredByHeader
		wildcard, problem := scanNameAddr(v)
		if problem == "" && wildcard {
			problem = "the URI * is only for Contact"
		}
		return problem
	case "contact":
		return parsableContact(v)
	case "route", "record-route", "refer-to":
		return parsableRoute(v)
	case "via":
		return parsableVia(v)
	}
	return ""
}

// parsableContact follows parseContactHeader and ParseHeader's loop over its
// commas: each part up to a "," outside quotes and <> (sipgo's own reading of
// them: no escapes, a quote toggles inside <> too) is one name-addr.
func parsableContact(v string) string {
	for {
		end, comma := len(v), false
		inBrackets, inQuotes := false, false
		last := len(v) - 1
		for i, c := range v { // by rune, as sipgo: i == last only at a rune's start
			if c == '<' && !inQuotes {
				inBrackets = true
			} else if c == '>' && !inQuotes {
				inBrackets = false
			} else if c == '"' {
				inQuotes = !inQuotes
			} else if !inQuotes && !inBrackets {
				if c == ',' {
					end, comma = i, true
					break
				}
				if i == last {
					end = i + 1
					break
				}
			}
		}
		if _, problem := scanNameAddr(v[:end]); problem != "" {
			return problem
		}
		if !comma {
			return ""
		}
		v = v[end+1:]
	}
}

// parsableRoute follows parseRouteAddress (Route, Record-Route, Refer-To):
// it reads a name-addr only when it reaches a "," or the last rune outside
// quotes and <>, so a value ending inside them is never read (and passes).
func parsableRoute(v string) string {
	for {
		comma := -1
		inBrackets, inQuotes := false, false
		last := len(v) - 1
	scan:
		for i, c := range v {
			if c == '<' && !inQuotes {
				inBrackets = true
				continue
			}
			if c == '>' && !inQuotes {
				inBrackets = false
			} else if c == '"' {
				inQuotes = !inQuotes
			}
			if inQuotes || inBrackets {
				continue
			}
			switch {
			case c == ',':
				comma = i
			case i == last:
				i++
			default:
				continue
			}
			if _, problem := scanNameAddr(v[:i]); problem != "" {
				return problem
			}
			break scan
		}
		if comma < 0 {
			return ""
		}
		v = v[comma+1:]
	}
}

// parsableVia follows parseViaHeader and ParseHeader's loop over the hops it
// splits off: sipgo looks for a "," only among a hop's parameters, and not
// inside quotes.
func parsableVia(v string) string {
	for {
		comma, problem := parsableViaHop(v)
		if problem != "" || comma < 0 {
			return problem
		}
		v = v[comma+1:]
	}
}

// parsableViaHop reads one hop as viaStateProtocol ... viaStateParams do; it
// returns where the next hop's "," is (-1: none).
func parsableViaHop(s string) (comma int, problem string) {
	slash := strings.IndexByte(s, '/')
	if slash < 0 {
		return -1, "no / after the protocol name"
	}
	at := slash + 1
	slash = strings.IndexByte(s[at:], '/')
	if slash < 0 {
		return -1, "no / after the protocol version"
	}
	at += slash + 1
	ws := strings.IndexAny(s[at:], " \t")
	if ws < 0 {
		return -1, "no space after the transport"
	}
	at += ws + 1
	host := s[at:]
	var params int // where the parameters start in s
	if host != "" && host[0] == '[' {
		end := strings.IndexByte(host, ']')
		if end < 0 {
			return -1, "IPv6 reference without ]"
		}
		rest := host[end+1:]
		switch {
		case rest == "":
			return -1, ""
		case rest[0] == ':':
			semi := strings.IndexByte(rest, ';')
			port := rest[1:]
			if semi >= 0 {
				port = rest[1:semi]
			}
			if _, err := strconv.Atoi(strings.TrimSpace(port)); err != nil || semi < 0 {
				return -1, "" // sipgo stops reading the hop here, without an error
			}
			params = at + end + 1 + semi + 1
		case rest[0] == ';':
			params = at + end + 2
		default:
			return -1, ""
		}
	} else {
		end := strings.IndexByte(host, ';')
		if end < 0 {
			end = len(host)
		}
		if colon := strings.LastIndexByte(host[:end], ':'); colon > 0 {
			if _, err := strconv.Atoi(host[colon+1 : end]); err != nil {
				return -1, "" // as above
			}
		}
		if end == len(host) {
			return -1, ""
		}
		params = at + end + 1
	}
	if c := strings.IndexByte(s[params:], ','); c > 0 {
		return params + c, ""
	}
	return -1, ""
}

// scanNameAddr follows ParseAddressValue (RFC 3261 §20.10 name-addr or
// addr-spec, as sipgo reads it); wildcard reports a URI of "*".
func scanNameAddr(s string) (wildcard bool, problem string) {
	if s == "" {
		return false, "empty value"
	}
	// addressStateDisplayName: the first '"', '<' or ';' decides.
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '"':
			return scanQuotedDisplayName(s[i+1:])
		case '<':
			return scanBracketedURI(s[i+1:])
		case ';':
			return scanBareURI(s)
		}
	}
	return scanBareURI(s)
}

// scanQuotedDisplayName follows addressStateDisplayNameQuoted: after the
// closing quote a "<" opens the URI, or (oddly) a ";" starts a bare one.
func scanQuotedDisplayName(s string) (wildcard bool, problem string) {
	escaped := false
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == '\\' {
			escaped = !escaped
			continue
		}
		if escaped {
			if c == '\n' || c == '\r' {
				return false, "escaped line break in the display name"
			}
			escaped = false
			continue
		}
		if c != '"' {
			continue
		}
		rest := s[i+1:]
		for j := 0; j < len(rest); j++ {
			switch rest[j] {
			case '<':
				return scanBracketedURI(rest[j+1:])
			case ';':
				return scanBareURI(rest[j+1:])
			}
		}
		return false, "no URI after the display name"
	}
	return false, "unterminated quoted display name"
}

// scanBracketedURI follows addressStateUriBracket: the URI ends at the first ">".
func scanBracketedURI(s string) (wildcard bool, problem string) {
	if s == "" {
		return false, "no URI after <"
	}
	gt := strings.IndexByte(s, '>')
	if gt < 0 {
		return false, "< without >"
	}
	return scanURIPart(s[:gt])
}

// scanBareURI follows addressStateUri: the URI ends at the first ";".
func scanBareURI(s string) (wildcard bool, problem string) {
	if s == "" {
		return false, "no URI"
	}
	if semi := strings.IndexByte(s, ';'); semi >= 0 {
		s = s[:semi]
	}
	return scanURIPart(s)
}

func scanURIPart(s string) (wildcard bool, problem string) {
	wildcard, problem = scanURI(s)
	if problem != "" {
		problem = "URI " + problem
	}
	return wildcard, problem
}

// scanURI follows sipgo's ParseUri: why it refuses uri ("" if it does not),
// and whether the URI is the wildcard "*" (which only some callers refuse).
func scanURI(uri string) (wildcard bool, problem string) {
	_, wildcard, problem = readURI(uri)
	return wildcard, problem
}

// readURI is scanURI with the port as sipgo reads it (0 when none).
func readURI(s string) (port int, wildcard bool, problem string) {
	if s == "" {
		return 0, false, "is empty"
	}
	if len(s) < 3 { // uriStateScheme
		if s == "*" {
			return 0, true, ""
		}
		return 0, false, strconv.Quote(s) + " is too short"
	}
	colon := -1
	for i := 0; i < len(s) && colon < 0; i++ {
		switch c := s[i]; {
		case c == ':':
			colon = i
		case !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z'):
			return 0, false, "scheme holds other than letters"
		}
	}
	if colon < 0 {
		return 0, false, "has no scheme"
	}
	if !equalFoldASCII(s[:colon], "sip") && !equalFoldASCII(s[:colon], "sips") {
		return 0, false, "" // sipgo keeps other schemes' URIs unread
	}
	s = strings.TrimPrefix(s[colon+1:], "//") // uriStateSlashes
	// uriStateUser: the host follows the first "@", or starts at a "[".
	for i := 0; i < len(s); i++ {
		if s[i] == '[' {
			s = s[i:]
			break
		}
		if s[i] == '@' {
			s = s[i+1:]
			break
		}
	}
	// uriStateHost
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '[':
			return readIPv6Host(s[i:])
		case ':':
			return readURIPort(s[i+1:])
		case ';', '?':
			return 0, false, "" // parameters and headers: sipgo reads them without fail
		}
	}
	return 0, s == "*", ""
}

// readIPv6Host follows uriStateHostIPV6: "]" within 42 bytes.
func readIPv6Host(s string) (port int, wildcard bool, problem string) {
	end := strings.IndexByte(s[:min(len(s), 42)], ']')
	if end <= 0 {
		return 0, false, "has an IPv6 reference without ]"
	}
	if end+1 < len(s) && s[end+1] == ':' {
		return readURIPort(s[end+2:])
	}
	return 0, false, ""
}

// readURIPort follows uriStatePort: the port runs to ";", "?" or the end.
func readURIPort(s string) (port int, wildcard bool, problem string) {
	if i := strings.IndexAny(s, ";?"); i >= 0 {
		s = s[:i]
	}
	port, err := strconv.Atoi(s)
	if err != nil {
		return 0, false, "port " + strconv.Quote(s) + " is not a number"
	}
	return port, false, ""
}
