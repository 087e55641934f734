package flow

import (
	"context"
	"slices"
	"strings"

	"github.com/pivotua/pivotua/codec"
)

// ttsAction speaks text (module "tts", and "say" as its alias).
type ttsAction struct {
	speech        codec.SpeechRequest
	engineWarning string // a Kazoo engine mapped onto the local one
	terminators   string // DTMF keys that stop playback (barge-in)
}

func parseTTS(d *dataReader) kazooAction {
	a := &ttsAction{}
	if d.required("text") {
		a.speech.Text = d.maxText("text", maxSpeechChars)
		if a.speech.Text == "" && len(d.errs) == 0 {
			d.fail("text", "must not be empty")
		}
	}
	a.speech.Voice = d.str("voice", "female")
	a.speech.Language = d.str("language", "en-US")
	a.speech.Engine, a.engineWarning = d.ttsEngine("engine")
	a.terminators = d.dtmfKeys("terminators", allDTMFKeys)
	return a
}

// kazooTTSEngines are the engine names Kazoo's documents use for speech services pivotua does not
// call: a document naming one is spoken by the local engine (tts.engine) with a warning, not refused.
var kazooTTSEngines = []string{"ispeech", "voicefabric", "google", "ibm_watson", "polly", "readspeaker"}

// ttsEngine reads a tts engine: flite or espeak-ng, or one of Kazoo's, which maps onto the local
// default ("") and returns the warning the debug records show.
func (d *dataReader) ttsEngine(field string) (engine, warning string) {
	before := len(d.errs)
	s := strings.ToLower(strings.TrimSpace(d.str(field, "")))
	switch {
	case len(d.errs) > before: // not a string: said already
		return "", ""
	case s == "" || s == "flite" || s == "espeak-ng":
		return s, ""
	case slices.Contains(kazooTTSEngines, s):
		return "", "engine " + s + " is not available here: spoken by the local engine (tts.engine)"
	}
	if _, present := d.raw(field); present {
		d.fail(field, "must be flite or espeak-ng, or one of Kazoo's ("+strings.Join(kazooTTSEngines, ", ")+"), which the local engine speaks")
	}
	return "", ""
}

func (a *ttsAction) run(ctx context.Context, c *Call, _ *Node) kazooOutcome {
	if a.engineWarning != "" {
		c.log.Info("tts: "+a.engineWarning, "account_id", c.accountID)
		c.event(EventWarning, map[string]any{"verb": "tts", "message": a.engineWarning})
	}
	p, err := c.speak(ctx, a.speech)
	if err != nil {
		if ctx.Err() != nil {
			return stopFlow()
		}
		c.log.Warn("tts failed, skipping", "err", err)
		return continueWith("_")
	}
	if !c.playPrompt(ctx, p, 1, a.terminators) {
		return stopFlow()
	}
	return continueWith("_")
}
