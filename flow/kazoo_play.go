package flow

import (
	"context"
	"strings"
)

// playAction plays audio (module "play"): "id" is an http(s) URL, or a media id of the account's
// media store (the media API's 32 hex characters, or Kazoo's /{ACCOUNT_ID}/{MEDIA_ID}).
type playAction struct {
	media       mediaRef
	loops       int
	terminators string // DTMF keys that stop playback (barge-in)
}

func parsePlay(d *dataReader) kazooAction {
	a := &playAction{}
	if d.required("id") {
		a.media = d.mediaRef("id")
	}
	a.loops = int(d.integer("loop_count", 1, 1, maxPlayLoops))
	a.terminators = d.dtmfKeys("terminators", allDTMFKeys)
	return a
}

func (a *playAction) run(ctx context.Context, c *Call, _ *Node) kazooOutcome {
	p, err := c.loadMediaRef(ctx, a.media)
	if err != nil {
		if ctx.Err() != nil {
			return stopFlow()
		}
		c.mediaUnavailable("play", a.media, err)
		return continueWith("_")
	}
	if !c.playPrompt(ctx, p, a.loops, a.terminators) {
		return stopFlow()
	}
	return continueWith("_")
}

// mediaRef is the audio a module names: an http(s) URL, or a media id of the account's media store.
type mediaRef struct {
	url     string
	account string // of /{ACCOUNT_ID}/{MEDIA_ID}; "" for a bare id
	id      string
}

func (r mediaRef) String() string {
	switch {
	case r.url != "":
		return r.url
	case r.account != "":
		return "/" + r.account + "/" + r.id
	}
	return r.id
}

const msgMediaRef = "must be an http or https URL, a media id (32 hex characters from the media API) or /{ACCOUNT_ID}/{MEDIA_ID}"

// mediaRef reads a string naming audio: an absolute http(s) URL, a media id, or Kazoo's
// /{ACCOUNT_ID}/{MEDIA_ID}. Ids are checked as 32 hex characters here, so nothing else ever reaches
// the media store.
func (d *dataReader) mediaRef(field string) mediaRef {
	before := len(d.errs)
	s := strings.TrimSpace(d.str(field, ""))
	switch {
	case len(d.errs) > before: // not a string: said already
		return mediaRef{}
	case isHTTPURL(s):
		return mediaRef{url: s}
	case isMediaID(s):
		return mediaRef{id: strings.ToLower(s)}
	}
	if account, id, ok := strings.Cut(strings.TrimPrefix(s, "/"), "/"); ok && strings.HasPrefix(s, "/") && isMediaID(account) && isMediaID(id) {
		return mediaRef{account: strings.ToLower(account), id: strings.ToLower(id)}
	}
	if _, present := d.raw(field); present {
		d.fail(field, msgMediaRef)
	}
	return mediaRef{}
}

// isMediaID reports whether s is 32 hex characters: Kazoo's ids, and the media API's.
func isMediaID(s string) bool {
	if len(s) != 32 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 'A' && c <= 'F' {
			c += 'a' - 'A'
		}
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}

// mediaUnavailable logs, and shows in the debug records, audio that could not be played: the module
// goes on without it.
func (c *Call) mediaUnavailable(module string, r mediaRef, err error) {
	c.log.Warn(module+": media unavailable, skipping", "media", r.String(), "err", err)
	c.event(EventWarning, map[string]any{"verb": module, "message": "media " + r.String() + " not played: " + err.Error()})
}
