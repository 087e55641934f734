package codec

import (
	"fmt"
	"slices"
	"testing"

	"github.com/pivotua/pivotua/internal/testkit"
)

// measure returns the Goertzel power at freq over the middle of pcm,
// skipping the filter's start and end transients.
func measure(pcm []int16, freq float64, rate int) float64 {
	edge := rate / 20 // 50 ms
	return Goertzel(pcm[edge:len(pcm)-edge], freq, rate)
}

func TestResampleKeepsInBandToneLevel(t *testing.T) {
	tests := []struct {
		rate  int
		freq  float64
		tolDB float64
	}{
		{44100, 1000, 0.1},
		{48000, 1000, 0.1},
		{22050, 1000, 0.1},
		{16000, 1000, 0.1},
		{11025, 1000, 0.1},
		{32000, 1000, 0.1},
		{12000, 1000, 0.1},
		{44056, 1000, 0.1}, // a rate with 1000 filter phases
		{96000, 1000, 0.1},
		{6000, 1000, 0.1}, // upsampling
		{44100, 300, 0.1},
		{44100, 3000, 0.2},
		{16000, 3300, 0.5}, // near the passband edge
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%.0fHz@%d", tt.freq, tt.rate), func(t *testing.T) {
			in := testkit.Sine(tt.freq, tt.rate, tt.rate, 0.5) // one second
			out := Resample(in, tt.rate)
			if len(out) != SampleRate {
				t.Fatalf("%d samples out, want %d", len(out), SampleRate)
			}
			gain := dB(measure(out, tt.freq, SampleRate)) - dB(measure(in, tt.freq, tt.rate))
			t.Logf("gain %.3f dB", gain)
			if gain < -tt.tolDB || gain > tt.tolDB {
				t.Fatalf("tone level changed by %.2f dB", gain)
			}
		})
	}
}

// Tones above the 4 kHz output Nyquist must be filtered out, not folded
// back: a tone at f would alias to 8000-f.
func TestResampleAttenuatesAboveNyquist(t *testing.T) {
	tests := []struct {
		rate int
		freq float64
	}{
		{44100, 4500},
		{44100, 5000},
		{44100, 6000},
		{44100, 7000},
		{44100, 10000},
		{44100, 11000}, // folds twice: 11000 -> 3000
		{48000, 5000},
		{22050, 6000},
		{16000, 5000},
		{16000, 6000},
		{16000, 7000},
		{11025, 5000},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%.0fHz@%d", tt.freq, tt.rate), func(t *testing.T) {
			in := testkit.Sine(tt.freq, tt.rate, tt.rate, 0.5)
			out := Resample(in, tt.rate)
			alias := tt.freq
			for alias > SampleRate/2 {
				alias = abs(SampleRate - alias)
			}
			inDB := dB(measure(in, tt.freq, tt.rate))
			outDB := dB(measure(out, alias, SampleRate))
			t.Logf("alias at %.0f Hz: %.1f dB below the input tone", alias, inDB-outDB)
			if inDB-outDB < 50 {
				t.Fatalf("alias at %.0f Hz only %.1f dB down, want >= 50", alias, inDB-outDB)
			}
		})
	}
}

func abs(v float64) float64 {
	if v < 0 {
		return -v
	}
	return v
}

func TestResampleAt8kReturnsACopy(t *testing.T) {
	in := []int16{1, 2, 3}
	out := Resample(in, SampleRate)
	if !slices.Equal(in, out) {
		t.Fatalf("got %v", out)
	}
	out[0] = 9
	if in[0] != 1 {
		t.Fatal("output aliases the input")
	}
}

func TestResampleOutputLength(t *testing.T) {
	tests := []struct {
		n, rate, want int
	}{
		{0, 44100, 0},
		{1, 44100, 0},
		{3, 44100, 1},
		{44100, 44100, 8000},
		{16000, 16000, 8000},
		{160, 16000, 80},
		{4000, 4000, 8000},
	}
	for _, tt := range tests {
		if got := len(Resample(make([]int16, tt.n), tt.rate)); got != tt.want {
			t.Errorf("%d samples at %d Hz -> %d, want %d", tt.n, tt.rate, got, tt.want)
		}
	}
}

func TestResampleRejectsAbsurdRates(t *testing.T) {
	for _, rate := range []int{0, -8000, 999, 10_000_000} {
		if out := Resample([]int16{1, 2, 3}, rate); out != nil {
			t.Errorf("rate %d: got %d samples, want nil", rate, len(out))
		}
	}
}

func TestResampleStreamingMatchesWhole(t *testing.T) {
	in := testkit.Sine(1234, 44100, 20000, 0.7)
	whole := Resample(in, 44100)
	for _, chunk := range []int{1, 7, 441, 4096} {
		r := newResampler(44100)
		for rest := in; len(rest) > 0; {
			n := min(chunk, len(rest))
			r.push(rest[:n])
			rest = rest[n:]
		}
		if got := r.finish(); !slices.Equal(got, whole) {
			t.Errorf("chunks of %d: output differs from one-shot", chunk)
		}
	}
}

func TestResampleDoesNotClipFullScale(t *testing.T) {
	in := make([]int16, 22050)
	for i := range in {
		in[i] = 32767 // DC at full scale must stay there
	}
	out := Resample(in, 22050)
	mid := out[len(out)/2]
	if mid < 32760 {
		t.Fatalf("full-scale DC came out as %d", mid)
	}
}

func BenchmarkResample44k1(b *testing.B) {
	in := testkit.Sine(1000, 44100, 44100, 0.5)
	b.ReportAllocs()
	for b.Loop() {
		Resample(in, 44100)
	}
}
