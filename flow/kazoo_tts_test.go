package flow

import (
	"context"
	"testing"

	"github.com/pivotua/pivotua/codec"
)

// recordingSpeaker remembers the speech requests it rendered.
type recordingSpeaker struct{ got []codec.SpeechRequest }

func (s *recordingSpeaker) Prompt(ctx context.Context, r codec.SpeechRequest) (*codec.Prompt, error) {
	s.got = append(s.got, r)
	return toneSpeaker{}.Prompt(ctx, r)
}

func TestTTSFillsDefaultsAndUsesConfiguredEngine(t *testing.T) {
	speaker := &recordingSpeaker{}
	ch := newFakeChannel()
	c := NewCall(ch, testAccountID, "k", Deps{Speech: speaker, TTSEngine: "espeak-ng", Logger: testLogger(t)})
	runFlow(t, c, mustNode(t, `{"module":"tts","data":{"text":"one two"},"children":{"_":{"module":"say","data":{"text":"three","voice":"male","language":"fr-FR","engine":"flite"}}}}`))
	equalEvents(t, ch.Events(), []string{"answer", "play 200ms", "play 100ms", "hangup"})
	want := []codec.SpeechRequest{
		{Engine: "espeak-ng", Voice: "female", Language: "en-US", Text: "one two"},
		{Engine: "flite", Voice: "male", Language: "fr-FR", Text: "three"},
	}
	if len(speaker.got) != 2 || speaker.got[0] != want[0] || speaker.got[1] != want[1] {
		t.Errorf("speech requests = %+v, want %+v", speaker.got, want)
	}
}

func TestTTSWithRealSpeakerPlaysSpeech(t *testing.T) {
	ch := newFakeChannel()
	runFlow(t, newTestCall(t, ch, nil), mustNode(t, `{"module":"tts","data":{"text":"Welcome to pivot."}}`))
	equalEvents(t, ch.Kinds(), []string{"answer", "play", "hangup"})
	if d := ch.prompts[0].Duration(); d <= 0 {
		t.Errorf("speech prompt is %v long", d)
	}
}
