package codec

import (
	"math"
	"sync"
)

// Resampler design: a Kaiser-windowed sinc low-pass evaluated at arbitrary
// fractional positions, so any input rate maps to 8 kHz without a
// rate-specific filter bank.
//
// The kernel is defined in units of the lower of the two rates ("kernel
// units"): for downsampling that is the 8 kHz output period, so the cutoff
// stays at resampleCutoff Hz whatever the input rate, and the number of
// input taps grows with the ratio (≈ 2·resampleHalfWidth·fs/8000). For
// upsampling the kernel is in input periods and cuts at 0.456·fs.
//
// With β = 6.5 and 2×28 kernel units the transition band is about 570 Hz
// wide and the stopband below −60 dB: passband flat to ~3.35 kHz, stopband
// from ~3.93 kHz, so nothing above the 4 kHz output Nyquist folds back into
// the band audibly.
const (
	resampleCutoff    = 3650.0 / 8000 // cutoff as a fraction of the kernel rate
	resampleHalfWidth = 28            // kernel half-width in kernel units
	resampleKaiserB   = 6.5
	resampleTableRes  = 512 // kernel table entries per kernel unit

	// maxPhaseTable caps a per-rate weight table (float64s): 44.1 kHz needs
	// 80 phases × 313 taps; rates with thousands of phases compute weights
	// per output instead.
	maxPhaseTable = 1 << 17
)

// resampleKernel is h(τ) for τ = i/resampleTableRes, i in [0, half-width·res],
// built once; h is even so only τ ≥ 0 is stored.
var resampleKernel = sync.OnceValue(func() []float64 {
	n := resampleHalfWidth*resampleTableRes + 2 // +2: room for interpolation at the edge
	k := make([]float64, n)
	i0b := besselI0(resampleKaiserB)
	for i := range k {
		tau := float64(i) / resampleTableRes
		if tau >= resampleHalfWidth {
			break
		}
		x := 2 * resampleCutoff * tau
		sinc := 1.0
		if x != 0 {
			sinc = math.Sin(math.Pi*x) / (math.Pi * x)
		}
		r := tau / resampleHalfWidth
		k[i] = 2 * resampleCutoff * sinc * besselI0(resampleKaiserB*math.Sqrt(1-r*r)) / i0b
	}
	return k
})

// besselI0 is the zeroth-order modified Bessel function of the first kind,
// by its power series (converges fast for the β used here).
func besselI0(x float64) float64 {
	sum, term := 1.0, 1.0
	for k := 1; k < 64; k++ {
		term *= (x / (2 * float64(k))) * (x / (2 * float64(k)))
		sum += term
		if term < sum*1e-17 {
			break
		}
	}
	return sum
}

// Resample converts mono pcm at fromRate to SampleRate (8 kHz) through a
// windowed-sinc low-pass. 8 kHz input is returned as a copy; a rate outside
// 1 kHz..384 kHz returns nil.
func Resample(pcm []int16, fromRate int) []int16 {
	if fromRate == SampleRate {
		return append([]int16(nil), pcm...)
	}
	r := newResampler(fromRate)
	if r == nil {
		return nil
	}
	r.push(pcm)
	return r.finish()
}

// resampler converts a stream pushed in pieces; pushing a signal in any
// split gives the same output as pushing it whole. Decoders use it to keep
// only the 8 kHz result in memory, not the whole input.
type resampler struct {
	from int64
	// step is kernel units per input sample, span the input half-width of
	// the kernel in input samples.
	step float64
	span int64

	// Per-phase weights: output n has phase (n·from mod 8000)/phaseStep,
	// one of 8000/phaseStep. table is built on first use when tableOK.
	phaseStep int64
	tableOK   bool
	table     []float64
	tableSums []float64
	scratch   []float64

	window []int16 // input samples [base, base+len(window))
	base   int64
	seen   int64 // input samples pushed so far
	next   int64 // index of the next output sample
	out    []int16
}

