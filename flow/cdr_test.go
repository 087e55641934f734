package flow_test

import (
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/pivotua/pivotua/flow"
	"github.com/pivotua/pivotua/flow/flowtest"
	"github.com/pivotua/pivotua/httpfetch"
	"github.com/pivotua/pivotua/internal/testkit"
)

// TestCDRIsPostedWhenTheCallEnds: a pivot with cdr_url gets the call's record, as Kazoo's pivot POSTs
// CHANNEL_DESTROY: after the hangup, form-encoded under Kazoo's names, signed, and kept as a debug
// record when debug is on; for answered and for refused calls, and for Kazoo JSON documents too.
func TestCDRIsPostedWhenTheCallEnds(t *testing.T) {
	for _, tc := range []struct {
		name, ctype, doc                   string
		code, cause, disposition, hangupBy string
	}{
		{"answered twiml", "text/xml", `<Response><Say>hi</Say><Hangup/></Response>`, "sip:200", "NORMAL_CLEARING", "ANSWER", "pivotua"},
		{"refused twiml", "text/xml", `<Response><Reject reason="busy"/></Response>`, "sip:486", "USER_BUSY", "NO_ANSWER", "pivotua"},
		{"kazoo json", "application/json", `{"module":"tts","data":{"text":"hi"}}`, "sip:200", "NORMAL_CLEARING", "ANSWER", "pivotua"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			docs := testkit.ServeDocs(map[string][2]string{"/voice": {tc.ctype, tc.doc}})
			app := testkit.NewWebhook(t, func(w http.ResponseWriter, r *http.Request) {
				if r.URL.Path == "/cdr" {
					w.WriteHeader(http.StatusNoContent)
					return
				}
				docs(w, r)
			})
			var got flowtest.Exchanges
			ch := flowtest.NewChannel()
			start := time.Now()
			flowtest.Run(t, flowtest.NewCall(t, ch, got.Add), flowtest.MustNode(t, flowtest.PivotFlow(app.URL+"/voice", `,"cdr_url":"`+app.URL+`/cdr","debug":true`, false)))
			reqs := app.Requests()
			if len(reqs) != 2 || reqs[1].Path != "/cdr" || reqs[1].Method != "POST" {
				t.Fatalf("requests %+v, want the document then the CDR", reqs)
			}
			cdr := reqs[1]
			if ct := cdr.Header.Get("Content-Type"); ct != "application/x-www-form-urlencoded" {
				t.Errorf("Content-Type %q", ct)
			}
			if cdr.Header.Get(httpfetch.HeaderTwilioSignature) == "" || cdr.Header.Get(httpfetch.HeaderPivotSignature) == "" {
				t.Errorf("the CDR is not signed: %v", cdr.Header)
			}
			for k, want := range map[string]string{
				"Event-Name": "CHANNEL_DESTROY", "Event-Category": "call_event", "Call-ID": "call-1@pivotua.test",
				"Account-ID": flowtest.AccountID, "Caller-ID-Number": "alice", "Call-Direction": "inbound",
				"Hangup-Code": tc.code, "Hangup-Cause": tc.cause, "Disposition": tc.disposition, "Hangup-By": tc.hangupBy,
			} {
				if v := cdr.Form.Get(k); v != want {
					t.Errorf("%s = %q, want %q", k, v, want)
				}
			}
			ts, _ := strconv.ParseInt(cdr.Form.Get("Timestamp"), 10, 64)
			if unix := ts - flow.GregorianOffset; unix < start.Unix() || unix > time.Now().Unix() {
				t.Errorf("Timestamp %d is not the end of the call in Gregorian seconds", ts)
			}
			if _, err := strconv.Atoi(cdr.Form.Get("Billing-Seconds")); err != nil {
				t.Errorf("Billing-Seconds %q", cdr.Form.Get("Billing-Seconds"))
			}
			ex := got.All()
			if len(ex) != 2 || ex[1].URL != app.URL+"/cdr" || ex[1].Status != http.StatusNoContent || ex[1].Iteration != 2 {
				t.Errorf("debug records %+v, want the CDR exchange second", ex)
			}
		})
	}
}

func TestNoCDRWithoutCDRURL(t *testing.T) {
	app := testkit.NewWebhook(t, testkit.ServeDocs(map[string][2]string{"/voice": {"text/xml", `<Response><Hangup/></Response>`}}))
	flowtest.Run(t, flowtest.NewCall(t, flowtest.NewChannel(), nil), flowtest.MustNode(t, flowtest.PivotFlow(app.URL+"/voice", "", false)))
	if reqs := app.Requests(); len(reqs) != 1 {
		t.Errorf("requests %+v, want only the document", reqs)
	}
}
