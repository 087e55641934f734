package media

import (
	"encoding/binary"
	"net/netip"

	"github.com/pion/rtp"

	"github.com/pivotua/pivotua/codec"
)

// rxState is the receiver state of a session, owned by its clock goroutine.
type rxState struct {
	header  rtp.Header     // reused by every Unmarshal, so parsing does not allocate
	gen     uint32         // startGen the latch belongs to; 0 = never latched
	addr    netip.AddrPort // latched source
	ssrc    uint32         // latched SSRC
	seq     seqTracker
	carried uint64 // loss of the peer's earlier streams (SSRC changes, restarts)

	events eventTracker // RFC 4733 events seen
	tones  toneDetector // in-band DTMF, when no telephone-event was negotiated
	pcm    []int16      // the packet's audio, decoded once for tones and recording; made at first use (3 KB a call)
}

// readTick reads the datagrams that arrived on s's socket since its last tick
// (at most readBatchSize) and handles them; called by the clock before the
// slot's sends. The socket is read from Open on, so what arrives before Start
// is drained and dropped, not left to fill the socket.
func (s *Session) readTick(rb *readBatch) {
	s.busy.Store(true) // before the finished check: see Close
	if !s.finished.Load() {
		for i := range rb.read(s.fd) {
			s.receivePacket(rb.datagram(i))
		}
	}
	s.busy.Store(false)
}

// receivePacket handles one datagram and reports whether it was accepted as
// RTP from the peer. Before Start everything is drained and dropped. It never
// allocates for well-formed packets.
func (s *Session) receivePacket(data []byte, from netip.AddrPort) bool {
	gen := s.startGen.Load()
	if gen == 0 || !plausibleRTP(data) {
		return false
	}
	h := &s.rx.header
	n, err := h.Unmarshal(data)
	if err != nil {
		return false
	}
	end := len(data)
	if h.Padding { // RFC 3550 §5.1: the last octet counts the padding, itself included
		pad := int(data[end-1])
		if pad == 0 || n+pad > end {
			return false
		}
		end -= pad
	}
	payload := data[n:end]
	from = netip.AddrPortFrom(from.Addr().Unmap(), from.Port())
	if !s.latch(gen, from, h.SSRC) {
		return false
	}

	rx := &s.rx
	rx.seq.update(h.SequenceNumber, &rx.carried)
	s.packetsLost.Store(rx.carried + rx.seq.lost())
	s.packetsReceived.Add(1)
	s.bytesReceived.Add(uint64(len(payload)))
	now := max(s.e.now(), 1)
	s.lastReceived.Store(now)
	s.consume(h, payload, now)
	if fn := s.receiver.Load(); fn != nil {
		(*fn)(h, payload)
	}
	if f := s.relay.Load(); f != nil {
		f.push(h, payload)
	}
	return true
}

// plausibleRTP rejects, before pion parses them, datagrams that are not RTP
// version 2 or whose header runs past the end, so that garbage costs no
// error allocations, and RTCP multiplexed on the port (RFC 5761 §4: packet
// types 200-204 read as payload types 72-76 with the marker set).
func plausibleRTP(data []byte) bool {
	if len(data) < rtpHeaderSize || data[0]>>6 != 2 {
		return false
	}
	if pt := data[1] & 0x7f; pt >= 64 && pt <= 95 {
		return false
	}
	n := rtpHeaderSize + 4*int(data[0]&0x0f)
	if data[0]&0x10 != 0 { // RFC 3550 §5.3.1 header extension
		if len(data) < n+4 {
			return false
		}
		n += 4 + 4*int(binary.BigEndian.Uint16(data[n+2:]))
	}
	return len(data) >= n
}

