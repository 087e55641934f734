package codec

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pivotua/pivotua/internal/testkit"
)

// lameEncode makes an MP3 of pcm at rate with the installed lame; the rate
// decides the MPEG version (MPEG-1 ≥ 32 kHz, MPEG-2 16–24 kHz, MPEG-2.5
// 8–12 kHz).
func lameEncode(t testing.TB, pcm []int16, rate int, args ...string) []byte {
	t.Helper()
	requireTool(t, "lame")
	var wav bytes.Buffer
	if err := EncodeWAV(&wav, pcm, rate); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("lame", append(append([]string{"--silent"}, args...), "-", "-")...)
	cmd.Stdin = &wav
	var out, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("lame: %v: %s", err, stderr.String())
	}
	return out.Bytes()
}

func TestParseMPEGHeader(t *testing.T) {
	tests := []struct {
		name   string
		header []byte
		want   mpegHeader
		ok     bool
	}{
		{"mpeg-1 layer iii 128k 44.1k", []byte{0xFF, 0xFB, 0x90, 0x00}, mpegHeader{1, 3, 44100, 417}, true},
		{"mpeg-1 padded", []byte{0xFF, 0xFB, 0x92, 0x00}, mpegHeader{1, 3, 44100, 418}, true},
		{"mpeg-2 layer iii 32k 16k", []byte{0xFF, 0xF3, 0x48, 0x00}, mpegHeader{2, 3, 16000, 144}, true},
		{"mpeg-2.5 layer iii 16k 8k", []byte{0xFF, 0xE3, 0x28, 0x00}, mpegHeader{25, 3, 8000, 144}, true},
		{"mpeg-1 layer ii 192k 48k", []byte{0xFF, 0xFD, 0xA4, 0x00}, mpegHeader{1, 2, 48000, 576}, true},
		{"mpeg-1 layer i 32k 32k", []byte{0xFF, 0xFF, 0x18, 0x00}, mpegHeader{1, 1, 32000, 48}, true},
		{"free format", []byte{0xFF, 0xFB, 0x00, 0x00}, mpegHeader{1, 3, 44100, 0}, true},
		{"reserved version", []byte{0xFF, 0xEB, 0x90, 0x00}, mpegHeader{}, false},
		{"reserved layer", []byte{0xFF, 0xF9, 0x90, 0x00}, mpegHeader{}, false},
		{"bad bitrate", []byte{0xFF, 0xFB, 0xF0, 0x00}, mpegHeader{}, false},
		{"reserved rate", []byte{0xFF, 0xFB, 0x9C, 0x00}, mpegHeader{}, false},
		{"no sync", []byte{0xFF, 0x1B, 0x90, 0x00}, mpegHeader{}, false},
		{"short", []byte{0xFF, 0xFB}, mpegHeader{}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := parseMPEGHeader(tt.header)
			if ok != tt.ok || (ok && got != tt.want) {
				t.Fatalf("got %+v %v, want %+v %v", got, ok, tt.want, tt.ok)
			}
		})
	}
}

func TestSkipID3v2(t *testing.T) {
	tag := func(size int, flags byte) []byte {
		h := []byte{'I', 'D', '3', 4, 0, flags, byte(size >> 21 & 0x7F), byte(size >> 14 & 0x7F), byte(size >> 7 & 0x7F), byte(size & 0x7F)}
		body := make([]byte, size)
		if flags&0x10 != 0 {
			body = append(body, make([]byte, 10)...)
		}
		return append(h, body...)
	}
	frame := []byte{0xFF, 0xFB, 0x90, 0x00}
	tests := []struct {
		name    string
		data    []byte
		want    []byte
		wantErr string
	}{
		{"no tag", frame, frame, ""},
		{"one tag", append(tag(300, 0), frame...), frame, ""},
		{"tag with footer", append(tag(5, 0x10), frame...), frame, ""},
		{"two tags", append(append(tag(1, 0), tag(200, 0)...), frame...), frame, ""},
		{"large syncsafe size", append(tag(20000, 0), frame...), frame, ""},
		{"tag past the end", tag(300, 0)[:100], nil, "runs past the end"},
		{"truncated header", []byte("ID3\x04"), nil, "header truncated"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := skipID3v2(tt.data)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil || !bytes.Equal(got, tt.want) {
				t.Fatalf("got % x, %v", got, err)
			}
		})
	}
}

