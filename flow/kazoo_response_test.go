package flow

import "testing"

func TestResponseRejectsBeforeAnswerAndHangsUpAfter(t *testing.T) {
	ch := newFakeChannel()
	runFlow(t, newTestCall(t, ch, nil), mustNode(t, `{"module":"response","data":{}}`))
	equalEvents(t, ch.Events(), []string{"reject 486 Busy Here"})

	ch = newFakeChannel()
	runFlow(t, newTestCall(t, ch, nil), mustNode(t, `{"module":"response","data":{"code":503,"message":"Try Later"}}`))
	equalEvents(t, ch.Events(), []string{"reject 503 Try Later"})

	ch = newFakeChannel()
	runFlow(t, newTestCall(t, ch, nil), mustNode(t, `{"module":"tts","data":{"text":"bye"},"children":{"_":{"module":"response","data":{"code":404}}}}`))
	equalEvents(t, ch.Kinds(), []string{"answer", "play", "hangup"})
}
