package flow

import (
	"context"
	"strings"
)

// conferenceAction is the "conference" module, as Kazoo's callflow docs define it and a pivot sends it:
//
//	{"module": "conference", "data": {"id": "<room id>"}}
//	{"module": "conference", "data": {"config": {"name": "My Ad-hoc Conference", "max_participants": 10,
//	  "member": {"join_muted": false, "join_deaf": false}, "moderator": {"join_muted": false},
//	  "play_entry_tone": true, "play_exit_tone": true}, "moderator": true}}
//
// The caller joins the account's room named by id (Kazoo's conference document id) or config.name,
// on this node: the same rooms as TwiML's <Conference>, so a TwiML caller in "sales" and a Kazoo
// caller sent to config.name "sales" talk. moderator picks the moderator's join settings over the
// member's; the room starts at once (no waiting for a moderator). When the caller leaves the room
// (it ended) the flow goes on with "_"; the caller's hangup ends it. A full room goes on with
// "failed", falling back to "_". PINs, numbers and a welcome prompt are refused, not ignored.
type conferenceAction struct {
	name                string
	muted, deaf         bool
	entryTone, exitTone bool
	max                 int
	moderator           bool // joins as the room's moderator (Kazoo's is_moderator in the conferences API)
}

func parseConference(d *dataReader) kazooAction {
	a := &conferenceAction{entryTone: true, exitTone: true, max: MaxConferenceParticipants}
	id := strings.TrimSpace(d.str("id", ""))
	moderator := d.boolean("moderator", false)
	a.moderator = moderator
	cfg := subReader(d, "config")
	switch {
	case id != "" && cfg != nil:
		d.fail("id", "give id or config, not both")
	case id != "":
		a.name = id
		if msg := checkConferenceName(id); msg != "" {
			d.fail("id", msg)
		}
	case cfg != nil:
		a.name = strings.TrimSpace(cfg.str("name", ""))
		if msg := checkConferenceName(a.name); msg != "" {
			cfg.fail("name", msg)
		}
		a.max = int(cfg.integer("max_participants", MaxConferenceParticipants, 2, MaxConferenceParticipants))
		a.entryTone = conferenceTone(cfg, "play_entry_tone", a.entryTone)
		a.exitTone = conferenceTone(cfg, "play_exit_tone", a.exitTone)
		for _, field := range []string{"conference_numbers", "bridge_password", "bridge_username"} {
			if _, ok := cfg.raw(field); ok {
				cfg.fail(field, "is not supported: a pivot sends the caller to the room itself")
			}
		}
		role := "member"
		if moderator {
			role = "moderator"
		}
		for _, r := range []string{"member", "moderator"} {
			sub := subReader(cfg, r)
			if sub == nil {
				continue
			}
			muted, deaf := sub.boolean("join_muted", false), sub.boolean("join_deaf", false)
			for _, field := range []string{"pins", "numbers"} {
				if raw, ok := sub.raw(field); ok && strings.TrimSpace(string(raw)) != "[]" {
					sub.fail(field, "is not supported: no PIN or number is asked for")
				}
			}
			if r == role {
				a.muted, a.deaf = muted, deaf
			}
			cfg.errs = append(cfg.errs, sub.errs...)
		}
		d.errs = append(d.errs, cfg.errs...)
	default:
		d.fail("id", "id or config.name is required")
	}
	a.entryTone = conferenceTone(d, "play_entry_tone", a.entryTone)
	a.exitTone = conferenceTone(d, "play_exit_tone", a.exitTone)
	if _, ok := d.raw("welcome_prompt"); ok {
		d.fail("welcome_prompt", "is not supported: play a prompt before the conference module")
	}
	return a
}

// conferenceTone reads play_entry_tone/play_exit_tone: Kazoo also takes a media there, which is
// refused (the tone is pivotua's beep).
func conferenceTone(d *dataReader, field string, def bool) bool {
	raw, ok := d.raw(field)
	if !ok {
		return def
	}
	if _, isString := jsonString(raw); isString {
		d.fail(field, "must be a boolean: a tone media is not supported")
		return def
	}
	return d.boolean(field, def)
}

// subReader is a reader of the object field of d, or nil when it is absent; its errors are d's to
// collect.
func subReader(d *dataReader, field string) *dataReader {
	raw, ok := d.raw(field)
	if !ok {
		return nil
	}
	return newDataReader(raw, joinPath(d.path, field))
}

func (a *conferenceAction) run(ctx context.Context, c *Call, _ *Node) kazooOutcome {
	c.activity++
	res := c.runConference(ctx, conferenceSpec{
		name: a.name, muted: a.muted, deaf: a.deaf, beepEnter: a.entryTone, beepExit: a.exitTone,
		startOnEnter: true, max: a.max, moderator: a.moderator,
	}, "conference")
	switch {
	case res.callerHungUp || c.ended() || ctx.Err() != nil:
		return stopFlow()
	case res.status == "failed":
		return continueWith("failed")
	}
	return continueWith("_")
}
