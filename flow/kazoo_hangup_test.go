package flow

import "testing"

func TestHangupEndsTheFlow(t *testing.T) {
	ch := newFakeChannel()
	runFlow(t, newTestCall(t, ch, nil), mustNode(t, `{"module":"hangup","children":{"_":{"module":"tts","data":{"text":"never"}}}}`))
	equalEvents(t, ch.Events(), []string{"hangup"})
}

func TestMissingChildHangsUp(t *testing.T) {
	ch := newFakeChannel()
	runFlow(t, newTestCall(t, ch, nil), mustNode(t, `{"module":"set_variables","data":{},"children":{"other":{"module":"tts","data":{"text":"never"}}}}`))
	equalEvents(t, ch.Events(), []string{"hangup"})
}

func TestSkipModuleGoesStraightToUnderscore(t *testing.T) {
	ch := newFakeChannel()
	runFlow(t, newTestCall(t, ch, nil), mustNode(t, `{"module":"hangup","data":{"skip_module":true},"children":{"_":{"module":"response","data":{"code":404}}}}`))
	equalEvents(t, ch.Events(), []string{"reject 404 Not Found"})
}
