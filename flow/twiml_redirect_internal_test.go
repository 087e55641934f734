package flow

import "testing"

func TestDocumentBase(t *testing.T) {
	for _, tc := range []struct{ requested, final, want string }{
		{"http://h/a?x=1", "", "http://h/a?x=1"},
		{"http://h/a?x=1", "http://h/a?x=1&CallSid=c", "http://h/a?x=1"},
		{"http://u:p@h/a?x=1", "https://h/a/?x=1&CallSid=c", "https://u:p@h/a/?x=1"},
		{"http://u:p@h/a", "https://other/a", "https://other/a"},
	} {
		if got := documentBase(tc.requested, tc.final); got != tc.want {
			t.Errorf("documentBase(%q, %q) = %q, want %q", tc.requested, tc.final, got, tc.want)
		}
	}
}
