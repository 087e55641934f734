package codec

import (
	"strconv"
	"time"

	"github.com/zaf/g711"
)

// Law is a G.711 companding law. Its value is the static RTP payload type
// (RFC 3551 §6, table 4).
type Law uint8

// The two G.711 laws.
const (
	PCMU Law = 0 // µ-law
	PCMA Law = 8 // A-law
)

// Telephony framing used everywhere in pivotua: 8 kHz, 20 ms packets.
const (
	SampleRate    = 8000
	FrameSamples  = 160
	FrameDuration = 20 * time.Millisecond
)

func (l Law) String() string {
	switch l {
	case PCMU:
		return "PCMU"
	case PCMA:
		return "PCMA"
	}
	return "Law(" + strconv.Itoa(int(l)) + ")"
}

func (l Law) valid() bool { return l == PCMU || l == PCMA }

// SilenceByte is the law's encoding of a zero sample: 0xFF for PCMU, 0xD5
// for PCMA. Unknown laws get 0xFF.
func SilenceByte(l Law) byte {
	if l == PCMA {
		return 0xD5
	}
	return 0xFF
}

// EncodeFrame encodes min(len(dst), len(pcm)) samples into dst and returns
// how many bytes it wrote. It never allocates; an unknown law writes nothing.
func EncodeFrame(l Law, dst []byte, pcm []int16) int {
	n := min(len(dst), len(pcm))
	dst, pcm = dst[:n], pcm[:n]
	switch l {
	case PCMU:
		for i, s := range pcm {
			dst[i] = g711.EncodeUlawFrame(s)
		}
	case PCMA:
		for i, s := range pcm {
			dst[i] = g711.EncodeAlawFrame(s)
		}
	default:
		return 0
	}
	return n
}

// DecodeFrame decodes min(len(dst), len(payload)) bytes into dst and returns
// how many samples it wrote. It never allocates; an unknown law writes nothing.
func DecodeFrame(l Law, dst []int16, payload []byte) int {
	n := min(len(dst), len(payload))
	dst, payload = dst[:n], payload[:n]
	switch l {
	case PCMU:
		for i, b := range payload {
			dst[i] = g711.DecodeUlawFrame(b)
		}
	case PCMA:
		for i, b := range payload {
			dst[i] = g711.DecodeAlawFrame(b)
		}
	default:
		return 0
	}
	return n
}
