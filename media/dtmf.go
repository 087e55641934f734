package media

import (
	"encoding/binary"
	"time"

	"github.com/pion/rtp"
)

// Digit is one DTMF key press from the caller.
type Digit struct {
	Key      byte          // '0'-'9', '*', '#', 'A'-'D'
	Duration time.Duration // as signalled (RFC 4733) or measured (in-band); 0 if unknown
	Source   string        // "rfc4733" or "inband"
}

// Digit sources.
const (
	DigitSourceRFC4733 = "rfc4733"
	DigitSourceInband  = "inband"
)

// dtmfEventKeys maps the RFC 4733 §3.2 DTMF event codes 0-15 to their keys.
const dtmfEventKeys = "0123456789*#ABCD"

// dtmfEventCode is the RFC 4733 §3.2 event code of key (any case for A-D),
// or false for anything that is not a DTMF key.
func dtmfEventCode(key byte) (uint8, bool) {
	switch {
	case key >= '0' && key <= '9':
		return key - '0', true
	case key == '*':
		return 10, true
	case key == '#':
		return 11, true
	case key >= 'A' && key <= 'D':
		return 12 + key - 'A', true
	case key >= 'a' && key <= 'd':
		return 12 + key - 'a', true
	}
	return 0, false
}

// OnDigit installs fn to be called on the session's clock once per key press
// the caller makes: by RFC 4733 telephone-events on the negotiated
// Params.EventPayloadType, or, when none was negotiated (EventPayloadType
// 0), by in-band detection in the caller's G.711 audio. It may be set before
// Start or at any time; nil removes it. fn must not block and must not call
// Close.
//
// A digit is reported as soon as it is recognised, so a prompt can stop at
// once (barge-in): for RFC 4733 at the first packet of the event that
// arrives, with the duration that packet signals (often 20-40 ms, the full
// length if the earlier packets were lost); in-band after about 30 ms of
// steady tone, with the duration measured until then.
func (s *Session) OnDigit(fn func(Digit)) {
	if fn == nil {
		s.onDigit.Store(nil)
		return
	}
	s.onDigit.Store(&fn)
}

// telephoneEvent is the first event block of an RFC 4733 §2.3 payload:
//
//	 0                   1                   2                   3
//	 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//	|     event     |E|R| volume    |          duration             |
type telephoneEvent struct {
	event    uint8
	end      bool   // §2.3.2: the final packet(s) of the event
	volume   uint8  // §2.3.4: -dBm0, 0-63
	duration uint16 // §2.3.5: in timestamp units since the event's start
}

const telephoneEventSize = 4

// parseTelephoneEvent reads the first event block of payload. Further blocks
// (§2.5.1.5, several events packed in one packet, which no common sender
// uses) are ignored; the reserved R bit is ignored as §2.3.3 asks.
func parseTelephoneEvent(payload []byte) (telephoneEvent, bool) {
	if len(payload) < telephoneEventSize {
		return telephoneEvent{}, false
	}
	return telephoneEvent{
		event:    payload[0],
		end:      payload[1]&0x80 != 0,
		volume:   payload[1] & 0x3f,
		duration: binary.BigEndian.Uint16(payload[2:]),
	}, true
}

// putTelephoneEvent writes ev as a 4-byte RFC 4733 §2.3 payload to dst.
func putTelephoneEvent(dst []byte, ev telephoneEvent) int {
	dst[0] = ev.event
	dst[1] = ev.volume & 0x3f
	if ev.end {
		dst[1] |= 0x80
	}
	binary.BigEndian.PutUint16(dst[2:], ev.duration)
	return telephoneEventSize
}

// staleEventWindow is how far back (in 8 kHz timestamp units, 2 s) an event
// timestamp may lie behind the last one and still be taken for a late packet
// of an earlier event rather than a new one.
const staleEventWindow = 2 * 8000

// eventTracker tells new telephone-events from more packets of one already
// seen. RFC 4733 §2.5.1.2: every packet of an event, the start, the updates
// and the (retransmitted, §2.5.1.4) end packets, carries the event's start
// time as its RTP timestamp, so the timestamp identifies the event. The
// marker bit is not used: it is lost with the first packet, and SIPp's
// three end packets even share one sequence number. Owned by the read
// goroutine.
type eventTracker struct {
	valid bool
	ssrc  uint32
	ts    uint32
}

// observe reports whether a packet with this SSRC and timestamp starts a new
// event: the first ever, a new stream, or a later timestamp. A repeated or
// earlier timestamp (a late packet of an old event, §2.5.2.3) is not new.
func (t *eventTracker) observe(ssrc, ts uint32) bool {
	if t.valid && ssrc == t.ssrc {
		d := int32(ts - t.ts)
		if d == 0 || (d < 0 && d > -staleEventWindow) {
			return false
		}
	}
	t.valid, t.ssrc, t.ts = true, ssrc, ts
	return true
}

// receiveEvent handles one packet on the negotiated telephone-event payload
// type: it reports a DTMF key once per event, at the event's first packet
// that arrives, whichever it is (start, update or end).
func (s *Session) receiveEvent(h *rtp.Header, payload []byte) {
	ev, ok := parseTelephoneEvent(payload)
	if !ok || !s.rx.events.observe(h.SSRC, h.Timestamp) {
		return
	}
	if int(ev.event) >= len(dtmfEventKeys) {
		return // flash, tones and other non-DTMF events (RFC 4734)
	}
	if fn := s.onDigit.Load(); fn != nil {
		(*fn)(Digit{
			Key:      dtmfEventKeys[ev.event],
			Duration: time.Duration(ev.duration) * time.Second / 8000,
			Source:   DigitSourceRFC4733,
		})
	}
}
