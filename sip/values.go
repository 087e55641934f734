package sip

import "fmt"

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
