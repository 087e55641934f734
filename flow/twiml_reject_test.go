package flow

import (
	"testing"

	"github.com/pivotua/pivotua/internal/testkit"
)

func TestRejectNeverAnswers(t *testing.T) {
	app := testkit.NewWebhook(t, testkit.ServeDocs(map[string][2]string{
		"/busy":    {"text/xml", `<Response><Reject reason="busy"/><Say>never</Say></Response>`},
		"/default": {"application/xml", `<Response><Set><Variable key="a" value="b"/></Set><Reject/></Response>`},
		"/late":    {"text/xml", `<Response><Say>hi</Say><Reject/></Response>`},
	}))
	for path, want := range map[string][]string{
		"/busy":    {"reject 486 Busy Here"},
		"/default": {"reject 603 Decline"},
		"/late":    {"answer", "play", "hangup"}, // already answered: only a hangup is possible
	} {
		ch := newFakeChannel()
		runFlow(t, newTestCall(t, ch, nil), mustNode(t, pivotFlow(app.URL+path, "", false)))
		equalEvents(t, ch.Kinds(), want)
	}
}
