package codec

import (
	"bytes"
	"encoding/binary"
	"errors"
	"math"
	"slices"
	"strings"
	"testing"

	"github.com/pivotua/pivotua/internal/testkit"
	"github.com/zaf/g711"
)

func TestDecodeWAVReadsEachSampleFormat(t *testing.T) {
	samples := []int16{0, 16384, -16384, 32767, -32768}
	float32Bytes := func() []byte {
		var b []byte
		for _, s := range samples {
			b = binary.LittleEndian.AppendUint32(b, math.Float32bits(float32(s)/32767))
		}
		return b
	}
	float64Bytes := func() []byte {
		var b []byte
		for _, s := range samples {
			b = binary.LittleEndian.AppendUint64(b, math.Float64bits(float64(s)/32767))
		}
		return b
	}
	tests := []struct {
		name string
		spec wavSpec
		want []int16
		tol  int
	}{
		{"pcm 16-bit", wavSpec{tag: 1, channels: 1, rate: 8000, bits: 16, data: pcm16Bytes(samples)}, samples, 0},
		{"pcm 8-bit unsigned", wavSpec{tag: 1, channels: 1, rate: 8000, bits: 8, data: []byte{128, 192, 64, 255, 0}},
			[]int16{0, 16384, -16384, 32512, -32768}, 0},
		{"pcm 24-bit", wavSpec{tag: 1, channels: 1, rate: 8000, bits: 24, data: []byte{
			0, 0, 0, 0xFF, 0xFF, 0x3F, 0, 0, 0xC0, 0xFF, 0xFF, 0x7F, 0, 0, 0x80}},
			[]int16{0, 16383, -16384, 32767, -32768}, 0},
		{"pcm 32-bit", wavSpec{tag: 1, channels: 1, rate: 8000, bits: 32, data: []byte{
			0, 0, 0, 0, 0, 0, 0, 0x40, 0, 0, 0, 0xC0, 0xFF, 0xFF, 0xFF, 0x7F, 0, 0, 0, 0x80}},
			[]int16{0, 16384, -16384, 32767, -32768}, 0},
		{"float 32-bit", wavSpec{tag: 3, channels: 1, rate: 8000, bits: 32, data: float32Bytes()}, samples, 1},
		{"float 64-bit", wavSpec{tag: 3, channels: 1, rate: 8000, bits: 64, data: float64Bytes()}, samples, 1},
		{"mu-law", wavSpec{tag: 7, channels: 1, rate: 8000, bits: 8, data: g711.EncodeUlaw(pcm16Bytes(samples))},
			[]int16{0, 16384, -16384, 32767, -32768}, 700},
		{"a-law", wavSpec{tag: 6, channels: 1, rate: 8000, bits: 8, data: g711.EncodeAlaw(pcm16Bytes(samples))},
			[]int16{0, 16384, -16384, 32767, -32768}, 700},
		{"extensible pcm 16-bit", wavSpec{tag: wavFormatExtensible, subTag: 1, channels: 1, rate: 8000, bits: 16, data: pcm16Bytes(samples)}, samples, 0},
		{"extensible float", wavSpec{tag: wavFormatExtensible, subTag: 3, channels: 1, rate: 8000, bits: 32, data: float32Bytes()}, samples, 1},
		{"stereo averages the channels", wavSpec{tag: 1, channels: 2, rate: 8000, bits: 16,
			data: pcm16Bytes([]int16{1000, 3000, -32768, -32768, 32767, -32767})}, []int16{2000, -32768, 0}, 0},
		{"six channels average", wavSpec{tag: wavFormatExtensible, subTag: 1, channels: 6, rate: 8000, bits: 16,
			data: pcm16Bytes([]int16{600, 600, 600, 600, 600, 600, 6000, 0, 0, 0, 0, 0})}, []int16{600, 1000}, 0},
		{"trailing partial frame dropped", wavSpec{tag: 1, channels: 2, rate: 8000, bits: 16,
			data: append(pcm16Bytes([]int16{10, 20}), 1, 2, 3)}, []int16{15}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, rate, err := DecodeWAV(tt.spec.build())
			if err != nil {
				t.Fatal(err)
			}
			if rate != tt.spec.rate {
				t.Errorf("rate %d, want %d", rate, tt.spec.rate)
			}
			if len(got) != len(tt.want) {
				t.Fatalf("got %d samples %v, want %v", len(got), got, tt.want)
			}
			for i := range got {
				if d := int(got[i]) - int(tt.want[i]); d > tt.tol || d < -tt.tol {
					t.Fatalf("sample %d = %d, want %d±%d (all %v)", i, got[i], tt.want[i], tt.tol, got)
				}
			}
		})
	}
}

