package flow_test

import (
	"testing"

	"github.com/pivotua/pivotua/flow/flowtest"
)

func TestResponseRejectsBeforeAnswerAndHangsUpAfter(t *testing.T) {
	ch := flowtest.NewChannel()
	flowtest.Run(t, flowtest.NewCall(t, ch, nil), flowtest.MustNode(t, `{"module":"response","data":{}}`))
	flowtest.EqualEvents(t, ch.Events(), []string{"reject 486 Busy Here"})

	ch = flowtest.NewChannel()
	flowtest.Run(t, flowtest.NewCall(t, ch, nil), flowtest.MustNode(t, `{"module":"response","data":{"code":503,"message":"Try Later"}}`))
	flowtest.EqualEvents(t, ch.Events(), []string{"reject 503 Try Later"})

	ch = flowtest.NewChannel()
	flowtest.Run(t, flowtest.NewCall(t, ch, nil), flowtest.MustNode(t, `{"module":"tts","data":{"text":"bye"},"children":{"_":{"module":"response","data":{"code":404}}}}`))
	flowtest.EqualEvents(t, ch.Kinds(), []string{"answer", "play", "hangup"})
}
