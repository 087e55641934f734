package flow_test

import (
	"testing"
	"time"

	"github.com/pivotua/pivotua/flow/flowtest"
)

func TestSleepWaitsWithoutAnswering(t *testing.T) {
	ch := flowtest.NewChannel()
	start := time.Now()
	flowtest.Run(t, flowtest.NewCall(t, ch, nil), flowtest.MustNode(t, `{"module":"sleep","data":{"duration":150,"unit":"ms"}}`))
	if elapsed := time.Since(start); elapsed < 150*time.Millisecond {
		t.Errorf("slept %v", elapsed)
	}
	flowtest.EqualEvents(t, ch.Events(), []string{"hangup"})
}
