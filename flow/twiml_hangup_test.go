package flow

import (
	"testing"

	"github.com/pivotua/pivotua/internal/testkit"
)

func TestHangupVerbStopsTheDocument(t *testing.T) {
	app := testkit.NewWebhook(t, testkit.ServeDocs(map[string][2]string{"/ivr": {"text/xml", `<Response><Hangup/><Say>never</Say></Response>`}}))
	ch := newFakeChannel()
	runFlow(t, newTestCall(t, ch, nil), mustNode(t, pivotFlow(app.URL+"/ivr", "", true)))
	equalEvents(t, ch.Events(), []string{"hangup"})
}

func TestEndOfDocumentHangsUp(t *testing.T) {
	app := testkit.NewWebhook(t, testkit.ServeDocs(map[string][2]string{"/ivr": {"", `<Response><Say>hi</Say></Response>`}}))
	ch := newFakeChannel()
	runFlow(t, newTestCall(t, ch, nil), mustNode(t, pivotFlow(app.URL+"/ivr", "", true)))
	equalEvents(t, ch.Kinds(), []string{"answer", "play", "hangup"})
}
