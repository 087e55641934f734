package speech

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// Settings is the speech: section of pivotua's config file. It belongs to this package: a new
// speech setting is a field here, its check in Validate, and a line in the sample file.
type Settings struct {
	// Engine is pocketsphinx (offline, the default), http (the service at HTTPURL) or none.
	Engine string `yaml:"engine" json:"engine"`
	// MaxConcurrent caps the recognitions running at once; over it a Gather gets an empty result.
	MaxConcurrent int `yaml:"max_concurrent" json:"max_concurrent"`
	// MaxSeconds caps the audio of one recognition; frames past it are not sent to the engine.
	MaxSeconds int `yaml:"max_seconds" json:"max_seconds"`

	// Command is the pocketsphinx_continuous binary; Model, LM and Dict its acoustic model folder,
	// language model and pronunciation dictionary (Debian's pocketsphinx-en-us by default).
	Command string `yaml:"command" json:"command"`
	Model   string `yaml:"model" json:"model"`
	LM      string `yaml:"lm" json:"lm"`
	Dict    string `yaml:"dict" json:"dict"`

	// HTTPURL is the http engine's service; HTTPEncoding the audio it is sent (l16 or pcmu, 8 kHz);
	// HTTPSigningKey signs each request's X-Pivot-Signature ("" sends none); HTTPTimeout bounds a
	// recognition from the end of its audio to the answer.
	HTTPURL        string `yaml:"http_url" json:"http_url"`
	HTTPEncoding   string `yaml:"http_encoding" json:"http_encoding"`
	HTTPSigningKey string `yaml:"http_signing_key" json:"http_signing_key"`
	HTTPTimeout    string `yaml:"http_timeout" json:"http_timeout"`
}

// Engine kinds.
const (
	EnginePocketsphinx = "pocketsphinx"
	EngineHTTP         = "http"
	EngineNone         = "none"
)

// Limits of the settings.
const (
	maxConcurrentCeiling = 1024
	maxSecondsCeiling    = 600
)

// DefaultSettings is the speech: section when the file leaves a key out.
func DefaultSettings() Settings {
	return Settings{
		Engine:        EnginePocketsphinx,
		MaxConcurrent: 4,
		MaxSeconds:    120, // Twilio transcribes recordings of up to two minutes
		Command:       "pocketsphinx_continuous",
		Model:         "/usr/share/pocketsphinx/model/en-us/en-us",
		LM:            "/usr/share/pocketsphinx/model/en-us/en-us.lm.bin",
		Dict:          "/usr/share/pocketsphinx/model/en-us/cmudict-en-us.dict",
		HTTPEncoding:  "l16",
		HTTPTimeout:   "10s",
	}
}

// Validate names every problem in s by its path under path ("speech.engine: ...").
func (s Settings) Validate(path string) []error {
	var errs []error
	bad := func(key, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s.%s: %s", path, key, fmt.Sprintf(format, args...)))
	}
	switch s.Engine {
	case EnginePocketsphinx:
		for _, kv := range [][2]string{{"command", s.Command}, {"model", s.Model}, {"lm", s.LM}, {"dict", s.Dict}} {
			if strings.TrimSpace(kv[1]) == "" {
				bad(kv[0], "must not be empty with engine pocketsphinx")
			}
		}
	case EngineHTTP:
		u, err := url.Parse(s.HTTPURL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			bad("http_url", "%q is not an absolute http or https URL", s.HTTPURL)
		}
	case EngineNone:
	default:
		bad("engine", "%q is not pocketsphinx, http or none", s.Engine)
	}
	if s.MaxConcurrent < 1 || s.MaxConcurrent > maxConcurrentCeiling {
		bad("max_concurrent", "must be between 1 and %d, not %d", maxConcurrentCeiling, s.MaxConcurrent)
	}
	if s.MaxSeconds < 1 || s.MaxSeconds > maxSecondsCeiling {
		bad("max_seconds", "must be between 1 and %d, not %d", maxSecondsCeiling, s.MaxSeconds)
	}
	if s.HTTPEncoding != "l16" && s.HTTPEncoding != "pcmu" {
		bad("http_encoding", "%q is not l16 or pcmu", s.HTTPEncoding)
	}
	if d, err := time.ParseDuration(s.HTTPTimeout); err != nil || d <= 0 {
		bad("http_timeout", "%q is not a positive duration", s.HTTPTimeout)
	}
	return errs
}

// New is the recognizer s describes (nil for engine none); s must have passed Validate. hc makes the
// http engine's requests: give it httpfetch's guarded transport, so fetch.deny_cidrs applies.
func (s Settings) New(hc *http.Client) Recognizer {
	pool := newPool(s.MaxConcurrent, time.Duration(s.MaxSeconds)*time.Second)
	switch s.Engine {
	case EnginePocketsphinx:
		return &Pocketsphinx{pool: pool, command: s.Command, model: s.Model, lm: s.LM, dict: s.Dict, words: dictionary{path: s.Dict}}
	case EngineHTTP:
		timeout, _ := time.ParseDuration(s.HTTPTimeout)
		if hc == nil {
			hc = http.DefaultClient
		}
		return &HTTPEngine{pool: pool, url: s.HTTPURL, encoding: s.HTTPEncoding, key: s.HTTPSigningKey, timeout: timeout, http: hc}
	}
	return nil
}
