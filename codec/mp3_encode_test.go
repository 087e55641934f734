package codec

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// writeTestWAV writes pcm at 8 kHz through the WAVFileWriter, as a
// recording would be.
func writeTestWAV(t *testing.T, path string, pcm []int16) {
	t.Helper()
	w, err := CreateWAV(path, SampleRate)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write(pcm16Bytes(pcm)); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestEncodeMP3FileKeepsToneAndDuration(t *testing.T) {
	requireTool(t, "lame")
	dir := t.TempDir()
	wavPath, mp3Path := filepath.Join(dir, "rec.wav"), filepath.Join(dir, "rec.mp3")
	const duration = 2 * time.Second
	writeTestWAV(t, wavPath, Tone(1000, duration, 0.5))

	if err := EncodeMP3File(context.Background(), wavPath, mp3Path); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(mp3Path)
	if err != nil {
		t.Fatal(err)
	}
	off, h, ok := findMPEGFrame(data, 0)
	if !ok || h.version != 25 || h.layer != 3 || h.sampleRate != 8000 {
		t.Fatalf("first frame %+v at %d (found %v), want MPEG-2.5 layer III at 8000 Hz", h, off, ok)
	}
	// Constant bit rate: about RecordingMP3Bitrate kbit/s, plus the info frame.
	if want := RecordingMP3Bitrate * 1000 / 8 * int(duration/time.Second); len(data) < want*9/10 || len(data) > want*12/10 {
		t.Errorf("MP3 is %d bytes, want about %d", len(data), want)
	}

	pcm, err := DecodeAudio(data, "audio/mpeg")
	if err != nil {
		t.Fatal(err)
	}
	got := time.Duration(len(pcm)) * time.Second / SampleRate
	if diff := got - duration; diff < -100*time.Millisecond || diff > 100*time.Millisecond {
		t.Errorf("decoded %v of audio, want %v ± 100 ms", got, duration)
	}
	mid := pcm[len(pcm)/4 : 3*len(pcm)/4]
	if level := dB(Goertzel(mid, 1000, SampleRate)); level < -8 || level > -4 {
		t.Errorf("1 kHz tone decoded at %.1f dB, want about -6 dB", level)
	}
	if level := dB(Goertzel(mid, 1500, SampleRate)); level > -40 {
		t.Errorf("1.5 kHz (absent) decoded at %.1f dB, want below -40 dB", level)
	}
	leftovers, _ := filepath.Glob(filepath.Join(dir, ".*"))
	if len(leftovers) != 0 {
		t.Errorf("temporary files left behind: %v", leftovers)
	}
}

func TestEncodeMP3FileErrors(t *testing.T) {
	dir := t.TempDir()
	wavPath := filepath.Join(dir, "rec.wav")
	writeTestWAV(t, wavPath, Tone(1000, 100*time.Millisecond, 0.5))
	mp3Path := filepath.Join(dir, "rec.mp3")

	t.Run("lame missing", func(t *testing.T) {
		err := encodeMP3File(context.Background(), "", wavPath, mp3Path)
		if !errors.Is(err, ErrToolMissing) {
			t.Fatalf("got %v, want ErrToolMissing", err)
		}
	})
	t.Run("input missing", func(t *testing.T) {
		requireTool(t, "lame")
		err := EncodeMP3File(context.Background(), filepath.Join(dir, "none.wav"), mp3Path)
		if !errors.Is(err, os.ErrNotExist) {
			t.Fatalf("got %v, want os.ErrNotExist", err)
		}
	})
	t.Run("not audio", func(t *testing.T) {
		requireTool(t, "lame")
		junk := filepath.Join(dir, "junk.wav")
		if err := os.WriteFile(junk, []byte("this is not a wav file at all"), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := EncodeMP3File(context.Background(), junk, mp3Path); !errors.Is(err, ErrUnsupportedFormat) {
			t.Fatalf("got %v, want ErrUnsupportedFormat", err)
		}
	})
	t.Run("cancelled", func(t *testing.T) {
		requireTool(t, "lame")
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		if err := EncodeMP3File(ctx, wavPath, mp3Path); !errors.Is(err, context.Canceled) {
			t.Fatalf("got %v, want context.Canceled", err)
		}
	})
	if _, err := os.Stat(mp3Path); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a failed encode left %s behind (%v)", mp3Path, err)
	}
	leftovers, _ := filepath.Glob(filepath.Join(dir, ".*"))
	if len(leftovers) != 0 {
		t.Errorf("temporary files left behind: %v", leftovers)
	}
}
