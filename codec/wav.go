package codec

import (
	"bytes"
	"encoding/binary"
	"io"
	"math"
	"time"

	"github.com/zaf/g711"
)

// MaxAudioDuration bounds every decode: longer input is refused with
// ErrAudioTooLong so a hostile file cannot exhaust memory.
const MaxAudioDuration = time.Hour

// Limits on WAV header fields; anything outside is refused as absurd rather
// than trusted to size buffers.
const (
	wavMaxChannels = 16
	minSampleRate  = 1000
	maxSampleRate  = 384000
)

// WAVE format tags (RFC 2361 appendix A; mmreg.h).
const (
	wavFormatPCM        = 0x0001
	wavFormatIEEEFloat  = 0x0003
	wavFormatALaw       = 0x0006
	wavFormatMuLaw      = 0x0007
	wavFormatExtensible = 0xFFFE
)

// ksSubtypeSuffix is bytes 2..16 of every KSDATAFORMAT_SUBTYPE GUID; the
// first two bytes carry the plain format tag.
var ksSubtypeSuffix = []byte{0x00, 0x00, 0x00, 0x00, 0x10, 0x00, 0x80, 0x00, 0x00, 0xAA, 0x00, 0x38, 0x9B, 0x71}

// wavFormat is what the fmt chunk says, reduced to what decoding needs.
type wavFormat struct {
	tag        uint16 // resolved: never wavFormatExtensible
	channels   int
	sampleRate int
	bits       int // container bits per sample
}

func (f wavFormat) frameBytes() int { return f.channels * (f.bits / 8) }

// DecodeWAV parses a RIFF/WAVE (or RF64) file and returns its samples mixed
// down to mono at the file's own sample rate.
//
// It reads PCM 8-bit unsigned, 16/24/32-bit signed, 32/64-bit IEEE float,
// µ-law (tag 7), A-law (tag 6) and WAVE_FORMAT_EXTENSIBLE wrapping any of
// those, with any number of channels up to 16 averaged into one. Unknown
// chunks are skipped (with their pad byte when odd-sized). A data chunk
// whose size runs past the end of the input is read to the end: streaming
// writers such as espeak-ng and lame put placeholders (0x7FFFF000,
// 0xFFFFFFFF) there, and truncated downloads still play what arrived.
func DecodeWAV(data []byte) (pcm []int16, sampleRate int, err error) {
	if len(data) < 12 {
		return nil, 0, newError(ErrMalformedAudio, "wav: %d bytes is too short for a RIFF header", len(data))
	}
	switch string(data[:4]) {
	case "RIFF", "RF64": // RF64's real sizes live in ds64, which we skip: its data size is a placeholder read to EOF.
	default:
		return nil, 0, newError(ErrUnsupportedFormat, "wav: not a RIFF file (starts %q)", data[:4])
	}
	if string(data[8:12]) != "WAVE" {
		return nil, 0, newError(ErrUnsupportedFormat, "wav: RIFF form type %q is not WAVE", data[8:12])
	}
	var (
		format  wavFormat
		haveFmt bool
	)
	rest := data[12:]
	for {
		if len(rest) < 8 {
			if haveFmt {
				return nil, 0, newError(ErrMalformedAudio, "wav: no data chunk")
			}
			return nil, 0, newError(ErrMalformedAudio, "wav: no fmt chunk")
		}
		id, size := string(rest[:4]), uint64(binary.LittleEndian.Uint32(rest[4:8]))
		rest = rest[8:]
		switch id {
		case "fmt ":
			if size > uint64(len(rest)) {
				return nil, 0, newError(ErrMalformedAudio, "wav: fmt chunk truncated (%d of %d bytes)", len(rest), size)
			}
			format, err = parseWAVFormat(rest[:size])
			if err != nil {
				return nil, 0, err
			}
			haveFmt = true
		case "data":
			if !haveFmt {
				return nil, 0, newError(ErrMalformedAudio, "wav: data chunk before fmt chunk")
			}
			// Placeholder or truncated size: take what is there.
			size = min(size, uint64(len(rest)))
			pcm, err = decodeWAVSamples(format, rest[:size])
			return pcm, format.sampleRate, err
		}
		if size > uint64(len(rest)) {
			return nil, 0, newError(ErrMalformedAudio, "wav: chunk %q truncated before any data chunk", id)
		}
		// RIFF chunks are word aligned: odd sizes are followed by a pad byte.
		size += size & 1
		rest = rest[min(size, uint64(len(rest))):]
	}
}

