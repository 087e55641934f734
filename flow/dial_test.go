package flow

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/pivotua/pivotua/internal/testkit"
	"github.com/pivotua/pivotua/sip"
)

func TestTrunkURIPutsTheNumberOnTheTrunkHost(t *testing.T) {
	trunks := []Trunk{
		{Name: "carrier", URI: "sip:gw.example.net:5060", Username: "u", Password: "p"},
		{Name: "backup", URI: "sip:pivot@10.0.0.9:5080;transport=tcp"},
	}
	for _, tc := range []struct{ name, number, want string }{
		{"", "+14155550100", "sip:+14155550100@gw.example.net:5060"},
		{"backup", "3004", "sip:3004@10.0.0.9:5080;transport=tcp"},
	} {
		ep, err := trunkURI(trunks, tc.name, tc.number, testAccountID)
		if err != nil || ep.uri != tc.want {
			t.Errorf("trunkURI(%q, %q) = %+v, %v; want %s", tc.name, tc.number, ep, err, tc.want)
		}
	}
	if ep, _ := trunkURI(trunks, "", "1", testAccountID); ep.username != "u" || ep.password != "p" {
		t.Errorf("trunk credentials not carried: %+v", ep)
	}
	if _, err := trunkURI(trunks, "nope", "1", testAccountID); err == nil {
		t.Error("an unknown trunk name must fail")
	}
	if _, err := trunkURI(nil, "", "1", testAccountID); err == nil {
		t.Error("a number without trunks must fail")
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

func TestDialValidation(t *testing.T) {
	for _, tc := range []struct{ doc, path string }{
		{`<Dial/>`, "Response/Dial[1]"},
		{`<Dial record="always">1</Dial>`, "Response/Dial[1]@record"},
		{`<Dial timeout="0">1</Dial>`, "Response/Dial[1]@timeout"},
		{`<Dial><Sip>tel:+1</Sip></Dial>`, "Response/Dial[1]/Sip[1]"},
		{`<Dial><Sip>sip:</Sip></Dial>`, "Response/Dial[1]/Sip[1]"},
		{`<Dial><Number>sip:x@y</Number></Dial>`, "Response/Dial[1]/Number[1]"},
		{`<Dial><Client>bob</Client></Dial>`, "Response/Dial[1]/Client[1]"},
		{`<Dial><Number url="ftp://h/x">1</Number></Dial>`, "Response/Dial[1]/Number[1]@url"},
		{`<Dial><Sip method="PUT" url="/x">sip:b@h</Sip></Dial>`, "Response/Dial[1]/Sip[1]@method"},
	} {
		_, err := ParseTwiML([]byte("<Response>" + tc.doc + "</Response>"))
		var ve *ValidationError
		if !errors.As(err, &ve) || ve.Path != tc.path {
			t.Errorf("%s: err = %v, want a validation error at %s", tc.doc, err, tc.path)
		}
	}
}

func TestKazooDialModulesValidate(t *testing.T) {
	mustNode(t, `{"module":"resources","data":{"to_did":"+14155550100","timeout":15}}`)
	mustNode(t, `{"module":"resources","data":{}}`)
	mustNode(t, `{"module":"sip_uri","data":{"uri":"sip:bob@127.0.0.1:5070","username":"u","password":"p"}}`)
	for _, doc := range []string{
		`{"module":"sip_uri","data":{}}`,
		`{"module":"sip_uri","data":{"uri":"tel:+1"}}`,
		`{"module":"resources","data":{"timeout":0}}`,
		`{"module":"resources","data":{"to_did":"bob@example.com"}}`,
	} {
		n, err := ParseNode([]byte(doc), "")
		if err == nil && len(ValidateNode(n, "")) == 0 {
			t.Errorf("%s validated", doc)
		}
	}
}

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

// TestDialIsRefusedInACalleeDocument: a Dial noun's url document runs on the callee (parentID set);
// its requests say so, and a <Dial> in it hangs the callee up instead of dialling on.
func TestDialIsRefusedInACalleeDocument(t *testing.T) {
	hook := testkit.NewWebhook(t, testkit.ServeDocs(map[string][2]string{
		"/whisper": {"text/xml", `<Response><Dial><Sip>sip:carol@127.0.0.1:9</Sip></Dial><Say>not reached</Say></Response>`},
	}))
	ch := newFakeChannel()
	c := newTestCall(t, ch, nil)
	c.answered, c.pivot.parentID = true, "caller-1@pivotua.test"
	runFlow(t, c, mustNode(t, `{"module":"pivot","data":{"voice_url":"`+hook.URL+`/whisper","req_format":"twiml"}}`))
	reqs := hook.Requests()
	if len(reqs) != 1 || reqs[0].Form.Get("Direction") != "outbound-dial" || reqs[0].Form.Get("ParentCallSid") != "caller-1@pivotua.test" {
		t.Fatalf("requests = %+v", reqs)
	}
	if got := strings.Join(ch.events, ","); got != "hangup" {
		t.Errorf("events %q, want the callee hung up and nothing played", got)
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

func TestDialWithoutOutboundFailsAndContinues(t *testing.T) {
	hook := testkit.NewWebhook(t, testkit.ServeDocs(map[string][2]string{
		"/voice": {"text/xml", `<Response><Dial action="/after"><Sip>sip:bob@127.0.0.1:9</Sip></Dial></Response>`},
		"/after": {"text/xml", `<Response><Hangup/></Response>`},
	}))
	ch := newFakeChannel()
	c := newTestCall(t, ch, nil)
	runFlow(t, c, mustNode(t, `{"module":"pivot","data":{"voice_url":"`+hook.URL+`/voice","req_format":"twiml"}}`))
	reqs := hook.Requests()
	if len(reqs) != 2 || reqs[1].Path != "/after" || reqs[1].Form.Get("DialCallStatus") != "failed" || reqs[1].Method != "POST" {
		t.Fatalf("requests = %+v", reqs)
	}
	if strings.Contains(strings.Join(ch.events, ","), "bridge") {
		t.Errorf("events %v", ch.events)
	}
}

// TestDialRefusesSIPHeaderInjection: every document value that reaches an outbound INVITE (Request-URI,
// From user, digest username) is refused when it carries control characters, so a webhook cannot add
// header lines; callerId must be an E.164 number or a SIP user. The error names the attribute.
func TestDialRefusesSIPHeaderInjection(t *testing.T) {
	for _, tc := range []struct{ doc, path, msg string }{
		{`<Dial callerId="1&#13;&#10;P-Asserted-Identity: &lt;sip:boss@evil&gt;"><Number>+1415</Number></Dial>`, "Response/Dial[1]@callerId", "control characters"},
		{`<Dial callerId="&lt;sip:boss@evil&gt;"><Number>+1415</Number></Dial>`, "Response/Dial[1]@callerId", "E.164"},
		{`<Dial callerId="+1 415;x=y"><Number>+1415</Number></Dial>`, "Response/Dial[1]@callerId", "E.164"},
		{`<Dial><Sip>sip:bob@h.example&#13;&#10;X-Evil: 1</Sip></Dial>`, "Response/Dial[1]/Sip[1]", "control characters"},
		{`<Dial><Sip>sip:bob@h.example?X-H=a&#10;b</Sip></Dial>`, "Response/Dial[1]/Sip[1]", "control characters"},
		{`<Dial><Sip username="u&#13;&#10;X-Evil: 1">sip:bob@h.example</Sip></Dial>`, "Response/Dial[1]/Sip[1]@username", "control characters"},
		{`<Dial><Sip password="p&#9;">sip:bob@h.example</Sip></Dial>`, "Response/Dial[1]/Sip[1]@password", "control characters"},
		{`<Dial><Number>+1415&#13;&#10;X-Evil: 1</Number></Dial>`, "Response/Dial[1]/Number[1]", "control characters"},
		{`<Dial>+1415&#10;X-Evil:1</Dial>`, "Response/Dial[1]", "control characters"},
	} {
		_, err := ParseTwiML([]byte("<Response>" + tc.doc + "</Response>"))
		var ve *ValidationError
		if !errors.As(err, &ve) || ve.Path != tc.path || !strings.Contains(ve.Message, tc.msg) {
			t.Errorf("%s: err = %v, want a validation error at %s saying %q", tc.doc, err, tc.path, tc.msg)
		}
	}
	// Twilio's <Sip> URI may carry headers (?X-H=v); that stays as it is.
	for _, ok := range []string{
		`<Dial callerId="+14155550100"><Sip>sip:bob@h.example?X-Ref=42</Sip></Dial>`,
		`<Dial callerId="alice.smith"><Number>+1415</Number></Dial>`,
	} {
		if _, err := ParseTwiML([]byte("<Response>" + ok + "</Response>")); err != nil {
			t.Errorf("%s: %v", ok, err)
		}
	}
	for _, tc := range []struct{ doc, path string }{
		{`{"module":"sip_uri","data":{"uri":"sip:bob@h.example\r\nX-Evil: 1"}}`, "data.uri"},
		{`{"module":"sip_uri","data":{"uri":"sip:bob@h.example","username":"u\r\nX-Evil: 1"}}`, "data.username"},
		{`{"module":"sip_uri","data":{"uri":"sip:bob@h.example","password":"p\n"}}`, "data.password"},
		{`{"module":"resources","data":{"to_did":"+1415\r\nX-Evil: 1"}}`, "data.to_did"},
	} {
		n, err := ParseNode([]byte(tc.doc), "")
		if err != nil {
			t.Fatal(err)
		}
		errs := ValidateNode(n, "")
		var ve *ValidationError
		if len(errs) != 1 || !errors.As(errs[0], &ve) || ve.Path != tc.path || !strings.Contains(ve.Message, "control characters") {
			t.Errorf("%s: errors = %v, want one at %s about control characters", tc.doc, errs, tc.path)
		}
	}
}

// TestDialAllowsAtMostTenNouns: Twilio's limit on <Number> and <Sip> nouns in one <Dial>.
func TestDialAllowsAtMostTenNouns(t *testing.T) {
	nouns := strings.Repeat(`<Number>+14155550100</Number>`, 5) + strings.Repeat(`<Sip>sip:b@h.example</Sip>`, 5)
	if _, err := ParseTwiML([]byte(`<Response><Dial>` + nouns + `</Dial></Response>`)); err != nil {
		t.Fatalf("10 nouns: %v", err)
	}
	_, err := ParseTwiML([]byte(`<Response><Dial>` + nouns + `<Sip>sip:c@h.example</Sip></Dial></Response>`))
	var ve *ValidationError
	if !errors.As(err, &ve) || ve.Path != "Response/Dial[1]" || !strings.Contains(ve.Message, "10") {
		t.Errorf("11 nouns: err = %v, want a validation error at Response/Dial[1] naming the limit", err)
	}
}

// TestDialRefusesATrunkTheAccountMayNotUse: a trunk open to other accounts only is not dialled; the
// Dial fails (DialCallStatus=failed) and its debug event says why.
func TestDialRefusesATrunkTheAccountMayNotUse(t *testing.T) {
	hook := testkit.NewWebhook(t, testkit.ServeDocs(map[string][2]string{
		"/voice": {"text/xml", `<Response><Dial trunk="carrier" action="/after">+14155550100</Dial></Response>`},
		"/after": {"text/xml", `<Response><Hangup/></Response>`},
	}))
	ch := newFakeChannel()
	var log eventLog
	c := eventCall(t, ch, &log)
	c.deps.Dial.Trunks = []Trunk{{Name: "carrier", URI: "sip:gw.example.net", Accounts: []string{"someone-else"}}}
	runFlow(t, c, mustNode(t, pivotFlow(hook.URL+"/voice", `,"req_format":"twiml","debug":true`, false)))
	reqs := hook.Requests()
	if len(reqs) != 2 || reqs[1].Form.Get("DialCallStatus") != "failed" {
		t.Fatalf("requests = %+v", reqs)
	}
	reason, _ := log.find(t, EventDial).Data["reason"].(string)
	if !strings.Contains(reason, `trunk "carrier"`) || !strings.Contains(reason, testAccountID) {
		t.Errorf("dial event reason = %q, want it to name the trunk and the account", reason)
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
