package flow

import (
	"errors"
	"slices"
	"strings"
	"testing"
)

func TestParseTwiMLReportsEveryProblemWithItsPath(t *testing.T) {
	tests := []struct {
		name string
		doc  string
		want []string
	}{
		{"valid", `<?xml version="1.0" encoding="UTF-8"?><Response><Say voice="alice" language="en-GB" loop="2">Hi</Say><Play loop="0">a.wav</Play><Pause length="3"/><Set><Variable key="k" value="v"/></Set><Redirect method="get">next</Redirect><Reject reason="busy"/><Hangup/></Response>`, nil},
		{"bad loop", `<Response><Say>a</Say><Say loop="-1">b</Say></Response>`, []string{"Response/Say[2]@loop: must be a non-negative integer"}},
		{"bad voice and language", `<Response><Say voice="robot" language="english!">a</Say></Response>`, []string{
			"Response/Say[1]@voice: must be man, woman, male, female, alice, Polly.* or Google.*",
			"Response/Say[1]@language: must be a language tag like en-US"}},
		{"empty say", `<Response><Say> </Say></Response>`, []string{"Response/Say[1]: text required"}},
		{"ssml", `<Response><Say>a<break time="soon"/></Say></Response>`, []string{`Response/Say[1]/break[1]@time: must be a time such as "500ms" or "1s"`}},
		{"unknown verb", `<Response><Sms>hi</Sms></Response>`, []string{"Response/Sms[1]: unknown verb <Sms>"}},
		{"an attribute Twilio defines and pivotua does not honour", `<Response><Hangup/><Dial sequential="true" recordingTrack="both"><Number byoc="BY1" machineDetection="Enable">+14155550100</Number></Dial></Response>`, []string{
			`Response/Dial[1]@sequential: <Dial sequential> is not supported by pivotua: every target rings at once (sequential="false" is accepted)`,
			"Response/Dial[1]/Number[1]@byoc: <Number byoc> is not supported by pivotua: numbers go through the trunks of the config (Dial's trunk attribute picks one)",
			"Response/Dial[1]/Number[1]@machineDetection: <Number machineDetection> is not supported by pivotua: answering machine detection is not supported"}},
		{"hangup content", `<Response><Hangup>now</Hangup></Response>`, []string{"Response/Hangup[1]: <Hangup> must not contain text"}},
		{"nesting", `<Response><Pause><Say>x</Say></Pause></Response>`, []string{"Response/Pause[1]/Say[1]: <Say> is not allowed in <Pause>"}},
		{"pause range", `<Response><Pause length="3601"/></Response>`, []string{"Response/Pause[1]@length: must be an integer between 0 and 3600"}},
		{"reject reason", `<Response><Reject reason="nope"/></Response>`, []string{"Response/Reject[1]@reason: must be one of rejected, busy"}},
		{"play", `<Response><Play digits="1w2x">a.wav</Play><Play/><Play>ftp://h/a.wav</Play><Play digits="wwww3"/></Response>`, []string{
			"Response/Play[1]@digits: must be DTMF keys (0-9, *, #, A-D) and w pauses",
			"Response/Play[2]: URL required",
			"Response/Play[3]: must be an http or https URL"}},
		{"redirect", `<Response><Redirect method="PUT"><Variable value="x"/></Redirect></Response>`, []string{
			"Response/Redirect[1]@method: must be one of GET, POST",
			"Response/Redirect[1]/Variable[1]@key: required",
			"Response/Redirect[1]: URL required"}},
		{"set", `<Response><Set x="1"><Say>a</Say></Set></Response>`, []string{
			"Response/Set[1]/Say[1]: <Say> is not allowed in <Set>"}},
		{"text in response", `<Response>hello<Hangup/></Response>`, []string{"Response: <Response> must not contain text"}},
		{"gather", `<Response><Gather numDigits="0" finishOnKey="#*" timeout="0"><Say>a</Say><Dial>1</Dial></Gather><Gather input="speech" language="en US" speechTimeout="0"/><Gather input="dtmf speech"/></Response>`, []string{
			"Response/Gather[1]@timeout: must be an integer between 1 and 3600",
			"Response/Gather[1]@finishOnKey: must be one DTMF key or empty",
			"Response/Gather[1]@numDigits: must be a positive integer",
			"Response/Gather[1]/Dial[1]: <Dial> is not allowed in <Gather>",
			"Response/Gather[2]@language: must be a language tag like en-US",
			"Response/Gather[2]@speechTimeout: must be auto or an integer between 1 and 60"}},
		{"record", `<Response><Record maxLength="4000" timeout="-1" playBeep="yes" trim="x" finishOnKey="q" recordingUrl="/rel"/><Record>text</Record><Record action="a" timeout="0" finishOnKey="" transcribe="false"/></Response>`, []string{
			"Response/Record[1]@timeout: must be an integer between 0 and 3600",
			"Response/Record[1]@finishOnKey: must be DTMF keys (0-9, *, #)",
			"Response/Record[1]@maxLength: must be an integer between 1 and 3600",
			"Response/Record[1]@playBeep: must be one of true, false",
			"Response/Record[1]@trim: must be one of trim-silence, do-not-trim",
			"Response/Record[1]@recordingUrl: must be an absolute http or https URL",
			"Response/Record[2]: <Record> must not contain text"}},
		{"dial", `<Response><Dial><Sip>tel:123</Sip><Client>bob</Client></Dial></Response>`, []string{
			"Response/Dial[1]/Sip[1]: must be a sip: or sips: URI",
			"Response/Dial[1]/Client[1]: <Client> is not supported in <Dial>"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			doc, err := ParseTwiML([]byte(tt.doc))
			var got []string
			for _, e := range validationErrors(err) {
				var ve *ValidationError
				if !errors.As(e, &ve) {
					t.Fatalf("error %v is not a *ValidationError", e)
				}
				got = append(got, e.Error())
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("got\n%q\nwant\n%q", got, tt.want)
			}
			if (doc == nil) == (tt.want == nil) {
				t.Errorf("doc = %v with errors %v", doc, got)
			}
		})
	}
}

