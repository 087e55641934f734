package media

import (
	"bytes"
	"context"
	"errors"
	"net/netip"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pion/rtp"

	"github.com/pivotua/pivotua/codec"
	"github.com/pivotua/pivotua/internal/testkit"
)

// checkFollows asserts that cur continues prev's stream: same SSRC, the next
// sequence number, and the timestamp one frame on — or more frames on, after
// a hold or a skipped stall, in which case cur starts a talk spurt.
func checkFollows(t *testing.T, prev, cur receivedPacket) {
	t.Helper()
	if cur.header.SSRC != prev.header.SSRC {
		t.Fatalf("SSRC changed %#x -> %#x", prev.header.SSRC, cur.header.SSRC)
	}
	if cur.header.SequenceNumber != prev.header.SequenceNumber+1 {
		t.Fatalf("sequence %d after %d", cur.header.SequenceNumber, prev.header.SequenceNumber)
	}
	d := cur.header.Timestamp - prev.header.Timestamp
	if d != codec.FrameSamples && (!cur.header.Marker || d%codec.FrameSamples != 0) {
		t.Fatalf("timestamp advanced by %d (marker %v), want %d", d, cur.header.Marker, codec.FrameSamples)
	}
}

func TestSessionPacesFramesEvery20ms(t *testing.T) {
	e := newTestEngine(t, 8, nil)
	s := openSession(t, e)
	peer := newTestPeer(t)
	if err := s.Start(Params{Remote: peer.addr(), Law: codec.PCMU}); err != nil {
		t.Fatal(err)
	}
	first := peer.next(2 * time.Second)
	if !first.header.Marker {
		t.Error("first packet has no marker bit")
	}
	if first.header.SSRC != s.Stats().SSRC {
		t.Errorf("SSRC %#x, Stats says %#x", first.header.SSRC, s.Stats().SSRC)
	}
	const n = 100
	prev := first
	for range n {
		cur := peer.next(time.Second)
		checkFollows(t, prev, cur)
		if cur.header.PayloadType != 0 || len(cur.payload) != codec.FrameSamples {
			t.Fatalf("payload type %d, %d bytes", cur.header.PayloadType, len(cur.payload))
		}
		if cur.from != s.LocalAddr() {
			t.Fatalf("sent from %s, want %s", cur.from, s.LocalAddr())
		}
		prev = cur
	}
	mean := prev.at.Sub(first.at) / n
	if mean < 15*time.Millisecond || mean > 27*time.Millisecond {
		t.Errorf("mean inter-arrival %v, want about 20ms", mean)
	}
	t.Logf("mean inter-arrival over %d packets: %v", n, mean)
}

func TestSessionSendsSilenceWhileNothingPlays(t *testing.T) {
	for _, law := range []codec.Law{codec.PCMU, codec.PCMA} {
		t.Run(law.String(), func(t *testing.T) {
			e := newTestEngine(t, 4, nil)
			s := openSession(t, e)
			peer := newTestPeer(t)
			if err := s.Start(Params{Remote: peer.addr(), Law: law, PayloadType: uint8(law)}); err != nil {
				t.Fatal(err)
			}
			want := silenceFrame(law)
			for range 10 {
				p := peer.next(2 * time.Second)
				if p.header.PayloadType != uint8(law) {
					t.Fatalf("payload type %d, want %d", p.header.PayloadType, law)
				}
				if !bytes.Equal(p.payload, want) {
					t.Fatalf("payload %x, want silence %#x", p.payload[:8], want[0])
				}
			}
		})
	}
}

