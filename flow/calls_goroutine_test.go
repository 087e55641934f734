package flow_test

import (
	"context"
	"runtime"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/pivotua/pivotua/flow"
	"github.com/pivotua/pivotua/flow/flowtest"
)

// goroutinesPerCall runs calls that each play a prompt for an hour, registered in a Calls registry
// (steerable) or not, and returns the goroutines they added while all were playing.
func goroutinesPerCall(t *testing.T, calls int, register bool) float64 {
	t.Helper()
	registry := flow.NewCalls(calls, time.Hour)
	node := flowtest.MustNode(t, `{"module":"tts","data":{"text":"hold the line"}}`)
	base := runtime.NumGoroutine()
	var chans []*flowtest.Channel
	var wg sync.WaitGroup
	for range calls {
		ch := flowtest.NewChannel()
		ch.PlayTime = time.Hour
		c := flowtest.NewCall(t, ch, nil)
		if register {
			c.Register(registry)
		}
		chans = append(chans, ch)
		wg.Go(func() { c.Run(context.Background(), node) })
	}
	for _, ch := range chans { // every call is in its Play before the count
		for !slices.ContainsFunc(ch.Kinds(), func(k string) bool { return k == "play" }) {
			time.Sleep(time.Millisecond)
		}
	}
	added := runtime.NumGoroutine() - base
	for _, ch := range chans {
		ch.RemoteHangup()
	}
	wg.Wait()
	return float64(added) / float64(calls)
}

// A call the Calls API can steer costs no goroutine more than one it cannot: the call's own goroutine
// learns of an update from the action's context, which the update cancels. (A watcher goroutine per
// action was 4 KB of stack a call at a thousand calls.)
func TestSteerableCallCostsNoGoroutineOfItsOwn(t *testing.T) {
	// Goroutines other tests left behind may end while a count is taken, so a count is good to a few
	// goroutines, a tenth of one per call here; a watcher per call would add a whole one.
	plain := goroutinesPerCall(t, 40, false)
	steerable := goroutinesPerCall(t, 40, true)
	if steerable > plain+0.5 {
		t.Errorf("a steerable call runs %.2f goroutines, one the registry does not know %.2f", steerable, plain)
	}
}
