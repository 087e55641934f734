package flow_test

import (
	"testing"

	"github.com/pivotua/pivotua/flow/flowtest"
)

func TestHangupEndsTheFlow(t *testing.T) {
	ch := flowtest.NewChannel()
	flowtest.Run(t, flowtest.NewCall(t, ch, nil), flowtest.MustNode(t, `{"module":"hangup","children":{"_":{"module":"tts","data":{"text":"never"}}}}`))
	flowtest.EqualEvents(t, ch.Events(), []string{"hangup"})
}

func TestMissingChildHangsUp(t *testing.T) {
	ch := flowtest.NewChannel()
	flowtest.Run(t, flowtest.NewCall(t, ch, nil), flowtest.MustNode(t, `{"module":"set_variables","data":{},"children":{"other":{"module":"tts","data":{"text":"never"}}}}`))
	flowtest.EqualEvents(t, ch.Events(), []string{"hangup"})
}

func TestSkipModuleGoesStraightToUnderscore(t *testing.T) {
	ch := flowtest.NewChannel()
	flowtest.Run(t, flowtest.NewCall(t, ch, nil), flowtest.MustNode(t, `{"module":"hangup","data":{"skip_module":true},"children":{"_":{"module":"response","data":{"code":404}}}}`))
	flowtest.EqualEvents(t, ch.Events(), []string{"reject 404 Not Found"})
}
