package media

import (
	"encoding/binary"
	"net/netip"
	"time"

	"github.com/pion/rtp"

	"github.com/pivotua/pivotua/codec"
)

// rxState is the receiver state of a session, owned by its clock goroutine.
type rxState struct {
	header  rtp.Header                 // reused by every Unmarshal, so parsing does not allocate
	gen     uint32                     // startGen the state belongs to; 0 = before the first packet after Start
	genAt   int64                      // engine nanos of gen's first packet: about when Start ran
	expect  netip.AddrPort             // gen's SDP address; invalid when the SDP gave none usable
	addr    netip.AddrPort             // latched source; invalid until one latched
	ssrc    uint32                     // latched SSRC
	heardAt int64                      // engine nanos of the latched source's last packet
	kept    bool                       // gen's Start kept the latched source (a re-INVITE): a new one may take over a silent one
	learn   [learnCandidates]probation // sources on probation, each with its own run
	seq     seqTracker
	carried uint64 // loss of the peer's earlier streams (SSRC changes, restarts)

	events eventTracker  // RFC 4733 events seen
	tones  *toneDetector // in-band DTMF; made at the first audio heard without a telephone-event negotiated (312 B)
	pcm    []int16       // the packet's audio, decoded once for tones and recording; made at first use (3 KB a call)
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
	data, ok := s.unprotect(data) // srtp.go: before anything trusts the packet
	if !ok {
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
	now := max(s.e.now(), 1)
	if !s.latch(gen, from, h.SSRC, h.SequenceNumber, now) {
		return false
	}

	rx := &s.rx
	rx.seq.update(h.SequenceNumber, &rx.carried)
	s.packetsLost.Store(rx.carried + rx.seq.lost())
	s.packetsReceived.Add(1)
	s.bytesReceived.Add(uint64(len(payload)))
	s.lastReceived.Store(now)
	s.consume(h, payload, now)
	if fn := s.receiver.Load(); fn != nil {
		(*fn)(h, payload)
	}
	if f := s.relay.Load(); f != nil {
		f.push(h, payload)
	}
	s.tapReceived(h, payload, now)
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

// Strict RTP learning: a source is heard (and sent to) at once only if it is
// the SDP address; any other must first prove itself, so that an outsider who
// sprays packets at the port (RTP bleed) is neither heard nor sent the call's
// audio. Asterisk's strictrtp and rtpengine's strict-source work the same way.
const (
	// learnPackets and learnTime: a source other than the SDP address is
	// latched after a run of learnPackets consecutive packets of its own (no
	// packet from the latched source in between), in sequence order, with one
	// SSRC, lasting learnTime. A burst does not do; a peer sending every 20 ms
	// takes 100 ms.
	learnPackets = 5
	learnTime    = int64(100 * time.Millisecond)
	// learnCandidates is how many sources are on probation at once, each with
	// its own run, so that a stranger's packets between the real peer's do
	// not restart the peer's run. When all are taken a newcomer replaces the
	// one with the shortest run (see candidate): strangers from up to three
	// addresses never push the peer out, nor do strangers from any number of
	// addresses whose packets make no run (a new SSRC or sequence each) once
	// the peer's run has two packets.
	learnCandidates = 4
	// learnSeqGap is the sequence step a run tolerates (packets lost on the way).
	learnSeqGap = 3
	// sdpHeadStart is how long from Start the SDP address has to send its
	// first packet before another source may latch, when it can send at all
	// (see sdpHeadStartOver): an outsider whose packets wait at the port before the
	// call is answered does not win the race against the real peer.
	sdpHeadStart = int64(time.Second)
	// takeoverSilence: after a re-INVITE that kept the SDP address, a new
	// source (another port and SSRC: a phone that reopened its socket) takes
	// over from the latched one once that has sent nothing for this long and
	// the newcomer passed its probation. A talking G.711 peer sends every 20
	// ms, so 500 ms is 25 packets in a row missing, more than a live stream
	// loses on a bad link, while the reopened phone is unheard for half a
	// second at most.
	takeoverSilence = int64(500 * time.Millisecond)
	// takeoverWindow is how long after the re-INVITE's first packet the
	// takeover may happen: a phone that reopens its socket sends from it at
	// once; past that a silent source (a phone that sends nothing in silence)
	// stays latched as before the re-INVITE, so no outsider can take it over.
	takeoverWindow = int64(5 * time.Second)
)

// probation is a source that is not yet heard: its run of consecutive packets.
type probation struct {
	addr  netip.AddrPort
	ssrc  uint32
	seq   uint16 // of the run's last packet
	run   int    // packets in the run; 0 = a free slot
	since int64  // engine nanos of the run's first packet
	last  int64  // engine nanos of the run's last packet
}

// latch implements symmetric RTP with strict learning and reports whether the
// packet is heard. The latched source is heard; the SDP address latches at
// once (also back from a learned source); another source latches after its
// probation (learn). Once a source latched, only the peer's own SSRC may move
// to a new address (NAT rebinding), and after its own probation, during which
// the old address is still heard; other SSRCs from other addresses never are,
// except after a re-INVITE that kept the latch: within takeoverWindow of it, a
// new source on probation (a phone that reopened its socket for the
// re-INVITE) takes over once the latched source has been silent for
// takeoverSilence, so no outsider takes over a source that still talks.
func (s *Session) latch(gen uint32, from netip.AddrPort, ssrc uint32, seq uint16, now int64) bool {
	rx := &s.rx
	if rx.gen != gen && !s.beginGen(gen, now) {
		return false
	}
	if from == rx.addr {
		if ssrc != rx.ssrc { // the peer restarted its stream on the same address
			rx.seq.restart(&rx.carried)
			rx.ssrc = ssrc
			s.remoteSSRC.Store(ssrc)
		}
		rx.heardAt = now
		for i := range rx.learn { // the latched source breaks every newcomer's run
			rx.learn[i].run = 0
		}
		return true
	}
	if from != rx.expect && !rx.probe(from, ssrc, seq, now) {
		return false
	}
	return s.moveTo(gen, from, ssrc, now)
}

// probe counts a packet from a source that is neither latched nor the SDP
// address toward its probation and reports whether the source has passed it.
func (rx *rxState) probe(from netip.AddrPort, ssrc uint32, seq uint16, now int64) bool {
	takeover := rx.addr.IsValid() && ssrc != rx.ssrc
	if takeover && (!rx.kept || now-rx.genAt >= takeoverWindow) {
		return false // a stranger: after a latch only the peer's own stream may move
	}
	p := rx.candidate(from, now)
	same := p.run > 0 && ssrc == p.ssrc
	switch step := seq - p.seq; {
	case same && step == 0:
		return false // a duplicate: the run neither grows nor breaks
	case same && step <= learnSeqGap:
		p.run++
		p.seq, p.last = seq, now
	default: // a new source, or the run broke: start over
		*p = probation{addr: from, ssrc: ssrc, seq: seq, run: 1, since: now, last: now}
	}
	if p.run < learnPackets || now-p.since < learnTime {
		return false
	}
	if !rx.addr.IsValid() && rx.sdpHeadStartOver(from) && now-rx.genAt < sdpHeadStart {
		return false // the SDP address still has its head start
	}
	if takeover && now-rx.heardAt < takeoverSilence {
		return false // the latched source may still be talking
	}
	return true
}

// candidate is from's probation slot: its own, else a free one, else the one
// with the shortest run (a stale run counting as none), the oldest among
// equals. A slot taken from another source has run 0, so the packet starts a
// run there.
func (rx *rxState) candidate(from netip.AddrPort, now int64) *probation {
	var victim *probation
	vrun := 0
	for i := range rx.learn {
		p := &rx.learn[i]
		if p.run > 0 && p.addr == from {
			return p
		}
		run := p.run
		if now-p.last > learnTime { // its peer went quiet: the run is worth nothing
			run = 0
		}
		if victim == nil || run < vrun || (run == vrun && p.last < victim.last) {
			victim, vrun = p, run
		}
	}
	victim.run = 0
	return victim
}

// sdpHeadStartOver reports whether the SDP address gets its head start over
// from: whether packets may be expected from the SDP address rather than from
// from. Not when the SDP gave none; not when it is an address a peer behind NAT
// writes (see natInside) and from is not (such a peer's packets never come
// from the address it wrote); not when from is the SDP host itself on another
// port (a peer that sends from another port than it receives on, as SIPp's
// pcap player does).
func (rx *rxState) sdpHeadStartOver(from netip.AddrPort) bool {
	switch {
	case !rx.expect.IsValid(), from.Addr() == rx.expect.Addr():
		return false
	case natInside(rx.expect.Addr()) && !natInside(from.Addr()):
		return false
	}
	return true
}

// cgnatPrefix is the RFC 6598 shared address space carriers number their
// subscribers from behind carrier-grade NAT.
var cgnatPrefix = netip.MustParsePrefix("100.64.0.0/10")

// natInside reports whether a is an address that is not reachable from the
// internet and so, written in an SDP, names a peer behind NAT: private (RFC
// 1918, RFC 4193), shared carrier-grade NAT space (RFC 6598), link-local (RFC
// 3927, RFC 4291 §2.5.6) or loopback (a phone or SBC misreporting itself).
func natInside(a netip.Addr) bool {
	return a.IsPrivate() || a.IsLoopback() || a.IsLinkLocalUnicast() || cgnatPrefix.Contains(a)
}

// beginGen resets the latch for a new Start, whose SDP address s.remote
// holds until something latches. A Start that keeps the SDP address (a
// re-INVITE for hold or a session refresh) keeps the learned source, so it
// need not prove itself again.
func (s *Session) beginGen(gen uint32, now int64) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.startGen.Load() != gen {
		return false // a newer Start: its own packets begin it
	}
	rx := &s.rx
	var expect netip.AddrPort
	if p := s.remote.Load(); p != nil && p.IsValid() && !p.Addr().IsUnspecified() && p.Port() != 0 {
		expect = *p
	}
	rx.kept = rx.addr.IsValid() && expect == rx.expect
	if rx.kept {
		kept := new(netip.AddrPort) // one allocation per Start, not per packet
		*kept = rx.addr
		s.remote.Store(kept)
	} else {
		rx.addr = netip.AddrPort{}
	}
	rx.gen, rx.genAt, rx.expect, rx.learn = gen, now, expect, [learnCandidates]probation{}
	return true
}

// moveTo latches from: packets are sent to it from now on. A takeover
// happens once per re-INVITE: the new source is not taken over in turn.
func (s *Session) moveTo(gen uint32, from netip.AddrPort, ssrc uint32, now int64) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.startGen.Load() != gen {
		return false // a newer Start: the next packet begins it
	}
	rx := &s.rx
	if !rx.seq.started || ssrc != rx.ssrc {
		rx.seq.restart(&rx.carried)
	}
	rx.addr, rx.ssrc, rx.heardAt, rx.kept, rx.learn = from, ssrc, now, false, [learnCandidates]probation{}
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
		if s.rx.tones == nil {
			s.rx.tones = new(toneDetector)
		}
		for rest := pcm; len(rest) > 0; {
			n, key, dur := s.rx.tones.write(rest)
			rest = rest[n:]
			if key != 0 {
				(*onDigit)(Digit{Key: key, Duration: dur, Source: DigitSourceInband})
			}
		}
	}
}
