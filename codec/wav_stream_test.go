package codec

import (
	"errors"
	"slices"
	"testing"

	"github.com/pivotua/pivotua/internal/testkit"
)

func TestWAVStreamMatchesDecodeWAVInAnySplit(t *testing.T) {
	stereo := pcm16Bytes(append(testkit.Sine(1000, 44100, 4410, 0.5), testkit.Sine(700, 44100, 4410, 0.3)...))
	files := map[string][]byte{
		"44.1 kHz stereo with a LIST chunk": wavSpec{tag: wavFormatPCM, channels: 2, rate: 44100, bits: 16, data: stereo,
			dataSize: u32(0x7FFFFFFF), beforeData: [][]byte{appendChunk(nil, "LIST", []byte("odd"), nil)}}.build(),
		"8 kHz mono": wavSpec{tag: wavFormatPCM, channels: 1, rate: 8000, bits: 16, data: pcm16Bytes(testkit.Sine(1000, 8000, 800, 0.5))}.build(),
	}
	for name, file := range files {
		pcm, rate, err := DecodeWAV(file)
		if err != nil {
			t.Fatal(err)
		}
		want := Resample(pcm, rate)
		for _, piece := range []int{1, 3, 7, 4096, len(file)} {
			s := &wavStream{}
			for b := range slices.Chunk(file, piece) {
				if n, err := s.Write(b); err != nil || n != len(b) {
					t.Fatalf("%s in %d-byte pieces: Write = %d, %v", name, piece, n, err)
				}
			}
			got, err := s.finish()
			if err != nil || !slices.Equal(got, want) {
				t.Fatalf("%s in %d-byte pieces: %d samples, %v; DecodeWAV and Resample give %d", name, piece, len(got), err, len(want))
			}
		}
	}
}

func TestWAVStreamStopsPastAnHourAtItsOwnRate(t *testing.T) {
	s := &wavStream{}
	header := wavSpec{tag: wavFormatPCM, channels: 1, rate: 8000, bits: 16, dataSize: u32(0xFFFFFFFF)}.build()
	if _, err := s.Write(header); err != nil {
		t.Fatal(err)
	}
	second := make([]byte, 2*8000)
	var err error
	for range 3601 {
		if _, err = s.Write(second); err != nil {
			break
		}
	}
	if !errors.Is(err, ErrAudioTooLong) {
		t.Fatalf("after 3601 s of 8 kHz audio: %v, want ErrAudioTooLong", err)
	}
}

func TestWAVStreamRefusesWhatIsNotAWAV(t *testing.T) {
	for name, b := range map[string][]byte{
		"not RIFF":          []byte("ID3\x04\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00"),
		"data before fmt":   append([]byte("RIFF\x00\x00\x00\x00WAVE"), appendChunk(nil, "data", []byte{1, 2}, nil)...),
		"huge chunk header": append([]byte("RIFF\x00\x00\x00\x00WAVE"), "junk\xff\xff\xff\x7f"...),
	} {
		s := &wavStream{}
		_, werr := s.Write(b)
		if _, err := s.finish(); werr == nil || !errors.Is(err, ErrMalformedAudio) {
			t.Errorf("%s: Write %v, finish %v; want ErrMalformedAudio", name, werr, err)
		}
	}
}

// FuzzWAVStream feeds lame's side of the pipe anything, split anywhere: no panic, and a failure is
// always one of the package's audio errors.
func FuzzWAVStream(f *testing.F) {
	f.Add(wavSpec{tag: wavFormatPCM, channels: 2, rate: 44100, bits: 16, data: make([]byte, 64), dataSize: u32(0xFFFFFFFF)}.build(), uint16(13))
	f.Add(wavSpec{tag: wavFormatMuLaw, channels: 1, rate: 8000, bits: 8, data: []byte{1, 2, 3}}.build(), uint16(1))
	f.Fuzz(func(t *testing.T, data []byte, split uint16) {
		s := &wavStream{}
		at := min(int(split), len(data))
		_, err := s.Write(data[:at])
		if err == nil {
			_, err = s.Write(data[at:])
		}
		_, ferr := s.finish()
		for _, e := range []error{err, ferr} {
			if e != nil && !errors.Is(e, ErrMalformedAudio) && !errors.Is(e, ErrUnsupportedFormat) && !errors.Is(e, ErrAudioTooLong) {
				t.Fatalf("error outside the sentinels: %v", e)
			}
		}
	})
}
