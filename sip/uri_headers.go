package sip

import (
	"fmt"
	"net/url"
	"strings"

	"github.com/emiago/sipgo/sip"
)

// Bounds on the headers a Dial target's URI may carry: what Twilio's <Sip>
// is used for (a few X- headers, a User-to-User) fits well inside them, and a
// document cannot grow the INVITE past a UDP datagram with them.
const (
	MaxURIHeaders     = 8
	maxURIHeaderName  = 64
	maxURIHeaderBytes = 1024 // names and values together
)

// URIHeader is a header written into a SIP URI's headers component.
type URIHeader struct{ Name, Value string }

// SplitURIHeaders cuts the headers component (RFC 3261 §19.1.1: "?" then
// hname=hvalue pairs joined by "&") off a sip: or sips: URI. RFC 3261
// §19.1.5 says they are headers of the request made from the URI, and §8.1.1.1
// forbids them in a Request-URI, so Dial sends them as header fields. Only X-
// headers and User-to-User (RFC 7433) are accepted, as Twilio's <Sip> does:
// anything else could override a header pivotua owns (From, Contact, Via...).
// Values are percent-decoded and must hold no control character.
func SplitURIHeaders(uri string) (string, []URIHeader, error) {
	// A user part may hold an unescaped '?' (user-unreserved) but no '@', and
	// an hvalue neither, so the headers start at the first '?' after the '@'.
	from := strings.IndexByte(uri, '@') + 1
	q := strings.IndexByte(uri[from:], '?')
	if q < 0 {
		return uri, nil, nil
	}
	bare, raw := uri[:from+q], uri[from+q+1:]
	pairs := strings.Split(raw, "&")
	if len(pairs) > MaxURIHeaders {
		return "", nil, fmt.Errorf("%w: %d headers after ?, at most %d", ErrURIHeader, len(pairs), MaxURIHeaders)
	}
	hdrs := make([]URIHeader, 0, len(pairs))
	size := 0
	for _, p := range pairs {
		rawName, rawValue, ok := strings.Cut(p, "=")
		name, err := url.PathUnescape(rawName)
		if err != nil || !isToken(name) || len(name) > maxURIHeaderName {
			return "", nil, fmt.Errorf("%w: %q is not a header name (a token of at most %d characters)", ErrURIHeader, rawName, maxURIHeaderName)
		}
		if !isSendableURIHeader(name) {
			return "", nil, fmt.Errorf("%w: %s: only X- headers and User-to-User may be sent", ErrURIHeader, name)
		}
		value, err := url.PathUnescape(rawValue)
		if err != nil || !ok || value == "" {
			return "", nil, fmt.Errorf("%w: %s has no value (name=value, percent-encoded)", ErrURIHeader, name)
		}
		if err := checkValue(name, value); err != nil {
			return "", nil, fmt.Errorf("%w: %w", ErrURIHeader, err)
		}
		if size += len(name) + len(value); size > maxURIHeaderBytes {
			return "", nil, fmt.Errorf("%w: the headers after ? exceed %d bytes", ErrURIHeader, maxURIHeaderBytes)
		}
		hdrs = append(hdrs, URIHeader{name, value})
	}
	return bare, hdrs, nil
}

func isSendableURIHeader(name string) bool {
	return len(name) > 2 && strings.EqualFold(name[:2], "x-") || strings.EqualFold(name, "User-to-User")
}

func (h URIHeader) header() sip.Header { return sip.NewHeader(h.Name, h.Value) }
