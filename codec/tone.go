package codec

import (
	"math"
	"time"
)

// Tone returns a sine at freqHz lasting d, sampled at 8 kHz. amplitude is a
// fraction of full scale (1.0 peaks at 32767) and is clamped to 0..1.
func Tone(freqHz float64, d time.Duration, amplitude float64) []int16 {
	if d <= 0 {
		return nil
	}
	n := int(d * SampleRate / time.Second)
	amp := max(0, min(1, amplitude)) * math.MaxInt16
	out := make([]int16, n)
	w := 2 * math.Pi * freqHz / SampleRate
	for i := range out {
		out[i] = int16(math.Round(amp * math.Sin(w*float64(i))))
	}
	return out
}

// Goertzel measures the power of pcm at freqHz, normalised so a sine of
// amplitude a (fraction of full scale) that fills the block reads about a²:
// 1.0 for a full-scale tone, 0.01 for one at −20 dBFS, ~0 when absent.
// freqHz need not fall on a DFT bin: the recurrence uses the exact
// frequency. Tones well inside the block measure within a few per cent;
// use blocks of at least a few cycles.
func Goertzel(pcm []int16, freqHz float64, sampleRate int) float64 {
	if len(pcm) == 0 || sampleRate <= 0 {
		return 0
	}
	coeff := 2 * math.Cos(2*math.Pi*freqHz/float64(sampleRate))
	var s1, s2 float64
	for _, x := range pcm {
		s0 := float64(x) + coeff*s1 - s2
		s2, s1 = s1, s0
	}
	power := s1*s1 + s2*s2 - coeff*s1*s2
	scale := float64(len(pcm)) / 2 * 32767
	return power / (scale * scale)
}
