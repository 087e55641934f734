package flow

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/pivotua/pivotua/codec"
	"github.com/pivotua/pivotua/httpfetch"
	"github.com/pivotua/pivotua/internal/testkit"
)

func TestSayAnswersFirstAndLoops(t *testing.T) {
	speaker := &recordingSpeaker{}
	app := testkit.NewWebhook(t, testkit.ServeDocs(map[string][2]string{
		"/ivr": {"text/xml", `<Response><Say loop="2">hello there</Say><Say voice="woman" language="en">bye</Say><Say voice="Polly.Joanna" language="fr-FR">salut</Say></Response>`},
	}))
	ch := newFakeChannel()
	c := NewCall(ch, testAccountID, "k", Deps{Documents: httpfetch.NewClient(), Speech: speaker, Logger: testLogger(t)})
	runFlow(t, c, mustNode(t, pivotFlow(app.URL+"/ivr", "", false)))
	equalEvents(t, ch.Events(), []string{"answer", "play 200ms", "play 200ms", "play 100ms", "play 100ms", "hangup"})
	voices := []string{speaker.got[0].Voice + "/" + speaker.got[0].Language, speaker.got[1].Voice + "/" + speaker.got[1].Language, speaker.got[2].Voice + "/" + speaker.got[2].Language}
	if voices[0] != "male/en-US" || voices[1] != "female/en-US" || voices[2] != "female/fr-FR" {
		t.Errorf("voices = %v", voices)
	}
}

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

func TestSayLoopZeroRepeatsUntilTheCallerHangsUp(t *testing.T) {
	app := testkit.NewWebhook(t, testkit.ServeDocs(map[string][2]string{"/ivr": {"text/xml", `<Response><Say loop="0">again</Say><Hangup/></Response>`}}))
	ch := newFakeChannel()
	ch.playTime = 50 * time.Millisecond
	time.AfterFunc(600*time.Millisecond, ch.remoteHangup)
	runFlow(t, newTestCall(t, ch, nil), mustNode(t, pivotFlow(app.URL+"/ivr", "", false)))
	kinds := ch.Kinds()
	if len(kinds) < 5 || kinds[0] != "answer" || slices.Contains(kinds, "hangup") {
		t.Errorf("events %q: want the speech repeated until the caller hung up", kinds)
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

	// What is played: the words' speech with a second of silence after "Hello".
	app := testkit.NewWebhook(t, testkit.ServeDocs(map[string][2]string{
		"/ivr": {"text/xml", `<Response><Say>one two <break time="1s"/> three</Say></Response>`},
	}))
	ch := newFakeChannel()
	runFlow(t, newTestCall(t, ch, nil), mustNode(t, pivotFlow(app.URL+"/ivr", "", true)))
	if len(ch.prompts) != 1 {
		t.Fatalf("played %d prompts, want 1", len(ch.prompts))
	}
	played := ch.prompts[0].PCM()
	var heard []int16
	for _, text := range []string{"one two", "three"} {
		p, err := testSpeaker().Prompt(context.Background(), codec.SpeechRequest{Engine: "flite", Voice: "male", Language: "en-US", Text: text})
		if err != nil {
			t.Fatal(err)
		}
		heard = append(heard, p.PCM()...)
		if text == "one two" {
			heard = append(heard, make([]int16, codec.SampleRate)...)
		}
	}
	if !slices.Equal(played, heard) {
		t.Errorf("played %s of audio, want the two phrases with 1 s of silence between them (%s)",
			time.Duration(len(played))*time.Second/codec.SampleRate, time.Duration(len(heard))*time.Second/codec.SampleRate)
	}
	if silent := longestSilence(played); silent < time.Second {
		t.Errorf("longest silence in the <Say> is %s, want at least the 1 s break", silent)
	}
}

func TestSaySSMLMistakesAreSchemaErrors(t *testing.T) {
	for _, tc := range []struct{ doc, path string }{
		{`<Say>a<break time="forever"/></Say>`, "Response/Say[1]/break[1]@time"},
		{`<Say>a<break time="11s"/></Say>`, "Response/Say[1]/break[1]@time"},
		{`<Say>a<break strength="huge"/></Say>`, "Response/Say[1]/break[1]@strength"},
		{`<Say><break time="1s"/></Say>`, "Response/Say[1]"},
	} {
		_, err := ParseTwiML([]byte("<Response>" + tc.doc + "</Response>"))
		if err == nil || !strings.Contains(err.Error(), tc.path+":") {
			t.Errorf("%s: err = %v, want a problem at %s", tc.doc, err, tc.path)
		}
	}
}

// longestSilence is the longest run of near-silent samples in pcm.
func longestSilence(pcm []int16) time.Duration {
	longest, run := 0, 0
	for _, s := range pcm {
		if s > -100 && s < 100 {
			run++
			longest = max(longest, run)
		} else {
			run = 0
		}
	}
	return time.Duration(longest) * time.Second / codec.SampleRate
}