func TestParseTwiMLRejectsMalformedXML(t *testing.T) {
	for _, doc := range []string{
		`<Response><Say>hi</Response>`,
		`<Response>`,
		`<Foo/>`,
		`<Response/><Response/>`,
		`<!DOCTYPE x [<!ENTITY a "b">]><Response/>`,
		`<Response><Say>&bogus;</Say></Response>`,
		`{"module":"tts"}`,
		`<?xml version="1.0" encoding="ISO-8859-1"?><Response/>`,
		`<Response>` + strings.Repeat("<Gather>", 10) + strings.Repeat("</Gather>", 10) + `</Response>`,
		`<Response>` + strings.Repeat("<Hangup/>", maxTwiMLElements) + `</Response>`,
	} {
		_, err := ParseTwiML([]byte(doc))
		if !errors.Is(err, ErrInvalidXML) {
			t.Errorf("ParseTwiML(%.60s) = %v, want ErrInvalidXML", doc, err)
		}
	}
	if _, err := ParseTwiML(nil); !errors.Is(err, ErrEmptyDocument) {
		t.Errorf("empty: %v", err)
	}
}

func TestParsePivotDocumentPicksInterpreterByContentType(t *testing.T) {
	const (
		twiml = `<Response><Hangup/></Response>`
		kazoo = `{"module":"hangup"}`
	)
	tests := []struct {
		contentType, body string
		want              string // "kazoo", "twiml", or the error kind
	}{
		{"application/json", kazoo, "kazoo"},
		{"Application/JSON; charset=utf-8", kazoo, "kazoo"},
		{"application/json", twiml, ErrorKindJSON},
		{"text/xml", twiml, "twiml"},
		{"application/xml", twiml, "twiml"},
		{"", twiml, "twiml"},
		{"text/xml", kazoo, ErrorKindJSON}, // not XML: a json_errors record
		{"text/plain", twiml, "twiml"},
		{"text/html", "\n  <?xml version=\"1.0\"?><!-- c --><Response/>", "twiml"},
		{"text/plain", kazoo, "kazoo"},
		{"application/octet-stream", `<html/>`, ErrorKindJSON},
		{"application/json", `{"module":"tts"}`, ErrorKindSchema},
	}
	for _, tt := range tests {
		doc, err := parsePivotDocument(tt.contentType, []byte(tt.body))
		got := "twiml"
		switch {
		case err != nil:
			got, _ = classifyDocumentError(err)
		case doc.kazoo != nil:
			got = "kazoo"
		}
		if got != tt.want {
			t.Errorf("parsePivotDocument(%q, %q) = %s (%v), want %s", tt.contentType, tt.body, got, err, tt.want)
		}
	}
	if _, err := parsePivotDocument("application/json", []byte(" \n")); !errors.Is(err, ErrEmptyDocument) {
		t.Errorf("empty body: %v", err)
	}
}

func FuzzParseTwiML(f *testing.F) {
	for _, seed := range []string{
		`<Response><Say voice="woman" loop="0">Hello</Say><Play>/a.wav</Play><Pause/><Redirect>x</Redirect></Response>`,
		`<Response><Gather action="/g" numDigits="4" finishOnKey=""><Say>x</Say></Gather></Response>`,
		`<Response><Dial timeout="10"><Number>+1415</Number><Sip username="u">sip:b@h</Sip></Dial></Response>`,
		`<Response><Set><Variable key="a" value="b"/></Set><Reject reason="busy"/></Response>`,
		`<Response xmlns="x"><![CDATA[x]]></Response>`,
		`<Response><Record playBeep="false" trim="do-not-trim"/></Response>`,
		`<Response><Dial callerId="1&#13;&#10;X: y"><Sip password="p">sip:b@h?X-H=v</Sip></Dial></Response>`,
		`<Response><Dial record="record-from-ringing-dual" trim="trim-silence" recordingStatusCallback="/r" recordingStatusCallbackEvent="in-progress completed"><Number statusCallback="/s" statusCallbackEvent="initiated ringing">+1415</Number></Dial></Response>`,
		`<Response><Dial sequential="false" hangupOn="#"><Sip machineDetection="Enable">sip:b@h</Sip></Dial><Say voise="x">a</Say></Response>`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		doc, err := ParseTwiML(b)
		if (doc == nil) == (err == nil) {
			t.Fatalf("doc %v, err %v", doc, err)
		}
		looksLikeTwiML(b)
		if doc == nil {
			return
		}
		for _, v := range doc.verbs { // a valid document never puts a control character into SIP
			d, ok := v.(*dialVerb)
			if !ok {
				continue
			}
			values := []string{d.callerID}
			for _, tg := range d.targets {
				values = append(values, tg.number, tg.sipURI, tg.username, tg.password)
			}
			for _, s := range values {
				if hasControlChars(s) {
					t.Fatalf("dial value %q has control characters", s)
				}
			}
		}
	})
}
