package media

import (
	"math"
	"math/rand/v2"
	"net/netip"
	"testing"
	"time"

	"github.com/pion/rtp"

	"github.com/pivotua/pivotua/codec"
	"github.com/pivotua/pivotua/internal/testkit/sipptest"
)

const testEventPT = 101

func eventPayload(key byte, end bool, duration uint16) []byte {
	code, ok := dtmfEventCode(key)
	if !ok {
		code = key // raw event code for non-DTMF events
	}
	b := make([]byte, telephoneEventSize)
	putTelephoneEvent(b, telephoneEvent{event: code, end: end, volume: 10, duration: duration})
	return b
}

func TestParseTelephoneEvent(t *testing.T) {
	for _, c := range []struct {
		name    string
		payload []byte
		want    telephoneEvent
		ok      bool
	}{
		{"start of 5", []byte{5, 10, 0, 160}, telephoneEvent{event: 5, volume: 10, duration: 160}, true},
		{"end of #", []byte{11, 0x80 | 7, 0x03, 0x20}, telephoneEvent{event: 11, end: true, volume: 7, duration: 800}, true},
		{"reserved bit ignored", []byte{1, 0x40 | 63, 0xff, 0xff}, telephoneEvent{event: 1, volume: 63, duration: 65535}, true},
		{"two blocks: the first counts", []byte{2, 0x80, 0, 160, 3, 0, 0, 80}, telephoneEvent{event: 2, end: true, duration: 160}, true},
		{"short", []byte{1, 2, 3}, telephoneEvent{}, false},
		{"empty", nil, telephoneEvent{}, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			got, ok := parseTelephoneEvent(c.payload)
			if ok != c.ok || got != c.want {
				t.Errorf("got %+v %v, want %+v %v", got, ok, c.want, c.ok)
			}
		})
	}
}

func FuzzParseTelephoneEvent(f *testing.F) {
	f.Add([]byte{5, 10, 0, 160})
	f.Add([]byte{11, 0x8a, 0x03, 0x20})
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 0})
	f.Add([]byte{1})
	f.Fuzz(func(t *testing.T, payload []byte) {
		ev, ok := parseTelephoneEvent(payload)
		if ok != (len(payload) >= telephoneEventSize) {
			t.Fatalf("ok %v for %d bytes", ok, len(payload))
		}
		if !ok {
			return
		}
		if ev.volume > 63 {
			t.Fatalf("volume %d", ev.volume)
		}
		var b [telephoneEventSize]byte
		putTelephoneEvent(b[:], ev)
		want := [telephoneEventSize]byte(payload[:telephoneEventSize])
		want[1] &^= 0x40 // the R bit is not kept
		if b != want {
			t.Fatalf("round trip %x -> %+v -> %x", payload[:4], ev, b)
		}
	})
}

func TestEventTrackerKeysEventsByTimestamp(t *testing.T) {
	var tr eventTracker
	steps := []struct {
		ssrc uint32
		ts   uint32
		want bool
	}{
		{1, 1000, true},          // first
		{1, 1000, false},         // more of it
		{1, 2000, true},          // a new event, even for the same key
		{1, 1000, false},         // a late packet of the old one
		{2, 1000, true},          // a new stream
		{2, 1<<32 - 99000, true}, // far back: a restarted clock
		{2, 100, true},           // forward across the wrap
	}
	for i, st := range steps {
		if got := tr.observe(st.ssrc, st.ts); got != st.want {
			t.Fatalf("step %d (ssrc %d ts %d): new=%v, want %v", i, st.ssrc, st.ts, got, st.want)
		}
	}
}

// startDTMFSession is a started session talking to a fresh test peer.
func startDTMFSession(t *testing.T, law codec.Law, eventPT uint8) (*Session, *testPeer) {
	t.Helper()
	e := newTestEngine(t, 4, nil)
	s := openSession(t, e)
	peer := newTestPeer(t)
	if err := s.Start(Params{Remote: peer.addr(), Law: law, PayloadType: uint8(law), EventPayloadType: eventPT}); err != nil {
		t.Fatal(err)
	}
	return s, peer
}

