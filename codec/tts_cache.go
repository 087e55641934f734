package codec

import (
	"container/list"
	"context"
	"fmt"
	"maps"
	"strings"
	"sync"
	"time"
)

// defaultSpeechCacheEntries is used when NewSpeechCache gets maxEntries <= 0.
const defaultSpeechCacheEntries = 512

// speechRenderTimeout bounds one render. Renders run detached from the
// caller that started them, so other callers waiting for the same text are
// not failed by the first caller hanging up.
const speechRenderTimeout = 60 * time.Second

// SpeechCache renders each distinct (engine, voice, language, text) once and
// keeps the resulting *Prompt, least recently used first out. Concurrent
// requests for the same key wait for one render; failed renders are not
// cached, so the next request tries again. It is safe for concurrent use.
//
// flite only speaks English, so a request for flite (explicitly or by
// default) in any language other than en/en-* is rendered by espeak-ng.
type SpeechCache struct {
	defaultEngine string
	engines       map[string]TTS // read-only after construction
	maxEntries    int

	mu      sync.Mutex                 // guards entries and recent
	entries map[speechKey]*speechEntry // rendering and rendered
	recent  *list.List                 // of *speechEntry, rendered only, most recently used at front
}

type speechKey struct{ engine, voice, language, text string }

// speechEntry is one render. The rendering goroutine writes prompt and err,
// then closes done; waiters read them only after done is closed.
type speechEntry struct {
	key    speechKey
	done   chan struct{}
	prompt *Prompt
	err    error
	elem   *list.Element // guarded by SpeechCache.mu; nil until rendered
}

// NewSpeechCache returns a cache over the built-in engines ("flite" and
// "espeak-ng"); defaultEngine (empty means flite) serves requests naming
// none. maxEntries <= 0 means 512.
func NewSpeechCache(defaultEngine string, maxEntries int) *SpeechCache {
	return NewSpeechCacheWithEngines(defaultEngine, maxEntries, map[string]TTS{
		EngineFlite:    Flite{},
		EngineEspeakNG: EspeakNG{},
	})
}

// NewSpeechCacheWithEngines is NewSpeechCache over the given engines, keyed
// by lower-case name; tests use it to substitute a fake TTS.
func NewSpeechCacheWithEngines(defaultEngine string, maxEntries int, engines map[string]TTS) *SpeechCache {
	if maxEntries <= 0 {
		maxEntries = defaultSpeechCacheEntries
	}
	if defaultEngine = normaliseEngine(defaultEngine); defaultEngine == "" {
		defaultEngine = EngineFlite
	}
	return &SpeechCache{
		defaultEngine: defaultEngine,
		engines:       maps.Clone(engines),
		maxEntries:    maxEntries,
		entries:       make(map[speechKey]*speechEntry),
		recent:        list.New(),
	}
}

// Prompt returns the rendered prompt for r, rendering it if no earlier
// request did. ctx bounds only this caller's wait.
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
	key := speechKey{
		engine:   engineName,
		voice:    strings.ToLower(strings.TrimSpace(r.Voice)),
		language: strings.ToLower(strings.TrimSpace(r.Language)),
		text:     r.Text,
	}

	c.mu.Lock()
	e, ok := c.entries[key]
	if ok && e.elem != nil {
		c.recent.MoveToFront(e.elem)
	}
	if !ok {
		e = &speechEntry{key: key, done: make(chan struct{})}
		c.entries[key] = e
		go c.render(context.WithoutCancel(ctx), e, tts, r)
	}
	c.mu.Unlock()

	select {
	case <-e.done:
		return e.prompt, e.err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// Len is the number of rendered prompts held.
func (c *SpeechCache) Len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.recent.Len()
}

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

func (c *SpeechCache) render(ctx context.Context, e *speechEntry, tts TTS, r SpeechRequest) {
	ctx, cancel := context.WithTimeout(ctx, speechRenderTimeout)
	defer cancel()
	pcm, err := synthesizeSafely(ctx, tts, r)

	c.mu.Lock()
	if err != nil {
		e.err = err
		delete(c.entries, e.key)
	} else {
		e.prompt = NewPrompt(pcm)
		e.elem = c.recent.PushFront(e)
		for c.recent.Len() > c.maxEntries {
			oldest := c.recent.Remove(c.recent.Back()).(*speechEntry)
			delete(c.entries, oldest.key)
		}
	}
	c.mu.Unlock()
	close(e.done)
}

// synthesizeSafely turns a panicking engine into an error: the render runs
// on its own goroutine, where a panic would end the process.
func synthesizeSafely(ctx context.Context, tts TTS, r SpeechRequest) (pcm []int16, err error) {
	defer func() {
		if p := recover(); p != nil {
			pcm, err = nil, fmt.Errorf("tts: %s engine panicked: %v", r.Engine, p)
		}
	}()
	return tts.Synthesize(ctx, r)
}
