package speech

import (
	"math"
	"time"
)

// Endpointer finds where the caller starts and stops speaking in 20 ms frames of 8 kHz audio, by
// energy against a running noise floor: Gather's speechTimeout counts the silence after speech, and
// its timeout the silence before any. The zero value is not usable: see NewEndpointer.
type Endpointer struct {
	silenceFrames int // frames of silence after speech that end it
	noise         float64
	run           int // consecutive frames above the threshold
	quiet         int // consecutive frames below it since speech started
	started       bool
}

// Endpointing thresholds: speech is at least minSpeechRMS (about -40 dBFS) and speechOverNoise
// times the noise floor, for startFrames frames in a row (60 ms: a click is not speech).
const (
	minSpeechRMS    = 300
	speechOverNoise = 3
	startFrames     = 3
)

// NewEndpointer ends speech after silence of at least silence.
func NewEndpointer(silence time.Duration) *Endpointer {
	return &Endpointer{silenceFrames: max(1, int(silence/(20*time.Millisecond))), noise: 100}
}

// Frame takes the next frame and reports whether speech has started (from now on true) and whether
// it has ended (silence after speech for the configured time).
func (e *Endpointer) Frame(pcm []int16) (started, ended bool) {
	sum := 0.0
	for _, x := range pcm {
		sum += float64(x) * float64(x)
	}
	rms := 0.0
	if len(pcm) > 0 {
		rms = math.Sqrt(sum / float64(len(pcm)))
	}
	loud := rms >= minSpeechRMS && rms >= speechOverNoise*e.noise
	if !loud {
		e.noise = 0.95*e.noise + 0.05*max(rms, 1)
	}
	switch {
	case loud:
		e.run++
		e.quiet = 0
		if e.run >= startFrames {
			e.started = true
		}
	default:
		e.run = 0
		if e.started {
			e.quiet++
		}
	}
	return e.started, e.started && e.quiet >= e.silenceFrames
}