func TestDecodeWAVKeepsAnySampleRate(t *testing.T) {
	for _, rate := range []int{8000, 11025, 16000, 22050, 44100, 48000, 96000} {
		_, got, err := DecodeWAV(wavSpec{tag: 1, channels: 1, rate: rate, bits: 16, data: make([]byte, 20)}.build())
		if err != nil || got != rate {
			t.Errorf("rate %d: got %d, %v", rate, got, err)
		}
	}
}

func TestDecodeWAVSkipsUnknownChunksAndTheirPadding(t *testing.T) {
	samples := []int16{1, 2, 3, 4}
	spec := wavSpec{tag: 1, channels: 1, rate: 8000, bits: 16, data: pcm16Bytes(samples),
		beforeData: [][]byte{
			appendChunk(nil, "LIST", []byte("odd"), nil), // 3 bytes + pad
			appendChunk(nil, "fact", []byte{4, 0, 0, 0}, nil),
			appendChunk(nil, "junk", nil, nil),
		}}
	got, _, err := DecodeWAV(spec.build())
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got, samples) {
		t.Fatalf("got %v, want %v", got, samples)
	}
}

func TestDecodeWAVReadsPlaceholderSizesToTheEnd(t *testing.T) {
	samples := []int16{5, -5, 7, -7, 9}
	tests := []struct {
		name     string
		riffSize uint32
		dataSize uint32
	}{
		{"espeak-ng streaming", 0x7FFFF024, 0x7FFFF000},
		{"all ones", 0xFFFFFFFF, 0xFFFFFFFF},
		{"lame stdout", 0x80000023, 0x7FFFFFFF},
		{"zero riff size", 0, 0xFFFFFFFF},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			spec := wavSpec{tag: 1, channels: 1, rate: 22050, bits: 16, data: pcm16Bytes(samples),
				riffSize: u32(tt.riffSize), dataSize: u32(tt.dataSize)}
			got, _, err := DecodeWAV(spec.build())
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got, samples) {
				t.Fatalf("got %v, want %v", got, samples)
			}
		})
	}
}

func TestDecodeWAVToleratesTruncatedData(t *testing.T) {
	file := wavSpec{tag: 1, channels: 1, rate: 8000, bits: 16, data: pcm16Bytes([]int16{1, 2, 3, 4, 5, 6})}.build()
	got, _, err := DecodeWAV(file[:len(file)-5]) // cut mid-sample
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got, []int16{1, 2, 3}) {
		t.Fatalf("got %v", got)
	}
}

func TestDecodeWAVReadsRF64(t *testing.T) {
	file := wavSpec{tag: 1, channels: 1, rate: 8000, bits: 16, data: pcm16Bytes([]int16{1, 2}),
		riffSize: u32(0xFFFFFFFF), dataSize: u32(0xFFFFFFFF),
		beforeData: [][]byte{appendChunk(nil, "ds64", make([]byte, 28), nil)}}.build()
	copy(file, "RF64")
	got, _, err := DecodeWAV(file)
	if err != nil || !slices.Equal(got, []int16{1, 2}) {
		t.Fatalf("got %v, %v", got, err)
	}
}