func TestPlayDeliversPromptFramesInOrderThenSilence(t *testing.T) {
	for _, law := range []codec.Law{codec.PCMU, codec.PCMA} {
		t.Run(law.String(), func(t *testing.T) {
			e := newTestEngine(t, 4, nil)
			s := openSession(t, e)
			peer := newTestPeer(t)
			if err := s.Start(Params{Remote: peer.addr(), Law: law, PayloadType: uint8(law)}); err != nil {
				t.Fatal(err)
			}
			silence := silenceFrame(law)
			prompt := tonePrompt(440, 300*time.Millisecond)
			frames := prompt.Frames(law)
			prev := peer.next(2 * time.Second)

			played := make(chan error, 1)
			go func() { played <- s.Play(context.Background(), prompt) }()

			// Silence until the prompt starts.
			var cur receivedPacket
			for {
				cur = peer.next(time.Second)
				checkFollows(t, prev, cur)
				prev = cur
				if !bytes.Equal(cur.payload, silence) {
					break
				}
			}
			if !cur.header.Marker {
				t.Error("prompt's first packet has no marker bit")
			}
			for i, f := range frames {
				if i > 0 {
					cur = peer.next(time.Second)
					checkFollows(t, prev, cur)
					prev = cur
				}
				if !bytes.Equal(cur.payload, f) {
					t.Fatalf("frame %d of %d differs from the prompt", i, len(frames))
				}
			}
			select {
			case err := <-played:
				if err != nil {
					t.Fatalf("Play: %v", err)
				}
			case <-time.After(2 * time.Second):
				t.Fatal("Play did not return after its last frame")
			}
			for range 3 {
				cur = peer.next(time.Second)
				checkFollows(t, prev, cur)
				prev = cur
				if !bytes.Equal(cur.payload, silence) {
					t.Fatal("no silence after the prompt")
				}
			}
		})
	}
}

func TestTwoPlaysAndRestartKeepSSRCSequenceAndTimestamp(t *testing.T) {
	e := newTestEngine(t, 4, nil)
	s := openSession(t, e)
	peer := newTestPeer(t)
	params := Params{Remote: peer.addr(), Law: codec.PCMU}
	if err := s.Start(params); err != nil {
		t.Fatal(err)
	}
	got := []receivedPacket{peer.next(2 * time.Second)}
	ctx := context.Background()
	if err := s.Play(ctx, tonePrompt(440, 100*time.Millisecond)); err != nil {
		t.Fatal(err)
	}
	if err := s.Play(ctx, tonePrompt(880, 100*time.Millisecond)); err != nil {
		t.Fatal(err)
	}
	if err := s.Start(params); err != nil { // a re-INVITE with the same media
		t.Fatal(err)
	}
	time.Sleep(100 * time.Millisecond)

	for {
		select {
		case p := <-peer.packets:
			got = append(got, p)
			continue
		default:
		}
		break
	}
	if len(got) < 15 {
		t.Fatalf("only %d packets", len(got))
	}
	markers := 0
	for i := 1; i < len(got); i++ {
		checkFollows(t, got[i-1], got[i])
		if got[i].header.Marker {
			markers++
		}
	}
	// Two prompt starts and the re-Start (more only if the box stalled).
	if markers < 3 {
		t.Errorf("%d marker bits after the first packet, want at least 3", markers)
	}
}

// streamer sends a paced stream of silence from one peer socket, 20 ms apart,
// until stopped; moveTo switches the socket mid-stream (NAT rebinding: the
// SSRC, sequence and timestamps go on).
type streamer struct {
	mu   sync.Mutex
	peer *testPeer
	stop chan struct{}
	done chan struct{}
}

func startStreamer(t *testing.T, peer *testPeer, to netip.AddrPort, ssrc uint32) *streamer {
	st := &streamer{peer: peer, stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(st.done)
		tick := time.NewTicker(codec.FrameDuration)
		defer tick.Stop()
		frame := silenceFrame(codec.PCMU)
		for seq := uint16(1); ; seq++ {
			st.mu.Lock()
			p := st.peer
			st.mu.Unlock()
			p.send(to, ssrc, seq, uint32(seq)*codec.FrameSamples, frame)
			select {
			case <-st.stop:
				return
			case <-tick.C:
			}
		}
	}()
	t.Cleanup(st.end)
	return st
}

func (st *streamer) moveTo(p *testPeer) {
	st.mu.Lock()
	st.peer = p
	st.mu.Unlock()
}

func (st *streamer) end() {
	select {
	case <-st.stop:
	default:
		close(st.stop)
	}
	<-st.done
}

