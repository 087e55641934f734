package flow_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/pivotua/pivotua/flow"
	"github.com/pivotua/pivotua/flow/flowtest"
	"github.com/pivotua/pivotua/internal/testkit"
	"github.com/pivotua/pivotua/sip"
)

// TestReferReportsTwilioParametersToTheAction: the action gets ReferCallStatus (completed only for
// an accepted REFER whose NOTIFY said 2xx) and ReferSipResponseCode (the NOTIFY's status, else the
// REFER's final response), and its document runs.
func TestReferReportsTwilioParametersToTheAction(t *testing.T) {
	app := testkit.NewWebhook(t, testkit.ServeDocs(map[string][2]string{
		"/voice": {"text/xml", `<Response><Refer action="/after"><Sip>sip:alice@example.com?X-Ticket=42</Sip></Refer><Say>not reached</Say></Response>`},
		"/after": {"text/xml", `<Response><Hangup/></Response>`},
	}))
	for _, tc := range []struct {
		name         string
		res          sip.ReferResult
		err          error
		status, code string
	}{
		{"accepted, NOTIFY 200", sip.ReferResult{ReferStatus: 202, NotifyStatus: 200}, nil, "completed", "200"},
		{"accepted, NOTIFY 486", sip.ReferResult{ReferStatus: 202, NotifyStatus: 486}, nil, "failed", "486"},
		{"declined", sip.ReferResult{ReferStatus: 603}, nil, "failed", "603"},
		{"no NOTIFY in time", sip.ReferResult{ReferStatus: 202}, nil, "failed", "202"},
		{"no answer at all", sip.ReferResult{}, errors.New("REFER: timeout"), "failed", ""},
		{"a 1xx ended the subscription", sip.ReferResult{ReferStatus: 202, NotifyStatus: 180}, nil, "failed", "180"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			app.Reset()
			ch := flowtest.NewChannel()
			ch.SetRefer(tc.res, tc.err)
			flowtest.Run(t, flowtest.NewCall(t, ch, nil), flowtest.MustNode(t, flowtest.PivotFlow(app.URL+"/voice", `,"req_format":"twiml","method":"post"`, false)))
			flowtest.EqualEvents(t, ch.Kinds(), []string{"answer", "refer sip:alice@example.com?X-Ticket=42", "hangup"})
			forms := app.Forms("/after")
			if len(forms) != 1 {
				t.Fatalf("action requested %d times", len(forms))
			}
			if got := forms[0].Get("ReferCallStatus"); got != tc.status {
				t.Errorf("ReferCallStatus %q, want %q", got, tc.status)
			}
			if got, ok := forms[0]["ReferSipResponseCode"]; strings.Join(got, ",") != tc.code || ok != (tc.code != "") {
				t.Errorf("ReferSipResponseCode %q, want %q", got, tc.code)
			}
			if first := app.Forms("/voice")[0]; first.Has("ReferCallStatus") {
				t.Errorf("the first request has ReferCallStatus: %v", first)
			}
		})
	}
}

// TestReferWithoutAction: a completed transfer ends the document (the caller is gone to the target);
// a failed one goes on with the next verb.
func TestReferWithoutAction(t *testing.T) {
	app := testkit.NewWebhook(t, testkit.ServeDocs(map[string][2]string{
		"/voice": {"text/xml", `<Response><Refer><Sip>sips:desk@pbx.example.com;transport=tls</Sip></Refer><Say>transfer failed</Say></Response>`},
	}))
	for _, tc := range []struct {
		res  sip.ReferResult
		want []string
	}{
		{sip.ReferResult{ReferStatus: 202, NotifyStatus: 200}, []string{"answer", "refer sips:desk@pbx.example.com;transport=tls", "hangup"}},
		{sip.ReferResult{ReferStatus: 403}, []string{"answer", "refer sips:desk@pbx.example.com;transport=tls", "play", "hangup"}},
	} {
		ch := flowtest.NewChannel()
		ch.SetRefer(tc.res, nil)
		flowtest.Run(t, flowtest.NewCall(t, ch, nil), flowtest.MustNode(t, flowtest.PivotFlow(app.URL+"/voice", `,"req_format":"twiml"`, false)))
		flowtest.EqualEvents(t, ch.Kinds(), tc.want)
	}
}

