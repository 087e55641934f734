package main

import (
	"encoding/binary"
	"net/netip"
	"sync"

	"github.com/pivotua/pivotua/bench/internal/genwindow"
)

const (
	rtpHeaderLen = 12
	frameNs      = 20_000_000 // G.711 at 20 ms: the interval every measured stream should keep
	phaseSlots   = 20         // the sender's wheel: a stream in slot k sends at k ms, k+20 ms, ...
	// maxDropout is RFC 3550 A.1's MAX_DROPOUT: a larger forward jump in sequence is a restart
	// of the sender, not loss.
	maxDropout = 3000
	histBins   = 100_000 // deviations from 20 ms at 1 µs resolution up to 100 ms,
	longBins   = 10_000  // then at 1 ms up to 10 s; beyond in the last
)

// addrKey is an IPv4 source address and port in one word: the table's key, allocation free.
type addrKey uint64

func makeKey(ip [4]byte, port uint16) addrKey {
	return addrKey(binary.BigEndian.Uint32(ip[:]))<<16 | addrKey(port)
}

func (k addrKey) split() (ip [4]byte, port uint16) {
	binary.BigEndian.PutUint32(ip[:], uint32(k>>16))
	return ip, uint16(k)
}

func (k addrKey) String() string {
	ip, port := k.split()
	return netip.AddrPortFrom(netip.AddrFrom4(ip), port).String()
}

// stream is one call's RTP as the generator sees it: what arrives from one source (latched on
// its first packet) and the frames sent back to it.
type stream struct {
	key  addrKey
	slot int // the sender's phase slot

	// Receive side, written by the reader under table.mu.
	started  bool // a datagram has arrived
	ssrc     uint32
	maxExt   int64 // highest extended sequence number seen
	baseExt  int64 // first extended sequence number of the current window
	received int64 // datagrams counted since baseExt
	lastRxNs int64 // kernel receive time of the previous audio packet, 0 before the first
	lastTick int64 // sender tick when the last datagram arrived
	heard    bool  // an audio frame that was not all silence has arrived

	// Send side, written by the sender under table.mu.
	hdr [rtpHeaderLen]byte
}

// windowStats accumulates one measuring window; mark hands it out and starts the next.
type windowStats struct {
	rxPackets, rxAudio, rxOther int64
	txPackets, txFailed         int64
	expected, lost              int64
	newStreams, endedStreams    int64
	deltas, sumDeltaNs          int64
	maxDeltaNs                  int64
	recvCalls                   int64
	silentFrames                int64 // PCMU frames all silence after a stream's first sound: gaps the caller hears
	lateTicks                   int64 // sender wake-ups more than 1 ms after their tick was due
	maxLagNs                    int64
	skippedTicks                int64 // ticks a stall made the sender skip: each cost every stream of its slot a frame
	hist                        [histBins]uint32
	long                        [longBins]uint32
}

// table is the generator's state: the reader adds streams and their receive figures, the sender
// takes them off when idle and builds their frames. Both hold mu only between system calls.
type table struct {
	mu      sync.Mutex
	streams map[addrKey]*stream
	wheel   [phaseSlots][]*stream
	win     *windowStats
	nextID  uint32
	pt      uint8
	drops   int64 // the socket's drop counter (SO_RXQ_OVFL) as last reported by the kernel
}

func newTable(pt uint8) *table {
	return &table{streams: map[addrKey]*stream{}, win: new(windowStats), pt: pt}
}

// receive accounts one datagram from src that the kernel received at rxNs, at sender tick now.
// The caller holds t.mu.
func (t *table) receive(src addrKey, pkt []byte, rxNs, now int64) {
	w := t.win
	if len(pkt) < rtpHeaderLen || pkt[0]>>6 != 2 {
		w.rxOther++
		return
	}
	w.rxPackets++
	s := t.streams[src]
	if s == nil {
		s = t.add(src, now)
	}
	s.lastTick = now
	ssrc := binary.BigEndian.Uint32(pkt[8:12])
	seq := binary.BigEndian.Uint16(pkt[2:4])
	pt := pkt[1] & 0x7f
	audio := pt == 0 || pt == 8 // telephone-events keep their own timing
	switch {
	case !s.started:
		s.start(ssrc, seq)
	case ssrc != s.ssrc:
		t.fold(s) // a new sender on the same port: a new stream
		s.start(ssrc, seq)
	default:
		d := int64(int16(seq - uint16(s.maxExt)))
		if d > maxDropout || d < -maxDropout {
			t.fold(s)
			s.start(ssrc, seq)
			break
		}
		s.received++
		if d > 0 {
			s.maxExt += d
		}
	}
	if !audio {
		return
	}
	w.rxAudio++
	if silentPCMU(pkt) {
		if s.heard {
			w.silentFrames++
		}
	} else {
		s.heard = true
	}
	if s.lastRxNs != 0 && rxNs != 0 {
		delta := rxNs - s.lastRxNs
		w.deltas++
		w.sumDeltaNs += delta
		if delta > w.maxDeltaNs {
			w.maxDeltaNs = delta
		}
		dev := delta - frameNs
		if dev < 0 {
			dev = -dev
		}
		if bin := dev / 1000; bin < histBins {
			w.hist[bin]++
		} else {
			w.long[min(dev/1_000_000, longBins-1)]++
		}
	}
	if rxNs != 0 {
		s.lastRxNs = rxNs
	}
}

// start makes s a fresh receive stream whose first datagram has seq.
func (s *stream) start(ssrc uint32, seq uint16) {
	s.started = true
	s.ssrc = ssrc
	s.maxExt = int64(seq) + 1<<16 // room below for reordering at the start
	s.baseExt = s.maxExt
	s.received = 1
	s.lastRxNs = 0
	s.heard = false
}

