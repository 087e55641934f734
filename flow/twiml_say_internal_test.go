package flow

import (
	"slices"
	"strings"
	"testing"
	"time"
)

func TestSayCutsLongText(t *testing.T) {
	long := make([]byte, 5000)
	for i := range long {
		long[i] = 'a'
	}
	doc, err := ParseTwiML([]byte("<Response><Say>" + string(long) + "</Say></Response>"))
	if err != nil {
		t.Fatal(err)
	}
	if n := len(doc.verbs[0].(*sayVerb).speech.Text); n != maxSpeechChars {
		t.Errorf("text is %d characters", n)
	}
}

// SSML as Twilio documents it for Polly voices: the words are spoken, <break> and <p>/<s> are
// pauses, <sub> speaks its alias, <say-as characters> spells, the rest is read as text with a
// warning in the debug records.
func TestSaySpeaksSSMLWithItsPauses(t *testing.T) {
	doc, err := ParseTwiML([]byte(`<Response><Say voice="Polly.Joanna-Neural">Hello <break time="1s"/> ` +
		`<prosody rate="slow">my <emphasis>dear</emphasis></prosody> <sub alias="World Wide Web">WWW</sub>` +
		`<say-as interpret-as="characters">AB1</say-as><break strength="weak"/><p>Last one.</p></Say></Response>`))
	if err != nil {
		t.Fatal(err)
	}
	v := doc.verbs[0].(*sayVerb)
	want := []sayPart{
		{text: "Hello", pause: time.Second},
		{text: "my dear World Wide Web A B 1", pause: 250 * time.Millisecond},
		{text: "Last one.", pause: 750 * time.Millisecond},
	}
	if !slices.Equal(v.parts, want) {
		t.Errorf("parts = %+v, want %+v", v.parts, want)
	}
	if v.speech.Voice != "female" || v.speech.Language != "en-US" {
		t.Errorf("Polly.Joanna-Neural = %s/%s, want female/en-US", v.speech.Voice, v.speech.Language)
	}
	if len(v.warnings) != 2 || !strings.Contains(v.warnings[0], "<prosody>") || !strings.Contains(v.warnings[1], "<emphasis>") {
		t.Errorf("warnings = %q, want one each for prosody and emphasis", v.warnings)
	}

}
