package flow

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/pivotua/pivotua/codec"
	"github.com/pivotua/pivotua/internal/testkit"
)

// pcmuFrames cuts a tone into 20 ms PCMU frames.
func pcmuFrames(freq float64, n int) [][codec.FrameSamples]byte {
	pcm := codec.Tone(freq, time.Duration(n)*20*time.Millisecond, 0.3)
	out := make([][codec.FrameSamples]byte, n)
	for i := range out {
		codec.EncodeFrame(codec.PCMU, out[i][:], pcm[i*codec.FrameSamples:(i+1)*codec.FrameSamples])
	}
	return out
}

func TestCallMixerWritesBothTracksOnOneTimeline(t *testing.T) {
	var out bytes.Buffer
	m := newCallMixer(&out, 1<<30, false)
	caller, heard := pcmuFrames(400, 50), pcmuFrames(1000, 50)
	for i := range 50 {
		// The caller's frames come bunched in pairs (jitter); the session's, one per tick.
		m.add(false, int64(i/2*2*20), &caller[i])
		m.add(true, int64(i*20)+3, &heard[i])
	}
	samples, err := m.finish()
	if err != nil || samples != 50*codec.FrameSamples {
		t.Fatalf("wrote %d samples (%v), want %d: bunched frames must take the next slot", samples, err, 50*codec.FrameSamples)
	}
	pcm := testkit.PCM16(out.Bytes())
	// Every frame holds both tones: nothing doubled, nothing dropped.
	for f := range 50 {
		frame := pcm[f*codec.FrameSamples : (f+1)*codec.FrameSamples]
		if a, b := codec.Goertzel(frame, 400, codec.SampleRate), codec.Goertzel(frame, 1000, codec.SampleRate); a < 0.05 || b < 0.05 {
			t.Fatalf("frame %d: 400 Hz at %.3f, 1000 Hz at %.3f; want both", f, a, b)
		}
	}
}

func TestCallMixerFillsGapsAndStopsAtItsLimit(t *testing.T) {
	var out bytes.Buffer
	m := newCallMixer(&out, 30*codec.FrameSamples, false)
	heard := pcmuFrames(1000, 40)
	for i := 0; i < 40; i++ {
		if i >= 10 && i < 20 { // nothing tapped for 200 ms: silence, not a shorter file
			continue
		}
		if !m.add(true, int64(i*20), &heard[i]) {
			if i < 30 {
				t.Fatalf("add refused frame %d before the limit", i)
			}
			break
		}
	}
	samples, _ := m.finish()
	if samples != 30*codec.FrameSamples {
		t.Fatalf("wrote %d samples, want the limit %d", samples, 30*codec.FrameSamples)
	}
	kinds := testkit.Classify(testkit.PCM16(out.Bytes()), 1000)
	if got := testkit.CountKind(kinds[10:20], testkit.SilentFrame); got != 10 {
		t.Errorf("the gap holds %d silent frames, want 10", got)
	}
	if got := testkit.CountKind(kinds, testkit.ToneFrame); got != 20 {
		t.Errorf("%d tone frames, want 20", got)
	}
}

func TestCallMixerStartsAtTheTapOrAtTheFirstAudio(t *testing.T) {
	heard := pcmuFrames(1000, 10)
	for _, fromFirst := range []bool{false, true} {
		var out bytes.Buffer
		m := newCallMixer(&out, 1<<30, fromFirst)
		for i := range 10 { // media flows 3 s after the tap started (the answer)
			m.add(true, int64(3000+i*20), &heard[i])
		}
		samples, _ := m.finish()
		want := int64(160 * 10)
		if !fromFirst {
			want += 3 * codec.SampleRate // the unanswered time, as silence
		}
		if samples != want {
			t.Errorf("fromFirst %v: %d samples, want %d", fromFirst, samples, want)
		}
	}
}

func TestRecordCallRefusesWhatItCannotHonour(t *testing.T) {
	for doc, want := range map[string]string{
		`{"action":"pause"}`:                         "data.action: must be one of start, stop",
		`{"action":"start","record_on_bridge":true}`: "record_on_bridge: is not supported",
		`{"record_sample_rate":16000}`:               "must be 8000",
		`{"media_name":"../../x"}`:                   "media_name: must be",
		`{"url":"ftp://x"}`:                          "url: must be an http or https URL",
		`{"time_limit":"0"}`:                         "time_limit: must be between 1 and 10800",
	} {
		d := newDataReader([]byte(doc), "data")
		parseRecordCall(d)
		if len(d.errs) != 1 || !strings.Contains(d.errs[0].Error(), want) {
			t.Errorf("%s: %v, want %q", doc, d.errs, want)
		}
	}
	d := newDataReader([]byte(`{"action":"start","format":"wav","url":"http://h/r","time_limit":"20","record_min_sec":"2","media_name":"board.mp3","record_on_answer":true,"label":"x","should_follow_transfer":false,"record_sample_rate":8000}`), "data")
	a := parseRecordCall(d).(*recordCallAction)
	if len(d.errs) > 0 || a.timeLimit != 20*time.Second || a.minLength != 2*time.Second || a.name != "board" || a.format != "wav" || a.method != "PUT" || !a.onAnswer {
		t.Errorf("Kazoo's example: %+v %v", a, d.errs)
	}
}