// latch implements symmetric RTP: the first packet after each Start fixes the
// source we send to; afterwards the peer may move to a new address only with
// the SSRC it had (NAT rebinding), and other sources are ignored.
func (s *Session) latch(gen uint32, from netip.AddrPort, ssrc uint32) bool {
	rx := &s.rx
	if rx.gen == gen {
		if from == rx.addr {
			if ssrc != rx.ssrc { // the peer restarted its stream on the same address
				rx.seq.restart(&rx.carried)
				rx.ssrc = ssrc
				s.remoteSSRC.Store(ssrc)
			}
			return true
		}
		if ssrc != rx.ssrc {
			return false // a stranger
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.startGen.Load() != gen {
		return false // a newer Start: the next packet latches for it
	}
	if rx.gen == 0 || ssrc != rx.ssrc {
		rx.seq.restart(&rx.carried)
	}
	rx.gen, rx.addr, rx.ssrc = gen, from, ssrc
	s.remoteSSRC.Store(ssrc)
	latched := new(netip.AddrPort) // one allocation per latch change, not per packet
	*latched = from
	s.remote.Store(latched)
	return true
}

// seqTracker estimates loss from sequence numbers per RFC 3550 Appendix A.1
// (without probation): extended highest sequence number against packets
// received.
type seqTracker struct {
	started  bool
	baseSeq  uint32 // first extended sequence number of this stream
	maxSeq   uint16
	cycles   uint32 // count of sequence wraps, shifted by 16
	badSeq   uint32 // RFC 3550 A.1: a big jump is accepted if the next packet follows it
	received uint64
}

const (
	seqMod      = 1 << 16
	maxDropout  = 3000 // RFC 3550 A.1
	maxMisorder = 100
)

// restart ends the current stream, carrying its loss into *carried.
func (t *seqTracker) restart(carried *uint64) {
	*carried += t.lost()
	*t = seqTracker{}
}

func (t *seqTracker) init(seq uint16) {
	t.started = true
	t.baseSeq = uint32(seq)
	t.maxSeq = seq
	t.cycles = 0
	t.badSeq = seqMod + 1 // never matches a 16-bit number
	t.received = 0
}

func (t *seqTracker) update(seq uint16, carried *uint64) {
	if !t.started {
		t.init(seq)
		t.received = 1
		return
	}
	udelta := seq - t.maxSeq
	switch {
	case udelta < maxDropout: // in order, gaps allowed
		if seq < t.maxSeq {
			t.cycles += seqMod
		}
		t.maxSeq = seq
	case uint32(udelta) <= seqMod-maxMisorder: // a very large jump
		if uint32(seq) != t.badSeq {
			t.badSeq = (uint32(seq) + 1) & (seqMod - 1)
			return // wait for the next packet to confirm the new sequence
		}
		// Two sequential packets: the peer restarted without telling us.
		*carried += t.lost()
		t.init(seq)
	default: // duplicate or reordered
	}
	t.received++
}

// lost is expected minus received, clamped at zero (duplicates can make it
// negative).
func (t *seqTracker) lost() uint64 {
	if !t.started {
		return 0
	}
	expected := uint64(t.cycles) + uint64(t.maxSeq) - uint64(t.baseSeq) + 1
	if t.received >= expected {
		return 0
	}
	return expected - t.received
}

// consume routes an accepted packet to DTMF detection and the recording by
// payload type: the negotiated telephone-event type to the RFC 4733
// tracker; G.711 audio (PT 0, 8, or the negotiated audio type) to the
// recording and, when no telephone-event was negotiated, the in-band
// detector; anything else (comfort noise, SIPp's PT 96/97, strangers) is
// ignored. The audio is decoded once, into rx.pcm, and only if someone
// listens.
func (s *Session) consume(h *rtp.Header, payload []byte, now int64) {
	cfg := s.cfg.Load()
	if cfg == nil {
		return
	}
	pt := h.PayloadType
	if cfg.eventPayloadType != 0 && pt == cfg.eventPayloadType {
		s.receiveEvent(h, payload)
		return
	}
	law, ok := cfg.lawOf(pt)
	if !ok {
		return // comfort noise, events and strangers
	}
	rec := s.recording.Load()
	var onDigit *func(Digit)
	if cfg.eventPayloadType == 0 {
		onDigit = s.onDigit.Load()
	}
	if rec == nil && onDigit == nil {
		return
	}
	if s.rx.pcm == nil {
		s.rx.pcm = make([]int16, readBufferSize)
	}
	pcm := s.rx.pcm[:codec.DecodeFrame(law, s.rx.pcm, payload)]
	if rec != nil {
		rec.receive(h.SSRC, h.Timestamp, pcm, now)
	}
	if onDigit != nil {
		for rest := pcm; len(rest) > 0; {
			n, key, dur := s.rx.tones.write(rest)
			rest = rest[n:]
			if key != 0 {
				(*onDigit)(Digit{Key: key, Duration: dur, Source: DigitSourceInband})
			}
		}
	}
}
