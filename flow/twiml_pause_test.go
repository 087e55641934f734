package flow_test

import (
	"testing"
	"time"

	"github.com/pivotua/pivotua/flow/flowtest"
	"github.com/pivotua/pivotua/internal/testkit"
)

func TestPauseAsFirstVerbDelaysAnswer(t *testing.T) {
	app := testkit.NewWebhook(t, testkit.ServeDocs(map[string][2]string{
		"/first": {"text/xml", `<Response><Pause length="1"/><Say>hi</Say></Response>`},
		"/later": {"text/xml", `<Response><Set/><Pause length="0"/></Response>`},
	}))
	ch := flowtest.NewChannel()
	start := time.Now()
	flowtest.Run(t, flowtest.NewCall(t, ch, nil), flowtest.MustNode(t, flowtest.PivotFlow(app.URL+"/first", "", false)))
	if elapsed := time.Since(start); elapsed < time.Second {
		t.Errorf("paused %v", elapsed)
	}
	flowtest.EqualEvents(t, ch.Kinds(), []string{"answer", "play", "hangup"})

	ch = flowtest.NewChannel()
	flowtest.Run(t, flowtest.NewCall(t, ch, nil), flowtest.MustNode(t, flowtest.PivotFlow(app.URL+"/later", "", false)))
	flowtest.EqualEvents(t, ch.Events(), []string{"answer", "hangup"})
}

func TestPauseEndsWhenCallerHangsUp(t *testing.T) {
	app := testkit.NewWebhook(t, testkit.ServeDocs(map[string][2]string{"/ivr": {"text/xml", `<Response><Pause length="30"/></Response>`}}))
	ch := flowtest.NewChannel()
	time.AfterFunc(100*time.Millisecond, ch.RemoteHangup)
	start := time.Now()
	flowtest.Run(t, flowtest.NewCall(t, ch, nil), flowtest.MustNode(t, flowtest.PivotFlow(app.URL+"/ivr", "", false)))
	if elapsed := time.Since(start); elapsed > time.Second {
		t.Errorf("Run returned %v after the caller hung up", elapsed)
	}
	flowtest.EqualEvents(t, ch.Events(), nil)
}
