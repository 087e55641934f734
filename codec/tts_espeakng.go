package codec

import (
	"context"
	"strings"
)

// EspeakNG speaks the ~100 languages of espeak-ng. It writes 22.05 kHz WAV,
// resampled here to 8 kHz.
type EspeakNG struct {
	Procs *ProcessLimit // espeak-ng waits for a slot here; nil: no cap
}

var _ TTS = EspeakNG{}

// espeakVoice builds the -v argument: the language tag lower-cased
// (espeak-ng itself falls back from "de-de" to "de"), plus the female
// variant for female voices.
func espeakVoice(language, voice string) (string, error) {
	lang := strings.ReplaceAll(strings.ToLower(strings.TrimSpace(language)), "_", "-")
	if lang == "" {
		lang = "en-us"
	}
	if len(lang) > 35 || strings.Trim(lang, "abcdefghijklmnopqrstuvwxyz0123456789-") != "" || lang[0] == '-' {
		return "", newError(ErrNoVoice, "tts: invalid language %q", language)
	}
	switch strings.ToLower(strings.TrimSpace(voice)) {
	case "female", "woman", "alice":
		lang += "+f3"
	}
	return lang, nil
}

// Synthesize runs `espeak-ng -b 1 -v LANG[+f3] -w WAVFILE -f TEXTFILE`.
func (e EspeakNG) Synthesize(ctx context.Context, r SpeechRequest) ([]int16, error) {
	voice, err := espeakVoice(r.Language, r.Voice)
	if err != nil {
		return nil, err
	}
	return runTTSEngine(ctx, e.Procs, "espeak-ng", r.Text, func(textFile, wavFile string) []string {
		return []string{"-b", "1", "-v", voice, "-w", wavFile, "-f", textFile}
	})
}
