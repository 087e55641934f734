package media

import (
	"encoding/binary"
	"errors"
	"io"
	"math/rand/v2"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/pion/rtp"

	"github.com/pivotua/pivotua/codec"
	"github.com/pivotua/pivotua/internal/testkit"
)

// roomParties opens one started session per law toward its own test peer
// and joins them all to a new room with the options given (by index).
func roomParties(t *testing.T, laws []codec.Law, opts map[int]PartyOptions) (*Room, []*Session, []*testPeer) {
	t.Helper()
	e := newTestEngine(t, 2*len(laws), nil)
	r := NewRoom()
	var ss []*Session
	var ps []*testPeer
	for _, law := range laws {
		s, p := openSession(t, e), newTestPeer(t)
		if err := s.Start(Params{Remote: p.addr(), Law: law, PayloadType: uint8(law)}); err != nil {
			t.Fatal(err)
		}
		ss, ps = append(ss, s), append(ps, p)
	}
	for i, s := range ss {
		if err := r.Join(s, opts[i]); err != nil {
			t.Fatalf("join %d: %v", i, err)
		}
		t.Cleanup(func() { r.Leave(s) })
	}
	return r, ss, ps
}

// talk has every peer send its tone (0: silent) to its session for d while
// all of them listen, and returns what each heard.
func talk(t *testing.T, ss []*Session, ps []*testPeer, laws []codec.Law, tones []float64, d time.Duration) [][]int16 {
	t.Helper()
	heardBy := make([][]int16, len(ss))
	var wg sync.WaitGroup
	for i := range ss {
		wg.Add(2)
		go func() {
			defer wg.Done()
			if tones[i] != 0 {
				streamTone(ps[i], ss[i].LocalAddr(), laws[i], tones[i], d, 160)
			}
		}()
		go func() {
			defer wg.Done()
			heardBy[i], _, _ = heard(ps[i], laws[i], d+200*time.Millisecond)
		}()
	}
	wg.Wait()
	return heardBy
}

// mixedToneFrames counts the 20 ms frames of pcm where freq holds over a quarter
// of the energy: in a mix of two equal tones each holds half.
func mixedToneFrames(pcm []int16, freq float64) int {
	n := 0
	for i := 0; i+codec.FrameSamples <= len(pcm); i += codec.FrameSamples {
		if testkit.ToneShare(pcm[i:i+codec.FrameSamples], freq) > 0.25 {
			n++
		}
	}
	return n
}

// judge checks that party i heard every tone in want (most of the 40
// frames sent) and none of the tones in not.
func judge(t *testing.T, name string, pcm []int16, want, not []float64) {
	t.Helper()
	for _, f := range want {
		if n := mixedToneFrames(pcm, f); n < 25 {
			t.Errorf("%s heard %d frames of %.0f Hz, want most of 40", name, n, f)
		}
	}
	for _, f := range not {
		if n := mixedToneFrames(pcm, f); n > 0 {
			t.Errorf("%s heard %d frames of %.0f Hz, want none", name, n, f)
		}
	}
}

// settle waits out the frames a change may still reach (a clock's tick under way when it was
// made), then drops what the peers got since the last talk, so that the next talk hears only
// what follows the change.
func settle(ps []*testPeer) {
	time.Sleep(100 * time.Millisecond)
	for _, p := range ps {
		p.drain()
	}
}

var roomLaws = []codec.Law{codec.PCMU, codec.PCMA, codec.PCMU}

func TestRoomEachPartyHearsTheOthersNeverItself(t *testing.T) {
	_, ss, ps := roomParties(t, roomLaws, nil)
	got := talk(t, ss, ps, roomLaws, []float64{500, 800, 1200}, 800*time.Millisecond)
	judge(t, "party 500 (PCMU)", got[0], []float64{800, 1200}, []float64{500})
	judge(t, "party 800 (PCMA)", got[1], []float64{500, 1200}, []float64{800})
	judge(t, "party 1200 (PCMU)", got[2], []float64{500, 800}, []float64{1200})
}

func TestRoomMutedPartyIsHeardByNoneAndHearsTheOthers(t *testing.T) {
	r, ss, ps := roomParties(t, roomLaws, map[int]PartyOptions{0: {Muted: true}})
	got := talk(t, ss, ps, roomLaws, []float64{500, 800, 1200}, 800*time.Millisecond)
	judge(t, "muted party", got[0], []float64{800, 1200}, []float64{500})
	judge(t, "party 800", got[1], []float64{1200}, []float64{500, 800})
	judge(t, "party 1200", got[2], []float64{800}, []float64{500, 1200})

	// Unmuted, it is heard again.
	if err := r.SetMuted(ss[0], false); err != nil {
		t.Fatal(err)
	}
	got = talk(t, ss, ps, roomLaws, []float64{500, 800, 1200}, 800*time.Millisecond)
	judge(t, "party 800 after unmute", got[1], []float64{500, 1200}, []float64{800})
}

