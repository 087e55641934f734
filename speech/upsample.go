package speech

import "math"

// upsampleHalfTaps is half the length of the interpolation filter: 8 taps each side of the new
// sample keep the 8 kHz band flat to about 3.4 kHz and add no image above 4 kHz worth noting.
const upsampleHalfTaps = 8

// upsampleTaps weigh the 16 input samples around the point halfway between two of them
// (a Blackman-windowed sinc, normalised to unity gain).
var upsampleTaps = func() [2 * upsampleHalfTaps]float64 {
	var w [2 * upsampleHalfTaps]float64
	n := float64(len(w))
	sum := 0.0
	for k := range w {
		x := float64(k-upsampleHalfTaps) + 0.5 // distance from the new sample, in input samples
		sinc := math.Sin(math.Pi*x) / (math.Pi * x)
		pos := (float64(k) + 0.5) / n
		win := 0.42 - 0.5*math.Cos(2*math.Pi*pos) + 0.08*math.Cos(4*math.Pi*pos)
		w[k] = sinc * win
		sum += w[k]
	}
	for k := range w {
		w[k] /= sum
	}
	return w
}()

// upsampler2 doubles the rate of a stream of 8 kHz samples (pocketsphinx's model is 16 kHz),
// keeping the input samples and interpolating one between each pair. It delays the audio by
// upsampleHalfTaps-1 samples.
type upsampler2 struct {
	buf []int16 // the last 2*halfTaps-1 samples, then the new ones
}

func newUpsampler2() *upsampler2 {
	return &upsampler2{buf: make([]int16, 2*upsampleHalfTaps-1, 2*upsampleHalfTaps-1+FrameSamples)}
}

// push appends the 16 kHz samples for pcm to dst as 16-bit little-endian bytes.
func (u *upsampler2) push(dst []byte, pcm []int16) []byte {
	u.buf = append(u.buf, pcm...)
	h := upsampleHalfTaps
	for c := h - 1; c+h < len(u.buf); c++ {
		s := 0.0
		for k, w := range upsampleTaps {
			s += w * float64(u.buf[c-h+1+k])
		}
		mid := int16(max(math.MinInt16, min(math.MaxInt16, math.Round(s))))
		x := u.buf[c]
		dst = append(dst, byte(x), byte(uint16(x)>>8), byte(mid), byte(uint16(mid)>>8))
	}
	keep := copy(u.buf, u.buf[len(u.buf)-(2*h-1):])
	u.buf = u.buf[:keep]
	return dst
}
