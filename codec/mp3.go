package codec

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"strconv"
	"strings"
	"time"

	"github.com/hajimehoshi/go-mp3"
)

// lameTimeout bounds one lame decode when the caller's context has no
// earlier deadline; an hour at 44.1 kHz takes about 6 s, mostly in our
// resampler. A variable only so that the race detector's build of the
// long-MP3 test, whose resampling runs 15 times slower, can wait longer.
var lameTimeout = 30 * time.Second

// mp3SearchLimit is how far past an ID3 tag (or into a body served as
// audio/mpeg) we look for the first frame; encoders pad with zeros.
const mp3SearchLimit = 64 << 10

// mpegHeader is the part of an MPEG audio frame header (ISO/IEC 11172-3
// §2.4.2.3, extended by ISO/IEC 13818-3 and the unofficial MPEG-2.5) that
// sniffing needs.
type mpegHeader struct {
	version    int // 1, 2, or 25 for MPEG-2.5
	layer      int // 1..3
	sampleRate int
	frameBytes int // 0 for free-format streams
}

var mpegSampleRates = [3][3]int{
	{44100, 48000, 32000}, // MPEG-1
	{22050, 24000, 16000}, // MPEG-2
	{11025, 12000, 8000},  // MPEG-2.5
}

// mpegBitrates in kbit/s, by [MPEG-1 or not][layer-1][index].
var mpegBitrates = [2][3][15]int{
	{
		{0, 32, 64, 96, 128, 160, 192, 224, 256, 288, 320, 352, 384, 416, 448},
		{0, 32, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320, 384},
		{0, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320},
	},
	{
		{0, 32, 48, 56, 64, 80, 96, 112, 128, 144, 160, 176, 192, 224, 256},
		{0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160},
		{0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160},
	},
}

// parseMPEGHeader reads the four header bytes at b; ok is false unless they
// are a plausible frame header.
func parseMPEGHeader(b []byte) (h mpegHeader, ok bool) {
	if len(b) < 4 || b[0] != 0xFF || b[1]&0xE0 != 0xE0 {
		return h, false
	}
	versionBits := (b[1] >> 3) & 3
	layerBits := (b[1] >> 1) & 3
	bitrateIndex := int(b[2] >> 4)
	rateIndex := int((b[2] >> 2) & 3)
	padding := int((b[2] >> 1) & 1)
	if versionBits == 1 || layerBits == 0 || bitrateIndex == 15 || rateIndex == 3 {
		return h, false
	}
	var row int
	switch versionBits {
	case 3:
		h.version, row = 1, 0
	case 2:
		h.version, row = 2, 1
	default:
		h.version, row = 25, 2
	}
	h.layer = 4 - int(layerBits)
	h.sampleRate = mpegSampleRates[row][rateIndex]
	bitrate := 1000 * mpegBitrates[min(row, 1)][h.layer-1][bitrateIndex]
	switch {
	case bitrate == 0:
		h.frameBytes = 0
	case h.layer == 1:
		h.frameBytes = (12*bitrate/h.sampleRate + padding) * 4
	case h.layer == 3 && h.version != 1:
		h.frameBytes = 72*bitrate/h.sampleRate + padding
	default:
		h.frameBytes = 144*bitrate/h.sampleRate + padding
	}
	return h, true
}

// findMPEGFrame returns the offset of the first frame header at or before
// limit that is followed by another matching header (or by the end of the
// data), which rules out most chance 0xFFE sync patterns.
func findMPEGFrame(data []byte, limit int) (int, mpegHeader, bool) {
	for i := 0; i <= limit && i+4 <= len(data); i++ {
		h, ok := parseMPEGHeader(data[i:])
		if !ok {
			continue
		}
		next := i + h.frameBytes
		if h.frameBytes == 0 || next >= len(data) {
			return i, h, true
		}
		if n, ok := parseMPEGHeader(data[next:]); ok && n.version == h.version && n.layer == h.layer && n.sampleRate == h.sampleRate {
			return i, h, true
		}
		if next+4 > len(data) { // a truncated next header: trust this one
			return i, h, true
		}
	}
	return 0, mpegHeader{}, false
}

