package sip

import (
	"errors"
	"net/netip"
	"strings"
	"testing"
)

// TestCheckTargetAnswersAsDialWould: CheckTarget refuses what sip.egress denies (naming the rule),
// refuses a URI with no host, and passes an allowed one, without sending anything.
func TestCheckTargetAnswersAsDialWould(t *testing.T) {
	srv := newEgressServer(t, EgressPolicy{Deny: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128")}})
	for _, tc := range []struct {
		target string
		denied bool
		bad    bool
	}{
		{"sip:bob@127.0.0.1:5060", true, false},
		{"sip:bob@localhost:5060;transport=udp", true, false},
		{"sips:bob@10.1.2.3", false, false},
		{"sip:bob@", false, true},
		{"sip:bob@[", false, true},
	} {
		err := srv.CheckTarget(t.Context(), tc.target)
		switch {
		case tc.denied && (!errors.Is(err, ErrEgressDenied) || !strings.Contains(err.Error(), "deny_cidrs")):
			t.Errorf("CheckTarget(%q) = %v, want ErrEgressDenied naming deny_cidrs", tc.target, err)
		case tc.bad && (err == nil || errors.Is(err, ErrEgressDenied)):
			t.Errorf("CheckTarget(%q) = %v, want a bad-target error", tc.target, err)
		case !tc.denied && !tc.bad && err != nil:
			t.Errorf("CheckTarget(%q) = %v, want nil", tc.target, err)
		}
	}
}
