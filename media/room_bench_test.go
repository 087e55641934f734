package media

import (
	"fmt"
	"math"
	"net/netip"
	"runtime"
	"testing"

	"github.com/pion/rtp"

	"github.com/pivotua/pivotua/codec"
)

// roomBench is a room of n parties whose sessions the caller drives: off
// their clocks, PCMU and PCMA alternating, each with a frame of its own tone
// to push per tick.
type roomBench struct {
	room    *Room
	parties []*roomParty
	frames  [][]byte
	h       rtp.Header
	i       int
}

func newRoomBench(tb testing.TB, n int) *roomBench {
	tb.Helper()
	e := newTestEngine(tb, n, nil)
	rb := &roomBench{room: NewRoom()}
	for i := range n {
		s := openSession(tb, e)
		offClock(s)
		law := codec.PCMU
		if i%2 == 1 {
			law = codec.PCMA
		}
		if err := s.Start(Params{Remote: netip.MustParseAddrPort("127.0.0.1:9"), Law: law, PayloadType: uint8(law)}); err != nil {
			tb.Fatal(err)
		}
		if err := rb.room.Join(s, PartyOptions{}); err != nil {
			tb.Fatal(err)
		}
		pcm := make([]int16, codec.FrameSamples)
		for j := range pcm {
			pcm[j] = int16(3000 * math.Sin(2*math.Pi*float64(300+50*i)*float64(j)/codec.SampleRate))
		}
		frame := make([]byte, codec.FrameSamples)
		codec.EncodeFrame(law, frame, pcm)
		rb.frames = append(rb.frames, frame)
	}
	rb.parties = rb.room.view.Load().parties
	// Prime every FIFO, as the first ticks of a call do.
	for range primeFeedFrames * len(rb.parties) {
		rb.partyTick()
	}
	return rb
}

// partyTick is one party's share of a tick, in slot order: the clock hands
// its party the packet it read, then builds the party's frame (the first
// party of the tick mixes for everyone).
func (rb *roomBench) partyTick() {
	p := rb.parties[rb.i]
	rb.h.PayloadType = uint8(p.s.cfg.Load().law)
	p.push(&rb.h, rb.frames[rb.i])
	if _, _, ok := p.s.buildFrame(); !ok {
		panic("no packet")
	}
	rb.i = (rb.i + 1) % len(rb.parties)
}

// BenchmarkBridgeRoomPartyTick is a room's clock work per party and tick
// (one op), without the syscalls: the party's received frame decoded into
// its FIFO, its share of the mix (sum, minus its own voice, saturate) and
// its frame encoded in its law into an RTP packet. It should be flat in the
// number of parties: the mix is linear in them.
func BenchmarkBridgeRoomPartyTick(b *testing.B) {
	for _, n := range []int{2, 5, 100} {
		b.Run(fmt.Sprintf("parties=%d", n), func(b *testing.B) {
			rb := newRoomBench(b, n)
			b.ReportAllocs()
			for b.Loop() {
				rb.partyTick()
			}
		})
	}
}

// BenchmarkBridgeRoomPartyTickRecording is the same with the room's mixed
// recording on.
func BenchmarkBridgeRoomPartyTickRecording(b *testing.B) {
	rb := newRoomBench(b, 5)
	rec, err := rb.room.Record(discard{})
	if err != nil {
		b.Fatal(err)
	}
	defer rec.Stop()
	b.ReportAllocs()
	n := 0
	for b.Loop() {
		rb.partyTick()
		if n++; n%40 == 0 {
			runtime.Gosched() // let the recording's writer run, as the clock's sleeps would
		}
	}
}

func TestRoomTickDoesNotAllocate(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts are not meaningful under -race")
	}
	rb := newRoomBench(t, 5)
	if n := testing.AllocsPerRun(200, func() {
		for range 5 {
			rb.partyTick()
		}
	}); n != 0 {
		t.Errorf("a tick of a room of 5: %v allocs", n)
	}
}
