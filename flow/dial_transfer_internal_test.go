package flow

import (
	"errors"
	"fmt"
	"testing"

	"github.com/pivotua/pivotua/sip"
)

// TestTransferEndpointChecksTheTargetAndItsTrunk: a Refer-To target is dialled as a <Sip> noun is;
// one on a trunk's host takes that trunk's credentials, and only when the trunk is open to the account.
func TestTransferEndpointChecksTheTargetAndItsTrunk(t *testing.T) {
	c := &Call{accountID: "acct1", deps: &Deps{Dial: DialDeps{Trunks: []Trunk{
		{Name: "open", URI: "sip:gw.example.net:5060", Username: "u", Password: "p"},
		{Name: "closed", URI: "sip:other.example.net", Accounts: []string{"acct2"}},
	}}}}
	for _, tc := range []struct {
		target, user string
		err          error
		bad          bool
	}{
		{target: "sip:carol@127.0.0.1:5070"},
		{target: "sip:+14155550100@gw.example.net:5060", user: "u"},
		{target: "sips:+14155550100@GW.example.net:5060;transport=tls", user: "u"},
		{target: "sip:+14155550100@other.example.net", err: ErrTrunkNotAllowed},
		{target: "tel:+14155550100", bad: true},
		{target: "sip:a@b\x01", bad: true},
	} {
		ep, err := c.transferEndpoint(tc.target)
		switch {
		case tc.err != nil && !errors.Is(err, tc.err), tc.bad && err == nil, tc.err == nil && !tc.bad && err != nil:
			t.Errorf("%q: %v", tc.target, err)
		case err == nil && (ep.uri != tc.target || ep.username != tc.user):
			t.Errorf("%q: dialled as %+v", tc.target, ep)
		}
	}
}

// TestTransferFailureNamesWhatTheReferrerIsTold: the final NOTIFY carries the target's own status, or
// what stands for it when none came.
func TestTransferFailureNamesWhatTheReferrerIsTold(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want int
	}{
		{&sip.DialError{Code: 486, Reason: "Busy Here"}, 486},
		{fmt.Errorf("dial: %w", sip.ErrEgressDenied), 403},
		{fmt.Errorf("dial: %w", sip.ErrNoAnswer), 408},
		{fmt.Errorf("dial: %w", sip.ErrCanceled), 487},
		{errors.New("socket"), 503},
		{&sip.DialError{Code: 200, Reason: "unusable SDP answer"}, 503},
	} {
		if code, _ := transferFailure(tc.err); code != tc.want {
			t.Errorf("%v: %d, want %d", tc.err, code, tc.want)
		}
	}
}