// checkDecodedTone asserts pcm is about a second of a -6 dBFS 1 kHz tone.
func checkDecodedTone(t *testing.T, pcm []int16) {
	t.Helper()
	// lame adds encoder delay and padding: about a second, give or take two frames.
	if d := time.Duration(len(pcm)) * time.Second / SampleRate; d < 900*time.Millisecond || d > 1300*time.Millisecond {
		t.Fatalf("decoded %v of audio, want about 1s", d)
	}
	mid := pcm[len(pcm)/4 : 3*len(pcm)/4]
	level := dB(Goertzel(mid, 1000, SampleRate))
	other := dB(Goertzel(mid, 1500, SampleRate))
	t.Logf("1 kHz at %.1f dBFS, 1.5 kHz at %.1f dBFS", level, other)
	if level < -8 || level > -4.5 {
		t.Errorf("1 kHz tone at %.1f dB, want about -6", level)
	}
	if level-other < 30 {
		t.Errorf("tone only %.1f dB above a neighbouring frequency", level-other)
	}
}

func TestDecodeAudioPlaysMP3AtEveryMPEGVersion(t *testing.T) {
	tests := []struct {
		name string
		rate int
		args []string
	}{
		{"mpeg-1 44.1 kHz", 44100, []string{"-b", "128"}},
		{"mpeg-1 48 kHz stereo", 48000, []string{"-b", "128", "-m", "j"}},
		{"mpeg-2 16 kHz", 16000, []string{"-b", "32"}},
		{"mpeg-2 22.05 kHz at 32 kbit/s (go-mp3 garbles it)", 22050, []string{"-b", "32"}},
		{"mpeg-2.5 8 kHz via lame", 8000, []string{"-b", "16"}},
		{"mpeg-2.5 11.025 kHz via lame", 11025, []string{"-b", "16"}},
		{"id3v2 tagged", 16000, []string{"-b", "32", "--id3v2-only", "--tt", "Welcome to pivotua", "--ta", "pivotua"}},
		{"vbr with xing header", 44100, []string{"-V", "5"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			mp3 := lameEncode(t, testkit.Sine(1000, tt.rate, tt.rate, 0.5), tt.rate, tt.args...)
			pcm, err := DecodeAudio(mp3, "audio/mpeg")
			if err != nil {
				t.Fatal(err)
			}
			checkDecodedTone(t, pcm)
		})
	}
}

func TestDecodeMP3WithoutLameFallsBackToGoMP3(t *testing.T) {
	tests := []struct {
		name string
		rate int
		args []string
	}{
		{"mpeg-1 44.1 kHz", 44100, []string{"-b", "128"}},
		{"mpeg-1 48 kHz joint stereo", 48000, []string{"-b", "128", "-m", "j"}},
		{"mpeg-2 16 kHz", 16000, []string{"-b", "32"}},
		{"mpeg-2 22.05 kHz", 22050, []string{"-b", "48"}},
		{"id3v2 tagged", 16000, []string{"-b", "32", "--id3v2-only", "--tt", "Welcome"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			mp3 := lameEncode(t, testkit.Sine(1000, tt.rate, tt.rate, 0.5), tt.rate, tt.args...)
			pcm, err := decodeAudio(context.Background(), mp3, "", func() string { return "" }, nil)
			if err != nil {
				t.Fatal(err)
			}
			checkDecodedTone(t, pcm)
		})
	}
}

func TestMPEG25WithoutLameSaysSo(t *testing.T) {
	mp3 := lameEncode(t, Tone(1000, 200*time.Millisecond, 0.5), 8000, "-b", "16")
	t.Setenv("PATH", t.TempDir())
	_, err := DecodeAudio(mp3, "")
	if !errors.Is(err, ErrToolMissing) || !strings.Contains(err.Error(), "lame") {
		t.Fatalf("got %v, want an error saying lame is missing", err)
	}
}

func TestMPEG25DecodeHonoursContext(t *testing.T) {
	mp3 := lameEncode(t, Tone(1000, 200*time.Millisecond, 0.5), 8000, "-b", "16")
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := DecodeAudioContext(ctx, mp3, ""); !errors.Is(err, context.Canceled) {
		t.Fatalf("got %v, want context.Canceled", err)
	}
}

func TestDecodeMP3ToleratesTruncation(t *testing.T) {
	tests := []struct {
		rate int
		lame func() string
	}{
		{16000, lameBinary},
		{16000, func() string { return "" }}, // go-mp3
		{8000, lameBinary},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%d lame=%q", tt.rate, tt.lame()), func(t *testing.T) {
			mp3 := lameEncode(t, testkit.Sine(1000, tt.rate, tt.rate, 0.5), tt.rate, "-b", "32")
			pcm, err := decodeAudio(context.Background(), mp3[:len(mp3)/2+3], "", tt.lame, nil)
			if err != nil {
				t.Fatal(err)
			}
			if len(pcm) < SampleRate/3 {
				t.Fatalf("only %d samples from half a file", len(pcm))
			}
		})
	}
}

