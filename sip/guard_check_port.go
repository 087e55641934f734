package sip

import (
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// portHeaders are the fields whose URIs sipgo reads a port from and pivotua
// may send to: Contact (the dialog's remote target), Record-Route and Route
// (its route set), From and To (copied into responses and dialogs).
var portHeaders = []string{"from", "to", "contact", "record-route", "route"}

// checkPorts refuses a port outside 1-65535 in the Request-URI, any Via
// sent-by (or rport value) and any URI of portHeaders. RFC 3261 §25.1 lets
// port be any 1*DIGIT; sipgo reads it into an int without a range check, so
// sip:3004@host:999999999999 would otherwise become a dialog or response
// target that no socket can reach.
func checkPorts(h *sipHead) *fault {
	if p, ok := uriPort(h.uri); !ok {
		return badRequest("Request-URI port %s is not 1 to 65535", p)
	}
	for _, f := range h.fields {
		if f.name != "via" {
			continue
		}
		for hop := range outsideQuotes(f.value, ',') {
			if p, ok := viaPort(hop); !ok {
				return badRequest("Via port %s is not 1 to 65535", p)
			}
		}
	}
	for _, name := range portHeaders {
		for _, f := range h.fields {
			if f.name != name {
				continue
			}
			for one := range outsideQuotes(f.value, ',') {
				if p, ok := uriPort(nameAddrURI(one)); !ok {
					return badRequest("%s port %s is not 1 to 65535", headerDisplayName(name), p)
				}
			}
		}
	}
	return nil
}

// validPort: a port must fit in 16 bits and not be 0 (no socket listens there).
func validPort(p string) bool {
	n, err := strconv.ParseUint(p, 10, 16)
	return err == nil && isDigits(p) && n > 0
}

// uriPort reads a URI's port the way sipgo will (readURI follows its
// parser: sipgo keeps what it reads from the Request-URI, Contact and
// routes); ok is false only when a port is there and out of range. A URI
// sipgo cannot parse passes here: checkParsable refuses it.
func uriPort(uri string) (port string, ok bool) {
	if !mayHoldBadPort(uri) {
		return "", true
	}
	p, _, problem := readURI(strings.TrimSpace(uri))
	if problem != "" {
		return "", true
	}
	if p < 0 || p > 65535 {
		return strconv.Itoa(p), false
	}
	return "", true
}

// mayHoldBadPort is false when uri cannot give sipgo a port outside 0-65535:
// sipgo reads a port with strconv.Atoi, which needs a "-" for a negative one
// and five digits in a row for one above 65535. Most URIs have neither, and
// are spared a parse here (sipgo parses them once more anyway).
func mayHoldBadPort(uri string) bool {
	run := 0
	for i := 0; i < len(uri); i++ {
		switch c := uri[i]; {
		case c == '-':
			return true
		case c >= '0' && c <= '9':
			if run++; run >= 5 {
				return true
			}
		default:
			run = 0
		}
	}
	return false
}

// hostPortPort is the port of "host[:port]" (host may be an [IPv6] reference).
func hostPortPort(hp string) (port string, ok bool) {
	hp = strings.TrimSpace(hp)
	if strings.HasPrefix(hp, "[") {
		end := strings.IndexByte(hp, ']')
		if end < 0 {
			return "", true // malformed host: sipgo's parser refuses it
		}
		hp = hp[end+1:]
	}
	i := strings.LastIndexByte(hp, ':')
	if i < 0 {
		return "", true
	}
	port = hp[i+1:]
	return port, validPort(port)
}

// nameAddrURI is the URI of a From, To, Contact or Route value: inside <>
// when there are any, else up to the first ";" (RFC 3261 §20.10).
func nameAddrURI(v string) string {
	v = strings.TrimSpace(v)
	if lt := indexOutsideQuotes(v, '<'); lt >= 0 {
		uri := v[lt+1:]
		if gt := strings.IndexByte(uri, '>'); gt >= 0 {
			uri = uri[:gt]
		}
		return uri
	}
	uri, _, _ := strings.Cut(v, ";")
	return uri
}

// viaPort checks one Via hop's sent-by port and its rport and received-port
// values: sipgo answers to them (RFC 3261 §18.2.2, RFC 3581 §4).
func viaPort(hop string) (port string, ok bool) {
	protocol, params, _ := cutOutsideQuotes(hop, ';')
	if p, ok := hostPortPort(sentBy(protocol)); !ok {
		return p, false
	}
	for p := range outsideQuotes(params, ';') {
		k, val, found := strings.Cut(p, "=")
		if found && strings.EqualFold(strings.TrimSpace(k), "rport") && !validPort(strings.TrimSpace(val)) {
			return strings.TrimSpace(val), false
		}
	}
	return "", true
}

// sentBy is the sent-by of a Via hop's "SIP/2.0/UDP host:port" (LWS allowed
// around the slashes): its last word, words being separated by white space
// or "/", which is a word of its own. "" when there is none.
func sentBy(protocol string) string {
	s := strings.TrimRightFunc(protocol, unicode.IsSpace)
	if s == "" || s[len(s)-1] == '/' {
		return s[max(0, len(s)-1):]
	}
	i := strings.LastIndexFunc(s, func(r rune) bool { return r == '/' || unicode.IsSpace(r) })
	if i < 0 {
		return s
	}
	_, size := utf8.DecodeRuneInString(s[i:])
	return s[i+size:]
}