func TestRFC4733DigitsReportedOncePerEvent(t *testing.T) {
	s, peer := startDTMFSession(t, codec.PCMU, testEventPT)
	digits := collectDigits(s)
	to := s.LocalAddr()
	const ssrc = 0x1234
	seq := uint16(60000) // wraps during the test
	ts := uint32(0xffff0000)
	silence := silenceFrame(codec.PCMU)
	audio := func(frames int) {
		for range frames {
			peer.sendHeader(to, rtp.Header{PayloadType: 0, SequenceNumber: seq, Timestamp: ts, SSRC: ssrc}, silence)
			seq++
			ts += codec.FrameSamples
		}
	}
	event := func(pt uint8, marker bool, eventTS uint32, key byte, end bool, dur uint16) {
		peer.sendHeader(to, rtp.Header{PayloadType: pt, Marker: marker, SequenceNumber: seq, Timestamp: eventTS, SSRC: ssrc}, eventPayload(key, end, dur))
		seq++
	}
	// sippEnd sends the three end packets the way SIPp's pcaps do: one
	// sequence number for all three.
	sippEnd := func(eventTS uint32, key byte, dur uint16) {
		for range 3 {
			peer.sendHeader(to, rtp.Header{PayloadType: testEventPT, SequenceNumber: seq, Timestamp: eventTS, SSRC: ssrc}, eventPayload(key, true, dur))
		}
		seq++
	}
	// fullKey is a complete event: marker on the start, growing durations,
	// SIPp-style ends; the audio clock moves on under it.
	fullKey := func(key byte, packets int) uint32 {
		at := ts
		for i := range packets {
			event(testEventPT, i == 0, at, key, false, uint16((i+1)*codec.FrameSamples))
			ts += codec.FrameSamples
		}
		sippEnd(at, key, uint16(packets*codec.FrameSamples))
		ts += 3 * codec.FrameSamples
		return at
	}

	audio(3)
	first := fullKey('1', 5)
	audio(3)
	fullKey('1', 5) // the same key again: a new timestamp, a new press
	audio(3)

	// '#' whose first three packets were lost; the marker never arrives and
	// a later packet carries a stray marker.
	at := ts
	event(testEventPT, false, at, '#', false, 640)
	event(testEventPT, true, at, '#', false, 800)
	sippEnd(at, '#', 800)
	ts += 8 * codec.FrameSamples
	audio(2)

	// '5' of which only the end packets arrive, then a late start.
	at = ts
	sippEnd(at, '5', 960)
	event(testEventPT, true, at, '5', false, 160)
	ts += 9 * codec.FrameSamples
	audio(2)

	// Ignored: SIPp's play_dtmf packets on PT 96/97, a flash event (16),
	// and an end packet of the first press retransmitted long after.
	event(testEventPT, false, first, '1', true, 800)
	event(96, true, ts, '9', false, 160)
	event(97, false, ts, '9', true, 160)
	event(testEventPT, true, ts, 16, false, 160)
	ts += codec.FrameSamples
	audio(1)

	fullKey('D', 3)
	audio(2)

	got := digits.expect(t, "11#5D", 3*time.Second, 200*time.Millisecond)
	for _, c := range []struct {
		i   int
		dur time.Duration
	}{{0, 20 * time.Millisecond}, {2, 80 * time.Millisecond}, {3, 120 * time.Millisecond}} {
		if got[c.i].Duration != c.dur || got[c.i].Source != DigitSourceRFC4733 {
			t.Errorf("digit %d %q: duration %v source %q, want %v rfc4733", c.i, got[c.i].Key, got[c.i].Duration, got[c.i].Source, c.dur)
		}
	}
}

func TestRFC4733OnNonNegotiatedPayloadTypeIsIgnored(t *testing.T) {
	s, peer := startDTMFSession(t, codec.PCMU, 0) // no telephone-event: in-band only
	digits := collectDigits(s)
	for i := range 5 {
		peer.sendHeader(s.LocalAddr(), rtp.Header{PayloadType: testEventPT, SequenceNumber: uint16(i), Timestamp: 800, SSRC: 9}, eventPayload('3', i >= 2, 160))
	}
	digits.expect(t, "", time.Second, 200*time.Millisecond)
}