func parseWAVFormat(b []byte) (wavFormat, error) {
	if len(b) < 16 {
		return wavFormat{}, newError(ErrMalformedAudio, "wav: fmt chunk is %d bytes, want at least 16", len(b))
	}
	f := wavFormat{
		tag:        binary.LittleEndian.Uint16(b[0:2]),
		channels:   int(binary.LittleEndian.Uint16(b[2:4])),
		sampleRate: int(binary.LittleEndian.Uint32(b[4:8])),
		bits:       int(binary.LittleEndian.Uint16(b[14:16])),
	}
	if f.tag == wavFormatExtensible {
		if len(b) < 40 {
			return wavFormat{}, newError(ErrMalformedAudio, "wav: WAVE_FORMAT_EXTENSIBLE fmt chunk is %d bytes, want 40", len(b))
		}
		guid := b[24:40]
		if !bytes.Equal(guid[2:], ksSubtypeSuffix) {
			return wavFormat{}, newError(ErrUnsupportedFormat, "wav: unsupported WAVE_FORMAT_EXTENSIBLE subformat % x", guid)
		}
		f.tag = binary.LittleEndian.Uint16(guid[:2])
	}
	if f.channels < 1 || f.channels > wavMaxChannels {
		return wavFormat{}, newError(ErrUnsupportedFormat, "wav: unsupported channel count %d (1..%d)", f.channels, wavMaxChannels)
	}
	if f.sampleRate < minSampleRate || f.sampleRate > maxSampleRate {
		return wavFormat{}, newError(ErrUnsupportedFormat, "wav: unsupported sample rate %d Hz (%d..%d)", f.sampleRate, minSampleRate, maxSampleRate)
	}
	ok := false
	switch f.tag {
	case wavFormatPCM:
		ok = f.bits == 8 || f.bits == 16 || f.bits == 24 || f.bits == 32
	case wavFormatIEEEFloat:
		ok = f.bits == 32 || f.bits == 64
	case wavFormatMuLaw, wavFormatALaw:
		ok = f.bits == 8
	default:
		return wavFormat{}, newError(ErrUnsupportedFormat, "wav: unsupported format tag %d", f.tag)
	}
	if !ok {
		return wavFormat{}, newError(ErrUnsupportedFormat, "wav: unsupported %d bits per sample for format tag %d", f.bits, f.tag)
	}
	return f, nil
}

// decodeWAVSamples converts interleaved frames to mono int16, averaging the
// channels. A trailing partial frame is dropped.
func decodeWAVSamples(f wavFormat, b []byte) ([]int16, error) {
	frameBytes := f.frameBytes()
	frames := len(b) / frameBytes
	if frames > maxFrames(f.sampleRate) {
		return nil, newError(ErrAudioTooLong, "wav: %d samples at %d Hz is longer than %v", frames, f.sampleRate, MaxAudioDuration)
	}
	out := make([]int16, frames)
	mixFrames(f, sampleReader(f), b, out)
	return out, nil
}

// mixFrames converts len(out) interleaved frames from b to mono, averaging
// the channels.
func mixFrames(f wavFormat, sample func([]byte) int32, b []byte, out []int16) {
	frameBytes, width := f.frameBytes(), f.bits/8
	for i := range out {
		frame := b[i*frameBytes : (i+1)*frameBytes]
		if f.channels == 1 {
			out[i] = clamp16(sample(frame))
			continue
		}
		var sum int64
		for c := 0; c < f.channels; c++ {
			sum += int64(sample(frame[c*width:]))
		}
		out[i] = clamp16(int32(sum / int64(f.channels)))
	}
}