// silentPCMU reports whether an RTP packet (no CSRC, no extension, as pivotua sends them) carries
// a whole frame of PCMU silence: what pivotua sends when a stream's playback queue is empty.
func silentPCMU(pkt []byte) bool {
	if pkt[1]&0x7f != 0 || pkt[0]&0x1f != 0 || len(pkt) <= rtpHeaderLen {
		return false
	}
	for _, b := range pkt[rtpHeaderLen:] {
		if b != 0xff {
			return false
		}
	}
	return true
}

// add latches a new source: it is answered from the next tick on, in the slot of that tick.
func (t *table) add(src addrKey, now int64) *stream {
	t.nextID++
	s := &stream{key: src, slot: int((now + 1) % phaseSlots)}
	// Our own RTP stream to it: PCMU, an SSRC and first sequence number of its own.
	s.hdr[0] = 0x80
	s.hdr[1] = 0x80 | t.pt // marker on the first packet (RFC 3551 §4.1)
	binary.BigEndian.PutUint16(s.hdr[2:], uint16(t.nextID*7919))
	binary.BigEndian.PutUint32(s.hdr[4:], t.nextID*160*1000)
	binary.BigEndian.PutUint32(s.hdr[8:], 0x6e000000|t.nextID)
	t.streams[src] = s
	t.wheel[s.slot] = append(t.wheel[s.slot], s)
	t.win.newStreams++
	return s
}

// fold adds what s counted since the window began to the window's loss, and starts counting anew
// after its highest sequence number.
func (t *table) fold(s *stream) {
	if s.received == 0 {
		return
	}
	exp := s.maxExt - s.baseExt + 1
	lost := exp - s.received
	if lost < 0 { // duplicates
		lost = 0
	}
	t.win.expected += exp
	t.win.lost += lost
	s.baseExt = s.maxExt + 1
	s.received = 0
}

// nextFrame writes the header of s's next frame into h and advances s.
func (s *stream) nextFrame(h *[rtpHeaderLen]byte) {
	*h = s.hdr
	s.hdr[1] &^= 0x80
	binary.BigEndian.PutUint16(s.hdr[2:], binary.BigEndian.Uint16(s.hdr[2:])+1)
	binary.BigEndian.PutUint32(s.hdr[4:], binary.BigEndian.Uint32(s.hdr[4:])+160)
}

// removeIdle takes the i-th stream of slot k off the table when nothing has arrived from it for
// idle ticks; it reports whether it did (the slot's next stream is then at i).
func (t *table) removeIdle(k, i int, now, idle int64) bool {
	s := t.wheel[k][i]
	if now-s.lastTick <= idle {
		return false
	}
	t.fold(s)
	delete(t.streams, s.key)
	last := len(t.wheel[k]) - 1
	t.wheel[k][i] = t.wheel[k][last]
	t.wheel[k][last] = nil
	t.wheel[k] = t.wheel[k][:last]
	t.win.endedStreams++
	return true
}

// mark closes the window: every live stream's loss is folded in, the figures are returned, and a
// new window starts. dropsAtStart is the drop counter when the window began.
func (t *table) mark(dropsAtStart int64) genwindow.Window {
	t.mu.Lock()
	for _, s := range t.streams {
		t.fold(s)
	}
	w := t.win
	t.win = new(windowStats)
	out := genwindow.Window{
		Streams: len(t.streams), NewStreams: w.newStreams, Ended: w.endedStreams,
		RxPackets: w.rxPackets, RxAudio: w.rxAudio, RxOther: w.rxOther, TxPackets: w.txPackets, TxFailed: w.txFailed,
		Expected: w.expected, Lost: w.lost, Deltas: w.deltas, LateTicks: w.lateTicks, SkippedTicks: w.skippedTicks,
		SilentFrames: w.silentFrames,
		Drops:        t.drops - dropsAtStart,
	}
	t.mu.Unlock()
	if out.Expected > 0 {
		out.LossPct = round(100*float64(out.Lost)/float64(out.Expected), 4)
	}
	if w.recvCalls > 0 {
		out.AvgBatch = round(float64(w.rxPackets+w.rxOther)/float64(w.recvCalls), 2)
	}
	if w.deltas > 0 {
		out.MeanMs = round(float64(w.sumDeltaNs)/float64(w.deltas)/1e6, 3)
		out.DevP50Ms = w.pct(50)
		out.DevP99Ms = w.pct(99)
		out.DevP999Ms = w.pct(99.9)
	}
	out.MaxDeltaMs = round(float64(w.maxDeltaNs)/1e6, 2)
	out.MaxLagMs = round(float64(w.maxLagNs)/1e6, 2)
	return out
}

// pct is the p-th percentile (nearest rank) of the window's deviations, in ms: the middle of the
// bin it falls in (1 µs wide up to 100 ms, 1 ms beyond).
func (w *windowStats) pct(p float64) float64 {
	rank := int64(p/100*float64(w.deltas)+0.5) - 1
	if rank < 0 {
		rank = 0
	}
	var cum int64
	for i, c := range w.hist {
		cum += int64(c)
		if cum > rank {
			return round((float64(i)+0.5)/1000, 3)
		}
	}
	for i, c := range w.long {
		cum += int64(c)
		if cum > rank {
			return round(float64(i)+0.5, 3)
		}
	}
	return longBins
}

func round(v float64, d int) float64 {
	p := 1.0
	for range d {
		p *= 10
	}
	if v < 0 {
		return -float64(int64(-v*p+0.5)) / p
	}
	return float64(int64(v*p+0.5)) / p
}
