package flow

import (
	"context"

	"github.com/pivotua/pivotua/codec"
)

// ttsAction speaks text (module "tts", and "say" as its alias).
type ttsAction struct {
	speech      codec.SpeechRequest
	terminators string // DTMF keys that stop playback (barge-in)
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
	a.speech.Engine = d.enum("engine", "", "flite", "espeak-ng")
	a.terminators = d.dtmfKeys("terminators", allDTMFKeys)
	return a
}

func (a *ttsAction) run(ctx context.Context, c *Call, _ *Node) kazooOutcome {
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
