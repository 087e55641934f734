package flow

import (
	"testing"
	"time"

	"github.com/pivotua/pivotua/internal/testkit"
)

func TestPauseAsFirstVerbDelaysAnswer(t *testing.T) {
	app := testkit.NewWebhook(t, testkit.ServeDocs(map[string][2]string{
		"/first": {"text/xml", `<Response><Pause length="1"/><Say>hi</Say></Response>`},
		"/later": {"text/xml", `<Response><Set/><Pause length="0"/></Response>`},
	}))
	ch := newFakeChannel()
	start := time.Now()
	runFlow(t, newTestCall(t, ch, nil), mustNode(t, pivotFlow(app.URL+"/first", "", false)))
	if elapsed := time.Since(start); elapsed < time.Second {
		t.Errorf("paused %v", elapsed)
	}
	equalEvents(t, ch.Kinds(), []string{"answer", "play", "hangup"})

	ch = newFakeChannel()
	runFlow(t, newTestCall(t, ch, nil), mustNode(t, pivotFlow(app.URL+"/later", "", false)))
	equalEvents(t, ch.Events(), []string{"answer", "hangup"})
}

func TestPauseEndsWhenCallerHangsUp(t *testing.T) {
	app := testkit.NewWebhook(t, testkit.ServeDocs(map[string][2]string{"/ivr": {"text/xml", `<Response><Pause length="30"/></Response>`}}))
	ch := newFakeChannel()
	time.AfterFunc(100*time.Millisecond, ch.remoteHangup)
	start := time.Now()
	runFlow(t, newTestCall(t, ch, nil), mustNode(t, pivotFlow(app.URL+"/ivr", "", false)))
	if elapsed := time.Since(start); elapsed > time.Second {
		t.Errorf("Run returned %v after the caller hung up", elapsed)
	}
	equalEvents(t, ch.Events(), nil)
}
