package main

import (
	"encoding/binary"
	"math"
	"os"

	"github.com/pivotua/pivotua/codec"
)

// writePromptPCAP writes secs seconds of the bench prompt as PCMU RTP, one packet every 20 ms, in a
// classic Ethernet pcap for SIPp's play_pcap_audio (SIPp rewrites addresses and ports).
func writePromptPCAP(path string, secs int) error {
	const rate = 8000
	var out []byte
	hdr := make([]byte, 24)
	binary.LittleEndian.PutUint32(hdr[0:], 0xa1b2c3d4)
	binary.LittleEndian.PutUint16(hdr[4:], 2)
	binary.LittleEndian.PutUint16(hdr[6:], 4)
	binary.LittleEndian.PutUint32(hdr[16:], 65535)
	binary.LittleEndian.PutUint32(hdr[20:], 1) // LINKTYPE_ETHERNET
	out = append(out, hdr...)
	pcm := make([]int16, codec.FrameSamples)
	payload := make([]byte, codec.FrameSamples)
	phase := 0.0
	n := secs * 50
	for k := 0; k < n; k++ {
		for i := range pcm {
			s := k*codec.FrameSamples + i
			f := 300 + 2700*float64(s%(rate*10))/float64(rate*10)
			phase += 2 * math.Pi * f / rate
			pcm[i] = int16(0.4 * 32767 * math.Sin(phase))
		}
		codec.EncodeFrame(codec.PCMU, payload, pcm)
		rtpLen := 12 + len(payload)
		udpLen := 8 + rtpLen
		ipLen := 20 + udpLen
		frame := make([]byte, 14+ipLen)
		binary.BigEndian.PutUint16(frame[12:], 0x0800)
		ip := frame[14:]
		ip[0], ip[8], ip[9] = 0x45, 64, 17
		binary.BigEndian.PutUint16(ip[2:], uint16(ipLen))
		copy(ip[12:], []byte{127, 0, 0, 1})
		copy(ip[16:], []byte{127, 0, 0, 2})
		var sum uint32
		for i := 0; i < 20; i += 2 {
			sum += uint32(binary.BigEndian.Uint16(ip[i:]))
		}
		for sum > 0xffff {
			sum = sum&0xffff + sum>>16
		}
		binary.BigEndian.PutUint16(ip[10:], ^uint16(sum))
		udp := ip[20:]
		binary.BigEndian.PutUint16(udp[0:], 30000)
		binary.BigEndian.PutUint16(udp[2:], 6000)
		binary.BigEndian.PutUint16(udp[4:], uint16(udpLen))
		r := udp[8:]
		r[0] = 0x80
		if k == 0 {
			r[1] = 0x80
		}
		binary.BigEndian.PutUint16(r[2:], uint16(1000+k))
		binary.BigEndian.PutUint32(r[4:], uint32(160000+k*codec.FrameSamples))
		binary.BigEndian.PutUint32(r[8:], 0x5eed0001)
		copy(r[12:], payload)
		rec := make([]byte, 16)
		us := int64(k) * 20000
		binary.LittleEndian.PutUint32(rec[0:], uint32(1700000000+us/1e6))
		binary.LittleEndian.PutUint32(rec[4:], uint32(us%1e6))
		binary.LittleEndian.PutUint32(rec[8:], uint32(len(frame)))
		binary.LittleEndian.PutUint32(rec[12:], uint32(len(frame)))
		out = append(out, rec...)
		out = append(out, frame...)
	}
	return os.WriteFile(path, out, 0o644)
}
