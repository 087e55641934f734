package flow

import (
	"testing"
	"time"
)

// An ended call stays in the registry (api.max_ended of them, 10,000 by default) for the Calls API
// to list, but nothing steers it any more: it keeps no channel (160 bytes of about 600).
func TestEndedCallKeepsNoSteerChannel(t *testing.T) {
	r := NewCalls(10, time.Hour)
	e := r.register(CallRecord{AccountID: "acct", SIPCallID: "call-1", Direction: DirectionInbound, Status: StatusRinging})
	if e.steers == nil {
		t.Fatal("a live call has no steer channel")
	}
	r.end(e, StatusCompleted)
	if e.steers != nil {
		t.Error("an ended call keeps its steer channel")
	}
	if _, err := r.Update("acct", e.sid, CallUpdate{Status: StatusCompleted}); err == nil {
		t.Error("an ended call was steered")
	}
}
