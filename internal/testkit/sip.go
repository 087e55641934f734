package testkit

import "strings"

// SIPHeader is the value of the first header called name (any case; compact forms are not
// expanded) in a raw SIP message, or "" when it has none. For tests that speak SIP over a raw
// socket and must not trust a parser under test.
func SIPHeader(msg, name string) string {
	for _, line := range strings.Split(msg, "\r\n") {
		if k, v, ok := strings.Cut(line, ":"); ok && strings.EqualFold(strings.TrimSpace(k), name) {
			return strings.TrimSpace(v)
		}
	}
	return ""
}