// sendPCM sends pcm as 20 ms G.711 frames of law from the peer, in bursts
// (the detectors go by the stream, not the wall clock).
func sendPCM(t *testing.T, peer *testPeer, to netip.AddrPort, law codec.Law, ssrc uint32, seq *uint16, ts *uint32, pcm []int16) {
	t.Helper()
	for i, f := range encodeFrames(law, pcm) {
		peer.sendHeader(to, rtp.Header{PayloadType: uint8(law), SequenceNumber: *seq, Timestamp: *ts, SSRC: ssrc}, f)
		*seq++
		*ts += codec.FrameSamples
		if i%8 == 7 {
			time.Sleep(time.Millisecond) // keep the socket buffer from overflowing
		}
	}
}

func TestInbandDetectsAllKeysThroughG711(t *testing.T) {
	const keys = "123A456B789C*0#D55"
	for _, law := range []codec.Law{codec.PCMU, codec.PCMA} {
		t.Run(law.String(), func(t *testing.T) {
			s, peer := startDTMFSession(t, law, 0)
			digits := collectDigits(s)
			var seq uint16
			var ts uint32
			var pcm []int16
			for i := range len(keys) {
				pcm = append(pcm, make([]int16, 60*codec.SampleRate/1000)...) // 60 ms gap
				pcm = append(pcm, sipptest.DTMFTone(keys[i], 70*time.Millisecond, 0.2, 0, 0)...)
			}
			pcm = append(pcm, make([]int16, codec.FrameSamples*3)...)
			sendPCM(t, peer, s.LocalAddr(), law, 7, &seq, &ts, pcm)
			got := digits.expect(t, keys, 3*time.Second, 100*time.Millisecond)
			for _, d := range got {
				if d.Source != DigitSourceInband || d.Duration < 20*time.Millisecond || d.Duration > 50*time.Millisecond {
					t.Fatalf("digit %q: source %q duration %v", d.Key, d.Source, d.Duration)
				}
			}
		})
	}
}

func TestInbandOffWhenTelephoneEventNegotiated(t *testing.T) {
	s, peer := startDTMFSession(t, codec.PCMU, testEventPT)
	digits := collectDigits(s)
	var seq uint16
	var ts uint32
	sendPCM(t, peer, s.LocalAddr(), codec.PCMU, 7, &seq, &ts, sipptest.DTMFTone('5', 200*time.Millisecond, 0.2, 0, 0))
	digits.expect(t, "", time.Second, 200*time.Millisecond)
}

// detect runs pcm through G.711 law and the detector and returns the keys.
func detect(law codec.Law, pcm []int16) string {
	var d toneDetector
	var keys []byte
	buf := make([]int16, codec.FrameSamples)
	for _, f := range encodeFrames(law, pcm) {
		rest := buf[:codec.DecodeFrame(law, buf, f)]
		for len(rest) > 0 {
			n, key, _ := d.write(rest)
			rest = rest[n:]
			if key != 0 {
				keys = append(keys, key)
			}
		}
	}
	return string(keys)
}

func noise(n int, amp float64, seed uint64) []int16 {
	r := rand.New(rand.NewPCG(seed, 1))
	out := make([]int16, n)
	for i := range out {
		out[i] = int16(max(-32767, min(32767, r.NormFloat64()*amp*32767)))
	}
	return out
}

// vowel is a speech-like buzz: harmonics of f0 shaped by two formants.
func vowel(f0 float64, d time.Duration, amp float64) []int16 {
	n := int(d.Seconds() * codec.SampleRate)
	out := make([]int16, n)
	for i := range out {
		var v float64
		for k := 1; float64(k)*f0 < 3800; k++ {
			f := float64(k) * f0
			g := 1/(1+math.Pow((f-700)/150, 2)) + 0.6/(1+math.Pow((f-1200)/200, 2)) + 0.05
			v += g * math.Sin(2*math.Pi*f*float64(i)/codec.SampleRate)
		}
		out[i] = int16(max(-32767, min(32767, v*amp*8000)))
	}
	return out
}

