package codec

import (
	"testing"
	"time"
)

// TestRingbackFollowsTheCountrysCadence: each 100 ms block of a cycle holds the country's frequencies
// during a burst and nothing between bursts.
func TestRingbackFollowsTheCountrysCadence(t *testing.T) {
	for _, tc := range []struct {
		country string
		freqs   []float64
		bursts  [][2]time.Duration // [start, end) of each burst
		cycle   time.Duration
	}{
		{"us", []float64{440, 480}, [][2]time.Duration{{0, 2 * time.Second}}, 6 * time.Second},
		{"uk", []float64{400, 450}, [][2]time.Duration{{0, 400 * time.Millisecond}, {600 * time.Millisecond, time.Second}}, 3 * time.Second},
		{"de", []float64{425}, [][2]time.Duration{{0, time.Second}}, 5 * time.Second},
	} {
		p := Ringback(tc.country)
		if p.Duration() != tc.cycle {
			t.Errorf("%s: cycle %v, want %v", tc.country, p.Duration(), tc.cycle)
		}
		pcm := p.PCM()
		block := SampleRate / 10
		for at := 0; at+block <= len(pcm); at += block {
			start := time.Duration(at) * time.Second / SampleRate
			inBurst := false
			for _, b := range tc.bursts {
				inBurst = inBurst || (start >= b[0] && start < b[1])
			}
			for _, f := range tc.freqs {
				power := Goertzel(pcm[at:at+block], f, SampleRate)
				if inBurst && (power < 0.8*ringbackAmplitude*ringbackAmplitude || power > 1.2*ringbackAmplitude*ringbackAmplitude) {
					t.Errorf("%s at %v: %v Hz power %.4f, want about %.4f", tc.country, start, f, power, ringbackAmplitude*ringbackAmplitude)
				}
				if !inBurst && power > 1e-6 {
					t.Errorf("%s at %v: %v Hz power %.6f between bursts, want silence", tc.country, start, f, power)
				}
			}
		}
	}
}

func TestRingbackIsSharedAndDefaultsToUS(t *testing.T) {
	if Ringback("us") != Ringback("us") {
		t.Error("Ringback made the same prompt twice")
	}
	if Ringback("xx") != Ringback("us") {
		t.Error("an unknown country should ring as us")
	}
	if got := RingbackCountries(); len(got) != len(ringCadences) || got[0] != "at" {
		t.Errorf("RingbackCountries = %v", got)
	}
}
