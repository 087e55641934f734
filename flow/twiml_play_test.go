package flow_test

import (
	"net/http"
	"testing"

	"github.com/pivotua/pivotua/flow"
	"github.com/pivotua/pivotua/flow/flowtest"
	"github.com/pivotua/pivotua/internal/testkit"
)

func TestPlayResolvesRelativeURLAndLoops(t *testing.T) {
	wav := flowtest.WAV(t)
	app := testkit.NewWebhook(t, func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/app/ivr":
			w.Header().Set("Content-Type", "text/xml")
			w.Write([]byte(`<Response><Play loop="3">sounds/a.wav</Play><Play>/missing.wav</Play></Response>`))
		case "/app/sounds/a.wav":
			w.Header().Set("Content-Type", "audio/wav")
			w.Write(wav)
		default:
			http.NotFound(w, r)
		}
	})
	ch := flowtest.NewChannel()
	flowtest.Run(t, flowtest.NewCall(t, ch, nil), flowtest.MustNode(t, flowtest.PivotFlow(app.URL+"/app/ivr", "", false)))
	flowtest.EqualEvents(t, ch.Events(), []string{"answer", "play 500ms", "play 500ms", "play 500ms", "hangup"})
}

func TestPlayLoopZeroStopsAtTheCap(t *testing.T) {
	media := flowtest.ServeWAV(t)
	app := testkit.NewWebhook(t, testkit.ServeDocs(map[string][2]string{"/ivr": {"text/xml", `<Response><Play loop="0">` + media.URL + `/a.wav</Play></Response>`}}))
	ch := flowtest.NewChannel()
	flowtest.Run(t, flowtest.NewCall(t, ch, nil), flowtest.MustNode(t, flowtest.PivotFlow(app.URL+"/ivr", "", false)))
	if n := len(ch.Events()); n != flow.MaxPlayLoops+2 {
		t.Errorf("%d events, want answer, %d plays and hangup", n, flow.MaxPlayLoops)
	}
}

func TestPlayDigitsSendsDTMFBeforeAnyAudio(t *testing.T) {
	media := flowtest.ServeWAV(t)
	for doc, want := range map[string][]string{
		`<Play digits="1w2#"/>`:                             {"answer", "send_dtmf 1w2# 100ms", "hangup"},
		`<Play digits="ww9">` + media.URL + `/a.wav</Play>`: {"answer", "send_dtmf ww9 100ms", "play 500ms", "hangup"},
	} {
		app := testkit.NewWebhook(t, testkit.ServeDocs(map[string][2]string{"/ivr": {"text/xml", `<Response>` + doc + `</Response>`}}))
		ch := flowtest.NewChannel()
		flowtest.Run(t, flowtest.NewCall(t, ch, nil), flowtest.MustNode(t, flowtest.PivotFlow(app.URL+"/ivr", "", false)))
		flowtest.EqualEvents(t, ch.Events(), want)
	}
}
