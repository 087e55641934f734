package media

import (
	"encoding/binary"
	"fmt"
	"math"
	"net"
	"net/netip"
	"os"
	"runtime"
	"slices"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/pion/rtp"
	"golang.org/x/sys/unix"

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

// TestLoadRoomPacing is a bounded load run, off by default like
// TestLoadPacing: PIVOTUA_MEDIA_ROOMS=RxP starts R rooms of P parties on
// one engine. One loopback socket plays every party's far end: it sends each
// session a 20 ms frame of tone every 20 ms and receives what each party
// hears. It reports, over 5 s with the rooms and 5 s with the same sessions
// out of their rooms, the inter-arrival deviation of what the parties hear
// and the process CPU (the far ends included) per party-tick.
func TestLoadRoomPacing(t *testing.T) {
	var rooms, size int
	if _, err := fmt.Sscanf(os.Getenv("PIVOTUA_MEDIA_ROOMS"), "%dx%d", &rooms, &size); err != nil || rooms <= 0 || size <= 0 {
		t.Skip("set PIVOTUA_MEDIA_ROOMS=RxP (rooms x parties) to run")
	}
	n := rooms * size
	e := newTestEngine(t, n+n/4+16, nil)
	conn, err := net.ListenUDP("udp4", net.UDPAddrFromAddrPort(netip.AddrPortFrom(loopback, 0)))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetReadBuffer(8 << 20)
	conn.SetWriteBuffer(8 << 20)
	far := conn.LocalAddr().(*net.UDPAddr).AddrPort()

	var ss []*Session
	var rs []*Room
	for range rooms {
		r := NewRoom()
		rs = append(rs, r)
		for range size {
			s, err := e.Open()
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			if err := s.Start(Params{Remote: far, Law: codec.PCMU}); err != nil {
				t.Fatal(err)
			}
			if err := r.Join(s, PartyOptions{}); err != nil {
				t.Fatal(err)
			}
			ss = append(ss, s)
		}
	}

	// The far ends: every session gets a frame of tone every 20 ms.
	quit := make(chan struct{})
	sent := make(chan struct{})
	go func() {
		defer close(sent)
		frame := make([]byte, codec.FrameSamples)
		codec.EncodeFrame(codec.PCMU, frame, tonePrompt(700, codec.FrameDuration).PCM())
		pkts := make([][]byte, len(ss))
		for i := range pkts {
			pkts[i] = marshalRTP(t, rtp.Packet{Header: rtp.Header{Version: 2, SSRC: uint32(i + 1)}, Payload: frame})
		}
		next := time.Now()
		for k := 0; ; k++ {
			for i, s := range ss {
				binary.BigEndian.PutUint16(pkts[i][2:], uint16(k))
				binary.BigEndian.PutUint32(pkts[i][4:], uint32(k*codec.FrameSamples))
				conn.WriteToUDPAddrPort(pkts[i], s.LocalAddr())
			}
			next = next.Add(codec.FrameDuration)
			select {
			case <-quit:
				return
			case <-time.After(time.Until(next)):
			}
		}
	}()
	defer func() { close(quit); <-sent }()

	// What the parties hear: deviation from 20 ms between one stream's
	// packets, and how many packets carry sound.
	type window struct {
		devs           []float64
		packets, sound int
	}
	var mu sync.Mutex
	cur := &window{}
	last := make(map[uint32]time.Time, n)
	// Arrival times are the kernel's (SO_TIMESTAMPNS), so the reader's own
	// scheduling does not count against the engine's pacing.
	raw, err := conn.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	raw.Control(func(fd uintptr) { err = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_TIMESTAMPNS, 1) })
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		buf := make([]byte, 1500)
		oob := make([]byte, 128)
		for {
			k, oobn, _, _, err := conn.ReadMsgUDPAddrPort(buf, oob)
			if err != nil {
				return
			}
			now := time.Now()
			if msgs, err := unix.ParseSocketControlMessage(oob[:oobn]); err == nil {
				for _, m := range msgs {
					if m.Header.Level == unix.SOL_SOCKET && m.Header.Type == unix.SO_TIMESTAMPNS && len(m.Data) >= 16 {
						now = time.Unix(int64(binary.NativeEndian.Uint64(m.Data)), int64(binary.NativeEndian.Uint64(m.Data[8:])))
					}
				}
			}
			if k < rtpHeaderSize+codec.FrameSamples {
				continue
			}
			ssrc := binary.BigEndian.Uint32(buf[8:])
			mu.Lock()
			if prev, ok := last[ssrc]; ok {
				cur.devs = append(cur.devs, math.Abs(float64(now.Sub(prev)-codec.FrameDuration))/1e6)
			}
			last[ssrc] = now
			cur.packets++
			if slices.ContainsFunc(buf[rtpHeaderSize:k], func(b byte) bool { return b != 0xff && b != 0x7f }) {
				cur.sound++
			}
			mu.Unlock()
		}
	}()

	measure := func(name string) {
		time.Sleep(time.Second) // warm up, and let the FIFOs prime
		mu.Lock()
		cur = &window{}
		mu.Unlock()
		var r0, r1 syscall.Rusage
		syscall.Getrusage(syscall.RUSAGE_SELF, &r0)
		begin := time.Now()
		time.Sleep(5 * time.Second)
		syscall.Getrusage(syscall.RUSAGE_SELF, &r1)
		wall := time.Since(begin)
		mu.Lock()
		w := cur
		cur = &window{}
		mu.Unlock()
		cpu := time.Duration(r1.Utime.Nano() + r1.Stime.Nano() - r0.Utime.Nano() - r0.Stime.Nano())
		slices.Sort(w.devs)
		q := func(p float64) float64 { return w.devs[int(p*float64(len(w.devs)-1))] }
		partyTicks := float64(n) * wall.Seconds() * 50
		t.Logf("%s: %d parties, %d packets (%.0f%% with sound); |Δ-20ms| p50 %.2f ms p99 %.2f ms p99.9 %.2f ms max %.2f ms; CPU %.1f%% of a core, %.2f µs per party-tick (far ends included)",
			name, n, w.packets, 100*float64(w.sound)/float64(max(w.packets, 1)), q(0.5), q(0.99), q(0.999), w.devs[len(w.devs)-1],
			100*cpu.Seconds()/wall.Seconds(), float64(cpu.Microseconds())/partyTicks)
	}
	measure(fmt.Sprintf("%d rooms of %d", rooms, size))
	for i, s := range ss {
		rs[i/size].Leave(s)
	}
	measure("the same sessions out of their rooms")
}
