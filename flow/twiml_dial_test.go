package flow

import (
	"strings"
	"testing"
	"time"
)

func TestDialParsesTwilioDefaults(t *testing.T) {
	p := &twimlParser{}
	root, err := parseXMLTree([]byte(`<Dial><Number>+14155550100</Number><Sip username="u" password="p">sip:bob@example.com</Sip></Dial>`))
	if err != nil {
		t.Fatal(err)
	}
	d := parseDialVerb(p, root, "Response/Dial[1]")
	if len(p.errs) > 0 || d.method != "POST" || d.timeout != 30*time.Second || d.timeLimit != 4*time.Hour || d.hangupOnStar ||
		d.ringTone != "us" ||
		len(d.targets) != 2 || d.targets[0].number != "+14155550100" || d.targets[1].sipURI != "sip:bob@example.com" || d.targets[1].username != "u" {
		t.Errorf("dial = %+v, errors %v", d, p.errs)
	}
}

func TestDialRingToneAndSendDigits(t *testing.T) {
	for _, tc := range []struct {
		doc, wantErr, ringTone, digits string
	}{
		{doc: `<Dial ringTone="uk"><Number sendDigits="ww1234#">+441632960000</Number></Dial>`, ringTone: "uk", digits: "ww1234#"},
		{doc: `<Dial ringTone="DE"><Number>+4930123456</Number></Dial>`, ringTone: "de"},
		{doc: `<Dial ringTone="xx"><Number>+4930123456</Number></Dial>`, wantErr: "Response/Dial[1]@ringTone"},
		{doc: `<Dial><Number sendDigits="12x">+4930123456</Number></Dial>`, wantErr: "Response/Dial[1]/Number[1]@sendDigits"},
		{doc: `<Dial><Number sendDigits="">+4930123456</Number></Dial>`, wantErr: "Response/Dial[1]/Number[1]@sendDigits"},
	} {
		p := &twimlParser{}
		root, err := parseXMLTree([]byte(tc.doc))
		if err != nil {
			t.Fatal(err)
		}
		d := parseDialVerb(p, root, "Response/Dial[1]")
		if tc.wantErr != "" {
			if len(p.errs) != 1 || !strings.Contains(p.errs[0].Error(), tc.wantErr) {
				t.Errorf("%s: errors %v, want one at %s", tc.doc, p.errs, tc.wantErr)
			}
			continue
		}
		if len(p.errs) > 0 || d.ringTone != tc.ringTone || d.targets[0].sendDigits != tc.digits {
			t.Errorf("%s: ringTone %q sendDigits %q errors %v", tc.doc, d.ringTone, d.targets[0].sendDigits, p.errs)
		}
	}
}

// TestDialSipURIHeadersAreChecked: headers in a <Sip> (or sip_uri) URI are sent as SIP headers, so the
// document is refused, naming the noun, when one is not an X- header or User-to-User (issue 24).
func TestDialSipURIHeadersAreChecked(t *testing.T) {
	for _, tc := range []struct{ uri, want string }{
		{"sip:kate@example.com?x-mycustomheader=foo&amp;x-myotherheader=bar", ""},
		{"sip:kate@example.com?User-to-User=56a390f3%3Bencoding%3Dhex", ""},
		{"sip:kate@example.com?Route=%3Csip:evil.example%3E", "only X- headers and User-to-User"},
		{"sip:kate@example.com?X-A=1%0D%0AContact:%20x", "control character"},
		{"sip:kate@example.com?" + strings.Repeat("X-A=1&amp;", 8) + "X-B=2", "at most 8"},
	} {
		p := &twimlParser{}
		root, err := parseXMLTree([]byte(`<Dial><Sip>` + tc.uri + `</Sip></Dial>`))
		if err != nil {
			t.Fatal(err)
		}
		parseDialVerb(p, root, "Response/Dial[1]")
		got := ""
		if len(p.errs) > 0 {
			got = p.errs[0].Error()
		}
		if tc.want == "" && got != "" || tc.want != "" && (!strings.HasPrefix(got, "Response/Dial[1]/Sip[1]: ") || !strings.Contains(got, tc.want)) {
			t.Errorf("%s: error %q, want %q", tc.uri, got, tc.want)
		}
	}
}
