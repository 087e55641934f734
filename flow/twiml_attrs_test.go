package flow_test

import (
	"errors"
	"io"
	"net/http"
	"os"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/pivotua/pivotua/flow"
	"github.com/pivotua/pivotua/flow/flowtest"
	"github.com/pivotua/pivotua/internal/testkit"
)

// TestTwiMLAttrsRefusedOrIgnored: an attribute Twilio defines that pivotua does not honour is a
// schema error naming the verb and the attribute (its default value that asks for what pivotua does
// is accepted); an attribute that is not Twilio's is ignored, as Twilio ignores it.
func TestTwiMLAttrsRefusedOrIgnored(t *testing.T) {
	for _, tc := range []struct{ doc, want string }{
		{`<Record storageUrl="https://s.example/x"/>`, "Response/Record[1]@storageUrl: <Record storageUrl> is not supported by pivotua"},
		{`<Dial sequential="true"><Sip>sip:a@b</Sip></Dial>`, "Response/Dial[1]@sequential: <Dial sequential> is not supported"},
		{`<Dial recordingTrack="inbound"><Sip>sip:a@b</Sip></Dial>`, "Response/Dial[1]@recordingTrack: <Dial recordingTrack> is not supported"},
		{`<Dial callReason="Sales"><Sip>sip:a@b</Sip></Dial>`, "Response/Dial[1]@callReason"},
		{`<Dial referUrl="/r"><Sip>sip:a@b</Sip></Dial>`, "Response/Dial[1]@referUrl"},
		{`<Dial strategy="single"><Sip>sip:a@b</Sip></Dial>`, "Response/Dial[1]@strategy"},
		{`<Dial><Number byoc="BYxx">+14155550100</Number></Dial>`, "Response/Dial[1]/Number[1]@byoc"},
		{`<Dial><Sip amdStatusCallback="/amd">sip:a@b</Sip></Dial>`, "Response/Dial[1]/Sip[1]@amdStatusCallback: <Sip amdStatusCallback> is not supported by pivotua: answering machine detection"},
		{`<Dial><Sip statusCallback="/s" statusCallbackEvent="initiated bogus">sip:a@b</Sip></Dial>`, "Response/Dial[1]/Sip[1]@statusCallbackEvent: must be initiated, ringing, answered and/or completed"},
		{`<Dial recordingStatusCallbackEvent="done"><Sip>sip:a@b</Sip></Dial>`, "Response/Dial[1]@recordingStatusCallbackEvent: must be in-progress, completed and/or absent"},
		{`<Record recordingStatusCallback="ftp://x/y"/>`, "Response/Record[1]@recordingStatusCallback: must be an http or https URL"},
		{`<Dial trim="yes"><Sip>sip:a@b</Sip></Dial>`, "Response/Dial[1]@trim: must be one of trim-silence, do-not-trim"},
	} {
		_, err := flow.ParseTwiML([]byte(`<Response>` + tc.doc + `</Response>`))
		var ve *flow.ValidationError
		if !errors.As(err, &ve) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want a validation error with %q", tc.doc, err, tc.want)
		}
	}
	for _, doc := range []string{
		`<Dial sequential="false" recordingTrack="both" trim="trim-silence" record="record-from-ringing-dual"><Sip statusCallback="/s" statusCallbackEvent="initiated ringing answered completed" statusCallbackMethod="GET">sip:a@b</Sip></Dial>`,
		`<Dial continueOnFail="false" hangupOn="#" strategy="simultaneous" recordingStatusCallback="/r" recordingStatusCallbackEvent="in-progress,completed"><Number statusCallback="/s">+14155550100</Number></Dial>`,
		`<Hangup reason="x"/><Refer timeout="5"><Sip>sip:a@b</Sip></Refer><Say voise="alice">hi</Say>`,
		`<Record recordingStatusCallback="/r" recordingStatusCallbackMethod="GET" recordingStatusCallbackEvent="in-progress completed absent"/>`,
	} {
		if _, err := flow.ParseTwiML([]byte(`<Response>` + doc + `</Response>`)); err != nil {
			t.Errorf("%s: %v", doc, err)
		}
	}
}

// TestTwiMLAttrsIgnoredAreWarningEvents: a document with attributes that are not Twilio's runs, and
// each is a warning event in the call's records naming the verb, its path and the attribute.
func TestTwiMLAttrsIgnoredAreWarningEvents(t *testing.T) {
	app := testkit.NewWebhook(t, func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/xml")
		io.WriteString(w, `<Response><Say voise="alice">hi</Say><Hangup reason="done"/></Response>`)
	})
	ch := flowtest.NewChannel()
	deps := flowtest.Deps(t, nil)
	var mu sync.Mutex
	var warnings []map[string]any
	deps.Events = func(ev flow.Event) {
		mu.Lock()
		defer mu.Unlock()
		if ev.Name == flow.EventWarning {
			warnings = append(warnings, ev.Data)
		}
	}
	c := flow.NewCall(ch, flowtest.AccountID, flowtest.SigningKey, deps)
	flowtest.Run(t, c, flowtest.MustNode(t, flowtest.PivotFlow(app.URL+"/ivr", `,"req_format":"twiml","debug":true`, false)))
	mu.Lock()
	defer mu.Unlock()
	if len(warnings) != 2 || warnings[0]["verb"] != "Say" || warnings[0]["path"] != "Response/Say[1]@voise" ||
		warnings[0]["message"] != "<Say voise> is ignored: not a TwiML attribute" || warnings[1]["path"] != "Response/Hangup[1]@reason" {
		t.Errorf("warning events %v", warnings)
	}
	flowtest.EqualEvents(t, ch.Kinds(), []string{"answer", "play", "hangup"})
}

// TestTwiMLAttrsREADMEListsEveryRefusal: README's attribute table names every attribute pivotua refuses
// as refused, so the list a porter reads is the one the parser applies.
func TestTwiMLAttrsREADMEListsEveryRefusal(t *testing.T) {
	readme, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	for verb, attrs := range flow.RefusedTwiMLAttrs() {
		for _, attr := range attrs {
			row := regexp.MustCompile(`(?m)^\| ` + "`" + verb + "`" + ` \| ` + "`" + regexp.QuoteMeta(attr) + "`" + ` \| refused`)
			if !row.Match(readme) {
				t.Errorf("README has no row | `%s` | `%s` | refused ...", verb, attr)
			}
		}
	}
}

// TestTwiMLAttrsDialRecordingAttributesAreRefusedWithAConference: a <Dial>'s recording attributes do
// nothing for a <Conference> (the noun records the room), so they are refused there, not ignored.
func TestTwiMLAttrsDialRecordingAttributesAreRefusedWithAConference(t *testing.T) {
	for _, attr := range []string{`trim="trim-silence"`, `recordingStatusCallback="/r"`} {
		_, err := flow.ParseTwiML([]byte(`<Response><Dial ` + attr + `><Conference>room</Conference></Dial></Response>`))
		if err == nil || !strings.Contains(err.Error(), "is not supported with <Conference>") {
			t.Errorf("%s: error %v", attr, err)
		}
	}
}
