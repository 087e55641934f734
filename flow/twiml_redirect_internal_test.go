package flow

import "testing"

func TestDocumentBase(t *testing.T) {
	for _, tc := range []struct{ requested, final, want string }{
		{"http://h/a?x=1", "", "http://h/a?x=1"},
		{"http://h/a?x=1", "http://h/a?x=1&CallSid=c", "http://h/a?x=1"},
		{"http://u:p@h/a?x=1", "https://h/a/?x=1&CallSid=c", "https://u:p@h/a/?x=1"},
		{"http://u:p@h/a", "https://other/a", "https://other/a"},
		{"http://h/a", "http://h/a?CallSid=c", "http://h/a"},
		{"http://h", "http://h?CallSid=c", "http://h"},
		{"http://h/a", "http://h/a/b?CallSid=c", "http://h/a/b"},
		{"http://h/a", "http://h/a&b/?CallSid=c", "http://h/a&b/"}, // no query was joined with "&"
		{"http://h", "http://h&evil.example/?CallSid=c", "http://h&evil.example/"},
		{"http://h/a?x", "http://h/a?x?y", "http://h/a?x"},
		{"http://h/a#f", "http://h/a#f?CallSid=c", "http://h/a#f"},
		{"http://h/a#f", "http://h/a#f/b/?CallSid=c", "http://h/a#f"},
	} {
		if got, want := documentBase(tc.requested, tc.final), parsedDocumentBase(tc.requested, tc.final); got != want {
			t.Errorf("documentBase(%q, %q) = %q, parsing both gives %q", tc.requested, tc.final, got, want)
		}
		if got := documentBase(tc.requested, tc.final); got != tc.want {
			t.Errorf("documentBase(%q, %q) = %q, want %q", tc.requested, tc.final, got, tc.want)
		}
	}
}

func FuzzDocumentBaseAgreesWithParsing(f *testing.F) {
	f.Add("http://h/a", "?CallSid=c")
	f.Add("http://h/a?x=1", "&CallSid=c")
	f.Add("http://h", "&evil.example/?x")
	f.Add("http://h/a#f", "?x")
	f.Add("https://u:p@h:8443/a%20b/", "?x=%zz")
	f.Fuzz(func(t *testing.T, requested, appended string) {
		final := requested + appended // what a request not redirected reports, and what looks like it
		if got, want := documentBase(requested, final), parsedDocumentBase(requested, final); got != want {
			t.Fatalf("documentBase(%q, %q) = %q, parsing both gives %q", requested, final, got, want)
		}
	})
}
