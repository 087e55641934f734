package codec

import (
	"sync"
	"testing"
	"time"
)

func TestPromptFramesArePaddedWithSilence(t *testing.T) {
	tests := []struct {
		name       string
		samples    int
		wantFrames int
		padFrom    int // index in the last frame where silence starts; FrameSamples for none
	}{
		{"exact frames", 320, 2, FrameSamples},
		{"partial last frame", 170, 2, 10},
		{"one sample", 1, 1, 1},
		{"empty", 0, 0, 0},
	}
	for _, tt := range tests {
		for _, law := range []Law{PCMU, PCMA} {
			t.Run(tt.name+"/"+law.String(), func(t *testing.T) {
				pcm := make([]int16, tt.samples)
				for i := range pcm {
					pcm[i] = 1000 // encodes to neither law's silence byte
				}
				frames := NewPrompt(pcm).Frames(law)
				if len(frames) != tt.wantFrames {
					t.Fatalf("%d frames, want %d", len(frames), tt.wantFrames)
				}
				for i, f := range frames {
					if len(f) != FrameSamples || cap(f) != FrameSamples {
						t.Fatalf("frame %d: len %d cap %d, want %d", i, len(f), cap(f), FrameSamples)
					}
				}
				if tt.wantFrames == 0 {
					return
				}
				last := frames[len(frames)-1]
				for i, b := range last {
					isSilence := b == SilenceByte(law)
					if isSilence != (i >= tt.padFrom) {
						t.Fatalf("last frame byte %d = %#x; padding should start at %d", i, b, tt.padFrom)
					}
				}
			})
		}
	}
}

func TestPromptFramesAreEncodedOnce(t *testing.T) {
	p := NewPrompt(Tone(1000, time.Second, 0.5))
	a, b := p.Frames(PCMU), p.Frames(PCMU)
	if &a[0][0] != &b[0][0] {
		t.Fatal("second Frames call re-encoded")
	}
	if &p.Frames(PCMA)[0][0] == &a[0][0] {
		t.Fatal("PCMA shares PCMU's frames")
	}
}

func TestPromptFramesDecodeBackToThePCM(t *testing.T) {
	pcm := Tone(1000, 200*time.Millisecond, 0.5)
	p := NewPrompt(pcm)
	for _, law := range []Law{PCMU, PCMA} {
		var decoded []int16
		out := make([]int16, FrameSamples)
		for _, f := range p.Frames(law) {
			decoded = append(decoded, out[:DecodeFrame(law, out, f)]...)
		}
		if p := dB(Goertzel(decoded, 1000, SampleRate)); p < -6.5 || p > -5.5 {
			t.Errorf("%v: decoded tone at %.2f dB, want about -6", law, p)
		}
	}
}

func TestPromptFramesConcurrentCallersShareOneEncoding(t *testing.T) {
	p := NewPrompt(Tone(440, 2*time.Second, 0.3))
	var wg sync.WaitGroup
	results := make([][][]byte, 16)
	for i := range results {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i] = p.Frames([]Law{PCMU, PCMA}[i%2])
		}()
	}
	wg.Wait()
	for i, r := range results {
		if &r[0][0] != &results[i%2][0][0] {
			t.Fatalf("caller %d got a different encoding", i)
		}
	}
}

func TestPromptDurationAndPCM(t *testing.T) {
	pcm := make([]int16, 12345)
	p := NewPrompt(pcm)
	if got, want := p.Duration(), 12345*time.Second/8000; got != want {
		t.Errorf("Duration = %v, want %v", got, want)
	}
	if len(p.PCM()) != len(pcm) {
		t.Errorf("PCM has %d samples, want %d", len(p.PCM()), len(pcm))
	}
	if p.Frames(Law(3)) != nil {
		t.Error("unknown law returned frames")
	}
}
