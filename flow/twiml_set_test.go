package flow_test

import (
	"testing"

	"github.com/pivotua/pivotua/flow/flowtest"
	"github.com/pivotua/pivotua/internal/testkit"
)

func TestSetVariablesGoWithLaterRequests(t *testing.T) {
	app := testkit.NewWebhook(t, testkit.ServeDocs(map[string][2]string{
		"/one": {"text/xml", `<Response><Say>hi</Say><Set><Variable key="lang" value="fr"/></Set><Redirect><Variable key="menu" value="main"/>two</Redirect></Response>`},
		"/two": {"text/xml", `<Response><Hangup/></Response>`},
	}))
	ch := flowtest.NewChannel()
	flowtest.Run(t, flowtest.NewCall(t, ch, nil), flowtest.MustNode(t, flowtest.PivotFlow(app.URL+"/one", `,"req_format":"twiml"`, false)))
	reqs := app.Requests()
	if len(reqs) != 2 {
		t.Fatalf("requests = %+v", reqs)
	}
	form := reqs[1].Form
	if form.Get("lang") != "fr" || form.Get("menu") != "main" || form.Get("CallStatus") != "in-progress" {
		t.Errorf("second request form = %v", form)
	}
	if reqs[0].Form.Has("lang") {
		t.Error("first request already had the variable")
	}
}
