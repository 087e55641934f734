package flow

import (
	"strings"
	"testing"
)

func parseConferenceDial(t *testing.T, doc string) (*dialVerb, []error) {
	t.Helper()
	p := &twimlParser{}
	root, err := parseXMLTree([]byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	return parseDialVerb(p, root, "Response/Dial[1]"), p.errs
}

func TestConferenceParsesTwilioDefaultsAndAttributes(t *testing.T) {
	d, errs := parseConferenceDial(t, `<Dial><Conference>room 1</Conference></Dial>`)
	n := d.conference
	if len(errs) > 0 || n == nil || n.name != "room 1" || n.muted || !n.beepEnter || !n.beepExit || !n.startOnEnter || n.endOnExit ||
		n.waitSet || n.max != 250 || n.record || !n.trim || n.callback != "" {
		t.Fatalf("defaults: %+v, errors %v", n, errs)
	}
	d, errs = parseConferenceDial(t, `<Dial hangupOnStar="true"><Conference muted="true" beep="onExit" startConferenceOnEnter="false"
		endConferenceOnExit="true" waitUrl="" maxParticipants="2" record="record-from-start" trim="do-not-trim"
		statusCallback="/cb" statusCallbackEvent="start end join leave mute hold" coach="CA1">r</Conference></Dial>`)
	n = d.conference
	if len(errs) > 0 || !n.muted || n.beepEnter || !n.beepExit || n.startOnEnter || !n.endOnExit || !n.waitSet || n.waitURL != "" ||
		n.max != 2 || !n.record || n.trim || n.callback != "/cb" || len(n.events) != 6 || n.coach != "CA1" {
		t.Fatalf("attributes: %+v, errors %v", n, errs)
	}
}

// Hostile and unsupported input is a document error naming the attribute, never a silent default.
func TestConferenceRefusesBadInputByPath(t *testing.T) {
	for _, tc := range []struct{ doc, want string }{
		{`<Dial><Conference></Conference></Dial>`, "Response/Dial[1]/Conference[1]: a conference name is required"},
		{"<Dial><Conference>a&#x7f;b</Conference></Dial>", "Response/Dial[1]/Conference[1]: the conference name must not contain control"},
		{"<Dial><Conference>a&#x0a;b</Conference></Dial>", "the conference name must not contain control"},
		{`<Dial><Conference>` + strings.Repeat("x", 129) + `</Conference></Dial>`, "at most 128 bytes"},
		{`<Dial><Conference maxParticipants="1">r</Conference></Dial>`, "Conference[1]@maxParticipants: must be an integer between 2 and 250"},
		{`<Dial><Conference maxParticipants="251">r</Conference></Dial>`, "@maxParticipants"},
		{`<Dial><Conference beep="loud">r</Conference></Dial>`, "@beep"},
		{`<Dial><Conference statusCallbackEvent="speaker">r</Conference></Dial>`, `@statusCallbackEvent: "speaker" is not supported`},
		{`<Dial><Conference region="ie1">r</Conference></Dial>`, "@region: is not supported"},
		{`<Dial><Conference recordingStatusCallback="/r">r</Conference></Dial>`, "@recordingStatusCallback: is not supported"},
		{`<Dial><Conference waitUrl="ftp://x/y">r</Conference></Dial>`, "@waitUrl"},
		{`<Dial><Conference coach="a&#x0a;b">r</Conference></Dial>`, "@coach"},
		{`<Dial><Conference>r</Conference><Number>+14155550100</Number></Dial>`, "must be alone in its <Dial>"},
		{`<Dial>+14155550100<Conference>r</Conference></Dial>`, "must be alone in its <Dial>"},
		{`<Dial><Conference>a</Conference><Conference>b</Conference></Dial>`, "only one <Conference>"},
		{`<Dial record="record-from-answer"><Conference>r</Conference></Dial>`, "Response/Dial[1]@record"},
		{`<Dial><Conference><Say>x</Say>r</Conference></Dial>`, "is not allowed in <Conference>"},
	} {
		_, errs := parseConferenceDial(t, tc.doc)
		joined := ""
		for _, e := range errs {
			joined += e.Error() + "\n"
		}
		if !strings.Contains(joined, tc.want) {
			t.Errorf("%s: errors\n%s want %q", tc.doc, joined, tc.want)
		}
	}
}

func TestKazooConferenceReadsIDOrConfigAndRefusesWhatItCannotDo(t *testing.T) {
	for _, tc := range []struct {
		data string
		want conferenceAction
		err  string
	}{
		{data: `{"id": "0123456789abcdef0123456789abcdef"}`, want: conferenceAction{name: "0123456789abcdef0123456789abcdef", entryTone: true, exitTone: true, max: 250}},
		{data: `{"config": {"name": "Areacode 415", "max_participants": 3, "play_exit_tone": false,
			"member": {"join_muted": true}, "moderator": {"join_deaf": true}}}`,
			want: conferenceAction{name: "Areacode 415", muted: true, entryTone: true, max: 3}},
		{data: `{"moderator": true, "play_entry_tone": false, "config": {"name": "m", "member": {"join_muted": true}, "moderator": {"join_deaf": true, "pins": []}}}`,
			want: conferenceAction{name: "m", deaf: true, exitTone: true, max: 250, moderator: true}},
		{data: `{}`, err: "data.id: id or config.name is required"},
		{data: `{"id": "a", "config": {"name": "b"}}`, err: "data.id: give id or config, not both"},
		{data: `{"config": {"name": ""}}`, err: "data.config.name: a conference name is required"},
		{data: `{"config": {"name": "` + strings.Repeat("n", 129) + `"}}`, err: "data.config.name: the conference name must be at most 128 bytes"},
		{data: `{"config": {"name": "x\u0007"}}`, err: "control characters"},
		{data: `{"config": {"name": "x", "max_participants": 251}}`, err: "data.config.max_participants: must be between 2 and 250"},
		{data: `{"config": {"name": "x", "member": {"pins": ["1234"]}}}`, err: "data.config.member.pins: is not supported"},
		{data: `{"config": "x"}`, err: "data.config: must be an object"},
		{data: `{"id": "r", "play_entry_tone": "tone_stream://%(100,0,440)"}`, err: "data.play_entry_tone: must be a boolean"},
		{data: `{"id": "r", "welcome_prompt": {"play": true}}`, err: "data.welcome_prompt: is not supported"},
	} {
		d := newDataReader([]byte(tc.data), "data")
		a := parseConference(d).(*conferenceAction)
		if tc.err != "" {
			if len(d.errs) == 0 || !strings.Contains(d.errs[0].Error(), tc.err) {
				t.Errorf("%s: errors %v, want %q", tc.data, d.errs, tc.err)
			}
			continue
		}
		if len(d.errs) > 0 || *a != tc.want {
			t.Errorf("%s: %+v (errors %v), want %+v", tc.data, *a, d.errs, tc.want)
		}
	}
}

// FuzzParseConference: whatever a webhook puts in <Dial><Conference> or the conference module's data,
// a document that validates names a room of 1-128 bytes of UTF-8 without control characters, with a
// participant cap in 2-250.
func FuzzParseConference(f *testing.F) {
	for _, seed := range []string{
		`<Dial><Conference>room 1</Conference></Dial>`,
		`<Dial action="/a" hangupOnStar="true"><Conference muted="true" beep="onExit" maxParticipants="2" waitUrl="" statusCallbackEvent="start end join">r</Conference></Dial>`,
		`<Dial><Conference coach="CA1" record="record-from-start">a&#x85;b</Conference></Dial>`,
		`<Dial><Conference maxParticipants="0250">` + strings.Repeat("é", 64) + `</Conference></Dial>`,
		`{"config":{"name":"k","max_participants":3,"member":{"join_muted":true}}}`,
		`{"id":"0123456789abcdef0123456789abcdef","moderator":true}`,
	} {
		f.Add([]byte(seed))
	}
	check := func(t *testing.T, name string, max int) {
		if msg := checkConferenceName(name); msg != "" || strings.TrimSpace(name) != name {
			t.Fatalf("valid conference with name %q: %s", name, msg)
		}
		if max < 2 || max > MaxConferenceParticipants {
			t.Fatalf("valid conference with maxParticipants %d", max)
		}
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if doc, err := ParseTwiML(append(append([]byte(`<Response>`), b...), `</Response>`...)); err == nil {
			for _, v := range doc.verbs {
				if d, ok := v.(*dialVerb); ok && d.conference != nil {
					check(t, d.conference.name, d.conference.max)
					if len(d.targets) > 0 {
						t.Fatalf("a <Conference> validated beside %d other targets", len(d.targets))
					}
				}
			}
		}
		d := newDataReader(b, "data")
		a := parseConference(d).(*conferenceAction)
		if len(d.errs) == 0 {
			check(t, a.name, a.max)
		}
	})
}
