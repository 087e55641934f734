package flow

import (
	"bytes"
	"testing"
	"time"

	"github.com/pivotua/pivotua/codec"
	"github.com/pivotua/pivotua/internal/testkit"
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

// TestCallMixerDualKeepsEachTrackOnItsChannel: with dual, what the caller sends is the left channel and
// what it is sent the right, each frame in its slot, a silent gap where a track sent nothing.
func TestCallMixerDualKeepsEachTrackOnItsChannel(t *testing.T) {
	var out bytes.Buffer
	m := newCallMixer(&out, 1<<30, false)
	m.dual = true
	caller, heard := pcmuFrames(400, 50), pcmuFrames(1000, 50)
	for i := range 50 {
		if i >= 10 { // the caller's RTP starts 200 ms in (answered late)
			m.add(false, int64(i*20)+5, &caller[i])
		}
		m.add(true, int64(i*20)+3, &heard[i])
	}
	samples, err := m.finish()
	if err != nil || samples != 50*codec.FrameSamples || out.Len() != 4*50*codec.FrameSamples {
		t.Fatalf("wrote %d samples per channel, %d bytes (%v), want %d and twice the bytes of mono", samples, out.Len(), err, 50*codec.FrameSamples)
	}
	pcm := testkit.PCM16(out.Bytes())
	left, right := make([]int16, 0, len(pcm)/2), make([]int16, 0, len(pcm)/2)
	for i := 0; i+1 < len(pcm); i += 2 {
		left, right = append(left, pcm[i]), append(right, pcm[i+1])
	}
	for f := range 50 {
		l, r := left[f*codec.FrameSamples:(f+1)*codec.FrameSamples], right[f*codec.FrameSamples:(f+1)*codec.FrameSamples]
		if f >= 10 && codec.Goertzel(l, 400, codec.SampleRate) < 0.05 || f < 10 && codec.Goertzel(l, 400, codec.SampleRate) > 0.001 {
			t.Fatalf("frame %d: left channel has 400 Hz at %.3f", f, codec.Goertzel(l, 400, codec.SampleRate))
		}
		if codec.Goertzel(r, 1000, codec.SampleRate) < 0.05 || codec.Goertzel(r, 400, codec.SampleRate) > 0.001 || codec.Goertzel(l, 1000, codec.SampleRate) > 0.001 {
			t.Fatalf("frame %d: a track leaked into the other channel", f)
		}
	}
}
