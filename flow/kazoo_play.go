package flow

import (
	"context"
)

// playAction plays an audio URL (module "play"; "id" must be an http(s) URL, media ids are not stored).
type playAction struct {
	url         string
	loops       int
	terminators string // DTMF keys that stop playback (barge-in)
}

func parsePlay(d *dataReader) kazooAction {
	a := &playAction{}
	if d.required("id") {
		a.url = d.httpURL("id")
	}
	a.loops = int(d.integer("loop_count", 1, 1, maxPlayLoops))
	a.terminators = d.dtmfKeys("terminators", allDTMFKeys)
	return a
}

func (a *playAction) run(ctx context.Context, c *Call, _ *Node) kazooOutcome {
	p, err := c.loadMedia(ctx, a.url)
	if err != nil {
		if ctx.Err() != nil {
			return stopFlow()
		}
		c.log.Warn("play: media unavailable, skipping", "url", a.url, "err", err)
		return continueWith("_")
	}
	if !c.playPrompt(ctx, p, a.loops, a.terminators) {
		return stopFlow()
	}
	return continueWith("_")
}