func TestDecodeWAVRejectsWhatItCannotPlay(t *testing.T) {
	valid := wavSpec{tag: 1, channels: 1, rate: 8000, bits: 16, data: make([]byte, 4)}
	with := func(f func(*wavSpec)) []byte { s := valid; f(&s); return s.build() }
	badGUID := with(func(s *wavSpec) { s.tag, s.subTag = wavFormatExtensible, 1 })
	badGUID[12+8+24+4] ^= 0xFF // corrupt the GUID suffix
	noData := valid.build()[:12+8+16]
	tests := []struct {
		name    string
		data    []byte
		kind    error
		message string
	}{
		{"mp3 in wav", with(func(s *wavSpec) { s.tag = 85 }), ErrUnsupportedFormat, "wav: unsupported format tag 85"},
		{"adpcm", with(func(s *wavSpec) { s.tag = 2; s.bits = 4 }), ErrUnsupportedFormat, "wav: unsupported format tag 2"},
		{"12-bit pcm", with(func(s *wavSpec) { s.bits = 12 }), ErrUnsupportedFormat, "wav: unsupported 12 bits per sample for format tag 1"},
		{"16-bit mu-law", with(func(s *wavSpec) { s.tag = 7 }), ErrUnsupportedFormat, "bits per sample for format tag 7"},
		{"zero channels", with(func(s *wavSpec) { s.channels = 0 }), ErrUnsupportedFormat, "wav: unsupported channel count 0"},
		{"absurd channels", with(func(s *wavSpec) { s.channels = 5000 }), ErrUnsupportedFormat, "wav: unsupported channel count 5000"},
		{"absurd rate", with(func(s *wavSpec) { s.rate = 4_000_000_000 }), ErrUnsupportedFormat, "wav: unsupported sample rate 4000000000 Hz"},
		{"zero rate", with(func(s *wavSpec) { s.rate = 0 }), ErrUnsupportedFormat, "wav: unsupported sample rate 0 Hz"},
		{"unknown extensible subformat", badGUID, ErrUnsupportedFormat, "unsupported WAVE_FORMAT_EXTENSIBLE subformat"},
		{"short extensible fmt", with(func(s *wavSpec) {
			s.fmtOverride = append(make([]byte, 0, 18), 0xFE, 0xFF, 1, 0, 0x40, 0x1F, 0, 0, 0, 0, 0, 0, 2, 0, 16, 0, 0, 0)
		}),
			ErrMalformedAudio, "wav: WAVE_FORMAT_EXTENSIBLE fmt chunk is 18 bytes"},
		{"short fmt", with(func(s *wavSpec) { s.fmtOverride = make([]byte, 10) }), ErrMalformedAudio, "wav: fmt chunk is 10 bytes"},
		{"no data chunk", noData, ErrMalformedAudio, "wav: no data chunk"},
		{"no fmt chunk", append([]byte("RIFF\x00\x00\x00\x00WAVE"), appendChunk(nil, "data", make([]byte, 4), nil)...),
			ErrMalformedAudio, "wav: data chunk before fmt chunk"},
		{"empty riff", []byte("RIFF\x04\x00\x00\x00WAVE"), ErrMalformedAudio, "wav: no fmt chunk"},
		{"too short", []byte("RIFF"), ErrMalformedAudio, "wav: 4 bytes is too short"},
		{"not riff", []byte("OggS\x00\x02\x00\x00\x00\x00\x00\x00"), ErrUnsupportedFormat, `wav: not a RIFF file (starts "OggS")`},
		{"avi", []byte("RIFF\x00\x00\x00\x00AVI LIST"), ErrUnsupportedFormat, `wav: RIFF form type "AVI " is not WAVE`},
		{"unknown chunk runs past the end", append([]byte("RIFF\x00\x00\x00\x00WAVE"), "LIST\xff\x00\x00\x00abc"...),
			ErrMalformedAudio, `wav: chunk "LIST" truncated`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := DecodeWAV(tt.data)
			if err == nil {
				t.Fatal("no error")
			}
			if !errors.Is(err, tt.kind) {
				t.Errorf("error %q does not wrap %v", err, tt.kind)
			}
			if !strings.Contains(err.Error(), tt.message) {
				t.Errorf("error %q does not say %q", err, tt.message)
			}
		})
	}
}

