package flow

import (
	"testing"
	"time"
)

// BenchmarkCallsEndAtMaxEnded is one call registered and ended with the registry full of ended
// calls (max_ended's default): what every call costs the registry at a steady setup rate.
func BenchmarkCallsEndAtMaxEnded(b *testing.B) {
	r := NewCalls(10000, time.Hour)
	for range 10000 {
		r.end(r.register(CallRecord{AccountID: "a", Direction: DirectionInbound, Status: StatusRinging}), StatusCompleted)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		r.end(r.register(CallRecord{AccountID: "a", Direction: DirectionInbound, Status: StatusRinging}), StatusCompleted)
	}
}
