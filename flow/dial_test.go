package flow_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/pivotua/pivotua/flow"
	"github.com/pivotua/pivotua/flow/flowtest"
	"github.com/pivotua/pivotua/internal/testkit"
)

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
		_, err := flow.ParseTwiML([]byte("<Response>" + tc.doc + "</Response>"))
		var ve *flow.ValidationError
		if !errors.As(err, &ve) || ve.Path != tc.path {
			t.Errorf("%s: err = %v, want a validation error at %s", tc.doc, err, tc.path)
		}
	}
}

func TestKazooDialModulesValidate(t *testing.T) {
	flowtest.MustNode(t, `{"module":"resources","data":{"to_did":"+14155550100","timeout":15}}`)
	flowtest.MustNode(t, `{"module":"resources","data":{}}`)
	flowtest.MustNode(t, `{"module":"sip_uri","data":{"uri":"sip:bob@127.0.0.1:5070","username":"u","password":"p"}}`)
	for _, doc := range []string{
		`{"module":"sip_uri","data":{}}`,
		`{"module":"sip_uri","data":{"uri":"tel:+1"}}`,
		`{"module":"resources","data":{"timeout":0}}`,
		`{"module":"resources","data":{"to_did":"bob@example.com"}}`,
	} {
		n, err := flow.ParseNode([]byte(doc), "")
		if err == nil && len(flow.ValidateNode(n, "")) == 0 {
			t.Errorf("%s validated", doc)
		}
	}
}

// TestDialIsRefusedInACalleeDocument: a Dial noun's url document runs on the callee (parentID set);
// its requests say so, and a <Dial> in it hangs the callee up instead of dialling on.
func TestDialIsRefusedInACalleeDocument(t *testing.T) {
	hook := testkit.NewWebhook(t, testkit.ServeDocs(map[string][2]string{
		"/whisper": {"text/xml", `<Response><Dial><Sip>sip:carol@127.0.0.1:9</Sip></Dial><Say>not reached</Say></Response>`},
	}))
	ch := flowtest.NewChannel()
	c := flowtest.NewCall(t, ch, nil)
	c.RunAsCallee("caller-1@pivotua.test")
	flowtest.Run(t, c, flowtest.MustNode(t, `{"module":"pivot","data":{"voice_url":"`+hook.URL+`/whisper","req_format":"twiml"}}`))
	reqs := hook.Requests()
	if len(reqs) != 1 || reqs[0].Form.Get("Direction") != "outbound-dial" || reqs[0].Form.Get("ParentCallSid") != "caller-1@pivotua.test" {
		t.Fatalf("requests = %+v", reqs)
	}
	if got := strings.Join(ch.Events(), ","); got != "hangup" {
		t.Errorf("events %q, want the callee hung up and nothing played", got)
	}
}

func TestDialWithoutOutboundFailsAndContinues(t *testing.T) {
	hook := testkit.NewWebhook(t, testkit.ServeDocs(map[string][2]string{
		"/voice": {"text/xml", `<Response><Dial action="/after"><Sip>sip:bob@127.0.0.1:9</Sip></Dial></Response>`},
		"/after": {"text/xml", `<Response><Hangup/></Response>`},
	}))
	ch := flowtest.NewChannel()
	c := flowtest.NewCall(t, ch, nil)
	flowtest.Run(t, c, flowtest.MustNode(t, `{"module":"pivot","data":{"voice_url":"`+hook.URL+`/voice","req_format":"twiml"}}`))
	reqs := hook.Requests()
	if len(reqs) != 2 || reqs[1].Path != "/after" || reqs[1].Form.Get("DialCallStatus") != "failed" || reqs[1].Method != "POST" {
		t.Fatalf("requests = %+v", reqs)
	}
	if strings.Contains(strings.Join(ch.Events(), ","), "bridge") {
		t.Errorf("events %v", ch.Events())
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
		_, err := flow.ParseTwiML([]byte("<Response>" + tc.doc + "</Response>"))
		var ve *flow.ValidationError
		if !errors.As(err, &ve) || ve.Path != tc.path || !strings.Contains(ve.Message, tc.msg) {
			t.Errorf("%s: err = %v, want a validation error at %s saying %q", tc.doc, err, tc.path, tc.msg)
		}
	}
	// Twilio's <Sip> URI may carry headers (?X-H=v); that stays as it is.
	for _, ok := range []string{
		`<Dial callerId="+14155550100"><Sip>sip:bob@h.example?X-Ref=42</Sip></Dial>`,
		`<Dial callerId="alice.smith"><Number>+1415</Number></Dial>`,
	} {
		if _, err := flow.ParseTwiML([]byte("<Response>" + ok + "</Response>")); err != nil {
			t.Errorf("%s: %v", ok, err)
		}
	}
	for _, tc := range []struct{ doc, path string }{
		{`{"module":"sip_uri","data":{"uri":"sip:bob@h.example\r\nX-Evil: 1"}}`, "data.uri"},
		{`{"module":"sip_uri","data":{"uri":"sip:bob@h.example","username":"u\r\nX-Evil: 1"}}`, "data.username"},
		{`{"module":"sip_uri","data":{"uri":"sip:bob@h.example","password":"p\n"}}`, "data.password"},
		{`{"module":"resources","data":{"to_did":"+1415\r\nX-Evil: 1"}}`, "data.to_did"},
	} {
		n, err := flow.ParseNode([]byte(tc.doc), "")
		if err != nil {
			t.Fatal(err)
		}
		errs := flow.ValidateNode(n, "")
		var ve *flow.ValidationError
		if len(errs) != 1 || !errors.As(errs[0], &ve) || ve.Path != tc.path || !strings.Contains(ve.Message, "control characters") {
			t.Errorf("%s: errors = %v, want one at %s about control characters", tc.doc, errs, tc.path)
		}
	}
}

// TestDialAllowsAtMostTenNouns: Twilio's limit on <Number> and <Sip> nouns in one <Dial>.
func TestDialAllowsAtMostTenNouns(t *testing.T) {
	nouns := strings.Repeat(`<Number>+14155550100</Number>`, 5) + strings.Repeat(`<Sip>sip:b@h.example</Sip>`, 5)
	if _, err := flow.ParseTwiML([]byte(`<Response><Dial>` + nouns + `</Dial></Response>`)); err != nil {
		t.Fatalf("10 nouns: %v", err)
	}
	_, err := flow.ParseTwiML([]byte(`<Response><Dial>` + nouns + `<Sip>sip:c@h.example</Sip></Dial></Response>`))
	var ve *flow.ValidationError
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
	ch := flowtest.NewChannel()
	var log eventLog
	deps := eventDeps(t, &log)
	deps.Dial.Trunks = []flow.Trunk{{Name: "carrier", URI: "sip:gw.example.net", Accounts: []string{"someone-else"}}}
	c := flow.NewCall(ch, flowtest.AccountID, flowtest.SigningKey, deps)
	flowtest.Run(t, c, flowtest.MustNode(t, flowtest.PivotFlow(hook.URL+"/voice", `,"req_format":"twiml","debug":true`, false)))
	reqs := hook.Requests()
	if len(reqs) != 2 || reqs[1].Form.Get("DialCallStatus") != "failed" {
		t.Fatalf("requests = %+v", reqs)
	}
	reason, _ := log.find(t, flow.EventDial).Data["reason"].(string)
	if !strings.Contains(reason, `trunk "carrier"`) || !strings.Contains(reason, flowtest.AccountID) {
		t.Errorf("dial event reason = %q, want it to name the trunk and the account", reason)
	}
}
