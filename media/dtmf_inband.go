package media

import (
	"math"
	"time"

	"github.com/pivotua/pivotua/codec"
)

// In-band DTMF detection (ITU-T Q.23 frequencies, Q.24-style acceptance)
// for callers that offered no RFC 4733 telephone-event: the power at each of
// the eight DTMF frequencies (Goertzel) over a 20 ms window that slides by
// 10 ms.
const (
	toneWindow      = codec.FrameSamples    // 160 samples, 20 ms: 50 Hz resolution
	toneHop         = toneWindow / 2        // a new window every 10 ms
	toneHopDur      = 10 * time.Millisecond // toneHop at 8 kHz
	hitsToPress     = 2                     // two overlapping windows: 30 ms of steady tone
	missesToRelease = 3                     // three windows without the key end a press (>= 30-40 ms gap)

	// minTonePower is each tone's least power, as a fraction of a
	// full-scale sine's (-40 dBFS: an amplitude of 1 %).
	minTonePower = 1e-4
	// toneDominance is how much stronger the winning row (column) must be
	// than the next strongest row (column): 6 dB. With a 20 ms window a
	// neighbour row leaks in at about -13 dB.
	toneDominance = 4.0
	// twist limits: the high tone may be up to 4 dB stronger than the low
	// one (normal twist) or 8 dB weaker (reverse twist).
	maxTwist        = 2.512 // +4 dB
	maxReverseTwist = 0.158 // -8 dB
	// minToneShare is the part of the window's energy the two tones must
	// carry: speech, music and noise spread theirs.
	minToneShare = 0.75
)

var (
	dtmfRowHz = [4]float64{697, 770, 852, 941}
	dtmfColHz = [4]float64{1209, 1336, 1477, 1633}
	dtmfKeys  = [4][4]byte{
		{'1', '2', '3', 'A'},
		{'4', '5', '6', 'B'},
		{'7', '8', '9', 'C'},
		{'*', '0', '#', 'D'},
	}
	// goertzel holds, for the rows then the columns, the filter
	// coefficient and the rotations that turn a hop's filter state into
	// its DFT value; computed once, read-only afterwards.
	goertzel = func() (g [8]goertzelFreq) {
		for i := range g {
			f := dtmfRowHz[i%4]
			if i >= 4 {
				f = dtmfColHz[i-4]
			}
			w := 2 * math.Pi * f / codec.SampleRate
			g[i] = goertzelFreq{
				coeff: 2 * math.Cos(w),
				endRe: math.Cos(w * (toneHop - 1)), endIm: -math.Sin(w * (toneHop - 1)),
				hopRe: math.Cos(w * toneHop), hopIm: -math.Sin(w * toneHop),
			}
		}
		return g
	}()
)

// goertzelCoeffs are the eight filter coefficients in one array, for the
// per-sample loop.
var goertzelCoeffs = func() (c [8]float64) {
	for i := range c {
		c[i] = goertzel[i].coeff
	}
	return c
}()

// goertzelFreq is one frequency's constants: after a hop of N samples the
// filter state (s1, s2) gives the hop's DFT value
// X = e^{-jω(N-1)}·s1 - e^{-jωN}·s2, and a window of two hops is
// X_first + e^{-jωN}·X_second.
type goertzelFreq struct {
	coeff        float64 // 2·cos ω
	endRe, endIm float64 // e^{-jω(N-1)}
	hopRe, hopIm float64 // e^{-jωN}
}

// toneDetector finds DTMF key presses in a stream of 8 kHz samples. Each
// sample goes through the eight filters once; every 10 ms hop's DFT values
// are combined with the previous hop's into the 20 ms window. It keeps its
// state in fixed arrays and never allocates. Owned by the session's clock.
type toneDetector struct {
	s1, s2     [8]float64 // filter state within the current hop
	n          int        // samples in the current hop
	energy     float64    // of the current hop
	prevRe     [8]float64 // DFT values of the previous hop
	prevIm     [8]float64
	prevEnergy float64
	havePrev   bool

	cand byte // key of the last window(s), 0 for none
	hits int  // consecutive windows with cand

	held   byte // key reported and still pressed, 0 for none
	misses int  // consecutive windows without held
}

