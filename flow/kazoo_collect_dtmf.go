package flow

import (
	"context"
	"strings"
	"time"
)

// collectDTMFAction gathers keys into a named collection (module "collect_dtmf"). Keys pressed during
// earlier prompts count first, as in Kazoo; the collection reaches the next pivot request as
// Digits[<collection_name>].
type collectDTMFAction struct {
	maxDigits   int
	timeout     time.Duration // for the first key
	interdigit  time.Duration // between keys
	terminators string        // keys that end the collection (not collected)
	collection  string
	// speech (pivotua's option "speech": true) listens to the caller too: the first of a key or
	// speech wins; speech reaches the next pivot request as SpeechResult and Confidence.
	speech *speechInput
}

func parseCollectDTMF(d *dataReader) kazooAction {
	a := &collectDTMFAction{
		maxDigits:  int(d.integer("max_digits", 1, 1, 128)),
		timeout:    time.Duration(d.integer("timeout", 5000, 0, 3600_000)) * time.Millisecond,
		interdigit: time.Duration(d.integer("interdigit_timeout", 2000, 0, 3600_000)) * time.Millisecond,
		collection: d.str("collection_name", "default"),
	}
	// Kazoo takes a single "terminator" or a list "terminators"; the list wins.
	a.terminators = "#"
	if _, ok := d.raw("terminator"); ok {
		a.terminators = d.str("terminator", "#")
		if len(a.terminators) > 1 || (a.terminators != "" && !isDTMFKey(a.terminators[0])) {
			d.fail("terminator", "must be one of 0-9, *, #")
		}
	}
	a.terminators = d.dtmfKeys("terminators", a.terminators)
	if a.collection == "" {
		d.fail("collection_name", "must not be empty")
	}
	if d.boolean("speech", false) {
		a.speech = &speechInput{verb: "collect_dtmf", partialMethod: "POST",
			hints:    splitHints(d.str("hints", "")),
			language: d.str("language", "en-US"),
			silence:  time.Duration(d.integer("speech_timeout", 1000, 200, 60_000)) * time.Millisecond,
		}
		if !languageTag.MatchString(a.speech.language) {
			d.fail("language", "must be a language tag like en-US")
		}
	}
	return a
}

func (a *collectDTMFAction) run(ctx context.Context, c *Call, _ *Node) kazooOutcome {
	if err := c.answer(ctx); err != nil {
		return stopFlow()
	}
	if a.speech != nil {
		h, ok := c.listen(ctx, a.speech, a.timeout, true)
		if !ok {
			return stopFlow()
		}
		if h.keys == nil && !h.failed {
			h.keep(c)
			c.log.Info("collect_dtmf speech", "speech_result", h.text, "confidence", h.confidence)
			c.event(EventSpeech, map[string]any{"speech_result": h.text, "confidence": h.confidence, "collection": a.collection})
			return continueWith("_")
		}
	}
	digits, ok := c.collectDigits(ctx, a.maxDigits, a.timeout, a.interdigit, a.terminators)
	if !ok {
		return stopFlow()
	}
	c.keys.setDigits(a.collection, digits)
	c.log.Info("collect_dtmf", "collection", a.collection, "digits", digits)
	c.event(EventDigits, map[string]any{"digits": digits, "collection": a.collection})
	return continueWith("_")
}

// collectDigits takes keys from the type-ahead, then from the caller, until max keys, a terminator
// (not included), firstTimeout before any key or interdigit between keys. false when the call ended.
func (c *Call) collectDigits(ctx context.Context, max int, firstTimeout, interdigit time.Duration, terminators string) (string, bool) {
	var got strings.Builder
	take := func(k byte) (done bool) {
		if strings.IndexByte(terminators, k) >= 0 {
			return true
		}
		got.WriteByte(k)
		return got.Len() >= max
	}
	pending := c.takeTypeAhead()
	for i, k := range pending {
		if take(k) {
			c.keys.typeAhead = append(c.keys.typeAhead, pending[i+1:]...) // keys beyond this collection stay
			return got.String(), true
		}
	}
	timer := time.NewTimer(firstTimeout)
	defer timer.Stop()
	if got.Len() > 0 {
		timer.Reset(interdigit)
	}
	for {
		select {
		case k := <-c.ch.Digits():
			if take(k) {
				return got.String(), true
			}
			timer.Reset(interdigit)
		case <-timer.C:
			return got.String(), true
		case <-ctx.Done():
			return got.String(), false
		}
	}
}