// An outsider on another host that floods the port with RFC 4733 key presses
// (more than the session reads a tick, so the socket fills and the kernel
// drops some of the caller's packets too), from before the call is answered
// (the next port was guessed), while the caller talks from its SDP address:
// not one key is heard, and the call's audio goes to the caller, never to the
// outsider. The flood is about a packet a millisecond, over twice what the
// session reads: a faster one fills the socket's queue (256 datagrams here)
// before the caller's first packet, and then whether any of the caller's gets
// in depends on where its 20 ms falls against the clock's reads, the only
// moments the queue has room; a caller none of whose packets reach the socket
// is one strict learning cannot tell from a silent one.
func TestStrictLearningIgnoresAFloodingOutsider(t *testing.T) {
	e := newTestEngine(t, 4, nil)
	s := openSession(t, e)
	caller, outsider := newTestPeer(t), newTestPeerOn(t, netip.MustParseAddr("127.0.0.2")) // another host
	var heard atomic.Int32                                                                 // counted, not queued: a queue would fill and stall the clock
	s.OnDigit(func(Digit) { heard.Add(1) })

	stop := make(chan struct{})
	flooded := make(chan int)
	go func() {
		n := 0
		defer func() { flooded <- n }()
		for seq := uint16(0); ; seq++ {
			select {
			case <-stop:
				return
			default:
			}
			// Key 1 pressed and ended, again and again: each end is a digit if heard.
			ts := uint32(seq/4) * 800
			payload := eventPayload('1', seq%4 == 3, uint16(seq%4+1)*160)
			outsider.sendHeader(s.LocalAddr(), rtp.Header{PayloadType: testEventPT, SequenceNumber: seq, Timestamp: ts, SSRC: 0xbad}, payload)
			n++
			time.Sleep(time.Millisecond)
		}
	}()
	time.Sleep(100 * time.Millisecond) // the flood waits at the port before the answer
	if err := s.Start(Params{Remote: caller.addr(), Law: codec.PCMU, EventPayloadType: testEventPT}); err != nil {
		t.Fatal(err)
	}
	startStreamer(t, caller, s.LocalAddr(), 0x1234)
	time.Sleep(1500 * time.Millisecond)
	close(stop)
	n := <-flooded

	if k := heard.Load(); k != 0 {
		t.Errorf("%d keys from the outsider were heard (of %d packets sent)", k, n)
	}
	if st := s.Stats(); st.Remote != caller.addr() || st.RemoteSSRC != 0x1234 {
		t.Errorf("latched to %v ssrc %#x, want the caller %v", st.Remote, st.RemoteSSRC, caller.addr())
	}
	outsider.drain()
	if !outsider.quiet(100 * time.Millisecond) {
		t.Error("the outsider gets the call's RTP")
	}
	t.Logf("%d injected packets sent", n)
}

// The caller's NAT binding changes mid-call: its stream (same SSRC) comes from
// a new port and is heard there after its probation, and the call's audio
// follows it. A stranger's stream from a third address never takes over, and
// a new Start with the same SDP address keeps the learned source.
func TestStrictLearningFollowsNATRebinding(t *testing.T) {
	e := newTestEngine(t, 4, nil)
	s := openSession(t, e)
	declared := newTestPeer(t) // the address in the SDP, which never sends (NAT)
	first, second := newTestPeer(t), newTestPeer(t)
	params := Params{Remote: declared.addr(), Law: codec.PCMU}
	if err := s.Start(params); err != nil {
		t.Fatal(err)
	}
	declared.next(2 * time.Second) // until a source latches, the SDP address gets the RTP

	st := startStreamer(t, first, s.LocalAddr(), 0x1234)
	testkit.WaitFor(t, 3*time.Second, "latch to the caller after its head start", func() bool { return s.Stats().Remote == first.addr() })
	first.next(time.Second)

	stranger := newTestPeer(t)
	other := startStreamer(t, stranger, s.LocalAddr(), 0x9999)
	time.Sleep(300 * time.Millisecond)
	other.end()
	if r := s.Stats().Remote; r != first.addr() {
		t.Fatalf("a stranger's stream moved the call to %s", r)
	}

	before := s.Stats().PacketsReceived
	st.moveTo(second) // the NAT rebinds
	testkit.WaitFor(t, 2*time.Second, "re-latch after rebinding", func() bool { return s.Stats().Remote == second.addr() })
	second.next(time.Second)
	testkit.WaitFor(t, 2*time.Second, "the caller heard from its new port", func() bool { return s.Stats().PacketsReceived > before+10 })

	if err := s.Start(params); err != nil { // a re-INVITE with the same SDP
		t.Fatal(err)
	}
	time.Sleep(100 * time.Millisecond)
	if r := s.Stats().Remote; r != second.addr() {
		t.Errorf("after a new Start with the same SDP address the call sends to %s, want %s", r, second.addr())
	}
}