// write feeds pcm to the detector until it recognises a new press. It
// returns how many samples it consumed and, if a press was recognised at
// that point, its key and the tone's duration so far. Callers loop until
// all of pcm is consumed.
func (d *toneDetector) write(pcm []int16) (consumed int, key byte, dur time.Duration) {
	for consumed < len(pcm) {
		take := min(toneHop-d.n, len(pcm)-consumed)
		c := &goertzelCoeffs
		s1, s2, energy := d.s1, d.s2, d.energy // locals stay in registers
		for _, v := range pcm[consumed : consumed+take] {
			x := float64(v)
			energy += x * x
			for i := range 8 {
				s0 := x + c[i]*s1[i] - s2[i]
				s2[i], s1[i] = s1[i], s0
			}
		}
		d.s1, d.s2, d.energy = s1, s2, energy
		d.n += take
		consumed += take
		if d.n < toneHop {
			break
		}
		if key, dur = d.endHop(); key != 0 {
			return consumed, key, dur
		}
	}
	return consumed, 0, 0
}

// endHop closes a 10 ms hop: it classifies the 20 ms window that ends with
// it and starts the next hop.
func (d *toneDetector) endHop() (byte, time.Duration) {
	g := &goertzel
	var power [8]float64
	var curRe, curIm [8]float64
	for i := range 8 {
		// The hop's DFT value, then the window's.
		curRe[i] = g[i].endRe*d.s1[i] - g[i].hopRe*d.s2[i]
		curIm[i] = g[i].endIm*d.s1[i] - g[i].hopIm*d.s2[i]
		re := d.prevRe[i] + g[i].hopRe*curRe[i] - g[i].hopIm*curIm[i]
		im := d.prevIm[i] + g[i].hopRe*curIm[i] + g[i].hopIm*curRe[i]
		power[i] = re*re + im*im
	}
	energy := d.prevEnergy + d.energy
	full := d.havePrev
	d.prevRe, d.prevIm, d.prevEnergy, d.havePrev = curRe, curIm, d.energy, true
	d.s1, d.s2, d.n, d.energy = [8]float64{}, [8]float64{}, 0, 0
	if !full {
		return 0, 0
	}
	return d.step(classifyWindow(&power, energy))
}

// step advances the press state machine by one window whose key is k (0 for
// none) and returns a key when a new press is recognised.
func (d *toneDetector) step(k byte) (byte, time.Duration) {
	if d.held != 0 {
		if k == d.held {
			d.misses = 0
			return 0, 0
		}
		if d.misses++; d.misses < missesToRelease {
			return 0, 0
		}
		d.held = 0 // released: the gap was long enough
	}
	if k == 0 || k != d.cand {
		d.cand, d.hits = k, 0
	}
	if k == 0 {
		return 0, 0
	}
	if d.hits++; d.hits < hitsToPress {
		return 0, 0
	}
	d.held, d.misses, d.cand, d.hits = k, 0, 0, 0
	// hitsToPress windows of 20 ms, 10 ms apart.
	return k, toneWindow*time.Second/codec.SampleRate + (hitsToPress-1)*toneHopDur
}

// classifyWindow returns the DTMF key whose two tones dominate a window
// with the given filter powers (|X|², rows then columns) and energy (Σx²),
// or 0.
func classifyWindow(power *[8]float64, energy float64) byte {
	// A sine of amplitude A fills a window with energy N·A²/2 and reads
	// (N·A/2)² in a filter at its frequency.
	const fullScale = toneWindow / 2 * math.MaxInt16
	const minPower = minTonePower * fullScale * fullScale
	row, rowNext := strongest(power[:4])
	col, colNext := strongest(power[4:])
	pr, pc := power[row], power[4+col]
	switch {
	case pr < minPower || pc < minPower:
		return 0
	case pr < toneDominance*rowNext || pc < toneDominance*colNext:
		return 0
	case pc > maxTwist*pr || pc < maxReverseTwist*pr:
		return 0
	case pr+pc < minToneShare*toneWindow/2*energy:
		return 0
	}
	return dtmfKeys[row][col]
}

// strongest returns the index of the largest of p and the largest of the
// others.
func strongest(p []float64) (int, float64) {
	best := 0
	for i := 1; i < len(p); i++ {
		if p[i] > p[best] {
			best = i
		}
	}
	var next float64
	for i, v := range p {
		if i != best && v > next {
			next = v
		}
	}
	return best, next
}