func TestDecodeWAVRefusesMoreThanAnHour(t *testing.T) {
	// 1000 Hz mono 8-bit: one hour is 3.6 MB, cheap to build.
	data := bytes.Repeat([]byte{128}, 1000*3600+1)
	_, _, err := DecodeWAV(wavSpec{tag: 1, channels: 1, rate: 1000, bits: 8, data: data}.build())
	if !errors.Is(err, ErrAudioTooLong) {
		t.Fatalf("got %v, want ErrAudioTooLong", err)
	}
}

func TestEncodeWAVRoundTrips(t *testing.T) {
	tests := []struct {
		name string
		pcm  []int16
		rate int
	}{
		{"tone", Tone(1000, 5*FrameDuration, 0.5), 8000},
		{"odd length at 16 kHz", []int16{1, -1, 32767}, 16000},
		{"larger than the write buffer", testkit.Sine(440, 8000, 5000, 0.9), 8000},
		{"empty", nil, 8000},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			if err := EncodeWAV(&buf, tt.pcm, tt.rate); err != nil {
				t.Fatal(err)
			}
			if buf.Len() != 44+2*len(tt.pcm) {
				t.Fatalf("file is %d bytes, want %d", buf.Len(), 44+2*len(tt.pcm))
			}
			if got := binary.LittleEndian.Uint32(buf.Bytes()[4:]); got != uint32(36+2*len(tt.pcm)) {
				t.Errorf("RIFF size %d", got)
			}
			got, rate, err := DecodeWAV(buf.Bytes())
			if err != nil {
				t.Fatal(err)
			}
			if rate != tt.rate || !slices.Equal(got, tt.pcm) {
				t.Fatalf("round trip changed the audio (rate %d)", rate)
			}
		})
	}
}

func TestEncodeWAVRejectsBadRate(t *testing.T) {
	if err := EncodeWAV(&bytes.Buffer{}, nil, 0); !errors.Is(err, ErrUnsupportedFormat) {
		t.Fatalf("got %v", err)
	}
}

func FuzzDecodeWAV(f *testing.F) {
	f.Add(wavSpec{tag: 1, channels: 1, rate: 8000, bits: 16, data: pcm16Bytes([]int16{1, 2, 3})}.build())
	f.Add(wavSpec{tag: 1, channels: 2, rate: 44100, bits: 8, data: []byte{1, 2, 3, 4}, riffSize: u32(0xFFFFFFFF), dataSize: u32(0x7FFFF000)}.build())
	f.Add(wavSpec{tag: wavFormatExtensible, subTag: 3, channels: 1, rate: 48000, bits: 32, data: make([]byte, 8)}.build())
	f.Add(wavSpec{tag: 7, channels: 1, rate: 8000, bits: 8, data: []byte{0xFF, 0x7F},
		beforeData: [][]byte{appendChunk(nil, "LIST", []byte("abc"), nil)}}.build())
	f.Fuzz(func(t *testing.T, data []byte) {
		pcm, rate, err := DecodeWAV(data)
		if err != nil {
			if pcm != nil {
				t.Fatal("samples returned with an error")
			}
			return
		}
		if rate < minSampleRate || rate > maxSampleRate {
			t.Fatalf("accepted rate %d", rate)
		}
		if len(pcm) > len(data) {
			t.Fatalf("%d samples from %d bytes", len(pcm), len(data))
		}
	})
}
