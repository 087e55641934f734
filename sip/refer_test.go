package sip

import (
	"errors"
	"strings"
	"testing"
)

func TestCheckReferTarget(t *testing.T) {
	for _, tc := range []struct {
		target string
		want   error // nil: accepted
	}{
		{"sip:alice@example.com", nil},
		{"SIPS:alice@example.com:5061;transport=tls", nil},
		{"sip:alice@example.com?X-Ticket=42&User-to-User=56a3%3Bencoding%3Dhex", nil},
		{"sip:[2001:db8::1]:5060", nil},
		{"tel:+14155550100", ErrReferTarget},
		{"http://example.com", ErrReferTarget},
		{"sip:", ErrReferTarget},
		{"sip:alice@", ErrReferTarget},
		{"sip:a@b\r\nRoute: <sip:evil>", ErrControlCharacter},
		{"sip:a@b\x00", ErrControlCharacter},
		{"sip:a@b>;evil=1", ErrReferTarget},
		{"sip:a@b <sip:c@d>", ErrReferTarget},
		{`sip:a@b"`, ErrReferTarget},
		{"sip:a@b?Replaces=call%40x%3Bto-tag%3D1", ErrReferTarget}, // attended transfer: not this round
		{"sip:a@b?Route=%3Csip:x%3E", ErrReferTarget},
		{"sip:a@b?=x", ErrReferTarget},
		{"sip:a@b?X-" + strings.Repeat("A", 10) + "=1&" + strings.Repeat("X-B=1&", 8) + "X-C=1", ErrReferTarget},
		{"sip:a@" + strings.Repeat("h", maxReferTarget), ErrReferTarget},
	} {
		err := CheckReferTarget(tc.target)
		switch {
		case tc.want == nil && err != nil:
			t.Errorf("%q: %v, want accepted", tc.target, err)
		case tc.want != nil && !errors.Is(err, tc.want):
			t.Errorf("%q: %v, want %v", tc.target, err, tc.want)
		}
	}
}

func TestParseSipfrag(t *testing.T) {
	for _, tc := range []struct {
		body string
		want int // 0: an error
	}{
		{"SIP/2.0 200 OK", 200},
		{"SIP/2.0 100 Trying\r\n", 100},
		{"SIP/2.0 486 Busy Here\r\nContent-Length: 0\r\n\r\n", 486},
		{"SIP/2.0 603", 603},
		{"", 0},
		{"HELLO", 0},
		{"SIP/2.0 99 Low", 0},
		{"SIP/2.0 700 High", 0},
		{"SIP/2.0 2000 OK", 0},
		{"SIP/2.0 +20 OK", 0},
		{"INVITE sip:a@b SIP/2.0", 0},
		{"SIP/2.0 200 " + strings.Repeat("x", 1000), 0},
	} {
		code, err := ParseSipfrag([]byte(tc.body))
		if code != tc.want || (err == nil) != (tc.want != 0) {
			t.Errorf("%q: %d, %v; want %d", tc.body, code, err, tc.want)
		}
	}
}

func FuzzParseSipfrag(f *testing.F) {
	for _, s := range []string{"SIP/2.0 200 OK\r\n", "SIP/2.0 100 Trying", "garbage", "SIP/2.0 999 x"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		code, err := ParseSipfrag(b)
		if err == nil && (code < 100 || code > 699) {
			t.Fatalf("status %d from %q", code, b)
		}
		if err != nil && code != 0 {
			t.Fatalf("status %d with error %v", code, err)
		}
	})
}

func FuzzCheckReferTarget(f *testing.F) {
	for _, s := range []string{"sip:a@b", "sips:a@b?X-A=1", "sip:a@b\r\nX: y", "tel:1", "sip:a@b?Replaces=x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if CheckReferTarget(s) != nil {
			return
		}
		// An accepted target stays inside <...> on one header line.
		if len(s) > maxReferTarget || strings.ContainsAny(s, "<>\"\r\n\x00") {
			t.Fatalf("accepted %q", s)
		}
	})
}
