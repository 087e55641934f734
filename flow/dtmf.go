package flow

import (
	"context"
	"strings"
	"time"

	"github.com/pivotua/pivotua/codec"
)

// allDTMFKeys are the keys that stop tts and play by default, as in Kazoo's schemas.
const allDTMFKeys = "1234567890*#"

// maxTypeAhead bounds the keys kept between being pressed and being collected.
const maxTypeAhead = 128

// keyState is what a call keeps of the caller's keys.
type keyState struct {
	typeAhead []byte            // keys pressed and not collected yet
	digits    map[string]string // DTMF by collection name; cleared after each pivot request is sent; nil until set
}

// setDigits keeps digits under collection for the next pivot request. The map is made by the first
// call that collects any: most never do.
func (k *keyState) setDigits(collection, digits string) {
	if k.digits == nil {
		k.digits = map[string]string{}
	}
	k.digits[collection] = digits
}

// pressed keeps a key the caller pressed until collect_dtmf (or a pivot request) consumes it.
func (c *Call) pressed(k byte) {
	if len(c.keys.typeAhead) < maxTypeAhead {
		c.keys.typeAhead = append(c.keys.typeAhead, k)
	}
}

// drainDigits moves every key already delivered by the channel into the type-ahead.
func (c *Call) drainDigits() {
	for {
		select {
		case k := <-c.ch.Digits():
			c.pressed(k)
		default:
			return
		}
	}
}

// takeTypeAhead hands over the keys pressed but not collected yet.
func (c *Call) takeTypeAhead() []byte {
	c.drainDigits()
	keys := c.keys.typeAhead
	c.keys.typeAhead = nil
	return keys
}

// flushTypeAhead adds keys pressed during prompts to the "default" collection before a pivot
// request, as Kazoo does with DTMF received during tts and play.
func (c *Call) flushTypeAhead() {
	if keys := c.takeTypeAhead(); len(keys) > 0 {
		c.keys.setDigits("default", c.keys.digits["default"]+string(keys))
		c.event(EventDigits, map[string]any{"digits": string(keys), "collection": "default", "type_ahead": true})
	}
}

// playOnce plays p once while listening for keys: each key joins the type-ahead, and a key among
// terminators stops the prompt at once (barge-in). It reports whether a terminator cut it short.
// A key already waiting when it starts counts too, so the prompt is not played at all.
func (c *Call) playOnce(ctx context.Context, p *codec.Prompt, terminators string) (interrupted bool, err error) {
	before := len(c.keys.typeAhead)
	c.drainDigits()
	if strings.ContainsAny(string(c.keys.typeAhead[before:]), terminators) {
		return true, nil
	}
	// The channel stops the prompt on a terminator itself, so no goroutine per call has to watch
	// the keys while it plays; they wait in Digits and join the type-ahead after it.
	interrupted, err = c.ch.Play(ctx, p, terminators)
	c.drainDigits()
	return interrupted, err
}

// waitForKey lets d pass unless the caller presses a key first (it joins the type-ahead). ok is false
// when the call ended.
func (c *Call) waitForKey(ctx context.Context, d time.Duration) (pressed, ok bool) {
	if d <= 0 {
		return false, ctx.Err() == nil
	}
	c.activity++
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return false, true
	case k := <-c.ch.Digits():
		c.pressed(k)
		return true, true
	case <-ctx.Done():
		return false, false
	}
}
