package media

import "github.com/pivotua/pivotua/codec"

// G.711 as tables for the room's mixer, which decodes every party's audio
// and re-encodes every party's mix each tick: one lookup per sample each
// way. µ-law's encoder looks only at the top 14 bits of a sample and A-law's
// at the top 12 (G.711's 14- and 13-bit linear inputs, A-law's lowest
// segment step being two of those), so the tables are small enough to stay
// in cache: 16 KB and 4 KB. TestRoomG711TablesMatchCodec checks them against
// codec for every 16-bit sample.
var (
	ulawDecode, alawDecode = g711DecodeTables()
	ulawEncode             = g711EncodeTable(codec.PCMU, 2)
	alawEncode             = g711EncodeTable(codec.PCMA, 4)
)

func g711DecodeTables() (u, a [256]int16) {
	var code [256]byte
	for i := range code {
		code[i] = byte(i)
	}
	codec.DecodeFrame(codec.PCMU, u[:], code[:])
	codec.DecodeFrame(codec.PCMA, a[:], code[:])
	return u, a
}

// g711EncodeTable maps uint16(sample)>>shift to its code in law.
func g711EncodeTable(law codec.Law, shift uint) []byte {
	t := make([]byte, 1<<(16-shift))
	pcm := make([]int16, len(t))
	for i := range pcm {
		pcm[i] = int16(uint16(i) << shift)
	}
	codec.EncodeFrame(law, t, pcm)
	return t
}

// decodeTable is law's sample for each code.
func decodeTable(law codec.Law) *[256]int16 {
	if law == codec.PCMA {
		return &alawDecode
	}
	return &ulawDecode
}

// encodeG711 encodes pcm into dst (len(dst) >= len(pcm)) in law.
func encodeG711(law codec.Law, dst []byte, pcm []int16) {
	dst = dst[:len(pcm)]
	if law == codec.PCMA {
		t := alawEncode[:1<<12]
		for i, s := range pcm {
			dst[i] = t[uint16(s)>>4]
		}
		return
	}
	t := ulawEncode[:1<<14]
	for i, s := range pcm {
		dst[i] = t[uint16(s)>>2]
	}
}

// ulawToAlaw and alawToUlaw convert one G.711 byte to the other law through
// 16-bit linear, computed once: G.711 transcoding is a table lookup.
var ulawToAlaw, alawToUlaw = g711Tables()

func g711Tables() (u2a, a2u [256]byte) {
	var pcm [1]int16
	var out [1]byte
	for i := range 256 {
		codec.DecodeFrame(codec.PCMU, pcm[:], []byte{byte(i)})
		codec.EncodeFrame(codec.PCMA, out[:], pcm[:])
		u2a[i] = out[0]
		codec.DecodeFrame(codec.PCMA, pcm[:], []byte{byte(i)})
		codec.EncodeFrame(codec.PCMU, out[:], pcm[:])
		a2u[i] = out[0]
	}
	return u2a, a2u
}

// transcode converts the G.711 bytes of src in law from into dst in law to
// (the same slice may be both) and returns how many it wrote: a stream's
// audio (PCMU on the wire) to or from a session in the other law.
func transcode(dst, src []byte, from, to codec.Law) int {
	n := min(len(dst), len(src))
	switch {
	case from == to:
		copy(dst, src[:n])
	case from == codec.PCMU:
		for i, b := range src[:n] {
			dst[i] = ulawToAlaw[b]
		}
	default:
		for i, b := range src[:n] {
			dst[i] = alawToUlaw[b]
		}
	}
	return n
}
