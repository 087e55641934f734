package sip

import (
	"fmt"
	"strings"
)

// checkValue refuses a value bound for a SIP message when it holds a control
// character (C0, which has CR, LF and NUL, or DEL): RFC 3261 §25.1 allows
// none in a header value or reason phrase outside line folding, and a CR or
// LF from a webhook would end the line and start a header of its choosing.
func checkValue(field, v string) error {
	for i := 0; i < len(v); i++ {
		if c := v[i]; c < 0x20 || c == 0x7f {
			return fmt.Errorf("%w: %s has %q at byte %d", ErrControlCharacter, field, c, i)
		}
	}
	return nil
}

// checkValues applies checkValue to field/value pairs, returning the first fault.
func checkValues(pairs ...string) error {
	for i := 0; i+1 < len(pairs); i += 2 {
		if err := checkValue(pairs[i], pairs[i+1]); err != nil {
			return err
		}
	}
	return nil
}

// dropControl is a strings.Map function that drops control characters.
func dropControl(r rune) rune {
	if r < 0x20 || r == 0x7f {
		return -1
	}
	return r
}

// quoteDisplayName escapes a display name for sipgo, which writes it between
// double quotes as is: a '"' would end the quoted string and let the rest
// (say `" <sip:boss@bank.example>`) pose as the address (RFC 3261 §25.1
// quoted-pair).
func quoteDisplayName(s string) string {
	if !strings.ContainsAny(s, `"\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '"' || s[i] == '\\' {
			b.WriteByte('\\')
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// escapeUser percent-encodes a user part for sipgo, which writes it as is: a
// '>' or '@' in a caller ID would end the <addr-spec> or move the host. What
// stays is RFC 3261 §25.1's unreserved, the user-unreserved "&=+$," and
// escapes; ';', '?' and '/' are user-unreserved too, but a reader that looks
// for parameters, headers or a path before it finds the '@' (RFC 3986's
// generic one among them) would take "1000;transport=tcp" or "x?Subject=hi"
// for parameters or headers of ours, so they are escaped like the rest: an
// escape is always valid in a user. A '%' that already starts an escape stays.
func escapeUser(s string) string {
	const hex = "0123456789ABCDEF"
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9',
			strings.IndexByte("-_.!~*'()&=+$,", c) >= 0:
			b.WriteByte(c)
		case c == '%' && i+2 < len(s) && isHex(s[i+1]) && isHex(s[i+2]):
			b.WriteByte(c)
		default:
			b.WriteByte('%')
			b.WriteByte(hex[c>>4])
			b.WriteByte(hex[c&15])
		}
	}
	return b.String()
}

func isHex(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F'
}
