package codec

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"
)

// checkSpeech asserts pcm sounds like speech: long enough and not silent.
func checkSpeech(t *testing.T, pcm []int16, minDuration time.Duration) {
	t.Helper()
	d := time.Duration(len(pcm)) * time.Second / SampleRate
	var energy float64
	for _, s := range pcm {
		energy += float64(s) * float64(s)
	}
	rms := 0.0
	if len(pcm) > 0 {
		rms = dB(energy / float64(len(pcm)) / (32767 * 32767))
	}
	t.Logf("%v of speech at %.1f dBFS RMS", d, rms)
	if d < minDuration {
		t.Fatalf("only %v of audio, want at least %v", d, minDuration)
	}
	if rms < -45 {
		t.Fatalf("audio is nearly silent (%.1f dBFS)", rms)
	}
}

func TestEnginesSpeak(t *testing.T) {
	tests := []struct {
		name   string
		engine TTS
		tool   string
		req    SpeechRequest
	}{
		{"flite female", Flite{}, "flite", SpeechRequest{Voice: "female", Text: "Welcome to pivot. Press one for sales."}},
		{"flite male", Flite{}, "flite", SpeechRequest{Voice: "male", Text: "Welcome to pivot."}},
		{"flite kal (8 kHz voice)", Flite{}, "flite", SpeechRequest{Voice: "kal", Text: "Welcome to pivot."}},
		{"flite text that looks like an option", Flite{}, "flite", SpeechRequest{Text: "-o /tmp/owned.wav --help"}},
		{"espeak-ng english", EspeakNG{}, "espeak-ng", SpeechRequest{Language: "en-US", Text: "Welcome to pivot."}},
		{"espeak-ng french female", EspeakNG{}, "espeak-ng", SpeechRequest{Language: "fr-FR", Voice: "female", Text: "Bienvenue chez pivot."}},
		{"espeak-ng german falls back from de-de", EspeakNG{}, "espeak-ng", SpeechRequest{Language: "de-DE", Text: "Willkommen bei pivot."}},
		{"espeak-ng text that looks like an option", EspeakNG{}, "espeak-ng", SpeechRequest{Text: "--version -v xx"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			requireTool(t, tt.tool)
			pcm, err := tt.engine.Synthesize(context.Background(), tt.req)
			if err != nil {
				t.Fatal(err)
			}
			checkSpeech(t, pcm, 500*time.Millisecond)
		})
	}
}

func TestEspeakNGRejectsUnknownLanguage(t *testing.T) {
	requireTool(t, "espeak-ng")
	_, err := EspeakNG{}.Synthesize(context.Background(), SpeechRequest{Language: "zz", Text: "hello"})
	if !errors.Is(err, ErrNoVoice) {
		t.Fatalf("got %v, want ErrNoVoice", err)
	}
}

func TestSpeechTextLimits(t *testing.T) {
	tests := []struct {
		name string
		text string
		want error
	}{
		{"empty", "", ErrEmptyText},
		{"only white space", " \n\t ", ErrEmptyText},
		{"at the limit", strings.Repeat("é", MaxSpeechText), nil},
		{"over the limit", strings.Repeat("a", MaxSpeechText+1), ErrTextTooLong},
		{"invalid utf-8 is cleaned, not refused", "hello \xff world", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := speechText(tt.text)
			if !errors.Is(err, tt.want) {
				t.Fatalf("got %v, want %v", err, tt.want)
			}
		})
	}
}

func TestEnginesRefuseBadTextBeforeRunning(t *testing.T) {
	for _, engine := range []TTS{Flite{}, EspeakNG{}} {
		_, err := engine.Synthesize(context.Background(), SpeechRequest{Text: strings.Repeat("x", MaxSpeechText+1)})
		if !errors.Is(err, ErrTextTooLong) || !strings.Contains(err.Error(), "4001 characters, limit 4000") {
			t.Errorf("%T: got %v", engine, err)
		}
	}
}

func TestMissingEngineSaysSo(t *testing.T) {
	t.Setenv("PATH", t.TempDir())
	for _, engine := range []TTS{Flite{}, EspeakNG{}} {
		_, err := engine.Synthesize(context.Background(), SpeechRequest{Text: "hello"})
		if !errors.Is(err, ErrToolMissing) || !strings.Contains(err.Error(), "not installed") {
			t.Errorf("%T: got %v", engine, err)
		}
	}
}

func TestEnginesStopWhenContextEnds(t *testing.T) {
	for _, tt := range []struct {
		tool   string
		engine TTS
	}{{"flite", Flite{}}, {"espeak-ng", EspeakNG{}}} {
		t.Run(tt.tool, func(t *testing.T) {
			requireTool(t, tt.tool)
			ctx, cancel := context.WithCancel(context.Background())
			cancel()
			_, err := tt.engine.Synthesize(ctx, SpeechRequest{Text: "hello"})
			if !errors.Is(err, context.Canceled) {
				t.Fatalf("got %v, want context.Canceled", err)
			}
		})
	}
}

func TestNewTTSKnowsTheEngines(t *testing.T) {
	tests := []struct {
		name    string
		wantErr bool
	}{
		{"flite", false},
		{"espeak-ng", false},
		{" Flite ", false},
		{"polly", true},
		{"espeak", true},
		{"", true},
	}
	for _, tt := range tests {
		_, err := NewTTS(tt.name)
		if (err != nil) != tt.wantErr {
			t.Errorf("NewTTS(%q) error = %v", tt.name, err)
		}
		if err != nil && !errors.Is(err, ErrUnknownEngine) {
			t.Errorf("NewTTS(%q) error %v does not wrap ErrUnknownEngine", tt.name, err)
		}
	}
}

func TestFliteVoiceMapsKazooAndTwiMLNames(t *testing.T) {
	tests := []struct{ voice, want string }{
		{"", "slt"},
		{"female", "slt"},
		{"Female", "slt"},
		{"woman", "slt"},
		{"alice", "slt"},
		{"male", "rms"},
		{"man", "rms"},
		{"kal", "kal"},
		{"awb", "awb"},
		{"Polly.Joanna", "slt"},
	}
	for _, tt := range tests {
		if got := fliteVoice(tt.voice); got != tt.want {
			t.Errorf("fliteVoice(%q) = %q, want %q", tt.voice, got, tt.want)
		}
	}
}

func TestEspeakVoiceFromLanguageAndGender(t *testing.T) {
	tests := []struct {
		language, voice, want string
		wantErr               bool
	}{
		{"", "", "en-us", false},
		{"fr-FR", "", "fr-fr", false},
		{"pt_BR", "male", "pt-br", false},
		{"de-DE", "female", "de-de+f3", false},
		{"es", "woman", "es+f3", false},
		{"en-US; rm -rf /", "", "", true},
		{"-v", "", "", true},
		{strings.Repeat("a", 40), "", "", true},
	}
	for _, tt := range tests {
		got, err := espeakVoice(tt.language, tt.voice)
		if (err != nil) != tt.wantErr || got != tt.want {
			t.Errorf("espeakVoice(%q, %q) = %q, %v; want %q", tt.language, tt.voice, got, err, tt.want)
		}
	}
}
