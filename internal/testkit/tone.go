package testkit

import (
	"math"
	"time"
)

// Telephone audio as pivotua sends it: 8 kHz, judged in 20 ms frames. (codec has the same
// numbers; testkit keeps its own so that codec's internal tests may import it.)
const (
	SampleRate   = 8000
	FrameSamples = 160
)

// ToneShare is the share of frame's energy at freq (1.0 for a pure tone, near 0 for silence or
// other sound), by the Goertzel algorithm at 8 kHz. Judge audio per 20 ms frame with it, not by
// energy alone.
func ToneShare(frame []int16, freq float64) float64 {
	var s1, s2, energy float64
	coeff := 2 * math.Cos(2*math.Pi*freq/SampleRate)
	for _, v := range frame {
		x := float64(v)
		s0 := x + coeff*s1 - s2
		s2, s1 = s1, s0
		energy += x * x
	}
	if energy == 0 {
		return 0
	}
	power := s1*s1 + s2*s2 - coeff*s1*s2
	return power / (energy * float64(len(frame)) / 2)
}

// CountToneFrames counts the 20 ms frames of pcm that carry freq (a share over 0.8).
func CountToneFrames(pcm []int16, freq float64) int {
	n := 0
	for i := 0; i+FrameSamples <= len(pcm); i += FrameSamples {
		if ToneShare(pcm[i:i+FrameSamples], freq) > 0.8 {
			n++
		}
	}
	return n
}

// MeanToneShare is ToneShare averaged over pcm's 20 ms frames (0 when pcm is shorter than one).
func MeanToneShare(pcm []int16, freq float64) float64 {
	var sum float64
	n := 0
	for i := 0; i+FrameSamples <= len(pcm); i += FrameSamples {
		sum += ToneShare(pcm[i:i+FrameSamples], freq)
		n++
	}
	if n == 0 {
		return 0
	}
	return sum / float64(n)
}

// FrameKind is what a 20 ms frame sounds like.
type FrameKind int

const (
	SilentFrame FrameKind = iota // RMS under 100
	ToneFrame                    // the tone asked for dominates
	OtherSound                   // speech, another tone, noise
)

// Classify labels each 20 ms frame of pcm as silence, the tone at freq, or other sound (speech).
func Classify(pcm []int16, freq float64) []FrameKind {
	var kinds []FrameKind
	for i := 0; i+FrameSamples <= len(pcm); i += FrameSamples {
		f := pcm[i : i+FrameSamples]
		var rms float64
		for _, v := range f {
			rms += float64(v) * float64(v)
		}
		rms = math.Sqrt(rms / float64(len(f)))
		switch {
		case rms < 100:
			kinds = append(kinds, SilentFrame)
		case ToneShare(f, freq) > 0.8:
			kinds = append(kinds, ToneFrame)
		default:
			kinds = append(kinds, OtherSound)
		}
	}
	return kinds
}

// CountKind counts the frames of kind k.
func CountKind(kinds []FrameKind, k FrameKind) int {
	n := 0
	for _, v := range kinds {
		if v == k {
			n++
		}
	}
	return n
}

// FirstKind is the index of the first frame of kind k, or -1.
func FirstKind(kinds []FrameKind, k FrameKind) int {
	for i, v := range kinds {
		if v == k {
			return i
		}
	}
	return -1
}

// Sine makes n samples of a sine at freq and amplitude amp (0 to 1 of full scale) at any sample
// rate (codec.Tone is 8 kHz only).
func Sine(freq float64, rate, n int, amp float64) []int16 {
	out := make([]int16, n)
	for i := range out {
		out[i] = int16(math.Round(amp * 32767 * math.Sin(2*math.Pi*freq*float64(i)/float64(rate))))
	}
	return out
}

// Samples is how many samples d lasts at rate.
func Samples(d time.Duration, rate int) int { return int(d.Seconds() * float64(rate)) }

// CountTone counts the frames Classify labels as the tone at freq: unlike CountToneFrames, a frame
// must also be loud enough (RMS 100 or more) to count.
func CountTone(pcm []int16, freq float64) int { return CountKind(Classify(pcm, freq), ToneFrame) }