// sampleReader returns a function reading one sample, scaled to the int16
// range, from the start of its argument.
func sampleReader(f wavFormat) func([]byte) int32 {
	switch {
	case f.tag == wavFormatMuLaw:
		return func(b []byte) int32 { return int32(g711.DecodeUlawFrame(b[0])) }
	case f.tag == wavFormatALaw:
		return func(b []byte) int32 { return int32(g711.DecodeAlawFrame(b[0])) }
	case f.tag == wavFormatIEEEFloat && f.bits == 32:
		return func(b []byte) int32 {
			return floatToInt32(float64(math.Float32frombits(binary.LittleEndian.Uint32(b))))
		}
	case f.tag == wavFormatIEEEFloat:
		return func(b []byte) int32 { return floatToInt32(math.Float64frombits(binary.LittleEndian.Uint64(b))) }
	case f.bits == 8: // 8-bit PCM is unsigned, centred on 128.
		return func(b []byte) int32 { return (int32(b[0]) - 128) << 8 }
	case f.bits == 16:
		return func(b []byte) int32 { return int32(int16(binary.LittleEndian.Uint16(b))) }
	case f.bits == 24:
		return func(b []byte) int32 { return int32(uint32(b[0])<<8|uint32(b[1])<<16|uint32(b[2])<<24) >> 16 }
	default: // 32-bit PCM
		return func(b []byte) int32 { return int32(binary.LittleEndian.Uint32(b)) >> 16 }
	}
}

func floatToInt32(v float64) int32 {
	if v != v { // NaN
		return 0
	}
	return int32(math.Round(max(-1, min(1, v)) * 32767))
}

func clamp16(v int32) int16 {
	return int16(max(math.MinInt16, min(math.MaxInt16, v)))
}

// maxFrames is how many sample frames MaxAudioDuration holds at rate.
func maxFrames(rate int) int {
	return rate * int(MaxAudioDuration/time.Second)
}

// EncodeWAV writes pcm as a canonical 16-bit mono PCM WAV file. It needs no
// Seek, so w may be a pipe or an HTTP response.
func EncodeWAV(w io.Writer, pcm []int16, sampleRate int) error {
	if sampleRate < minSampleRate || sampleRate > maxSampleRate {
		return newError(ErrUnsupportedFormat, "wav: unsupported sample rate %d Hz (%d..%d)", sampleRate, minSampleRate, maxSampleRate)
	}
	dataBytes := uint64(len(pcm)) * 2
	if dataBytes > math.MaxUint32-36 {
		return newError(ErrAudioTooLong, "wav: %d samples do not fit a RIFF file", len(pcm))
	}
	var h [44]byte
	copy(h[0:], "RIFF")
	binary.LittleEndian.PutUint32(h[4:], uint32(36+dataBytes))
	copy(h[8:], "WAVEfmt ")
	binary.LittleEndian.PutUint32(h[16:], 16)
	binary.LittleEndian.PutUint16(h[20:], wavFormatPCM)
	binary.LittleEndian.PutUint16(h[22:], 1)
	binary.LittleEndian.PutUint32(h[24:], uint32(sampleRate))
	binary.LittleEndian.PutUint32(h[28:], uint32(sampleRate*2))
	binary.LittleEndian.PutUint16(h[32:], 2)
	binary.LittleEndian.PutUint16(h[34:], 16)
	copy(h[36:], "data")
	binary.LittleEndian.PutUint32(h[40:], uint32(dataBytes))
	if _, err := w.Write(h[:]); err != nil {
		return err
	}
	// Write in bounded chunks: one buffer for the whole file would double
	// the memory of a long recording.
	var buf [4096]byte
	for len(pcm) > 0 {
		n := min(len(pcm), len(buf)/2)
		for i, s := range pcm[:n] {
			binary.LittleEndian.PutUint16(buf[2*i:], uint16(s))
		}
		if _, err := w.Write(buf[:2*n]); err != nil {
			return err
		}
		pcm = pcm[n:]
	}
	return nil
}
