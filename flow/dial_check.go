package flow

import (
	"fmt"
	"strings"
	"unicode/utf8"
)

// Every document value that Dial, resources or sip_uri put into an outbound INVITE (the Request-URI,
// the From user, the digest username) is checked here when the document is validated, before any of
// it runs: a CR or LF in one would end its header line and let the webhook write its own headers
// (RFC 3261 §7.3.1: a header field ends at CRLF).

// maxDialNouns is Twilio's limit on the <Number> and <Sip> nouns of one <Dial>.
const maxDialNouns = 10

// msgControlChars is the error for a value with control characters, said the same way everywhere.
const msgControlChars = "must not contain control characters (CR, LF, NUL...): the value goes into a SIP message"

// hasControlChars reports whether s has a C0 or C1 control character, DEL, or is not valid UTF-8.
func hasControlChars(s string) bool {
	if !utf8.ValidString(s) {
		return true
	}
	return strings.ContainsFunc(s, func(r rune) bool { return r < 0x20 || r >= 0x7f && r <= 0x9f })
}

// checkSIPText returns why s cannot go into a SIP message as it is (a digest username or password),
// or "".
func checkSIPText(s string) string {
	if hasControlChars(s) {
		return msgControlChars
	}
	return ""
}

// checkPhoneNumber returns why number (normalised) cannot be the user part of a trunk's Request-URI,
// or "".
func checkPhoneNumber(number string) string {
	switch {
	case hasControlChars(number):
		return msgControlChars
	case strings.ContainsAny(number, "@:;<>?\" \t"):
		return "must be a phone number"
	}
	return ""
}

// checkCallerID returns why id cannot be the From user of an outbound INVITE, or "": an E.164 number
// (+14155550100) or a SIP user made of RFC 3261 §25.1 unreserved characters. The URI separators a user
// may also hold (; ? /) are refused: they would start parameters or headers.
func checkCallerID(id string) string {
	if hasControlChars(id) {
		return msgControlChars
	}
	if len(id) > 64 {
		return "must be at most 64 characters"
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("-_.!~*'()&=+$,", c) >= 0 {
			continue
		}
		return fmt.Sprintf("must be an E.164 number (+14155550100) or a SIP user (letters, digits and - _ . ! ~ * ' ( ) & = + $ ,), not %q", id)
	}
	return ""
}