func newResampler(fromRate int) *resampler {
	if fromRate < minSampleRate || fromRate > maxSampleRate {
		return nil
	}
	step := 1.0 // upsampling: kernel units are input samples
	if fromRate > SampleRate {
		step = float64(SampleRate) / float64(fromRate)
	}
	r := &resampler{
		from:      int64(fromRate),
		step:      step,
		span:      int64(math.Ceil(resampleHalfWidth/step)) + 1,
		phaseStep: gcd(int64(fromRate), SampleRate),
	}
	r.tableOK = (SampleRate/r.phaseStep)*(2*r.span+1) <= maxPhaseTable
	return r
}

func (r *resampler) push(pcm []int16) {
	r.window = append(r.window, pcm...)
	r.seen += int64(len(pcm))
	// Emit every output whose kernel lies wholly inside what we have.
	for {
		center := r.next * r.from / SampleRate
		if center+r.span >= r.seen {
			break
		}
		r.out = append(r.out, r.evaluate(r.next))
		r.next++
	}
	// Drop input no future output can reach.
	keepFrom := r.next*r.from/SampleRate - r.span
	if drop := keepFrom - r.base; drop > 0 && drop >= int64(len(r.window))/2 {
		n := copy(r.window, r.window[drop:])
		r.window = r.window[:n]
		r.base = keepFrom
	}
}

// finish emits the remaining outputs, treating input past the end as
// silence, and returns everything produced.
func (r *resampler) finish() []int16 {
	total := (r.seen*SampleRate + r.from/2) / r.from
	for ; r.next < total; r.next++ {
		r.out = append(r.out, r.evaluate(r.next))
	}
	return r.out
}

// evaluate computes output sample n at input position t = n·from/8000.
// The result is normalised by the sum of the kernel weights at this
// fractional phase, so DC passes at exactly unity; input outside the stream
// counts as silence.
func (r *resampler) evaluate(n int64) int16 {
	num := n * r.from
	center := num / SampleRate
	weights, wsum := r.phaseWeights(num % SampleRate)
	first := center - r.span
	lo := max(first, r.base) - first
	hi := min(first+int64(len(weights)), r.base+int64(len(r.window))) - first
	var acc float64
	if lo < hi {
		in := r.window[first+lo-r.base:]
		for j, w := range weights[lo:hi] {
			acc += w * float64(in[j])
		}
	}
	if wsum <= 0 {
		return 0
	}
	return clamp16(int32(math.Round(acc / wsum)))
}

// phaseWeights returns the kernel weights for input samples center-span ..
// center+span when the output falls rem/8000 of an input sample after
// center, and their sum. Rates with few distinct phases (44.1 kHz has 80)
// get them from a table built on first use; others are computed each time.
func (r *resampler) phaseWeights(rem int64) ([]float64, float64) {
	taps := int(2*r.span + 1)
	if r.table != nil {
		p := int(rem / r.phaseStep)
		return r.table[p*taps : (p+1)*taps], r.tableSums[p]
	}
	if r.tableOK {
		phases := int(SampleRate / r.phaseStep)
		r.table = make([]float64, phases*taps)
		r.tableSums = make([]float64, phases)
		for p := range phases {
			r.tableSums[p] = r.computeWeights(int64(p)*r.phaseStep, r.table[p*taps:(p+1)*taps])
		}
		return r.phaseWeights(rem)
	}
	if r.scratch == nil {
		r.scratch = make([]float64, taps)
	}
	return r.scratch, r.computeWeights(rem, r.scratch)
}

// computeWeights fills w from the kernel table, interpolating linearly, and
// returns the sum.
func (r *resampler) computeWeights(rem int64, w []float64) float64 {
	kernel := resampleKernel()
	frac := float64(rem) / SampleRate
	var sum float64
	for j := range w {
		tau := math.Abs(float64(int64(j)-r.span)-frac) * r.step
		if tau >= resampleHalfWidth {
			w[j] = 0
			continue
		}
		pos := tau * resampleTableRes
		i := int(pos)
		w[j] = kernel[i] + (pos-float64(i))*(kernel[i+1]-kernel[i])
		sum += w[j]
	}
	return sum
}

func gcd(a, b int64) int64 {
	for b != 0 {
		a, b = b, a%b
	}
	return a
}
