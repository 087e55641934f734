package sip

import (
	"errors"
	"reflect"
	"strings"
	"testing"
)

// TestSplitURIHeadersSendsXHeadersAndUserToUser: Twilio's <Sip> example
// "sip:kate@example.com?x-mycustomheader=foo&x-myotherheader=bar" becomes
// the bare URI and two headers, values percent-decoded (issue 24).
func TestSplitURIHeadersSendsXHeadersAndUserToUser(t *testing.T) {
	for _, tc := range []struct {
		in, bare string
		hdrs     []URIHeader
	}{
		{"sip:kate@example.com?x-mycustomheader=foo&x-myotherheader=bar", "sip:kate@example.com",
			[]URIHeader{{"x-mycustomheader", "foo"}, {"x-myotherheader", "bar"}}},
		{"sip:k@h.example:5080;transport=tcp?X-A=a%20b&User-to-User=56a390f3%3Bencoding%3Dhex", "sip:k@h.example:5080;transport=tcp",
			[]URIHeader{{"X-A", "a b"}, {"User-to-User", "56a390f3;encoding=hex"}}},
		{"sip:+1415?x@h.example?X-Q=1+2", "sip:+1415?x@h.example", []URIHeader{{"X-Q", "1+2"}}}, // '?' in the user part, '+' stays
		{"sip:h.example?X-A=1", "sip:h.example", []URIHeader{{"X-A", "1"}}},
		{"sips:bob@h.example", "sips:bob@h.example", nil},
	} {
		bare, hdrs, err := SplitURIHeaders(tc.in)
		if err != nil || bare != tc.bare || !reflect.DeepEqual(hdrs, tc.hdrs) {
			t.Errorf("SplitURIHeaders(%q) = %q, %v, %v; want %q, %v", tc.in, bare, hdrs, err, tc.bare, tc.hdrs)
		}
	}
}

// TestSplitURIHeadersRefusesWhatItMustNotSend: a header pivotua owns, a
// control character hidden by percent-encoding, too many or too large
// headers are refused with ErrURIHeader naming what was wrong.
func TestSplitURIHeadersRefusesWhatItMustNotSend(t *testing.T) {
	many := "sip:b@h?" + strings.Repeat("X-A=1&", MaxURIHeaders) + "X-A=1"
	for _, tc := range []struct{ in, want string }{
		{"sip:b@h?From=%3Csip:boss@bank.example%3E", "only X- headers and User-to-User"},
		{"sip:b@h?Contact=sip:evil@x", "only X- headers and User-to-User"},
		{"sip:b@h?body=hello", "only X- headers and User-to-User"},
		{"sip:b@h?X-=1", "only X- headers"},
		{"sip:b@h?X-A=1%0D%0AVia:%20x", "control character"},
		{"sip:b@h?X-A=%00", "control character"},
		{"sip:b@h?X%0AA=1", "not a header name"},
		{"sip:b@h?X-A%20B=1", "not a header name"},
		{"sip:b@h?X-A=%zz", "has no value"},
		{"sip:b@h?X-A", "has no value"},
		{"sip:b@h?X-A=", "has no value"},
		{"sip:b@h?", "not a header name"},
		{many, "at most 8"},
		{"sip:b@h?X-A=" + strings.Repeat("v", 1100), "exceed 1024 bytes"},
		{"sip:b@h?X-" + strings.Repeat("n", 70) + "=1", "not a header name"},
	} {
		_, _, err := SplitURIHeaders(tc.in)
		if !errors.Is(err, ErrURIHeader) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("SplitURIHeaders(%.60q) = %v, want ErrURIHeader saying %q", tc.in, err, tc.want)
		}
	}
}

func FuzzSplitURIHeaders(f *testing.F) {
	f.Add("sip:kate@example.com?x-a=foo&User-to-User=1%3Bencoding%3Dhex")
	f.Fuzz(func(t *testing.T, in string) {
		bare, hdrs, err := SplitURIHeaders(in)
		if err != nil {
			return
		}
		if len(hdrs) > MaxURIHeaders || len(hdrs) > 0 && len(bare) >= len(in) {
			t.Fatalf("%q: %q %v", in, bare, hdrs)
		}
		for _, h := range hdrs {
			if !isToken(h.Name) || !isSendableURIHeader(h.Name) || checkValue(h.Name, h.Value) != nil {
				t.Fatalf("%q: header %q: %q", in, h.Name, h.Value)
			}
		}
	})
}
