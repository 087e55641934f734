package codec

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/pivotua/pivotua/internal/testkit"
)

func TestDecodeAudioSniffsWAVWhateverTheContentType(t *testing.T) {
	wav := wavSpec{tag: 1, channels: 1, rate: 16000, bits: 16, data: pcm16Bytes(testkit.Sine(1000, 16000, 16000, 0.5))}.build()
	for _, hint := range []string{"", "audio/wav", "audio/mpeg", "application/octet-stream", "text/html; charset=utf-8"} {
		t.Run(hint, func(t *testing.T) {
			pcm, err := DecodeAudio(wav, hint)
			if err != nil {
				t.Fatal(err)
			}
			if len(pcm) != SampleRate {
				t.Fatalf("%d samples, want %d (resampled to 8 kHz)", len(pcm), SampleRate)
			}
			if level := dB(Goertzel(pcm[800:7200], 1000, SampleRate)); level < -6.5 || level > -5.5 {
				t.Fatalf("tone at %.1f dB", level)
			}
		})
	}
}

func TestDecodeAudioFindsMP3AfterJunkOnlyWhenServedAsMP3(t *testing.T) {
	mp3 := lameEncode(t, testkit.Sine(1000, 16000, 16000, 0.5), 16000, "-b", "32")
	junky := append([]byte("\x00\x00garbage before the first frame"), mp3...)
	if _, err := DecodeAudio(junky, "audio/mpeg; charset=binary"); err != nil {
		t.Fatalf("served as audio/mpeg: %v", err)
	}
	if _, err := DecodeAudio(junky, "application/octet-stream"); !errors.Is(err, ErrUnsupportedFormat) {
		t.Fatalf("served as octet-stream: got %v, want ErrUnsupportedFormat", err)
	}
}

func TestDecodeAudioNamesWhatItCannotDecode(t *testing.T) {
	tests := []struct {
		name string
		data []byte
		hint string
		want string
	}{
		{"html error page", []byte("<!DOCTYPE html><html><body>404</body></html>"), "text/html",
			`codec: unrecognised audio (content type "text/html", first bytes "<!DOCTYPE html><")`},
		{"ogg", []byte("OggS\x00\x02"), "audio/ogg", `first bytes "OggS\x00\x02"`},
		{"empty", nil, "audio/wav", `codec: empty audio (content type "audio/wav")`},
		{"mp3 hint but no frames", []byte("not really an mp3 at all"), "audio/mpeg", `content type "audio/mpeg"`},
		{"riff but not wave", []byte("RIFF\x00\x00\x00\x00AVI LIST"), "", `first bytes "RIFF`},
		{"wav with mp3 inside", wavSpec{tag: 85, channels: 1, rate: 8000, bits: 0, data: []byte{1}}.build(), "audio/wav",
			"wav: unsupported format tag 85"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := DecodeAudio(tt.data, tt.hint)
			if !errors.Is(err, ErrUnsupportedFormat) {
				t.Fatalf("got %v, want ErrUnsupportedFormat", err)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %q does not say %q", err, tt.want)
			}
		})
	}
}

func TestDecodeAudioOfMP3MatchesWAV(t *testing.T) {
	in := testkit.Sine(700, 22050, 22050, 0.3)
	mp3 := lameEncode(t, in, 22050, "-b", "64")
	pcm, err := DecodeAudio(mp3, "")
	if err != nil {
		t.Fatal(err)
	}
	want := dB(Goertzel(Resample(in, 22050)[2000:6000], 700, SampleRate))
	if got := dB(Goertzel(pcm[2000:6000], 700, SampleRate)); got < want-1 || got > want+1 {
		t.Fatalf("mp3 decodes to %.1f dB, wav to %.1f dB", got, want)
	}
}

// FuzzDecodeAudio keeps to in-process decoders: lame runs in its own
// process (it cannot crash ours) and its WAV output is FuzzDecodeWAV's job.
func FuzzDecodeAudio(f *testing.F) {
	f.Add([]byte("RIFF\x00\x00\x00\x00WAVE"), "audio/wav")
	f.Add(wavSpec{tag: 1, channels: 2, rate: 44100, bits: 16, data: make([]byte, 400)}.build(), "")
	f.Add([]byte("ID3\x04\x00\x00\x00\x00\x00\x02\x00\x00\xff\xfb\x90\x00"), "audio/mpeg")
	f.Add([]byte{0xFF, 0xF3, 0x48, 0x00, 1, 2, 3, 4}, "")
	if lameInstalled() {
		for _, rate := range []int{8000, 16000, 44100} {
			f.Add(lameEncode(f, testkit.Sine(440, rate, rate/10, 0.5), rate, "-b", "32"), "audio/mpeg")
		}
	}
	noLame := func() string { return "" }
	f.Fuzz(func(t *testing.T, data []byte, hint string) {
		pcm, err := decodeAudio(context.Background(), data, hint, noLame, nil)
		if err != nil {
			if pcm != nil {
				t.Fatal("samples returned with an error")
			}
			return
		}
		// Bounded output: no input decodes past the one-hour cap.
		if len(pcm) > maxFrames(SampleRate) {
			t.Fatalf("%d samples", len(pcm))
		}
	})
}

func lameInstalled() bool { return lameBinary() != "" }
