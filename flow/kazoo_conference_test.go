package flow_test

import (
	"testing"

	"github.com/pivotua/pivotua/flow/flowtest"
)

// A channel with no RTP session of pivotua's own (no bridge side) cannot join a room: the module
// goes on with its "failed" child, and falls back to "_" without one.
func TestConferenceWithoutABridgeGoesOnWithFailed(t *testing.T) {
	ch := flowtest.NewChannel()
	flowtest.Run(t, flowtest.NewCall(t, ch, nil), flowtest.MustNode(t, `{"module":"conference","data":{"config":{"name":"r"}},
		"children":{"failed":{"module":"response","data":{"code":486}},"_":{"module":"response","data":{"code":404}}}}`))
	flowtest.EqualEvents(t, ch.Events(), []string{"reject 486 Busy Here"})

	ch = flowtest.NewChannel()
	flowtest.Run(t, flowtest.NewCall(t, ch, nil), flowtest.MustNode(t, `{"module":"conference","data":{"id":"r"},"children":{"_":{"module":"hangup"}}}`))
	flowtest.EqualEvents(t, ch.Events(), []string{"hangup"})
}
