package debugapi

import (
	"net/http"
	"reflect"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestStoredTextEscapesNULAndInvalidUTF8Only(t *testing.T) {
	for in, want := range map[string]string{
		"829597750@10.26.0.158":      "829597750@10.26.0.158",
		"nul\x00inside":              `nul\x00inside`,
		"\xff\xfe":                   `\xff\xfe`,
		"surrogate-\xed\xa0\x80":     `surrogate-\xed\xa0\x80`,
		"overlong-\xc0\xaf":          `overlong-\xc0\xaf`,
		"cut-\xe2\x82":               `cut-\xe2\x82`,
		"ctl-\x01\x1b\x7f\r\n\t":     "ctl-\x01\x1b\x7f\r\n\t",
		`back\slash \x00 as text`:    `back\slash \x00 as text`,
		"é€😀":                        "é€😀",
		"\U0010FFFF\xf4\x90\x80\x80": "\U0010FFFF" + `\xf4\x90\x80\x80`,
	} {
		if got := StoredText(in); got != want {
			t.Errorf("StoredText(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestStoredCallIDBoundsLongCallIDsWithAHash(t *testing.T) {
	long := strings.Repeat("\xff", 5000)
	key := StoredCallID(long)
	if len(key) > maxStoredCallIDLen || !strings.HasPrefix(key, `\xff\xff`) || key[len(key)-callIDHashLen-1] != '~' {
		t.Fatalf("key of %d bytes: %.40q...%q", len(key), key, key[len(key)-40:])
	}
	if StoredCallID(StoredText(long)) != key || StoredCallID(key) != key {
		t.Fatal("the escaped Call-ID or the key itself gives another key")
	}
	if StoredCallID(long+"\xfe") == key {
		t.Fatal("two long Call-IDs with one prefix share a key")
	}
	// A multi-byte character is never cut.
	if k := StoredCallID(strings.Repeat("é", 2000)); !utf8.ValidString(k) || len(k) > maxStoredCallIDLen {
		t.Fatalf("key %q", k)
	}
}

func FuzzStoredCallID(f *testing.F) {
	for _, s := range hostileValues {
		f.Add(s)
	}
	f.Add(strings.Repeat("\xff", 2000))
	f.Fuzz(func(t *testing.T, s string) {
		text, key := StoredText(s), StoredCallID(s)
		for _, v := range []string{text, key} {
			if !utf8.ValidString(v) || strings.IndexByte(v, 0) >= 0 {
				t.Fatalf("%q gave %q: not valid UTF-8 without NUL", s, v)
			}
		}
		if StoredText(text) != text || StoredCallID(key) != key || StoredCallID(text) != key {
			t.Fatalf("%q: the escaped form is not its own escape or key", s)
		}
		if len(key) > maxStoredCallIDLen {
			t.Fatalf("%q: key of %d bytes", s, len(key))
		}
		if utf8.ValidString(s) && strings.IndexByte(s, 0) < 0 && text != s {
			t.Fatalf("%q: text that needs no escape was changed to %q", s, text)
		}
	})
}

// Names are lower-cased as Kazoo stores them; values are kept as sent (a signature is case-sensitive).
func TestLowerHeadersKeepsBytesThatAreNotUTF8AndValuesAsSent(t *testing.T) {
	got := LowerHeaders(http.Header{"X-Hostile\xff": {"\xff\xfeA", "\x00B"}, "X-Twilio-Signature": {"AbC+/="}})
	want := map[string]string{`x-hostile\xff`: `\xff\xfeA, \x00B`, "x-twilio-signature": "AbC+/="}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("LowerHeaders = %q, want %q", got, want)
	}
}
