package sipptest

// Pcap files of a caller's RTP for SIPp's play_pcap_audio, made at test time:
// audio as G.711 packets every 20 ms and DTMF as RFC 4733 events, on one SSRC.

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/pion/rtp"
	"github.com/pivotua/pivotua/codec"
	"github.com/pivotua/pivotua/internal/rtppcap"
)

// Segment is one stretch of what the simulated caller sends.
type Segment struct {
	pcm []int16 // audio at 8 kHz; nil for a key press
	key byte    // DTMF key sent as RFC 4733 events when pcm is nil
	dur time.Duration
}

// Audio is a segment of audio (8 kHz), sent in 20 ms packets.
func Audio(pcm []int16) Segment { return Segment{pcm: pcm} }

// Silence is d of silence, sent as audio packets.
func Silence(d time.Duration) Segment {
	return Audio(make([]int16, int(d/(20*time.Millisecond))*codec.FrameSamples))
}

// Key is a key held for d, sent as RFC 4733 events.
func Key(k byte, d time.Duration) Segment { return Segment{key: k, dur: d} }

// EventPT is the telephone-event payload type of the pcaps.
const EventPT = 101

// WriteCallerPCAP writes segments as one RTP stream of law (PCMU/PCMA) plus
// telephone-event PT 101, timed 20 ms apart, to a classic Ethernet pcap file.
func WriteCallerPCAP(path string, law codec.Law, segments ...Segment) error {
	var pkts [][]byte
	var times []time.Duration
	h := rtp.Header{Version: 2, PayloadType: uint8(law), SequenceNumber: 1000, Timestamp: 160000, SSRC: 0x5eed1234, Marker: true}
	at := time.Duration(0)
	emit := func(payload []byte) {
		b, _ := (&rtp.Packet{Header: h, Payload: payload}).Marshal()
		pkts, times = append(pkts, b), append(times, at)
		h.SequenceNumber++
		h.Marker = false
	}
	frame := make([]byte, codec.FrameSamples)
	for _, s := range segments {
		if s.pcm != nil {
			h.PayloadType = uint8(law)
			for i := 0; i < len(s.pcm); i += codec.FrameSamples {
				chunk := make([]int16, codec.FrameSamples)
				copy(chunk, s.pcm[i:min(i+codec.FrameSamples, len(s.pcm))])
				codec.EncodeFrame(law, frame, chunk)
				emit(append([]byte(nil), frame...))
				h.Timestamp += codec.FrameSamples
				at += 20 * time.Millisecond
			}
			continue
		}
		// RFC 4733 §2.5.1: one timestamp for the whole event, duration growing,
		// marker on the first packet, three end packets (here on one sequence
		// number, as SIPp's own pcaps and some phones send them).
		event := map[byte]byte{'*': 10, '#': 11, 'A': 12, 'B': 13, 'C': 14, 'D': 15}[s.key]
		if s.key >= '0' && s.key <= '9' {
			event = s.key - '0'
		}
		h.PayloadType, h.Marker = EventPT, true
		n := int(s.dur / (20 * time.Millisecond))
		for i := 1; i <= n; i++ {
			emit([]byte{event, 10, byte(i * 160 >> 8), byte(i * 160)})
			at += 20 * time.Millisecond
		}
		end := []byte{event, 0x80 | 10, byte(n * 160 >> 8), byte(n * 160)}
		for range 3 {
			emit(end)
			h.SequenceNumber-- // the same sequence number three times
		}
		h.SequenceNumber++
		h.Timestamp += uint32(n * 160)
		h.Marker = true // talk-spurt after the event
	}
	return rtppcap.Write(path, pkts, times)
}

// PCMUFile writes segments as a PCMU caller's pcap in a folder of t's and returns its path.
func PCMUFile(t testing.TB, segments ...Segment) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "caller.pcap")
	if err := WriteCallerPCAP(path, codec.PCMU, segments...); err != nil {
		t.Fatal(err)
	}
	return path
}
