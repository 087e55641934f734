package main

// Pcap files of a caller's RTP for SIPp's play_pcap_audio, made at test time:
// audio as G.711 packets every 20 ms and DTMF as RFC 4733 events, on one SSRC.

import (
	"encoding/binary"
	"os"
	"time"

	"github.com/pion/rtp"
	"github.com/pivotua/pivotua/codec"
)

// callerSegment is one stretch of what the simulated caller sends.
type callerSegment struct {
	pcm []int16 // audio at 8 kHz; nil for a key press
	key byte    // DTMF key sent as RFC 4733 events when pcm is nil
	dur time.Duration
}

func audioSegment(pcm []int16) callerSegment { return callerSegment{pcm: pcm} }
func keySegment(k byte, d time.Duration) callerSegment {
	return callerSegment{key: k, dur: d}
}

const pcapEventPT = 101

// writeCallerPCAP writes segments as one RTP stream of law (PCMU/PCMA) plus
// telephone-event PT 101, timed 20 ms apart, to a classic Ethernet pcap file.
func writeCallerPCAP(path string, law codec.Law, segments ...callerSegment) error {
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
		h.PayloadType, h.Marker = pcapEventPT, true
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
	return writePCAP(path, pkts, times)
}

// writePCAP wraps each RTP packet in Ethernet/IPv4/UDP (SIPp rewrites the addresses).
func writePCAP(path string, pkts [][]byte, times []time.Duration) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	defer f.Close()
	hdr := make([]byte, 24)
	binary.LittleEndian.PutUint32(hdr[0:], 0xa1b2c3d4)
	binary.LittleEndian.PutUint16(hdr[4:], 2)
	binary.LittleEndian.PutUint16(hdr[6:], 4)
	binary.LittleEndian.PutUint32(hdr[16:], 65535)
	binary.LittleEndian.PutUint32(hdr[20:], 1) // DLT_EN10MB
	if _, err := f.Write(hdr); err != nil {
		return err
	}
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for i, p := range pkts {
		udpLen := 8 + len(p)
		ipLen := 20 + udpLen
		frame := make([]byte, 14+ipLen)
		binary.BigEndian.PutUint16(frame[12:], 0x0800)
		ip := frame[14:]
		ip[0], ip[8], ip[9] = 0x45, 64, 17
		binary.BigEndian.PutUint16(ip[2:], uint16(ipLen))
		copy(ip[12:], []byte{127, 0, 0, 1})
		copy(ip[16:], []byte{127, 0, 0, 1})
		var sum uint32
		for j := 0; j < 20; j += 2 {
			sum += uint32(binary.BigEndian.Uint16(ip[j:]))
		}
		for sum > 0xffff {
			sum = sum&0xffff + sum>>16
		}
		binary.BigEndian.PutUint16(ip[10:], ^uint16(sum))
		udp := ip[20:]
		binary.BigEndian.PutUint16(udp[0:], 6000)
		binary.BigEndian.PutUint16(udp[2:], 6002)
		binary.BigEndian.PutUint16(udp[4:], uint16(udpLen))
		copy(udp[8:], p)
		ts := base.Add(times[i])
		rec := make([]byte, 16)
		binary.LittleEndian.PutUint32(rec[0:], uint32(ts.Unix()))
		binary.LittleEndian.PutUint32(rec[4:], uint32(ts.Nanosecond()/1000))
		binary.LittleEndian.PutUint32(rec[8:], uint32(len(frame)))
		binary.LittleEndian.PutUint32(rec[12:], uint32(len(frame)))
		if _, err := f.Write(rec); err != nil {
			return err
		}
		if _, err := f.Write(frame); err != nil {
			return err
		}
	}
	return nil
}
