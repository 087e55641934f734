package sipptest

import (
	"math"
	"strings"
	"time"

	"github.com/pivotua/pivotua/codec"
)

// DTMFTone is key (0-9, *, #, A-D) as in-band audio lasting d: its row and column tones at amp
// each, the row lowered by lowDB and the column by highDB (0 and 0 for no twist), as a caller
// without RFC 4733 sends it.
func DTMFTone(key byte, d time.Duration, amp, lowDB, highDB float64) []int16 {
	rows, cols := []float64{697, 770, 852, 941}, []float64{1209, 1336, 1477, 1633}
	var lo, hi float64
	for r, line := range []string{"123A", "456B", "789C", "*0#D"} {
		if c := strings.IndexByte(line, key); c >= 0 {
			lo, hi = rows[r], cols[c]
		}
	}
	low := codec.Tone(lo, d, amp*math.Pow(10, lowDB/20))
	high := codec.Tone(hi, d, amp*math.Pow(10, highDB/20))
	for i := range low {
		low[i] += high[i]
	}
	return low
}
