package codec

import (
	"encoding/binary"
	"math"
	"os/exec"
	"testing"
)

// wavSpec describes a synthetic WAV file for tests.
type wavSpec struct {
	tag         uint16 // format tag written in fmt (0xFFFE for extensible)
	subTag      uint16 // for extensible: the subformat's tag
	channels    int
	rate        int
	bits        int
	data        []byte
	riffSize    *uint32 // override the RIFF size (placeholders)
	dataSize    *uint32 // override the data chunk size
	beforeData  [][]byte
	fmtOverride []byte
}

func u32(v uint32) *uint32 { return &v }

// build returns the file's bytes.
func (s wavSpec) build() []byte {
	fmtChunk := s.fmtOverride
	if fmtChunk == nil {
		size := 16
		if s.tag == wavFormatExtensible {
			size = 40
		}
		fmtChunk = make([]byte, size)
		blockAlign := s.channels * s.bits / 8
		binary.LittleEndian.PutUint16(fmtChunk[0:], s.tag)
		binary.LittleEndian.PutUint16(fmtChunk[2:], uint16(s.channels))
		binary.LittleEndian.PutUint32(fmtChunk[4:], uint32(s.rate))
		binary.LittleEndian.PutUint32(fmtChunk[8:], uint32(s.rate*blockAlign))
		binary.LittleEndian.PutUint16(fmtChunk[12:], uint16(blockAlign))
		binary.LittleEndian.PutUint16(fmtChunk[14:], uint16(s.bits))
		if s.tag == wavFormatExtensible {
			binary.LittleEndian.PutUint16(fmtChunk[16:], 22)
			binary.LittleEndian.PutUint16(fmtChunk[18:], uint16(s.bits))
			binary.LittleEndian.PutUint32(fmtChunk[20:], 0)
			binary.LittleEndian.PutUint16(fmtChunk[24:], s.subTag)
			copy(fmtChunk[26:], ksSubtypeSuffix)
		}
	}
	var body []byte
	body = append(body, "WAVE"...)
	body = appendChunk(body, "fmt ", fmtChunk, nil)
	for _, c := range s.beforeData {
		body = append(body, c...)
	}
	body = appendChunk(body, "data", s.data, s.dataSize)
	out := append([]byte("RIFF"), 0, 0, 0, 0)
	size := uint32(len(body))
	if s.riffSize != nil {
		size = *s.riffSize
	}
	binary.LittleEndian.PutUint32(out[4:], size)
	return append(out, body...)
}

// appendChunk appends a RIFF chunk with its pad byte when odd-sized.
func appendChunk(b []byte, id string, payload []byte, sizeOverride *uint32) []byte {
	size := uint32(len(payload))
	if sizeOverride != nil {
		size = *sizeOverride
	}
	b = append(b, id...)
	b = binary.LittleEndian.AppendUint32(b, size)
	b = append(b, payload...)
	if len(payload)%2 == 1 && sizeOverride == nil {
		b = append(b, 0)
	}
	return b
}

func pcm16Bytes(pcm []int16) []byte {
	b := make([]byte, 0, 2*len(pcm))
	for _, s := range pcm {
		b = binary.LittleEndian.AppendUint16(b, uint16(s))
	}
	return b
}

func dB(power float64) float64 { return 10 * math.Log10(max(power, 1e-30)) }

// requireTool skips the test when an external program is not installed;
// `make test` installs them, so in CI these tests run for real.
func requireTool(t testing.TB, name string) {
	t.Helper()
	if _, err := exec.LookPath(name); err != nil {
		t.Skipf("%s not installed (apt-get install %s); skipping", name, name)
	}
}
