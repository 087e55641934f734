package flow_test

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/pivotua/pivotua/codec"
	"github.com/pivotua/pivotua/flow"
	"github.com/pivotua/pivotua/flow/flowtest"
	"github.com/pivotua/pivotua/httpfetch"
	"github.com/pivotua/pivotua/internal/testkit"
)

func TestSayAnswersFirstAndLoops(t *testing.T) {
	speaker := &flowtest.ToneSpeaker{}
	app := testkit.NewWebhook(t, testkit.ServeDocs(map[string][2]string{
		"/ivr": {"text/xml", `<Response><Say loop="2">hello there</Say><Say voice="woman" language="en">bye</Say><Say voice="Polly.Joanna" language="fr-FR">salut</Say></Response>`},
	}))
	ch := flowtest.NewChannel()
	c := flow.NewCall(ch, flowtest.AccountID, "k", flow.Deps{Documents: httpfetch.NewClient(), Speech: speaker, Logger: flowtest.Logger(t)})
	flowtest.Run(t, c, flowtest.MustNode(t, flowtest.PivotFlow(app.URL+"/ivr", "", false)))
	flowtest.EqualEvents(t, ch.Events(), []string{"answer", "play 200ms", "play 200ms", "play 100ms", "play 100ms", "hangup"})
	got := speaker.Requests()
	voices := []string{got[0].Voice + "/" + got[0].Language, got[1].Voice + "/" + got[1].Language, got[2].Voice + "/" + got[2].Language}
	if voices[0] != "male/en-US" || voices[1] != "female/en-US" || voices[2] != "female/fr-FR" {
		t.Errorf("voices = %v", voices)
	}
}

func TestSayLoopZeroRepeatsUntilTheCallerHangsUp(t *testing.T) {
	app := testkit.NewWebhook(t, testkit.ServeDocs(map[string][2]string{"/ivr": {"text/xml", `<Response><Say loop="0">again</Say><Hangup/></Response>`}}))
	ch := flowtest.NewChannel()
	ch.PlayTime = 50 * time.Millisecond
	time.AfterFunc(600*time.Millisecond, ch.RemoteHangup)
	flowtest.Run(t, flowtest.NewCall(t, ch, nil), flowtest.MustNode(t, flowtest.PivotFlow(app.URL+"/ivr", "", false)))
	kinds := ch.Kinds()
	if len(kinds) < 5 || kinds[0] != "answer" || slices.Contains(kinds, "hangup") {
		t.Errorf("events %q: want the speech repeated until the caller hung up", kinds)
	}
}

// TestSayPlaysSSMLWithItsPauses: what is played is the words' speech with a second of silence where
// the <break> is (TestSaySpeaksSSMLWithItsPauses checks how the SSML is read).
func TestSayPlaysSSMLWithItsPauses(t *testing.T) {
	app := testkit.NewWebhook(t, testkit.ServeDocs(map[string][2]string{
		"/ivr": {"text/xml", `<Response><Say>one two <break time="1s"/> three</Say></Response>`},
	}))
	ch := flowtest.NewChannel()
	flowtest.Run(t, flowtest.NewCall(t, ch, nil), flowtest.MustNode(t, flowtest.PivotFlow(app.URL+"/ivr", "", true)))
	if len(ch.Prompts()) != 1 {
		t.Fatalf("played %d prompts, want 1", len(ch.Prompts()))
	}
	played := ch.Prompts()[0].PCM()
	var heard []int16
	for _, text := range []string{"one two", "three"} {
		p, err := flowtest.Speaker().Prompt(context.Background(), codec.SpeechRequest{Engine: "flite", Voice: "male", Language: "en-US", Text: text})
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
		_, err := flow.ParseTwiML([]byte("<Response>" + tc.doc + "</Response>"))
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