func TestPacketsBeforeStartAreDrainedNotCounted(t *testing.T) {
	e := newTestEngine(t, 4, nil)
	s := openSession(t, e)
	peer := newTestPeer(t)
	for i := range 5 {
		peer.send(s.LocalAddr(), 7, uint16(i), uint32(i*160), silenceFrame(codec.PCMU))
	}
	time.Sleep(50 * time.Millisecond)
	if st := s.Stats(); st.PacketsReceived != 0 || st.Remote.IsValid() {
		t.Fatalf("before Start: %+v", st)
	}
	if err := s.Start(Params{Remote: peer.addr(), Law: codec.PCMU}); err != nil {
		t.Fatal(err)
	}
	peer.send(s.LocalAddr(), 7, 5, 800, silenceFrame(codec.PCMU))
	testkit.WaitFor(t, 2*time.Second, "packet counted", func() bool { return s.Stats().PacketsReceived == 1 })
}

func TestStatsCountPacketsBytesAndLoss(t *testing.T) {
	e := newTestEngine(t, 4, nil)
	s := openSession(t, e)
	peer := newTestPeer(t)
	if err := s.Start(Params{Remote: peer.addr(), Law: codec.PCMU}); err != nil {
		t.Fatal(err)
	}
	const ssrc = 0xabcdef
	sent := 0
	for seq := uint16(65530); seq != 14; seq++ { // wraps around
		if seq == 65534 || seq == 3 || seq == 4 {
			continue // lost
		}
		peer.send(s.LocalAddr(), ssrc, seq, uint32(seq)*160, silenceFrame(codec.PCMU))
		sent++
	}
	testkit.WaitFor(t, 2*time.Second, "all packets", func() bool { return s.Stats().PacketsReceived == uint64(sent) })
	peer.next(2 * time.Second)
	// The peer can see a packet before the clock has counted it.
	testkit.WaitFor(t, time.Second, "a counted send", func() bool { return s.Stats().PacketsSent > 0 })
	st := s.Stats()
	if st.PacketsLost != 3 {
		t.Errorf("PacketsLost %d, want 3", st.PacketsLost)
	}
	if st.BytesReceived != uint64(sent)*codec.FrameSamples {
		t.Errorf("BytesReceived %d, want %d", st.BytesReceived, sent*codec.FrameSamples)
	}
	if st.RemoteSSRC != ssrc || st.Remote != peer.addr() {
		t.Errorf("remote %s ssrc %#x", st.Remote, st.RemoteSSRC)
	}
	if since := time.Since(st.LastReceived); since < 0 || since > 2*time.Second {
		t.Errorf("LastReceived %v ago", since)
	}
	if st.PacketsSent == 0 || st.BytesSent != st.PacketsSent*codec.FrameSamples {
		t.Errorf("PacketsSent %d BytesSent %d", st.PacketsSent, st.BytesSent)
	}
}

func TestSetSendingFalseStopsPackets(t *testing.T) {
	e := newTestEngine(t, 4, nil)
	s := openSession(t, e)
	peer := newTestPeer(t)
	if err := s.Start(Params{Remote: peer.addr(), Law: codec.PCMU}); err != nil {
		t.Fatal(err)
	}
	for range 3 {
		peer.next(2 * time.Second)
	}
	s.SetSending(false)
	time.Sleep(60 * time.Millisecond)
	var last receivedPacket
	for drained := false; !drained; {
		select {
		case last = <-peer.packets:
		default:
			drained = true
		}
	}
	if !peer.quiet(250 * time.Millisecond) {
		t.Fatal("RTP still flows on hold")
	}
	s.SetSending(true)
	resumed := peer.next(time.Second)
	if last.header.SSRC != 0 {
		if !resumed.header.Marker {
			t.Error("no marker bit on resume")
		}
		if resumed.header.SequenceNumber != last.header.SequenceNumber+1 {
			t.Errorf("sequence %d after %d", resumed.header.SequenceNumber, last.header.SequenceNumber)
		}
		if d := resumed.header.Timestamp - last.header.Timestamp; d < 12*codec.FrameSamples || d%codec.FrameSamples != 0 {
			t.Errorf("timestamp advanced %d over the hold, want the held frames", d)
		}
	}
}

func TestMediaTimeoutClosesDone(t *testing.T) {
	e := newTestEngine(t, 4, func(c *Config) { c.MediaTimeout = 300 * time.Millisecond })
	s := openSession(t, e)
	peer := newTestPeer(t)
	start := time.Now()
	if err := s.Start(Params{Remote: peer.addr(), Law: codec.PCMU}); err != nil {
		t.Fatal(err)
	}
	select {
	case <-s.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("no media timeout")
	}
	if elapsed := time.Since(start); elapsed < 300*time.Millisecond {
		t.Errorf("timed out after %v", elapsed)
	}
	if !errors.Is(s.Err(), ErrMediaTimeout) {
		t.Errorf("Err %v", s.Err())
	}
	if err := s.Play(context.Background(), tonePrompt(440, 40*time.Millisecond)); !errors.Is(err, ErrMediaTimeout) {
		t.Errorf("Play after timeout: %v", err)
	}
}

