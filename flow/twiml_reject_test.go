package flow_test

import (
	"testing"

	"github.com/pivotua/pivotua/flow/flowtest"
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
		ch := flowtest.NewChannel()
		flowtest.Run(t, flowtest.NewCall(t, ch, nil), flowtest.MustNode(t, flowtest.PivotFlow(app.URL+path, "", false)))
		flowtest.EqualEvents(t, ch.Kinds(), want)
	}
}