// skipID3v2 returns data after any leading ID3v2 tags (id3v2.4.0-structure
// §3.1: 10-byte header, syncsafe size, optional 10-byte footer).
func skipID3v2(data []byte) ([]byte, error) {
	for len(data) >= 3 && string(data[:3]) == "ID3" {
		if len(data) < 10 {
			return nil, newError(ErrMalformedAudio, "mp3: ID3 tag header truncated")
		}
		size := int(data[6]&0x7F)<<21 | int(data[7]&0x7F)<<14 | int(data[8]&0x7F)<<7 | int(data[9]&0x7F)
		total := 10 + size
		if data[5]&0x10 != 0 {
			total += 10
		}
		if total > len(data) {
			return nil, newError(ErrMalformedAudio, "mp3: ID3 tag of %d bytes runs past the end of the data (%d bytes)", total, len(data))
		}
		data = data[total:]
	}
	return data, nil
}

// decodeMP3 decodes an MP3 (optionally ID3-tagged) to 8 kHz mono.
//
// lamePath, when not empty, is the lame binary, and decodes everything:
// go-mp3 v0.3.4 garbles some common low-bitrate files (measured here: every
// 32 kbit/s file lame made, at 22.05, 24, 32 and 44.1 kHz, decoded 13–22 dB
// too quiet and full of distortion; go-mp3 issue #39), and it refuses
// MPEG-2.5 (8, 11.025, 12 kHz), the usual telephony MP3. Without lame,
// MPEG-1 and MPEG-2 fall back to go-mp3 and MPEG-2.5 is an ErrToolMissing. procs caps the lame processes.
func decodeMP3(ctx context.Context, data []byte, searchLimit int, lamePath string, procs *ProcessLimit) ([]int16, error) {
	body, err := skipID3v2(data)
	if err != nil {
		return nil, err
	}
	off, h, ok := findMPEGFrame(body, searchLimit)
	if !ok {
		return nil, newError(ErrUnsupportedFormat, "mp3: no MPEG audio frame found")
	}
	body = body[off:]
	if h.layer != 3 {
		return nil, newError(ErrUnsupportedFormat, "mp3: MPEG-%s layer %d is not supported (only layer III)", mpegVersionName(h.version), h.layer)
	}
	switch {
	case lamePath != "":
		return decodeMP3WithLame(ctx, lamePath, body, procs)
	case h.version == 25:
		return nil, newError(ErrToolMissing, "mp3: decoding MPEG-2.5 (%d Hz) needs lame, which is not installed (Debian package lame)", h.sampleRate)
	}
	return decodeMP3WithGoMP3(body)
}

func mpegVersionName(v int) string {
	if v == 25 {
		return "2.5"
	}
	return strconv.Itoa(v)
}

// lameBinary is the path of lame, or "" when it is not installed.
func lameBinary() string {
	path, err := exec.LookPath("lame")
	if err != nil {
		return ""
	}
	return path
}

// readerOnly hides bytes.Reader's Seek: given a Seeker, go-mp3 pre-scans
// the whole stream to compute a length we do not need.
type readerOnly struct{ io.Reader }