// TestUnstartedSessionHasNoMediaTimeout: a session is on its clock from Open
// (its socket is drained), but the media timeout counts only from Start: a
// leg that rings for a minute is not ended for want of RTP.
func TestUnstartedSessionHasNoMediaTimeout(t *testing.T) {
	e := newTestEngine(t, 4, func(c *Config) { c.MediaTimeout = 100 * time.Millisecond })
	s := openSession(t, e)
	select {
	case <-s.Done():
		t.Fatalf("unstarted session ended: %v", s.Err())
	case <-time.After(500 * time.Millisecond):
	}
}

func TestIncomingRTPHoldsMediaTimeoutOff(t *testing.T) {
	e := newTestEngine(t, 4, func(c *Config) { c.MediaTimeout = 300 * time.Millisecond })
	s := openSession(t, e)
	peer := newTestPeer(t)
	if err := s.Start(Params{Remote: peer.addr(), Law: codec.PCMU}); err != nil {
		t.Fatal(err)
	}
	for i := range 40 {
		peer.send(s.LocalAddr(), 1, uint16(i), uint32(i*160), silenceFrame(codec.PCMU))
		time.Sleep(20 * time.Millisecond)
	}
	if err := s.Err(); err != nil {
		t.Fatalf("timed out while RTP flowed: %v", err)
	}
	select {
	case <-s.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("no media timeout after RTP stopped")
	}
}

func TestCloseDuringPlayUnblocksPlay(t *testing.T) {
	e := newTestEngine(t, 4, nil)
	s := openSession(t, e)
	peer := newTestPeer(t)
	if err := s.Start(Params{Remote: peer.addr(), Law: codec.PCMU}); err != nil {
		t.Fatal(err)
	}
	played := make(chan error, 1)
	go func() { played <- s.Play(context.Background(), tonePrompt(440, 5*time.Second)) }()
	time.Sleep(100 * time.Millisecond)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-played:
		if !errors.Is(err, ErrClosed) {
			t.Errorf("Play returned %v, want ErrClosed", err)
		}
	case <-time.After(time.Second):
		t.Fatal("Play still blocked after Close")
	}
	select {
	case <-s.Done():
	default:
		t.Error("Done open after Close")
	}
	if err := s.Start(Params{Remote: peer.addr(), Law: codec.PCMU}); !errors.Is(err, ErrClosed) {
		t.Errorf("Start after Close: %v", err)
	}
}

func TestPlayStopsAtNextFrameWhenContextEnds(t *testing.T) {
	e := newTestEngine(t, 4, nil)
	s := openSession(t, e)
	peer := newTestPeer(t)
	if err := s.Start(Params{Remote: peer.addr(), Law: codec.PCMU}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 150*time.Millisecond)
	defer cancel()
	begin := time.Now()
	if err := s.Play(ctx, tonePrompt(440, 5*time.Second)); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Play: %v", err)
	}
	if d := time.Since(begin); d > time.Second {
		t.Errorf("Play returned %v after its context ended", d)
	}
	expectPromptStopped(t, s, peer, "its context ended")
}

