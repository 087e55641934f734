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

// TestDialogInviteKeepsWhatTheDialogReads: the dialog's copy of the INVITE, kept for the call's life,
// loses the body and the headers nothing reads after setup, and still answers and builds in-dialog
// requests as the whole INVITE did (RFC 3261 §8.2.6.2, §12.1.1, §12.2.1.1).
func TestDialogInviteKeepsWhatTheDialogReads(t *testing.T) {
	raw := "INVITE sip:3004@127.0.0.1:5060 SIP/2.0\r\n" +
		"Via: SIP/2.0/UDP 10.0.0.1:5070;branch=z9hG4bK-1;rport\r\n" +
		"v: SIP/2.0/UDP 10.0.0.9:5060;branch=z9hG4bK-0\r\n" +
		"Record-Route: <sip:10.0.0.9;lr>\r\n" +
		"Record-Route: <sip:10.0.0.8;lr>\r\n" +
		"f: \"Alice\" <sip:1000@10.0.0.1>;tag=abc\r\n" +
		"To: <sip:3004@127.0.0.1>\r\n" +
		"Call-ID: prune-1@10.0.0.1\r\n" +
		"CSeq: 7 INVITE\r\n" +
		"m: <sip:1000@10.0.0.1:5070;transport=udp>\r\n" +
		"Max-Forwards: 70\r\n" +
		"User-Agent: carrier SBC\r\n" +
		"P-Asserted-Identity: <tel:+15551234567>\r\n" +
		"X-Account: 42\r\n" +
		"Allow: INVITE, ACK, BYE, CANCEL, OPTIONS\r\n" +
		"k: 100rel, timer\r\n" +
		"Session-Expires: 1800\r\n" +
		"Content-Type: application/sdp\r\n" +
		"Content-Length: 11\r\n\r\n" +
		"v=0\r\ns=-\r\n\r\n"
	whole := parseInvite(t, []byte(raw))
	inv := parseInvite(t, []byte(raw))
	pruneDialogInvite(inv)

	var names []string
	for _, h := range inv.Headers() {
		names = append(names, h.Name())
	}
	if got, want := strings.Join(names, ","), "Via,Via,Record-Route,Record-Route,From,To,Call-ID,CSeq,Contact,k,Content-Length"; got != want {
		t.Errorf("headers kept: %s\nwant %s", got, want)
	}
	if len(inv.Body()) != 0 {
		t.Errorf("body kept: %q", inv.Body())
	}
	if _, supported := peerReliable(inv); !supported {
		t.Error("100rel in Supported lost")
	}
	if got, want := sipgosip.NewResponseFromRequest(inv, 200, "OK", nil).String(), sipgosip.NewResponseFromRequest(whole, 200, "OK", nil).String(); stripToTag(got) != stripToTag(want) {
		t.Errorf("200 from the pruned INVITE:\n%s\nfrom the whole one:\n%s", got, want)
	}
	if inv.Contact().Address.String() != whole.Contact().Address.String() || inv.CSeq().SeqNo != 7 {
		t.Errorf("remote target %s, CSeq %d", inv.Contact().Address.String(), inv.CSeq().SeqNo)
	}
}

// stripToTag drops the To tag, which NewResponseFromRequest makes up for each response.
func stripToTag(msg string) string {
	lines := strings.Split(msg, "\r\n")
	for i, l := range lines {
		if strings.HasPrefix(l, "To:") {
			lines[i], _, _ = strings.Cut(l, ";tag=")
		}
	}
	return strings.Join(lines, "\r\n")
}