func decodeMP3WithGoMP3(body []byte) (pcm []int16, err error) {
	// go-mp3 is not hardened against hostile input; a panic inside it must
	// not cross our package boundary.
	defer func() {
		if p := recover(); p != nil {
			pcm, err = nil, newError(ErrMalformedAudio, "mp3: decoder failed on malformed data: %v", p)
		}
	}()
	dec, err := mp3.NewDecoder(readerOnly{bytes.NewReader(body)})
	if err != nil {
		return nil, newError(ErrMalformedAudio, "mp3: %s", strings.TrimPrefix(err.Error(), "mp3: "))
	}
	rate := dec.SampleRate()
	rs := newResampler(rate)
	if rs == nil {
		return nil, newError(ErrUnsupportedFormat, "mp3: unsupported sample rate %d Hz", rate)
	}
	limit := maxFrames(rate)
	var (
		buf    [16 << 10]byte // 16-bit little-endian stereo: 4 bytes per frame
		mono   [len(buf) / 4]int16
		frames int
		have   int // bytes in buf not yet converted (a partial frame)
	)
	for {
		n, readErr := dec.Read(buf[have:])
		have += n
		whole := have / 4
		for i := range whole {
			l := int32(int16(uint16(buf[4*i]) | uint16(buf[4*i+1])<<8))
			r := int32(int16(uint16(buf[4*i+2]) | uint16(buf[4*i+3])<<8))
			mono[i] = int16((l + r) / 2)
		}
		frames += whole
		if frames > limit {
			return nil, newError(ErrAudioTooLong, "mp3: more than %v of audio", MaxAudioDuration)
		}
		rs.push(mono[:whole])
		have = copy(buf[:], buf[4*whole:have])
		if readErr == io.EOF {
			break
		}
		if readErr != nil {
			if frames == 0 {
				return nil, newError(ErrMalformedAudio, "mp3: %s", strings.TrimPrefix(readErr.Error(), "mp3: "))
			}
			break // a damaged tail: play what decoded
		}
	}
	return rs.finish(), nil
}

// decodeMP3WithLame runs `lame --decode --mp3input - -`, which streams a WAV
// at the file's own rate (with a placeholder data size, since stdout cannot
// seek). The WAV is decoded and resampled as it arrives, so memory holds
// only the 8 kHz result, and MaxAudioDuration is counted at the rate lame
// reports: a 44.1 kHz stereo hour is 635 MB of WAV that is never buffered.
// The context ends lame; lameTimeout bounds it otherwise, including any
// wait for a slot in procs.
func decodeMP3WithLame(ctx context.Context, path string, body []byte, procs *ProcessLimit) ([]int16, error) {
	ctx, cancel := context.WithTimeout(ctx, lameTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, path, "--silent", "--decode", "--mp3input", "-", "-")
	cmd.Stdin = bytes.NewReader(body)
	stdout := &wavStream{}
	stderr := &limitedBuffer{max: 4096, truncate: true}
	cmd.Stdout, cmd.Stderr = stdout, stderr
	cmd.WaitDelay = time.Second
	if err := procs.run(ctx, cmd); err != nil {
		switch {
		case errors.Is(stdout.err, ErrAudioTooLong):
			return nil, newError(ErrAudioTooLong, "mp3: more than %v of audio", MaxAudioDuration)
		case stdout.err != nil:
			return nil, fmt.Errorf("mp3: reading lame output: %w", stdout.err)
		case ctx.Err() != nil:
			return nil, fmt.Errorf("mp3: lame decode: %w", ctx.Err())
		}
		return nil, newError(ErrMalformedAudio, "mp3: lame --decode failed: %v: %s", err, strings.TrimSpace(stderr.String()))
	}
	pcm, err := stdout.finish()
	if err != nil {
		return nil, fmt.Errorf("mp3: reading lame output: %w", err)
	}
	return pcm, nil
}

// errBufferFull stops a child process whose output exceeds its limit.
var errBufferFull = errors.New("output limit reached")

// limitedBuffer is a buffer that will not grow past max. Beyond it, writes
// fail (stopping the writer) or, with truncate, are dropped. It holds its
// bytes.Buffer in a named field: embedded, the Buffer's ReadFrom would be
// promoted, and io.Copy (which exec.Cmd uses for a child's output) would
// call it and read without limit.
type limitedBuffer struct {
	buf      bytes.Buffer
	max      int
	truncate bool
	overflow bool
}

func (b *limitedBuffer) Write(p []byte) (int, error) {
	if room := b.max - b.buf.Len(); len(p) > room {
		b.overflow = true
		if !b.truncate {
			return 0, errBufferFull
		}
		b.buf.Write(p[:max(room, 0)])
		return len(p), nil
	}
	return b.buf.Write(p)
}

func (b *limitedBuffer) Len() int       { return b.buf.Len() }
func (b *limitedBuffer) Bytes() []byte  { return b.buf.Bytes() }
func (b *limitedBuffer) String() string { return b.buf.String() }