func TestRoomPartyOnHoldHearsTheWaitPromptAndIsNotHeard(t *testing.T) {
	wait := tonePrompt(300, 200*time.Millisecond) // looped
	r, ss, ps := roomParties(t, roomLaws, map[int]PartyOptions{0: {Hold: wait}})
	got := talk(t, ss, ps, roomLaws, []float64{500, 800, 1200}, 800*time.Millisecond)
	if n := testkit.CountToneFrames(got[0], 300); n < 30 {
		t.Errorf("party on hold heard %d frames of the 300 Hz wait prompt, want most of 50", n)
	}
	judge(t, "party on hold", got[0], nil, []float64{500, 800, 1200})
	judge(t, "party 800", got[1], []float64{1200}, []float64{500, 800, 300})
	judge(t, "party 1200", got[2], []float64{800}, []float64{500, 1200, 300})

	if err := r.SetHold(ss[0], nil); err != nil {
		t.Fatal(err)
	}
	settle(ps)
	got = talk(t, ss, ps, roomLaws, []float64{500, 800, 1200}, 800*time.Millisecond)
	judge(t, "party back from hold", got[0], []float64{800, 1200}, []float64{500, 300})
	judge(t, "party 800 after the hold", got[1], []float64{500, 1200}, []float64{800})
}

func TestRoomCoachIsHeardByItsTargetOnly(t *testing.T) {
	e := newTestEngine(t, 6, nil)
	r := NewRoom()
	var ss []*Session
	var ps []*testPeer
	for range roomLaws {
		s, p := openSession(t, e), newTestPeer(t)
		ss, ps = append(ss, s), append(ps, p)
	}
	for i, s := range ss {
		if err := s.Start(Params{Remote: ps[i].addr(), Law: roomLaws[i], PayloadType: uint8(roomLaws[i])}); err != nil {
			t.Fatal(err)
		}
	}
	// 0 is the agent, 1 the customer, 2 the agent's coach.
	if err := r.Join(ss[2], PartyOptions{CoachOf: ss[0]}); !errors.Is(err, ErrNotInRoom) {
		t.Fatalf("coach of a session not in the room: %v, want ErrNotInRoom", err)
	}
	for i, o := range []PartyOptions{{}, {}, {CoachOf: ss[0]}} {
		if err := r.Join(ss[i], o); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { r.Leave(ss[i]) })
	}
	got := talk(t, ss, ps, roomLaws, []float64{500, 800, 1200}, 800*time.Millisecond)
	judge(t, "agent", got[0], []float64{800, 1200}, []float64{500})
	judge(t, "customer", got[1], []float64{500}, []float64{800, 1200})
	judge(t, "coach", got[2], []float64{500, 800}, []float64{1200})
}

// Two parties sending the loudest positive G.711 sample: the third hears
// full scale, clipped; a wrapping 16-bit sum would turn it negative.
func TestRoomSumSaturates(t *testing.T) {
	laws := []codec.Law{codec.PCMU, codec.PCMU, codec.PCMU}
	_, ss, ps := roomParties(t, laws, nil)
	loud := make([]byte, codec.FrameSamples)
	for i := range loud {
		loud[i] = 0x80 // µ-law +32124
	}
	var wg sync.WaitGroup
	for i := range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			next := time.Now()
			for n := range 40 {
				ps[i].send(ss[i].LocalAddr(), 7, uint16(n), uint32(n*codec.FrameSamples), loud)
				next = next.Add(codec.FrameDuration)
				time.Sleep(time.Until(next))
			}
		}()
	}
	pcm, _, _ := heard(ps[2], codec.PCMU, time.Second)
	wg.Wait()
	full, wrapped := 0, 0
	for _, v := range pcm {
		switch {
		case v >= 32000:
			full++
		case v < 0:
			wrapped++
		}
	}
	if full < 25*codec.FrameSamples || wrapped > 0 {
		t.Errorf("the third party heard %d full-scale samples and %d negative ones, want most of 40 frames clipped at full scale and none wrapped", full, wrapped)
	}
}

