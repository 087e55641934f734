package media

import "testing"

// BenchmarkParseTelephoneEvent is the RFC 4733 parse done for every telephone-event packet received.
func BenchmarkParseTelephoneEvent(b *testing.B) {
	payload := []byte{5, 0x8a, 0x03, 0x20}
	b.ReportAllocs()
	var sink telephoneEvent
	for b.Loop() {
		ev, ok := parseTelephoneEvent(payload)
		if !ok {
			b.Fatal("parse failed")
		}
		sink = ev
	}
	_ = sink
}
