package sip

import (
	"testing"

	"github.com/emiago/sipgo/sip"
)

func TestParseRAck(t *testing.T) {
	for v, want := range map[string]bool{
		"776656 1 INVITE": true, "1  2   INVITE": true, "": false, "1 INVITE": false, "x 1 INVITE": false,
		"1 -1 INVITE": false, "99999999999 1 INVITE": false, "1 2 INVITE extra": false,
	} {
		req := sip.NewRequest(sip.PRACK, sip.Uri{Host: "127.0.0.1"})
		if v != "" {
			req.AppendHeader(sip.NewHeader("RAck", v))
		}
		if _, _, _, ok := parseRAck(req); ok != want {
			t.Errorf("RAck %q: ok=%v, want %v", v, ok, want)
		}
	}
}

func TestPeerReliable(t *testing.T) {
	for _, tc := range []struct {
		hdrs                []string
		required, supported bool
	}{
		{[]string{"Require: 100rel"}, true, true},
		{[]string{"Supported: timer, 100rel"}, false, true},
		{[]string{"k: 100rel"}, false, true},
		{[]string{"Supported: timer"}, false, false},
		{nil, false, false},
	} {
		r, s := peerReliable(sessionInvite(tc.hdrs...))
		if r != tc.required || s != tc.supported {
			t.Errorf("%v: required=%v supported=%v", tc.hdrs, r, s)
		}
	}
}
