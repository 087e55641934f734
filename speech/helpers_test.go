package speech

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/pivotua/pivotua/codec"
)

// spoken is text as a caller on a phone line says it: flite's voice, resampled to 8 kHz and
// through G.711 mu-law and back, the way pivotua hears it.
func spoken(t testing.TB, voice, text string) []int16 {
	t.Helper()
	wav := filepath.Join(t.TempDir(), "say.wav")
	if out, err := exec.Command("flite", "-voice", voice, "-t", text, "-o", wav).CombinedOutput(); err != nil {
		t.Fatalf("flite: %v: %s", err, out)
	}
	data, err := os.ReadFile(wav)
	if err != nil {
		t.Fatal(err)
	}
	pcm, rate, err := codec.DecodeWAV(data)
	if err != nil {
		t.Fatal(err)
	}
	if rate != 8000 {
		pcm = codec.Resample(pcm, rate)
	}
	line := make([]byte, len(pcm))
	codec.EncodeFrame(codec.PCMU, line, pcm)
	codec.DecodeFrame(codec.PCMU, pcm, line)
	// Half a second of silence before and after, as a caller leaves.
	pad := make([]int16, 4000)
	return append(append(append([]int16{}, pad...), pcm...), pad...)
}

// recognise feeds pcm to a new recognition of r as fast as the engine takes it (a dropped frame is
// offered again) and returns its result.
func recognise(t testing.TB, rec Recognizer, r Request, pcm []int16) Result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	g, err := rec.Start(ctx, r)
	if err != nil {
		t.Fatalf("start: %v", err)
	}
	for i := 0; i < len(pcm); i += FrameSamples {
		f := pcm[i:min(i+FrameSamples, len(pcm))]
		for !g.Write(f) && !g.Truncated() {
			time.Sleep(time.Millisecond)
		}
	}
	res, err := g.Close(ctx)
	if err != nil {
		t.Fatalf("close: %v", err)
	}
	return res
}

func offline(t testing.TB, maxConcurrent int) Recognizer {
	t.Helper()
	s := DefaultSettings()
	s.MaxConcurrent = maxConcurrent
	if errs := s.Validate("speech"); len(errs) > 0 {
		t.Fatal(errs)
	}
	return s.New(nil)
}

// testVoice is flite's voice the tests speak with.
var testVoice = envOr("PIVOTUA_TEST_VOICE", "awb")

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}
