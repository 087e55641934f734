package flow

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

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
		ep, err := trunkURI(trunks, tc.name, tc.number)
		if err != nil || ep.uri != tc.want {
			t.Errorf("trunkURI(%q, %q) = %+v, %v; want %s", tc.name, tc.number, ep, err, tc.want)
		}
	}
	if ep, _ := trunkURI(trunks, "", "1"); ep.username != "u" || ep.password != "p" {
		t.Errorf("trunk credentials not carried: %+v", ep)
	}
	if _, err := trunkURI(trunks, "nope", "1"); err == nil {
		t.Error("an unknown trunk name must fail")
	}
	if _, err := trunkURI(nil, "", "1"); err == nil {
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
	hook := newWebhook(t, serveDocs(map[string][2]string{
		"/whisper": {"text/xml", `<Response><Dial><Sip>sip:carol@127.0.0.1:9</Sip></Dial><Say>not reached</Say></Response>`},
	}))
	ch := newFakeChannel()
	c := newTestCall(t, ch, nil)
	c.answered, c.parentID = true, "caller-1@pivotua.test"
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
	hook := newWebhook(t, serveDocs(map[string][2]string{
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
