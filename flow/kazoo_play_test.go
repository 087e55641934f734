package flow_test

import (
	"net/http"
	"testing"

	"github.com/pivotua/pivotua/flow"
	"github.com/pivotua/pivotua/flow/flowtest"
	"github.com/pivotua/pivotua/internal/testkit"
)

func TestPlayLoopsAndDecodesEachMediaVersionOnce(t *testing.T) {
	media := flowtest.ServeWAV(t)
	ch := flowtest.NewChannel()
	deps := flowtest.Deps(t, nil)
	c := flow.NewCall(ch, flowtest.AccountID, flowtest.SigningKey, deps)
	url := media.URL + "/a.wav"
	flowtest.Run(t, c, flowtest.MustNode(t, `{"module":"play","data":{"id":"`+url+`","loop_count":2},"children":{"_":{"module":"play","data":{"id":"`+url+`"}}}}`))
	flowtest.EqualEvents(t, ch.Events(), []string{"answer", "play 500ms", "play 500ms", "play 500ms", "hangup"})
	if ch.Prompts()[0] != ch.Prompts()[2] {
		t.Error("the second play node decoded the file again")
	}
	if n := deps.Prompts.Len(); n != 1 {
		t.Errorf("prompt cache holds %d prompts, want 1", n)
	}
}

func TestPlaySkipsUnavailableMedia(t *testing.T) {
	missing := testkit.NewWebhook(t, http.NotFound)
	ch := flowtest.NewChannel()
	flowtest.Run(t, flowtest.NewCall(t, ch, nil), flowtest.MustNode(t, `{"module":"play","data":{"id":"`+missing.URL+`/x.wav"},"children":{"_":{"module":"tts","data":{"text":"sorry"}}}}`))
	flowtest.EqualEvents(t, ch.Kinds(), []string{"answer", "play", "hangup"})
}
