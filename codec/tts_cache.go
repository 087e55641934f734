package codec

import (
	"context"
	"fmt"
	"maps"
	"strings"
	"time"
)

// DefaultSpeechCacheBytes is the speech cache's budget when NewSpeechCache
// gets maxBytes <= 0: at the longest text (MaxSpeechText, about four
// minutes, about 9 MB with both laws' frames) it still holds several, and
// thousands of ordinary sentences.
const DefaultSpeechCacheBytes = 64 << 20

// speechRenderTimeout bounds one render, however long callers wait.
const speechRenderTimeout = 60 * time.Second

// SpeechCache renders each distinct (engine, voice, language, text) once and
// keeps the resulting *Prompt within a budget of bytes, least recently used
// out first (a PromptCache). Concurrent requests for the same key wait for
// one render, which is killed when no request waits for it any longer;
// failed renders are not cached, so the next request tries again. It is
// safe for concurrent use.
//
// flite only speaks English, so a request for flite (explicitly or by
// default) in any language other than en/en-* is rendered by espeak-ng.
type SpeechCache struct {
	defaultEngine string
	engines       map[string]TTS // read-only after construction
	prompts       *PromptCache
}

// NewSpeechCache returns a cache over the built-in engines ("flite" and
// "espeak-ng"), which wait for a slot in procs (nil: no cap);
// defaultEngine (empty means flite) serves requests naming none.
// maxBytes <= 0 means DefaultSpeechCacheBytes.
func NewSpeechCache(defaultEngine string, maxBytes int64, procs *ProcessLimit) *SpeechCache {
	return NewSpeechCacheWithEngines(defaultEngine, maxBytes, map[string]TTS{
		EngineFlite:    Flite{Procs: procs},
		EngineEspeakNG: EspeakNG{Procs: procs},
	})
}

// NewSpeechCacheWithEngines is NewSpeechCache over the given engines, keyed
// by lower-case name; tests use it to substitute a fake TTS.
func NewSpeechCacheWithEngines(defaultEngine string, maxBytes int64, engines map[string]TTS) *SpeechCache {
	if maxBytes <= 0 {
		maxBytes = DefaultSpeechCacheBytes
	}
	if defaultEngine = normaliseEngine(defaultEngine); defaultEngine == "" {
		defaultEngine = EngineFlite
	}
	return &SpeechCache{
		defaultEngine: defaultEngine,
		engines:       maps.Clone(engines),
		prompts:       NewPromptCache(maxBytes),
	}
}

// Prompt returns the rendered prompt for r, rendering it if no earlier
// request did. ctx bounds only this caller's wait; the render goes on
// while any caller waits for it.
func (c *SpeechCache) Prompt(ctx context.Context, r SpeechRequest) (*Prompt, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	engineName, tts, err := c.route(r)
	if err != nil {
		return nil, err
	}
	if r.Text, err = speechText(r.Text); err != nil {
		return nil, err
	}
	r.Engine = engineName
	key := strings.Join([]string{
		engineName,
		strings.ToLower(strings.TrimSpace(r.Voice)),
		strings.ToLower(strings.TrimSpace(r.Language)),
		r.Text,
	}, "\x00")
	return c.prompts.Get(ctx, key, func(ctx context.Context) (*Prompt, error) {
		ctx, cancel := context.WithTimeout(ctx, speechRenderTimeout)
		defer cancel()
		pcm, err := synthesizeSafely(ctx, tts, r)
		if err != nil {
			return nil, err
		}
		return NewPrompt(pcm), nil
	})
}

// Len is the number of rendered prompts held.
func (c *SpeechCache) Len() int { return c.prompts.Len() }

// Bytes is the size of the rendered prompts held (Prompt.Bytes).
func (c *SpeechCache) Bytes() int64 { return c.prompts.Bytes() }

// route picks the engine for r: the named one or the default, switching
// English-only flite to espeak-ng for other languages.
func (c *SpeechCache) route(r SpeechRequest) (string, TTS, error) {
	name := normaliseEngine(r.Engine)
	if name == "" {
		name = c.defaultEngine
	}
	if name == EngineFlite && !isEnglish(r.Language) {
		name = EngineEspeakNG
	}
	tts, ok := c.engines[name]
	if !ok {
		return "", nil, newError(ErrUnknownEngine, "tts: unknown engine %q (want %q or %q)", name, EngineFlite, EngineEspeakNG)
	}
	return name, tts, nil
}

// synthesizeSafely turns a panicking engine into an error naming it.
func synthesizeSafely(ctx context.Context, tts TTS, r SpeechRequest) (pcm []int16, err error) {
	defer func() {
		if p := recover(); p != nil {
			pcm, err = nil, fmt.Errorf("tts: %s engine panicked: %v", r.Engine, p)
		}
	}()
	return tts.Synthesize(ctx, r)
}