func TestRoomRecordingMixesWhatTheRoomHears(t *testing.T) {
	r, ss, ps := roomParties(t, roomLaws, map[int]PartyOptions{2: {Muted: true}})
	var out testkit.SyncBuffer
	rec, err := r.Record(&out)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.Record(&out); err != ErrBusy {
		t.Errorf("a second recording: %v, want ErrBusy", err)
	}
	talk(t, ss, ps, roomLaws, []float64{500, 800, 1200}, 600*time.Millisecond)
	samples, err := rec.Stop()
	if err != nil {
		t.Fatal(err)
	}
	raw := out.Bytes()
	if samples < 25*codec.FrameSamples || int(samples) != len(raw)/2 {
		t.Fatalf("%d samples (%d bytes) for 0.6 s", samples, len(raw))
	}
	mono := make([]int16, len(raw)/2)
	for i := range mono {
		mono[i] = int16(binary.LittleEndian.Uint16(raw[2*i:]))
	}
	judge(t, "the recording", mono, []float64{500, 800}, []float64{1200})
}

func TestRoomJoinRefusesASessionElsewhere(t *testing.T) {
	e := newTestEngine(t, 6, nil)
	a, b, c := openSession(t, e), openSession(t, e), openSession(t, e)
	br, err := NewBridge(a, b)
	if err != nil {
		t.Fatal(err)
	}
	r := NewRoom()
	if err := r.Join(a, PartyOptions{}); err != ErrBusy {
		t.Errorf("joining a bridged session: %v, want ErrBusy", err)
	}
	if err := r.Join(nil, PartyOptions{}); err != ErrInvalidParams {
		t.Errorf("joining nil: %v, want ErrInvalidParams", err)
	}
	if err := r.SetMuted(c, true); err != ErrNotInRoom {
		t.Errorf("muting a session not in the room: %v, want ErrNotInRoom", err)
	}
	if err := r.Join(c, PartyOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := r.Join(c, PartyOptions{}); err != ErrBusy {
		t.Errorf("joining twice: %v, want ErrBusy", err)
	}
	br.Stop()
	if err := r.Join(a, PartyOptions{}); err != nil {
		t.Errorf("joining after the bridge stopped: %v", err)
	}
	r.Leave(a)
	r.Leave(a)
	if r.Parties() != 1 {
		t.Errorf("%d parties after a left, want 1", r.Parties())
	}
}

// The room's G.711 tables encode every 16-bit sample as codec does, and a
// frame through a room of two comes out as it went in: unchanged in one law
// (µ-law's two zeros become one), by the transcoding tables across laws.
func TestRoomG711TablesMatchCodec(t *testing.T) {
	pcm := make([]int16, 1<<16)
	for i := range pcm {
		pcm[i] = int16(i)
	}
	for _, law := range []codec.Law{codec.PCMU, codec.PCMA} {
		want := make([]byte, len(pcm))
		got := make([]byte, len(pcm))
		codec.EncodeFrame(law, want, pcm)
		encodeG711(law, got, pcm)
		for i := range want {
			if got[i] != want[i] {
				t.Fatalf("%v: sample %d encodes to %#x, codec says %#x", law, pcm[i], got[i], want[i])
			}
		}
	}
	var one [1]byte
	for c := range 256 {
		for _, tc := range []struct {
			from, to codec.Law
			want     byte
		}{
			{codec.PCMU, codec.PCMU, byte(c)},
			{codec.PCMA, codec.PCMA, byte(c)},
			{codec.PCMU, codec.PCMA, ulawToAlaw[c]},
			{codec.PCMA, codec.PCMU, alawToUlaw[c]},
		} {
			if c == 0x7f && tc.from == codec.PCMU && tc.to == codec.PCMU {
				tc.want = 0xff // µ-law's negative zero
			}
			encodeG711(tc.to, one[:], []int16{decodeTable(tc.from)[c]})
			if one[0] != tc.want {
				t.Errorf("%v %#x -> %v %#x, want %#x", tc.from, c, tc.to, one[0], tc.want)
			}
		}
	}
}

// Parties come and go, mute, hold and record while the room mixes on the
// clocks (run with -race): afterwards the room still carries every voice to
// the others.
func TestRoomChangesWhileMixing(t *testing.T) {
	laws := []codec.Law{codec.PCMU, codec.PCMA, codec.PCMU, codec.PCMA}
	r, ss, ps := roomParties(t, laws, nil)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		wait := tonePrompt(300, 100*time.Millisecond)
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			r.Leave(ss[3])
			_ = r.Join(ss[3], PartyOptions{Muted: i%2 == 0, CoachOf: ss[i%3]})
			_ = r.SetMuted(ss[i%3], true)
			_ = r.SetHold(ss[(i+1)%3], wait)
			if rec, err := r.Record(io.Discard); err == nil {
				time.Sleep(5 * time.Millisecond)
				rec.Stop()
			}
			_ = r.SetMuted(ss[i%3], false)
			_ = r.SetHold(ss[(i+1)%3], nil)
			time.Sleep(3 * time.Millisecond)
		}
	}()
	talk(t, ss, ps, laws, []float64{500, 800, 1200, 0}, 400*time.Millisecond)
	close(stop)
	wg.Wait()
	r.Leave(ss[3])
	settle(ps) // what left during the churn is not judged
	got := talk(t, ss[:3], ps[:3], laws[:3], []float64{500, 800, 1200}, 800*time.Millisecond)
	judge(t, "party 500", got[0], []float64{800, 1200}, []float64{500, 300})
	judge(t, "party 800", got[1], []float64{500, 1200}, []float64{800, 300})
	judge(t, "party 1200", got[2], []float64{500, 800}, []float64{1200, 300})
}