func TestInbandDetectorAcceptsAndRejects(t *testing.T) {
	sec := time.Second
	two := func(f1, f2 float64, d time.Duration, a float64) []int16 {
		return mixPCM(codec.Tone(f1, d, a), codec.Tone(f2, d, a))
	}
	for _, c := range []struct {
		name string
		pcm  []int16
		want string
	}{
		{"1 kHz tone", codec.Tone(1000, sec, 0.5), ""},
		{"ringback 440+480", two(440, 480, sec, 0.3), ""},
		{"dial tone 350+440", two(350, 440, sec, 0.3), ""},
		{"busy 480+620", two(480, 620, sec, 0.3), ""},
		{"one DTMF row tone alone", codec.Tone(770, sec, 0.3), ""},
		{"one DTMF column tone alone", codec.Tone(1336, sec, 0.3), ""},
		{"two rows, no column", two(697, 852, sec, 0.3), ""},
		{"quiet white noise", noise(8000, 0.01, 1), ""},
		{"white noise", noise(8000, 0.1, 2), ""},
		{"loud white noise", noise(8000, 0.5, 3), ""},
		{"vowel 120 Hz", vowel(120, sec, 1), ""},
		{"vowel 150 Hz", vowel(150, sec, 1), ""},
		{"vowel 210 Hz", vowel(210, sec, 1), ""},
		{"20 ms blip of 5", sipptest.DTMFTone('5', 20*time.Millisecond, 0.2, 0, 0), ""},
		{"too quiet 5 (-50 dBFS)", sipptest.DTMFTone('5', 100*time.Millisecond, 0.003, 0, 0), ""},
		{"40 ms 5", sipptest.DTMFTone('5', 40*time.Millisecond, 0.2, 0, 0), "5"},
		{"quiet 5 (-30 dBFS)", sipptest.DTMFTone('5', 100*time.Millisecond, 0.03, 0, 0), "5"},
		{"long 9 is one press", sipptest.DTMFTone('9', 2*time.Second, 0.2, 0, 0), "9"},
		{"normal twist +3 dB", sipptest.DTMFTone('8', 100*time.Millisecond, 0.15, 0, 3), "8"},
		{"normal twist +6 dB", sipptest.DTMFTone('8', 100*time.Millisecond, 0.15, 0, 6), ""},
		{"reverse twist -6 dB", sipptest.DTMFTone('8', 100*time.Millisecond, 0.15, 0, -6), "8"},
		{"reverse twist -10 dB", sipptest.DTMFTone('8', 100*time.Millisecond, 0.15, 0, -10), ""},
		{"6 in white noise at -20 dB", mixPCM(sipptest.DTMFTone('6', 100*time.Millisecond, 0.2, 0, 0), noise(800, 0.02, 4)), "6"},
		{"# over ringback at -20 dB", mixPCM(sipptest.DTMFTone('#', 100*time.Millisecond, 0.2, 0, 0), two(440, 480, 100*time.Millisecond, 0.02)), "#"},
	} {
		for _, law := range []codec.Law{codec.PCMU, codec.PCMA} {
			t.Run(c.name+"/"+law.String(), func(t *testing.T) {
				pcm := append(append([]int16(nil), c.pcm...), make([]int16, 800)...)
				if got := detect(law, pcm); got != c.want {
					t.Errorf("detected %q, want %q", got, c.want)
				}
			})
		}
	}
}

func TestInbandNeedsGapBetweenPresses(t *testing.T) {
	press := sipptest.DTMFTone('2', 80*time.Millisecond, 0.2, 0, 0)
	for _, c := range []struct {
		gap  time.Duration
		want string
	}{
		{0, "2"},
		{10 * time.Millisecond, "2"}, // a dropout inside one press
		{50 * time.Millisecond, "22"},
	} {
		pcm := append([]int16(nil), press...)
		pcm = append(pcm, make([]int16, int(c.gap.Seconds()*codec.SampleRate))...)
		pcm = append(pcm, press...)
		pcm = append(pcm, make([]int16, 800)...)
		if got := detect(codec.PCMU, pcm); got != c.want {
			t.Errorf("gap %v: detected %q, want %q", c.gap, got, c.want)
		}
	}
}
