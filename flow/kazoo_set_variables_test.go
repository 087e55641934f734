package flow_test

import (
	"fmt"
	"testing"

	"github.com/pivotua/pivotua/flow/flowtest"
	"github.com/pivotua/pivotua/internal/testkit"
)

func TestSetVariablesReachTheNextPivotRequest(t *testing.T) {
	app := testkit.NewWebhook(t, testkit.ServeDocs(map[string][2]string{"/ivr": {"application/json", `{"module":"hangup"}`}}))
	ch := flowtest.NewChannel()
	c := flowtest.NewCall(t, ch, nil)
	c.CustomVars()["old"] = "gone"
	flow := fmt.Sprintf(`{"module":"set_variables","data":{"custom_application_vars":{"step":"2","count":3,"vip":true,"old":null}},
		"children":{"_":{"module":"pivot","data":{"voice_url":"%s/ivr","method":"post"}}}}`, app.URL)
	flowtest.Run(t, c, flowtest.MustNode(t, flow))
	flowtest.EqualEvents(t, ch.Events(), []string{"hangup"})
	reqs := app.Requests()
	if len(reqs) != 1 {
		t.Fatalf("requests = %+v", reqs)
	}
	form := reqs[0].Form
	for key, want := range map[string]string{"Custom-Application-Vars[step]": "2", "Custom-Application-Vars[count]": "3", "Custom-Application-Vars[vip]": "true"} {
		if got := form.Get(key); got != want {
			t.Errorf("%s = %q, want %q (form %v)", key, got, want, form)
		}
	}
	if form.Has("Custom-Application-Vars[old]") {
		t.Error("a null value did not remove the variable")
	}
}