func TestDecodeMP3RejectsLayerII(t *testing.T) {
	frame := make([]byte, 576)
	copy(frame, []byte{0xFF, 0xFD, 0xA4, 0x00})
	_, err := DecodeAudio(append(frame, frame...), "")
	if !errors.Is(err, ErrUnsupportedFormat) || !strings.Contains(err.Error(), "layer 2") {
		t.Fatalf("got %v", err)
	}
}

// Hold music at 44.1 kHz stereo runs long: lame writes 4 bytes a frame at
// the file's own rate, so 20 minutes is 212 MB of WAV, more than an hour at
// 12 kHz would be. It must decode whole, not be refused as too long.
func TestLongMP3At44kHzStereoDecodesWhole(t *testing.T) {
	requireTool(t, "lame")
	const rate, minutes = 44100, 20
	tone := testkit.Sine(1000, rate, 60*rate, 0.5)
	stereo := make([]int16, 0, 2*len(tone))
	for _, s := range tone {
		stereo = append(stereo, s, s)
	}
	dir := t.TempDir()
	wavFile, oneFile := filepath.Join(dir, "minute.wav"), filepath.Join(dir, "minute.mp3")
	wav := wavSpec{tag: wavFormatPCM, channels: 2, rate: rate, bits: 16, data: pcm16Bytes(stereo)}.build()
	if err := os.WriteFile(wavFile, wav, 0o600); err != nil {
		t.Fatal(err)
	}
	// -t leaves out the Xing/LAME tag frame, so copies of one minute back to
	// back are one continuous stream (encoding 20 minutes takes 10 s).
	out, err := exec.Command("lame", "--silent", "-t", "-q", "9", "-b", "64", "-m", "j", "--resample", "44.1", wavFile, oneFile).CombinedOutput()
	if err != nil {
		t.Fatalf("lame: %v: %s", err, out)
	}
	minute, err := os.ReadFile(oneFile)
	if err != nil {
		t.Fatal(err)
	}
	mp3 := bytes.Repeat(minute, minutes)
	if h, ok := parseMPEGHeader(mp3); !ok || h.sampleRate != rate {
		t.Fatalf("lame made %+v, want a %d Hz MPEG-1 stream", h, rate)
	}
	if err := os.WriteFile(filepath.Join(dir, "long.mp3"), mp3, 0o600); err != nil {
		t.Fatal(err)
	}

	if raceDetector {
		saved := lameTimeout
		lameTimeout = 5 * time.Minute
		t.Cleanup(func() { lameTimeout = saved })
	}
	pcm, err := DecodeAudio(mp3, "audio/mpeg")
	if err != nil {
		t.Fatal(err)
	}
	got := time.Duration(len(pcm)) * time.Second / SampleRate
	if want := minutes * time.Minute; got < want-2*time.Second || got > want+2*time.Second {
		t.Fatalf("decoded %v, want about %v", got, want)
	}
	last := pcm[len(pcm)-30*SampleRate : len(pcm)-10*SampleRate]
	if level := dB(Goertzel(last, 1000, SampleRate)); level < -8 || level > -4.5 {
		t.Errorf("1 kHz tone near the end at %.1f dB, want about -6", level)
	}
}

// exec.Cmd copies a child's output with io.Copy, which prefers the
// destination's ReadFrom: the cap must hold on that path too, or lame's
// output (and any tool's stderr) grows without bound.
func TestLimitedBufferCapsWhatIOCopyWrites(t *testing.T) {
	src := strings.NewReader(strings.Repeat("x", 1<<20))
	capped := &limitedBuffer{max: 4096}
	if _, err := io.Copy(capped, src); !errors.Is(err, errBufferFull) || capped.Len() > 4096 {
		t.Fatalf("io.Copy of 1 MiB into a 4 KiB limitedBuffer: err %v, holds %d bytes", err, capped.Len())
	}
	truncating := &limitedBuffer{max: 4096, truncate: true}
	if _, err := io.Copy(truncating, strings.NewReader(strings.Repeat("x", 1<<20))); err != nil || truncating.Len() != 4096 {
		t.Fatalf("truncating buffer: err %v, holds %d bytes, want 4096", err, truncating.Len())
	}
}
