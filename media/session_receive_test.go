package media

import (
	"io"
	"net/netip"
	"testing"

	"github.com/pion/rtp"

	"github.com/pivotua/pivotua/codec"
)

func TestSeqTrackerEstimatesLoss(t *testing.T) {
	for _, c := range []struct {
		name string
		seqs []uint16
		lost uint64
	}{
		{"in order", []uint16{1, 2, 3, 4, 5}, 0},
		{"gap", []uint16{1, 2, 4, 5}, 1},
		{"wrap with gap", []uint16{65534, 65535, 0, 2}, 1},
		{"reordered", []uint16{1, 3, 2, 4}, 0},
		{"duplicate", []uint16{1, 2, 2, 3}, 0},
		{"stray big jump ignored", []uint16{1, 2, 40000, 3, 5}, 1},
		{"confirmed restart", []uint16{1, 2, 4, 40000, 40001, 40003}, 2},
	} {
		t.Run(c.name, func(t *testing.T) {
			var tr seqTracker
			var carried uint64
			for _, s := range c.seqs {
				tr.update(s, &carried)
			}
			if got := carried + tr.lost(); got != c.lost {
				t.Errorf("lost %d, want %d", got, c.lost)
			}
		})
	}
}

// newFuzzSession is a started session that sends nothing, for driving the
// receive path directly from the test goroutine.
func newFuzzSession(t testing.TB) *Session {
	e := newTestEngine(t, 4, nil)
	s := openSession(t, e)
	s.SetSending(false)
	if err := s.Start(Params{Law: codec.PCMU}); err != nil {
		t.Fatal(err)
	}
	return s
}

func marshalRTP(t testing.TB, p rtp.Packet) []byte {
	b, err := p.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func FuzzReceivePacket(f *testing.F) {
	payload := make([]byte, codec.FrameSamples)
	f.Add(marshalRTP(f, rtp.Packet{Header: rtp.Header{Version: 2, SequenceNumber: 1, SSRC: 5}, Payload: payload}))
	f.Add(marshalRTP(f, rtp.Packet{Header: rtp.Header{Version: 2, CSRC: []uint32{1, 2}, SSRC: 5}, Payload: payload}))
	ext := rtp.Header{Version: 2, SSRC: 5}
	if err := ext.SetExtension(1, []byte{1, 2, 3}); err != nil {
		f.Fatal(err)
	}
	f.Add(marshalRTP(f, rtp.Packet{Header: ext, Payload: payload}))
	f.Add(marshalRTP(f, rtp.Packet{Header: rtp.Header{Version: 2, Padding: true, PaddingSize: 4, SSRC: 5}, Payload: payload}))
	f.Add([]byte{0x80, 0xc8, 0, 6, 0, 0, 0, 1}) // RTCP SR
	f.Add([]byte{0x90, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 5, 0xbe, 0xde, 0xff, 0xff})
	f.Add([]byte{0xa0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 5, 0})
	f.Add([]byte{})

	s := newFuzzSession(f)
	from := netip.MustParseAddrPort("127.0.0.1:9")
	var calls int
	s.SetReceiver(func(h *rtp.Header, p []byte) { calls += len(p) & 1 })
	s.OnDigit(func(Digit) { calls++ }) // in-band detection runs on PT 0 and 8
	rec, err := s.StartRecording(io.Discard)
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { rec.Stop() })
	f.Fuzz(func(t *testing.T, data []byte) {
		accepted := s.receivePacket(data, from)
		if accepted && len(data) < rtpHeaderSize {
			t.Fatalf("accepted a %d-byte datagram", len(data))
		}
	})
}
