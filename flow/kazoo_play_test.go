package flow

import (
	"net/http"
	"testing"

	"github.com/pivotua/pivotua/internal/testkit"
)

func TestPlayLoopsAndDecodesEachMediaVersionOnce(t *testing.T) {
	media := serveWAV(t)
	ch := newFakeChannel()
	c := newTestCall(t, ch, nil)
	url := media.URL + "/a.wav"
	runFlow(t, c, mustNode(t, `{"module":"play","data":{"id":"`+url+`","loop_count":2},"children":{"_":{"module":"play","data":{"id":"`+url+`"}}}}`))
	equalEvents(t, ch.Events(), []string{"answer", "play 500ms", "play 500ms", "play 500ms", "hangup"})
	if ch.prompts[0] != ch.prompts[2] {
		t.Error("the second play node decoded the file again")
	}
	if n := c.deps.Prompts.Len(); n != 1 {
		t.Errorf("prompt cache holds %d prompts, want 1", n)
	}
}

func TestPlaySkipsUnavailableMedia(t *testing.T) {
	missing := testkit.NewWebhook(t, http.NotFound)
	ch := newFakeChannel()
	runFlow(t, newTestCall(t, ch, nil), mustNode(t, `{"module":"play","data":{"id":"`+missing.URL+`/x.wav"},"children":{"_":{"module":"tts","data":{"text":"sorry"}}}}`))
	equalEvents(t, ch.Kinds(), []string{"answer", "play", "hangup"})
}
