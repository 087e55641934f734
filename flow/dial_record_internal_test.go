package flow

import (
	"testing"
	"time"

	"github.com/pivotua/pivotua/codec"
)

// TestTrimBoundsKeepsWholeStereoFrames: trimming a two-channel file keeps trimMargin around the
// speech in both channels' samples and never splits a left/right pair.
func TestTrimBoundsKeepsWholeStereoFrames(t *testing.T) {
	margin := int64(trimMargin * codec.SampleRate / time.Second)
	for _, tc := range []struct {
		name     string
		span     speechSpan
		total    int64
		channels int
		from, to int64
		ok       bool
	}{
		{"no speech", speechSpan{}, 80000, 2, 0, 0, false},
		{"mono", speechSpan{from: 8000, to: 16000}, 80000, 1, 8000 - margin, 16000 + margin, true},
		{"stereo: margins in interleaved samples", speechSpan{from: 16000, to: 32000}, 80000, 2, 16000 - 2*margin, 32000 + 2*margin, true},
		{"stereo: an odd bound is rounded down to a pair", speechSpan{from: 4001, to: 10001}, 80000, 2, 4001 - 2*margin - 1, 10001 + 2*margin - 1, true},
		{"speech throughout: nothing to cut", speechSpan{from: 0, to: 80000}, 80000, 2, 0, 80000, false},
	} {
		from, to, ok := trimBounds(tc.span, tc.total, tc.channels)
		if from != tc.from || to != tc.to || ok != tc.ok {
			t.Errorf("%s: trimBounds = %d, %d, %v; want %d, %d, %v", tc.name, from, to, ok, tc.from, tc.to, tc.ok)
		}
	}
}