// A party's inbox keeps the samples in order across the ring's wrap, for any
// packet size, and bounds what a flood leaves in it: a packet larger than
// the free space keeps what fits, and the mixer takes only the newest
// maxFeedFrames.
func TestRoomInboxKeepsOrderAndBoundsAFlood(t *testing.T) {
	e := newTestEngine(t, 2, nil)
	s := openSession(t, e)
	offClock(s)
	if err := s.Start(Params{Remote: netip.MustParseAddrPort("127.0.0.1:9"), Law: codec.PCMU}); err != nil {
		t.Fatal(err)
	}
	r := NewRoom()
	if err := r.Join(s, PartyOptions{}); err != nil {
		t.Fatal(err)
	}
	p := r.view.Load().parties[0]
	h := &rtp.Header{PayloadType: 0}
	// Codes 0x80..0xFE decode to distinct samples (µ-law's positive half
	// without its zero), so the position of every sample is known.
	code := func(n int) byte { return 0x80 + byte(n%127) }
	sent, took := 0, 0
	rng := rand.New(rand.NewPCG(1, 2))
	for range 2000 {
		pkt := make([]byte, 1+rng.IntN(300))
		for i := range pkt {
			pkt[i] = code(sent + i)
		}
		p.push(h, pkt)
		sent += len(pkt)
		for sent-took >= primeFeedFrames*codec.FrameSamples {
			if !p.take() {
				t.Fatalf("no frame with %d samples queued", sent-took)
			}
			for i, v := range p.cur {
				if want := ulawDecode[code(took+i)]; v != want {
					t.Fatalf("sample %d is %d, want %d", took+i, v, want)
				}
			}
			took += codec.FrameSamples
		}
	}

	// A flood: 3000 samples in two packets, more than the inbox holds.
	flood := make([]byte, 1500)
	for i := range flood {
		flood[i] = code(i)
	}
	p.push(h, flood)
	p.push(h, flood)
	queued := int(p.inTail.Load() - p.inHead.Load())
	if queued != inboxSamples {
		t.Fatalf("%d samples queued after the flood, want the inbox full (%d)", queued, inboxSamples)
	}
	p.take()
	if left := int(p.inTail.Load() - p.inHead.Load()); left != maxFeedFrames*codec.FrameSamples-codec.FrameSamples {
		t.Errorf("%d samples left after a take, want the newest %d frames minus the one taken", left, maxFeedFrames-1)
	}
}

// A re-INVITE that changes a party's law changes what it hears from the
// next frame: the room keeps PCM and encodes each party's frame in the law
// its session sends at that moment.
func TestRoomPartyHearsInItsNewLawAfterAReINVITE(t *testing.T) {
	laws := []codec.Law{codec.PCMU, codec.PCMU, codec.PCMU}
	_, ss, ps := roomParties(t, laws, nil)
	if err := ss[0].Start(Params{Remote: ps[0].addr(), Law: codec.PCMA, PayloadType: uint8(codec.PCMA)}); err != nil {
		t.Fatal(err)
	}
	laws[0] = codec.PCMA
	time.Sleep(40 * time.Millisecond)
	ps[0].drain()
	got := talk(t, ss, ps, laws, []float64{500, 800, 1200}, 800*time.Millisecond)
	judge(t, "party now in PCMA", got[0], []float64{800, 1200}, []float64{500})
	judge(t, "party 800", got[1], []float64{500, 1200}, []float64{800})
}