func TestPlayRefusesConcurrentPlayAndUnstartedSession(t *testing.T) {
	e := newTestEngine(t, 4, nil)
	s := openSession(t, e)
	if err := s.Play(context.Background(), tonePrompt(440, 40*time.Millisecond)); !errors.Is(err, ErrNotStarted) {
		t.Errorf("Play before Start: %v", err)
	}
	peer := newTestPeer(t)
	if err := s.Start(Params{Remote: peer.addr(), Law: codec.PCMU}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	played := make(chan error, 1)
	go func() { played <- s.Play(ctx, tonePrompt(440, 5*time.Second)) }()
	testkit.WaitFor(t, time.Second, "playback", func() bool { return s.play.Load() != nil })
	if err := s.Play(context.Background(), tonePrompt(440, 40*time.Millisecond)); !errors.Is(err, ErrBusy) {
		t.Errorf("second Play: %v, want ErrBusy", err)
	}
	cancel()
	if err := <-played; !errors.Is(err, context.Canceled) {
		t.Errorf("first Play: %v", err)
	}
}

func TestReceiverHookGetsHeaderAndPayload(t *testing.T) {
	e := newTestEngine(t, 4, nil)
	s := openSession(t, e)
	peer := newTestPeer(t)
	type got struct {
		seq     uint16
		ssrc    uint32
		payload []byte
	}
	ch := make(chan got, 4)
	s.SetReceiver(func(h *rtp.Header, payload []byte) {
		ch <- got{h.SequenceNumber, h.SSRC, append([]byte(nil), payload...)}
	})
	if err := s.Start(Params{Remote: peer.addr(), Law: codec.PCMU}); err != nil {
		t.Fatal(err)
	}
	want := []byte("twenty bytes payload")
	peer.send(s.LocalAddr(), 42, 7, 1120, want)
	select {
	case g := <-ch:
		if g.seq != 7 || g.ssrc != 42 || !bytes.Equal(g.payload, want) {
			t.Errorf("hook got %+v", g)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("hook not called")
	}
}

func TestUnspecifiedRemoteWaitsForPeer(t *testing.T) {
	e := newTestEngine(t, 4, nil)
	s := openSession(t, e)
	peer := newTestPeer(t)
	zero := netip.AddrPortFrom(netip.IPv4Unspecified(), 0)
	if err := s.Start(Params{Remote: zero, Law: codec.PCMA}); err != nil {
		t.Fatal(err)
	}
	time.Sleep(60 * time.Millisecond)
	if st := s.Stats(); st.PacketsSent != 0 {
		t.Fatalf("sent %d packets to nowhere", st.PacketsSent)
	}
	// With no SDP address the peer latches after its probation: a run of paced packets.
	for seq := uint16(1); ; seq++ {
		peer.send(s.LocalAddr(), 3, seq, uint32(seq)*160, silenceFrame(codec.PCMA))
		if !peer.quiet(codec.FrameDuration) {
			break
		}
		if seq == 100 {
			t.Fatal("the peer was never latched")
		}
	}
	if p := peer.next(2 * time.Second); p.header.PayloadType != 8 {
		t.Errorf("payload type %d, want 8", p.header.PayloadType)
	}
}

func TestStartRejectsBadParams(t *testing.T) {
	e := newTestEngine(t, 4, nil)
	s := openSession(t, e)
	for _, p := range []Params{
		{Law: codec.Law(3)},
		{Law: codec.PCMU, PayloadType: 128},
	} {
		if err := s.Start(p); !errors.Is(err, ErrInvalidParams) {
			t.Errorf("Start(%+v): %v", p, err)
		}
	}
}

// TestInterruptEndsThePromptAtOnce: Interrupt makes the waiting Play return nil at once, the clock
// sends silence from then on, and the session is free for the next prompt; without a prompt playing
// it does nothing.
func TestInterruptEndsThePromptAtOnce(t *testing.T) {
	e := newTestEngine(t, 4, nil)
	s := openSession(t, e)
	s.Interrupt() // nothing plays: no effect
	peer := newTestPeer(t)
	if err := s.Start(Params{Remote: peer.addr(), Law: codec.PCMU}); err != nil {
		t.Fatal(err)
	}
	played := make(chan error, 1)
	go func() { played <- s.Play(context.Background(), tonePrompt(440, 5*time.Second)) }()
	testkit.WaitFor(t, time.Second, "playback", func() bool { return s.play.Load() != nil })
	s.Interrupt()
	select {
	case err := <-played:
		if err != nil {
			t.Fatalf("interrupted Play: %v, want nil", err)
		}
	case <-time.After(time.Second):
		t.Fatal("Play still waiting a second after Interrupt")
	}
	s.Interrupt() // after the prompt: no effect, no second close
	expectPromptStopped(t, s, peer, "Interrupt")
}

// expectPromptStopped checks that a stopped prompt is no longer sent (silence follows, after what was
// in flight) and that the session is free for the next prompt.
func expectPromptStopped(t *testing.T, s *Session, peer *testPeer, after string) {
	t.Helper()
	time.Sleep(60 * time.Millisecond)
	peer.drain()
	silence := silenceFrame(codec.PCMU)
	for range 3 {
		if p := peer.next(time.Second); !bytes.Equal(p.payload, silence) {
			t.Fatalf("prompt still playing after %s", after)
		}
	}
	if err := s.Play(context.Background(), tonePrompt(440, 40*time.Millisecond)); err != nil {
		t.Fatalf("next Play: %v", err)
	}
}
