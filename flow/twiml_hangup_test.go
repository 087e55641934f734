package flow_test

import (
	"testing"

	"github.com/pivotua/pivotua/flow/flowtest"
	"github.com/pivotua/pivotua/internal/testkit"
)

func TestHangupVerbStopsTheDocument(t *testing.T) {
	app := testkit.NewWebhook(t, testkit.ServeDocs(map[string][2]string{"/ivr": {"text/xml", `<Response><Hangup/><Say>never</Say></Response>`}}))
	ch := flowtest.NewChannel()
	flowtest.Run(t, flowtest.NewCall(t, ch, nil), flowtest.MustNode(t, flowtest.PivotFlow(app.URL+"/ivr", "", true)))
	flowtest.EqualEvents(t, ch.Events(), []string{"hangup"})
}

func TestEndOfDocumentHangsUp(t *testing.T) {
	app := testkit.NewWebhook(t, testkit.ServeDocs(map[string][2]string{"/ivr": {"", `<Response><Say>hi</Say></Response>`}}))
	ch := flowtest.NewChannel()
	flowtest.Run(t, flowtest.NewCall(t, ch, nil), flowtest.MustNode(t, flowtest.PivotFlow(app.URL+"/ivr", "", true)))
	flowtest.EqualEvents(t, ch.Kinds(), []string{"answer", "play", "hangup"})
}
