package media

import (
	"errors"
	"net/netip"
	"syscall"

	"github.com/pion/rtp"

	"github.com/pivotua/pivotua/codec"
)

// txState is the sender state of a session. Only the clock goroutine reads
// or writes it once the session is on the clock.
type txState struct {
	header rtp.Header // Version and SSRC fixed; PayloadType, Marker, SequenceNumber, Timestamp per packet
	buf    []byte     // packetBufferSize bytes, reused for every packet
	dst    sockaddr   // the last destination, in the kernel's form
	seq    uint16     // next sequence number
	ts     uint32     // timestamp of the next frame
	marker bool       // the next packet starts a talk spurt

	cfg       *sendConfig // last config seen; a new one (Start) sets the marker
	play      *playback   // last playback seen; a new one sets the marker
	finishing *playback   // its last frame is in buf; completed after the write

	event         [telephoneEventSize]byte // payload of the event packet being sent
	dtmfFinishing *dtmfSend                // its last packet is in buf; completed after the write

	feed *roomParty // last room party seen; a new one sets the marker
}

// sendTick is one frame time of a session: called by the clock goroutine
// every 20 ms when it has no ring (clock_ring.go). Each session sends from its
// own socket (symmetric RTP: the peer sends to the port it receives from), so
// sendmmsg, which takes one socket, has nothing to batch.
func (s *Session) sendTick() {
	s.busy.Store(true) // before buildFrame checks finished: see Close
	if pkt, payloadLen, err, ok := s.nextPacket(); ok {
		if err == nil {
			err = sendTo(s.fd, pkt, &s.tx.dst)
		}
		s.afterWrite(payloadLen, err)
	}
	s.busy.Store(false)
}

// nextPacket builds the session's next packet, protected, its destination in
// tx.dst; ok is false when none leaves this tick. An error (SRTP) is for
// afterWrite.
func (s *Session) nextPacket() (pkt []byte, payloadLen int, err error, ok bool) {
	pkt, dst, ok := s.buildFrame()
	if !ok {
		return nil, 0, nil, false
	}
	s.tx.dst.set(dst)
	payloadLen = len(pkt) - rtpHeaderSize
	pkt, err = s.protect(pkt)
	return pkt, payloadLen, err, true
}

// buildFrame advances the stream by one frame and, if a packet should leave,
// writes it to tx.buf and returns it with its destination. The frame is a
// telephone-event packet while SendDigits sends a key, else the playing
// prompt's next frame or silence. It never allocates.
func (s *Session) buildFrame() (pkt []byte, dst netip.AddrPort, ok bool) {
	tx := &s.tx
	cfg := s.cfg.Load()
	if cfg == nil || s.finished.Load() {
		return nil, dst, false
	}
	if cfg != tx.cfg {
		tx.cfg = cfg
		tx.marker = true
	}

	var payload []byte
	pt, ts, marker := cfg.payloadType, tx.ts, tx.marker
	isEvent := false
	if job := s.dtmf.Load(); job != nil {
		var ev telephoneEvent
		if ev, marker, isEvent = s.nextDTMF(job, cfg); isEvent {
			// The prompt is not advanced: it resumes after the key.
			payload = tx.event[:putTelephoneEvent(tx.event[:], ev)]
			pt, ts = cfg.eventPayloadType, job.eventTS
		}
	}
	f := s.feed.Load()
	if f != tx.feed { // bridged or unbridged: a new talk spurt
		tx.feed = f
		tx.marker = true
	}
	if !isEvent && f != nil {
		// Bridged: the other leg's audio and events replace prompts (bridge.go).
		payload, pt, ts, marker, isEvent = f.next(tx, cfg)
	} else if sf := s.streamFeed.Load(); !isEvent && sf != nil {
		// A bidirectional media stream: the application's audio replaces prompts (feed_stream.go).
		payload, marker = sf.next(cfg.law, cfg.silence[:]), tx.marker
	} else if !isEvent {
		payload = cfg.silence[:]
		if pb := s.play.Load(); pb != nil && !pb.stop.Load() {
			if pb != tx.play {
				tx.play = pb
				tx.marker = true
			}
			var last bool
			payload, last = pb.nextFrame(cfg.law)
			if last {
				tx.finishing = pb
			}
		}
		marker = tx.marker
	}

	if !isEvent {
		s.tapSent(payload, cfg.law) // media streams' outbound track (tap.go)
	}
	if r := s.remote.Load(); r != nil {
		dst = *r
	}
	if !s.sending.Load() || !dst.IsValid() || dst.Addr().IsUnspecified() || dst.Port() == 0 {
		// Nothing leaves, but time goes on: RFC 3550 §5.1, the timestamp
		// keeps counting while no packets are sent.
		tx.ts += codec.FrameSamples
		tx.marker = true
		s.completePlayback()
		s.completeDTMF()
		return nil, dst, false
	}

	h := &tx.header
	h.PayloadType = pt
	h.Marker = marker
	h.SequenceNumber = tx.seq
	h.Timestamp = ts
	n, err := h.MarshalTo(tx.buf)
	if err != nil { // cannot happen: buf fits a header without CSRCs
		return nil, dst, false
	}
	n += copy(tx.buf[n:], payload)
	tx.seq++
	tx.ts += codec.FrameSamples // the audio clock runs on under an event
	if !isEvent {
		tx.marker = false
	}
	return tx.buf[:n], dst, true
}

// afterWrite counts the packet and completes a playback whose last frame it
// carried, so Play returns only once that frame is on the wire.
func (s *Session) afterWrite(payloadLen int, err error) {
	switch {
	case err == nil:
		s.packetsSent.Add(1)
		s.bytesSent.Add(uint64(payloadLen))
	case errors.Is(err, syscall.ECONNREFUSED):
		// A stale ICMP error surfacing on the socket: the packet went out.
		s.packetsSent.Add(1)
		s.bytesSent.Add(uint64(payloadLen))
	default:
		s.sendErrors.Add(1)
	}
	s.completePlayback()
	s.completeDTMF()
}

func (s *Session) completePlayback() {
	if pb := s.tx.finishing; pb != nil {
		s.tx.finishing = nil
		s.play.CompareAndSwap(pb, nil) // first, so the next Play is not ErrBusy
		pb.finish()
	}
}

// skipFrames jumps the stream over frames the clock could not send in time
// (after a stall longer than the catch-up bound): the timestamp advances by
// their samples and the next packet starts a talk spurt. A playing prompt
// resumes where it was, so no speech is lost.
func (s *Session) skipFrames(frames uint32) {
	s.tx.ts += frames * codec.FrameSamples
	s.tx.marker = true
	if sf := s.streamFeed.Load(); sf != nil && s.feed.Load() == nil {
		// A media stream's audio is played out in real time: the frames of these ticks are gone
		// (feed_stream.go, lateness), or the application's queue would grow by each one.
		sf.skip(int(frames))
	}
}
