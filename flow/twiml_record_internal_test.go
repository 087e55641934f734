package flow

import (
	"bytes"
	"encoding/binary"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/pivotua/pivotua/codec"
)

func TestLevelMeterFindsSpeechAndSilence(t *testing.T) {
	const frame = codec.FrameSamples
	tests := []struct {
		name       string
		pcm        []int16
		limit      time.Duration
		wantSpan   speechSpan
		wantSilent bool
	}{
		{"silence closes at the limit", make([]int16, 8000), time.Second, speechSpan{}, true},
		{"not before it", make([]int16, 7999), time.Second, speechSpan{}, false},
		{"speech in the middle", append(append(make([]int16, 10*frame), speech(200*time.Millisecond)...), make([]int16, 5*frame)...),
			0, speechSpan{from: 10 * frame, to: 20 * frame}, false},
		{"silence after speech", append(speech(100*time.Millisecond), make([]int16, 4000)...), 500 * time.Millisecond,
			speechSpan{from: 0, to: 5 * frame}, true},
		{"quiet noise is not speech", codec.Tone(300, time.Second, 0.005), 0, speechSpan{}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out bytes.Buffer
			m := newLevelMeter(&out, tt.limit)
			raw := make([]byte, 2*len(tt.pcm))
			for i, v := range tt.pcm {
				binary.LittleEndian.PutUint16(raw[2*i:], uint16(v))
			}
			for len(raw) > 0 { // odd-sized writes split samples
				n := min(len(raw), 333)
				m.Write(raw[:n])
				raw = raw[n:]
			}
			if out.Len() != 2*len(tt.pcm) {
				t.Errorf("passed on %d bytes", out.Len())
			}
			if got := m.span(); got != tt.wantSpan {
				t.Errorf("span %+v, want %+v", got, tt.wantSpan)
			}
			select {
			case <-m.silent:
				if !tt.wantSilent {
					t.Error("silent closed")
				}
			default:
				if tt.wantSilent {
					t.Error("silent not closed")
				}
			}
		})
	}
}

func TestRecordParsesTwilioDefaults(t *testing.T) {
	p := &twimlParser{}
	root, err := parseXMLTree([]byte(`<Record action="/done"/>`))
	if err != nil {
		t.Fatal(err)
	}
	r := parseRecordVerb(p, root, "Response/Record[1]").(*recordVerb)
	if len(p.errs) > 0 || r.action != "/done" || r.method != "POST" || r.timeout != 5*time.Second || r.finishOnKey != "1234567890*#" ||
		r.maxLength != time.Hour || !r.playBeep || r.trim != "trim-silence" || r.recordingURL != "" {
		t.Errorf("record = %+v, errors %v", r, p.errs)
	}
}

func TestTrimSilenceKeepsTheSpeechAndAMargin(t *testing.T) {
	dir := t.TempDir()
	pcm := append(append(make([]int16, 8000), speech(time.Second)...), make([]int16, 16000)...)
	w, err := codec.CreateWAV(filepath.Join(dir, "r.wav"), codec.SampleRate)
	if err != nil {
		t.Fatal(err)
	}
	m := newLevelMeter(w, 0)
	raw := make([]byte, 2*len(pcm))
	for i, v := range pcm {
		binary.LittleEndian.PutUint16(raw[2*i:], uint16(v))
	}
	m.Write(raw)
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	rec := &callerRecording{dir: dir, base: "r", samples: int64(len(pcm)), speech: m.span()}
	if err := rec.trimSilence(); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(rec.path())
	got, _, err := codec.DecodeWAV(b)
	if err != nil {
		t.Fatal(err)
	}
	if want := 8000 + 2*1600; len(got) != want || rec.samples != int64(want) || rec.seconds() != 1 {
		t.Errorf("trimmed to %d samples (%d recorded), want %d", len(got), rec.samples, want)
	}
	if !slices.Equal(got[1600:1700], pcm[8000:8100]) {
		t.Error("the speech moved or changed")
	}
	if _, err := os.Stat(rec.path() + ".trim"); !os.IsNotExist(err) {
		t.Error("the temporary file is left behind")
	}
}

// speech is d of a 300 Hz tone loud enough to count as the caller speaking.
func speech(d time.Duration) []int16 { return codec.Tone(300, d, 0.3) }
