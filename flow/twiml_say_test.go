package flow

import (
	"slices"
	"testing"
	"time"

	"github.com/pivotua/pivotua/httpfetch"
)

func TestSayAnswersFirstAndLoops(t *testing.T) {
	speaker := &recordingSpeaker{}
	app := newWebhook(t, serveDocs(map[string][2]string{
		"/ivr": {"text/xml", `<Response><Say loop="2">hello there</Say><Say voice="woman" language="en">bye</Say><Say voice="Polly.Joanna" language="fr-FR">salut</Say></Response>`},
	}))
	ch := newFakeChannel()
	c := NewCall(ch, testAccountID, "k", Deps{Documents: httpfetch.NewClient(), Speech: speaker, Logger: testLogger(t)})
	runFlow(t, c, mustNode(t, pivotFlow(app.URL+"/ivr", "", false)))
	equalEvents(t, ch.Events(), []string{"answer", "play 200ms", "play 200ms", "play 100ms", "play 100ms", "hangup"})
	voices := []string{speaker.got[0].Voice + "/" + speaker.got[0].Language, speaker.got[1].Voice + "/" + speaker.got[1].Language, speaker.got[2].Voice + "/" + speaker.got[2].Language}
	if voices[0] != "male/en-US" || voices[1] != "female/en-US" || voices[2] != "/fr-FR" {
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
	app := newWebhook(t, serveDocs(map[string][2]string{"/ivr": {"text/xml", `<Response><Say loop="0">again</Say><Hangup/></Response>`}}))
	ch := newFakeChannel()
	ch.playTime = 50 * time.Millisecond
	time.AfterFunc(600*time.Millisecond, ch.remoteHangup)
	runFlow(t, newTestCall(t, ch, nil), mustNode(t, pivotFlow(app.URL+"/ivr", "", false)))
	kinds := ch.Kinds()
	if len(kinds) < 5 || kinds[0] != "answer" || slices.Contains(kinds, "hangup") {
		t.Errorf("events %q: want the speech repeated until the caller hung up", kinds)
	}
}
