package main

import (
	"math"
	"time"

	"github.com/pion/rtp"

	"github.com/pivotua/pivotua/codec"
	"github.com/pivotua/pivotua/internal/rtppcap"
)

// writePromptPCAP writes secs seconds of the bench prompt (a 300-3000 Hz sweep repeating every
// 10 s) as PCMU RTP, one packet every 20 ms, in a pcap for SIPp's play_pcap_audio.
func writePromptPCAP(path string, secs int) error {
	const rate = 8000
	pcm := make([]int16, codec.FrameSamples)
	h := rtp.Header{Version: 2, PayloadType: uint8(codec.PCMU), SequenceNumber: 1000, Timestamp: 160000, SSRC: 0x5eed0001, Marker: true}
	phase := 0.0
	n := secs * 50
	pkts, times := make([][]byte, 0, n), make([]time.Duration, 0, n)
	for k := range n {
		for i := range pcm {
			s := k*codec.FrameSamples + i
			f := 300 + 2700*float64(s%(rate*10))/float64(rate*10)
			phase += 2 * math.Pi * f / rate
			pcm[i] = int16(0.4 * 32767 * math.Sin(phase))
		}
		payload := make([]byte, codec.FrameSamples)
		codec.EncodeFrame(codec.PCMU, payload, pcm)
		b, err := (&rtp.Packet{Header: h, Payload: payload}).Marshal()
		if err != nil {
			return err
		}
		pkts, times = append(pkts, b), append(times, time.Duration(k)*20*time.Millisecond)
		h.SequenceNumber++
		h.Timestamp += codec.FrameSamples
		h.Marker = false
	}
	return rtppcap.Write(path, pkts, times)
}
