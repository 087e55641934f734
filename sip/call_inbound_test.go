package sip

import (
	"strings"
	"testing"

	sipgosip "github.com/emiago/sipgo/sip"
)

// parseInvite parses a raw INVITE the way sipgo does on the wire.
func parseInvite(t *testing.T, raw []byte) *sipgosip.Request {
	t.Helper()
	msg, err := sipgosip.NewParser().ParseSIP(raw)
	if err != nil {
		t.Fatal(err)
	}
	req, ok := msg.(*sipgosip.Request)
	if !ok {
		t.Fatalf("parsed %T, want a request", msg)
	}
	return req
}

// TestCallInfoAssertedIdentity: caller ID comes from P-Asserted-Identity,
// whose first usable identity (a tel: number, or a sip:/sips: URI with a user)
// wins, with its display name; a PAI with none leaves the From fallback to the flow.
func TestCallInfoAssertedIdentity(t *testing.T) {
	for _, tc := range []struct {
		name, pai         string // header lines, "\r\n"-separated
		wantUser, wantDsp string
	}{
		{"none", "", "", ""},
		{"sip", `P-Asserted-Identity: "Alice" <sip:+14155550100@carrier.example>`, "+14155550100", "Alice"},
		{"sips", `P-Asserted-Identity: <sips:alice@carrier.example;user=phone>`, "alice", ""},
		{"tel", `P-Asserted-Identity: "Alice" <tel:+14155550100>`, "+14155550100", "Alice"},
		{"tel unquoted name", `P-Asserted-Identity: Alice <tel:+14155550100>`, "+14155550100", "Alice"},
		{"tel bare", `P-Asserted-Identity: tel:+14155550100`, "+14155550100", ""},
		{"tel local with phone-context", `P-Asserted-Identity: <tel:5550100;phone-context=+1415>`, "5550100", ""},
		{"tel visual separators", `P-Asserted-Identity: <tel:+1-415-555-0100>`, "+14155550100", ""},
		{"tel then sip", `P-Asserted-Identity: <tel:+14155550100>, <sip:+14155550199@carrier.example>`, "+14155550100", ""},
		{"sip then tel", `P-Asserted-Identity: "Bob" <sip:bob@carrier.example>, <tel:+14155550100>`, "bob", "Bob"},
		{"comma in display name", `P-Asserted-Identity: "Smith, Alice" <tel:+14155550100>, <sip:a@b.example>`, "+14155550100", "Smith, Alice"},
		{"two header lines", "P-Asserted-Identity: <tel:+14155550100>\r\nP-Asserted-Identity: <sip:+14155550199@carrier.example>", "+14155550100", ""},
		{"first unusable", "P-Asserted-Identity: <sip:carrier.example>\r\nP-Asserted-Identity: \"Carol\" <tel:+14155550100>", "+14155550100", "Carol"},
		{"no usable identity", `P-Asserted-Identity: <sip:carrier.example>, <mailto:a@b.example>`, "", ""},
		{"lower-case name", `p-asserted-identity: <tel:+14155550100>`, "+14155550100", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			extra := ""
			if tc.pai != "" {
				extra = tc.pai + "\r\n"
			}
			info := callInfoOf(parseInvite(t, inviteRequest("pai-"+strings.ReplaceAll(tc.name, " ", "-"), extra)))
			if info.AssertedUser != tc.wantUser || info.AssertedDisplay != tc.wantDsp {
				t.Errorf("asserted %q %q, want %q %q", info.AssertedUser, info.AssertedDisplay, tc.wantUser, tc.wantDsp)
			}
			if info.FromUser != "caller" {
				t.Errorf("FromUser %q", info.FromUser)
			}
		})
	}
}
