package main

import (
	"math"
	"testing"
	"time"

	"github.com/pivotua/pivotua/codec"
	"github.com/pivotua/pivotua/internal/testkit/sipptest"
)

// TestE2ETwiMLSayWithSSMLBreakPausesOneSecond: a document written for Twilio's Polly voices runs
// (it used to fail validation and fail over), and what the caller hears has the <break>'s second
// of silence between the two phrases, measured on the RTP pivotua sent.
func TestE2ETwiMLSayWithSSMLBreakPausesOneSecond(t *testing.T) {
	needE2E(t)
	app := newTwiMLApp(t, map[string]func(int) string{
		"/voice": static(`<Response><Say voice="Polly.Joanna">Hello there.<break time="1s"/><prosody rate="slow">Goodbye now.</prosody></Say></Response>`),
	})
	p := startPivotua(t, twimlFlow(app.URL+"/voice"))
	capture := sipptest.NewCapture(t)
	if err := runSIPp(t, p, "uac_call.xml", sipptest.Data{RTPPort: capture.Port(), Codec: 0}); err != nil {
		t.Fatal(err)
	}
	// Per 20 ms frame: speech or silence; the pause is the longest run of silence between speech.
	pcm := capture.Audio(t, 0)
	var speech []bool
	for i := 0; i+codec.FrameSamples <= len(pcm); i += codec.FrameSamples {
		var e float64
		for _, v := range pcm[i : i+codec.FrameSamples] {
			e += float64(v) * float64(v)
		}
		speech = append(speech, math.Sqrt(e/codec.FrameSamples) >= 100)
	}
	first, last := -1, -1
	for i, s := range speech {
		if s {
			if first < 0 {
				first = i
			}
			last = i
		}
	}
	longest, run := 0, 0
	for i := first; first >= 0 && i <= last; i++ {
		if speech[i] {
			run = 0
			continue
		}
		run++
		longest = max(longest, run)
	}
	pause := time.Duration(longest) * 20 * time.Millisecond
	// The break's second plus what silence flite leaves at a phrase's ends (well under half a second).
	if pause < time.Second || pause > 1500*time.Millisecond {
		t.Errorf("longest pause between the phrases is %s, want the 1 s break (speech frames %d-%d of %d)", pause, first, last, len(speech))
	}
	if got := app.trail(); len(got) != 1 {
		t.Errorf("requests %q: the document should run, not fail over", got)
	}
}
