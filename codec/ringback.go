package codec

import (
	"sort"
	"sync"
	"time"
)

// ringCadence is one country's ringback tone: the frequencies sounded
// together, and the on/off durations of one cycle, after ITU-T E.180's
// table (tones that the table gives as one frequency modulated by another
// are sounded as their two nearest sidebands or as the carrier alone).
type ringCadence struct {
	freqs   []float64
	cadence []time.Duration // on, off, on, off...
}

func ms(v ...int) []time.Duration {
	out := make([]time.Duration, len(v))
	for i, x := range v {
		out[i] = time.Duration(x) * time.Millisecond
	}
	return out
}

// ringCadences holds the countries Twilio's <Dial ringTone> names.
var ringCadences = map[string]ringCadence{
	"us":     {[]float64{440, 480}, ms(2000, 4000)},
	"us-old": {[]float64{440, 480}, ms(2000, 4000)},
	"tw":     {[]float64{440, 480}, ms(1000, 2000)},
	"uk":     {[]float64{400, 450}, ms(400, 200, 400, 2000)},
	"au":     {[]float64{400, 450}, ms(400, 200, 400, 2000)},
	"nz":     {[]float64{400, 450}, ms(400, 200, 400, 2000)},
	"in":     {[]float64{375, 425}, ms(400, 200, 400, 2000)},
	"za":     {[]float64{367, 433}, ms(400, 200, 400, 2000)},
	"sg":     {[]float64{425}, ms(400, 200, 400, 2000)},
	"my":     {[]float64{425}, ms(400, 200, 400, 2000)},
	"fr":     {[]float64{440}, ms(1500, 3500)},
	"es":     {[]float64{425}, ms(1500, 3000)},
	"hu":     {[]float64{425}, ms(1250, 3750)},
	"ru":     {[]float64{425}, ms(800, 3200)},
	"at":     {[]float64{420}, ms(1000, 5000)},
	"se":     {[]float64{425}, ms(1000, 5000)},
	"pt":     {[]float64{425}, ms(1000, 5000)},
	"be":     {[]float64{425}, ms(1000, 3000)},
	"il":     {[]float64{400}, ms(1000, 3000)},
	"cl":     {[]float64{400}, ms(1000, 3000)},
	"jp":     {[]float64{384, 416}, ms(1000, 2000)},
	"cn":     {[]float64{450}, ms(1000, 4000)},
	"th":     {[]float64{400}, ms(1000, 4000)},
	"de":     {[]float64{425}, ms(1000, 4000)},
	"ch":     {[]float64{425}, ms(1000, 4000)},
	"it":     {[]float64{425}, ms(1000, 4000)},
	"nl":     {[]float64{425}, ms(1000, 4000)},
	"dk":     {[]float64{425}, ms(1000, 4000)},
	"no":     {[]float64{425}, ms(1000, 4000)},
	"fi":     {[]float64{425}, ms(1000, 4000)},
	"gr":     {[]float64{425}, ms(1000, 4000)},
	"pl":     {[]float64{425}, ms(1000, 4000)},
	"cz":     {[]float64{425}, ms(1000, 4000)},
	"bg":     {[]float64{425}, ms(1000, 4000)},
	"ee":     {[]float64{425}, ms(1000, 4000)},
	"lt":     {[]float64{425}, ms(1000, 4000)},
	"mx":     {[]float64{425}, ms(1000, 4000)},
	"br":     {[]float64{425}, ms(1000, 4000)},
	"ve":     {[]float64{425}, ms(1000, 4000)},
	"ph":     {[]float64{425}, ms(1000, 4000)},
}

// RingbackCountries lists the country codes Ringback knows, sorted.
func RingbackCountries() []string {
	out := make([]string, 0, len(ringCadences))
	for k := range ringCadences {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// ringbackAmplitude is each frequency's share of full scale: two of them
// peak at about -12 dBFS, the level of a carrier's ringback.
const ringbackAmplitude = 0.12

var ringbackPrompts sync.Map // country -> *Prompt

// Ringback returns one cycle of country's ringback tone (Twilio's ringTone
// codes, "us" for an unknown one) as a Prompt to loop. Prompts are made
// once and shared.
func Ringback(country string) *Prompt {
	rc, ok := ringCadences[country]
	if !ok {
		country, rc = "us", ringCadences["us"]
	}
	if p, ok := ringbackPrompts.Load(country); ok {
		return p.(*Prompt)
	}
	var total time.Duration
	for _, d := range rc.cadence {
		total += d
	}
	pcm := make([]int16, int(total*SampleRate/time.Second))
	at := 0
	for i, d := range rc.cadence {
		n := int(d * SampleRate / time.Second)
		if i%2 == 0 { // a burst of tone; the phase restarts with each burst
			for _, f := range rc.freqs {
				for j, v := range Tone(f, d, ringbackAmplitude) {
					pcm[at+j] += v
				}
			}
		}
		at += n
	}
	p, _ := ringbackPrompts.LoadOrStore(country, NewPrompt(pcm))
	return p.(*Prompt)
}