// TestReferValidation: the <Sip> URI comes from a webhook and goes into a Refer-To header.
func TestReferValidation(t *testing.T) {
	for _, tc := range []struct{ doc, want string }{
		{`<Refer/>`, "Response/Refer[1]: a <Sip> is required"},
		{`<Refer><Sip>tel:+14155550100</Sip></Refer>`, "Response/Refer[1]/Sip[1]: unusable REFER target: not a sip: or sips: URI"},
		{`<Refer><Sip>sip:a@b&#13;&#10;Route: x</Sip></Refer>`, "Response/Refer[1]/Sip[1]: control character in a SIP value"},
		{`<Refer><Sip>sip:a@b&gt;;x=y</Sip></Refer>`, `unusable REFER target: '>' at byte 7`},
		{`<Refer><Sip>sip:a@b?Replaces=abc</Sip></Refer>`, `header "Replaces": only X- headers and User-to-User`},
		{`<Refer><Sip>sip:a@b?Route=%3Csip:x%3E</Sip></Refer>`, `header "Route"`},
		{`<Refer><Sip>sip:a@` + strings.Repeat("h", 1100) + `</Sip></Refer>`, "bytes, over 1024"},
		{`<Refer><Sip>sip:a@b</Sip><Sip>sip:c@d</Sip></Refer>`, "Response/Refer[1]/Sip[2]: <Refer> takes one <Sip>"},
		{`<Refer><Number>+1415</Number></Refer>`, "<Number> is not supported in <Refer>"},
		{`<Refer action="ftp://x"><Sip>sip:a@b</Sip></Refer>`, "Response/Refer[1]@action"},
		{`<Refer>text<Sip>sip:a@b</Sip></Refer>`, "must not contain text"},
	} {
		_, err := flow.ParseTwiML([]byte(`<Response>` + tc.doc + `</Response>`))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want one with %q", tc.doc, err, tc.want)
		}
	}
	if _, err := flow.ParseTwiML([]byte(`<Response><Refer action="/a" method="GET"><Sip>sip:alice@example.com?X-A=1&amp;User-to-User=56a390f3%3Bencoding%3Dhex</Sip></Refer></Response>`)); err != nil {
		t.Errorf("a valid <Refer>: %v", err)
	}
}

// TestReferParametersAreReportedOnce: like a Dial's result, the <Refer> outcome goes with the request
// after it only.
func TestReferParametersAreReportedOnce(t *testing.T) {
	app := testkit.NewWebhook(t, testkit.ServeDocs(map[string][2]string{
		"/voice": {"text/xml", `<Response><Refer action="/after"><Sip>sip:alice@example.com</Sip></Refer></Response>`},
		"/after": {"text/xml", `<Response><Redirect>/third</Redirect></Response>`},
		"/third": {"text/xml", `<Response><Hangup/></Response>`},
	}))
	ch := flowtest.NewChannel()
	ch.SetRefer(sip.ReferResult{ReferStatus: 603}, nil)
	flowtest.Run(t, flowtest.NewCall(t, ch, nil), flowtest.MustNode(t, flowtest.PivotFlow(app.URL+"/voice", `,"req_format":"twiml"`, false)))
	if after := app.Forms("/after"); len(after) != 1 || after[0].Get("ReferCallStatus") != "failed" {
		t.Fatalf("action requests %v", after)
	}
	third := app.Forms("/third")
	if len(third) != 1 || third[0].Has("ReferCallStatus") || third[0].Has("ReferSipResponseCode") {
		t.Errorf("the request after the action has the Refer parameters again: %v", third)
	}
}
