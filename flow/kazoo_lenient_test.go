package flow_test

import (
	"strings"
	"testing"

	"github.com/pivotua/pivotua/flow"
	"github.com/pivotua/pivotua/flow/flowtest"
	"github.com/pivotua/pivotua/internal/testkit"
)

// What Kazoo's own examples write and Kazoo takes: numbers as strings, speech engines pivotua has not.

func TestIntegerFieldsTakeNumericStrings(t *testing.T) {
	ch := flowtest.NewChannel()
	flowtest.Run(t, flowtest.NewCall(t, ch, nil), flowtest.MustNode(t, `{"module":"response","data":{"code":"603"}}`))
	flowtest.EqualEvents(t, ch.Events(), []string{"reject 603 Decline"})

	ok := `{"module":"collect_dtmf","data":{"max_digits":"4","timeout":"20000","interdigit_timeout":" 3000 "},
		"children":{"_":{"module":"play","data":{"id":"http://x.test/a.wav","loop_count":"2"},
		"children":{"_":{"module":"sleep","data":{"duration":"1"}}}}}}`
	n, err := flow.ParseNode([]byte(ok), "flow")
	if err != nil {
		t.Fatal(err)
	}
	if errs := flow.ValidateNode(n, "flow"); len(errs) > 0 {
		t.Errorf("numeric strings refused: %v", errs)
	}
	for _, bad := range []string{`"4x"`, `"4.5"`, `""`, `"1e3"`, `"+4"`, `"99999999999999999999"`} {
		n, _ := flow.ParseNode([]byte(`{"module":"collect_dtmf","data":{"max_digits":`+bad+`}}`), "flow")
		if errs := flow.ValidateNode(n, "flow"); len(errs) != 1 || !strings.Contains(errs[0].Error(), "max_digits: must be an integer") {
			t.Errorf("max_digits %s: %v", bad, errs)
		}
	}
	n, _ = flow.ParseNode([]byte(`{"module":"response","data":{"code":"200"}}`), "flow")
	if errs := flow.ValidateNode(n, "flow"); len(errs) != 1 || !strings.Contains(errs[0].Error(), "between 400 and 699") {
		t.Errorf(`code "200": %v`, errs)
	}
}

func TestTTSWithAKazooEngineSpeaksLocallyWithAWarning(t *testing.T) {
	app := testkit.NewWebhook(t, testkit.ServeDocs(map[string][2]string{
		"/ivr": {"application/json", `{"module":"tts","data":{"text":"Hello","engine":"ispeech"}}`},
	}))
	speaker := &flowtest.ToneSpeaker{}
	ch := flowtest.NewChannel()
	var log eventLog
	deps := flowtest.Deps(t, func(flow.Exchange) {})
	deps.Speech, deps.Events = speaker, log.add
	c := flow.NewCall(ch, flowtest.AccountID, flowtest.SigningKey, deps)
	flowtest.Run(t, c, flowtest.MustNode(t, flowtest.PivotFlow(app.URL+"/ivr", `,"debug":true`, false)))
	flowtest.EqualEvents(t, ch.Kinds(), []string{"answer", "play", "hangup"})
	if reqs := speaker.Requests(); len(reqs) != 1 || reqs[0].Engine != "" {
		t.Errorf("speech requests %+v, want one for the local default engine", reqs)
	}
	w := log.find(t, flow.EventWarning).Data
	if w["verb"] != "tts" || !strings.Contains(w["message"].(string), "engine ispeech is not available here") {
		t.Errorf("warning %v", w)
	}

	n, _ := flow.ParseNode([]byte(`{"module":"tts","data":{"text":"x","engine":"festival"}}`), "flow")
	if errs := flow.ValidateNode(n, "flow"); len(errs) != 1 || !strings.Contains(errs[0].Error(), "engine: must be flite or espeak-ng, or one of Kazoo's (ispeech") {
		t.Errorf("engine festival: %v", errs)
	}
}
