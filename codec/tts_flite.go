package codec

import (
	"context"
	"strings"
)

// Flite speaks English with CMU flite's built-in voices. It ignores
// Language: route other languages to EspeakNG (SpeechCache does).
type Flite struct {
	Procs *ProcessLimit // flite waits for a slot here; nil: no cap
}

var _ TTS = Flite{}

// fliteVoices maps Kazoo ("female", "male") and TwiML ("woman", "man",
// "alice") voice names to voices compiled into Debian's flite 2.2
// (`flite -lv`: kal awb_time kal16 awb rms slt). slt (US female, 16 kHz)
// and rms (US male, 16 kHz) are the clearest; kal is the 8 kHz diphone
// voice and sounds robotic.
var fliteVoices = map[string]string{
	"":       "slt",
	"female": "slt",
	"woman":  "slt",
	"alice":  "slt",
	"male":   "rms",
	"man":    "rms",
	// flite's own names pass through.
	"slt": "slt", "rms": "rms", "awb": "awb", "kal": "kal", "kal16": "kal16", "awb_time": "awb_time",
}

// fliteVoice picks the flite voice for a request's voice. Unknown voices
// (say TwiML "Polly.Joanna") fall back to the female default: a prompt in
// another voice is better than a failed call.
func fliteVoice(voice string) string {
	if v, ok := fliteVoices[strings.ToLower(strings.TrimSpace(voice))]; ok {
		return v
	}
	return fliteVoices[""]
}

// Synthesize runs `flite -voice V -f TEXTFILE -o WAVFILE`.
func (f Flite) Synthesize(ctx context.Context, r SpeechRequest) ([]int16, error) {
	voice := fliteVoice(r.Voice)
	return runTTSEngine(ctx, f.Procs, "flite", r.Text, func(textFile, wavFile string) []string {
		return []string{"-voice", voice, "-f", textFile, "-o", wavFile}
	})
}
