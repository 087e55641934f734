package codec

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
	"unicode/utf8"
)

// MaxSpeechText is the longest TTS text accepted, in characters (about four
// minutes of speech).
const MaxSpeechText = 4000

// ttsTimeout bounds one engine run when the caller's context allows longer.
const ttsTimeout = 30 * time.Second

// maxTTSOutputBytes bounds the WAV an engine may leave behind.
const maxTTSOutputBytes = 64 << 20

// TTS engine names accepted in SpeechRequest.Engine.
const (
	EngineFlite    = "flite"
	EngineEspeakNG = "espeak-ng"
)

// SpeechRequest is one thing to say. Engine is "flite" or "espeak-ng"
// (empty: the cache's default); Voice is a Kazoo/TwiML voice such as
// "female", "male", "woman", "man" or an engine's own voice name; Language
// is a BCP 47 tag such as "en-US" or "fr-FR".
type SpeechRequest struct{ Engine, Voice, Language, Text string }

// TTS turns text into speech: 8 kHz mono PCM.
type TTS interface {
	Synthesize(ctx context.Context, r SpeechRequest) ([]int16, error)
}

// NewTTS returns the engine named name ("flite" or "espeak-ng").
func NewTTS(name string) (TTS, error) {
	switch normaliseEngine(name) {
	case EngineFlite:
		return Flite{}, nil
	case EngineEspeakNG:
		return EspeakNG{}, nil
	}
	return nil, newError(ErrUnknownEngine, "tts: unknown engine %q (want %q or %q)", name, EngineFlite, EngineEspeakNG)
}

func normaliseEngine(name string) string {
	return strings.ToLower(strings.TrimSpace(name))
}

// isEnglish reports whether a language tag asks for English; empty means
// the engine default, which is English for both engines.
func isEnglish(language string) bool {
	l := strings.ToLower(strings.TrimSpace(language))
	return l == "" || l == "en" || strings.HasPrefix(l, "en-") || strings.HasPrefix(l, "en_")
}

// speechText validates and cleans text for an engine.
func speechText(text string) (string, error) {
	text = strings.TrimSpace(strings.ToValidUTF8(text, "\uFFFD"))
	if text == "" {
		return "", newError(ErrEmptyText, "tts: empty text")
	}
	if n := utf8.RuneCountInString(text); n > MaxSpeechText {
		return "", newError(ErrTextTooLong, "tts: text is %d characters, limit %d", n, MaxSpeechText)
	}
	return text, nil
}

// runTTSEngine writes text to a file, runs tool with the arguments args
// builds from the text and output file names, and decodes the WAV it
// wrote. Text always travels in a file, never on the command line, so it
// can neither be mistaken for an option (text starting with '-') nor reach
// a shell. The tool waits for a slot in procs, and is killed when ctx ends.
func runTTSEngine(ctx context.Context, procs *ProcessLimit, tool, text string, args func(textFile, wavFile string) []string) ([]int16, error) {
	text, err := speechText(text)
	if err != nil {
		return nil, err
	}
	path, err := exec.LookPath(tool)
	if err != nil {
		return nil, newError(ErrToolMissing, "tts: %s is not installed (Debian package %s)", tool, tool)
	}
	dir, err := os.MkdirTemp("", "pivotua-tts-")
	if err != nil {
		return nil, fmt.Errorf("tts: %w", err)
	}
	defer os.RemoveAll(dir)
	textFile, wavFile := filepath.Join(dir, "text.txt"), filepath.Join(dir, "speech.wav")
	if err := os.WriteFile(textFile, []byte(text+"\n"), 0o600); err != nil {
		return nil, fmt.Errorf("tts: %w", err)
	}

	ctx, cancel := context.WithTimeout(ctx, ttsTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, path, args(textFile, wavFile)...)
	stderr := &limitedBuffer{max: 4096, truncate: true}
	cmd.Stdout, cmd.Stderr = stderr, stderr
	cmd.WaitDelay = time.Second
	if err := procs.run(ctx, cmd); err != nil {
		if ctxErr := ctx.Err(); ctxErr != nil {
			return nil, fmt.Errorf("tts: %s: %w", tool, ctxErr)
		}
		msg := strings.TrimSpace(stderr.String())
		if strings.Contains(msg, "voice does not exist") {
			return nil, newError(ErrNoVoice, "tts: %s: %s", tool, msg)
		}
		return nil, fmt.Errorf("tts: %s failed: %w: %s", tool, err, msg)
	}
	info, err := os.Stat(wavFile)
	if err != nil {
		return nil, fmt.Errorf("tts: %s wrote no audio: %w", tool, err)
	}
	if info.Size() > maxTTSOutputBytes {
		return nil, newError(ErrAudioTooLong, "tts: %s wrote %d bytes of audio", tool, info.Size())
	}
	wav, err := os.ReadFile(wavFile)
	if err != nil {
		return nil, fmt.Errorf("tts: %w", err)
	}
	pcm, rate, err := DecodeWAV(wav)
	if err != nil {
		return nil, fmt.Errorf("tts: %s output: %w", tool, err)
	}
	return Resample(pcm, rate), nil
}
