package flow

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/pivotua/pivotua/sip"
)

func TestDialFailureStatusPrefersBusy(t *testing.T) {
	busy := &sip.DialError{Code: 486}
	_ = busy
	for _, tc := range []struct {
		errs []error
		want string
	}{
		{nil, "failed"},
		{[]error{errors.New("transport")}, "failed"},
		{[]error{fmt.Errorf("x: %w", sip.ErrNoAnswer), fmt.Errorf("x: %w", sip.ErrBusy)}, "busy"},
		{[]error{fmt.Errorf("x: %w", sip.ErrNoAnswer), errors.New("y")}, "no-answer"},
		{[]error{fmt.Errorf("x: %w", sip.ErrCanceled)}, "canceled"},
	} {
		if got := dialFailureStatus(tc.errs); got != tc.want {
			t.Errorf("dialFailureStatus(%v) = %s, want %s", tc.errs, got, tc.want)
		}
	}
}

func TestDialParsesAttributes(t *testing.T) {
	doc := `<Response><Dial action="/after" timeout="5" timeLimit="60" callerId="+1999" hangupOnStar="true"
		answerOnBridge="true" record="record-from-answer-dual" trunk="backup">
		<Number>+1 (415) 555-0100</Number><Sip username="bob" password="pw">sip:bob@127.0.0.1:5070;transport=tcp</Sip></Dial></Response>`
	tw, err := ParseTwiML([]byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	d := tw.verbs[0].(*dialVerb)
	if d.action != "/after" || d.timeout != 5*time.Second || d.timeLimit != time.Minute || d.callerID != "+1999" ||
		!d.hangupOnStar || !d.answerOnBridge || d.record != recordFromAnswer || !d.dual || d.trunk != "backup" {
		t.Errorf("dial = %+v", d)
	}
	if len(d.targets) != 2 || d.targets[0].number != "+14155550100" || d.targets[1].sipURI != "sip:bob@127.0.0.1:5070;transport=tcp" || d.targets[1].password != "pw" {
		t.Errorf("targets = %+v", d.targets)
	}
	if d.targets[0].whisper != "" {
		t.Errorf("a noun without url has whisper %q", d.targets[0].whisper)
	}
	tw, err = ParseTwiML([]byte(`<Response><Dial><Number url="/whisper" method="GET">+14155550100</Number><Sip url="https://h.example/screen">sip:bob@h.example</Sip></Dial></Response>`))
	if err != nil {
		t.Fatal(err)
	}
	d = tw.verbs[0].(*dialVerb)
	if a, b := d.targets[0], d.targets[1]; a.whisper != "/whisper" || a.whisperMethod != "GET" || b.whisper != "https://h.example/screen" || b.whisperMethod != "POST" {
		t.Errorf("noun url and method: %+v", d.targets)
	}
}

func TestSIPUserHost(t *testing.T) {
	for uri, want := range map[string][2]string{
		"sip:bob@127.0.0.1:5070;transport=tcp": {"bob", "127.0.0.1:5070"},
		"sip:+14155550100@gw.example.net?x=y":  {"+14155550100", "gw.example.net"},
		"sip:h.example":                        {"", "h.example"},
	} {
		if u, h := sipUserHost(uri); u != want[0] || h != want[1] {
			t.Errorf("sipUserHost(%q) = %q, %q; want %q, %q", uri, u, h, want[0], want[1])
		}
	}
}

// TestTrunkPermissions: a trunk with accounts serves those accounts only; without a name Dial takes
// the first trunk the account may use.
func TestTrunkPermissions(t *testing.T) {
	trunks := []Trunk{
		{Name: "private", URI: "sip:gw1.example.net", Accounts: []string{"acct-a"}},
		{Name: "shared", URI: "sip:gw2.example.net"},
	}
	for _, tc := range []struct{ account, name, want string }{
		{"acct-a", "", "sip:1@gw1.example.net"},
		{"acct-b", "", "sip:1@gw2.example.net"},
		{"acct-a", "shared", "sip:1@gw2.example.net"},
		{"acct-b", "private", ""},
	} {
		ep, err := trunkURI(trunks, tc.name, "1", tc.account)
		switch {
		case tc.want == "" && (err == nil || !strings.Contains(err.Error(), "acct-b")):
			t.Errorf("%s on %q: %+v, %v; want an error naming the account", tc.account, tc.name, ep, err)
		case tc.want != "" && (err != nil || ep.uri != tc.want):
			t.Errorf("%s on %q: %+v, %v; want %s", tc.account, tc.name, ep, err, tc.want)
		}
	}
}

func TestTrunkURIPutsTheNumberOnTheTrunkHost(t *testing.T) {
	trunks := []Trunk{
		{Name: "carrier", URI: "sip:gw.example.net:5060", Username: "u", Password: "p"},
		{Name: "backup", URI: "sip:pivot@10.0.0.9:5080;transport=tcp"},
	}
	for _, tc := range []struct{ name, number, want string }{
		{"", "+14155550100", "sip:+14155550100@gw.example.net:5060"},
		{"backup", "3004", "sip:3004@10.0.0.9:5080;transport=tcp"},
	} {
		ep, err := trunkURI(trunks, tc.name, tc.number, "acct-a")
		if err != nil || ep.uri != tc.want {
			t.Errorf("trunkURI(%q, %q) = %+v, %v; want %s", tc.name, tc.number, ep, err, tc.want)
		}
	}
	if ep, _ := trunkURI(trunks, "", "1", "acct-a"); ep.username != "u" || ep.password != "p" {
		t.Errorf("trunk credentials not carried: %+v", ep)
	}
	if _, err := trunkURI(trunks, "nope", "1", "acct-a"); err == nil {
		t.Error("an unknown trunk name must fail")
	}
	if _, err := trunkURI(nil, "", "1", "acct-a"); err == nil {
		t.Error("a number without trunks must fail")
	}
	// resources dials the caller's Request-URI user when to_did is empty: a hostile one must not
	// move the host or add parameters to the trunk's URI.
	for _, number := range []string{"1000@evil.example", "1000;transport=tcp", "1000?X-Evil=1", "a\r\nX: y", "10 00"} {
		if ep, err := trunkURI(trunks, "", number, "acct-a"); err == nil {
			t.Errorf("trunkURI(%q) = %q, want an error", number, ep.uri)
		}
	}
}
