package flow_test

import (
	"slices"
	"testing"

	"github.com/pivotua/pivotua/codec"
	"github.com/pivotua/pivotua/flow"
	"github.com/pivotua/pivotua/flow/flowtest"
)

func TestTTSFillsDefaultsAndUsesConfiguredEngine(t *testing.T) {
	speaker := &flowtest.ToneSpeaker{}
	ch := flowtest.NewChannel()
	c := flow.NewCall(ch, flowtest.AccountID, "k", flow.Deps{Speech: speaker, TTSEngine: "espeak-ng", Logger: flowtest.Logger(t)})
	flowtest.Run(t, c, flowtest.MustNode(t, `{"module":"tts","data":{"text":"one two"},"children":{"_":{"module":"say","data":{"text":"three","voice":"male","language":"fr-FR","engine":"flite"}}}}`))
	flowtest.EqualEvents(t, ch.Events(), []string{"answer", "play 200ms", "play 100ms", "hangup"})
	want := []codec.SpeechRequest{
		{Engine: "espeak-ng", Voice: "female", Language: "en-US", Text: "one two"},
		{Engine: "flite", Voice: "male", Language: "fr-FR", Text: "three"},
	}
	if got := speaker.Requests(); !slices.Equal(got, want) {
		t.Errorf("speech requests = %+v, want %+v", got, want)
	}
}

func TestTTSWithRealSpeakerPlaysSpeech(t *testing.T) {
	ch := flowtest.NewChannel()
	flowtest.Run(t, flowtest.NewCall(t, ch, nil), flowtest.MustNode(t, `{"module":"tts","data":{"text":"Welcome to pivot."}}`))
	flowtest.EqualEvents(t, ch.Kinds(), []string{"answer", "play", "hangup"})
	if d := ch.Prompts()[0].Duration(); d <= 0 {
		t.Errorf("speech prompt is %v long", d)
	}
}
