package flow

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/pivotua/pivotua/codec"
	"github.com/pivotua/pivotua/media"
)

// This file is what the Conferences APIs (Twilio's Participants resource, Kazoo's conferences API)
// steer beyond mute, hold and kick (conference.go): hold audio and announcements fetched from a URL,
// the exit beep, endConferenceOnExit, coaching, deafness, a room by its name, and the sid of a room a
// participant added by the API will open.

const (
	// partyTasks is how many API actions may wait for a party's call goroutine (a fetch of hold or
	// announcement audio); more are refused (ErrConferenceBusy).
	partyTasks = 4
	// partyTaskTimeout bounds one such fetch: the call goroutine does nothing else meanwhile.
	partyTaskTimeout = 15 * time.Second
	// maxReservedSids bounds the sids given for rooms not open yet; past it the oldest is forgotten
	// (the room then opens with a new sid).
	maxReservedSids = 1024
)

// control is the state of a party the APIs set, guarded by its conference's mu, and the queue of
// actions its call goroutine runs for them (tasks: the fetches need the call's signed requests).
type control struct {
	id         int           // Kazoo's participant_id: its order of joining
	deaf       bool          // hears silence (Kazoo's deaf)
	holdAudio  *codec.Prompt // HoldUrl's audio: heard while on hold in place of the default; nil none
	announcing *codec.Prompt // AnnounceUrl's audio being played to it alone; nil none
	tasks      chan func(context.Context)
	call       *Call // the party's call, whose goroutine runs tasks
}

// runPartyTask runs an API action on the party's call goroutine, bounded in time and ended by the
// caller's hangup.
func (c *Call) runPartyTask(ctx context.Context, task func(context.Context)) {
	tctx, cancel := context.WithTimeout(ctx, partyTaskTimeout)
	defer cancel()
	stop := context.AfterFunc(c.ch.Context(), cancel)
	defer stop()
	task(tctx)
}

// AudioRequest is a URL whose response is played (Twilio's HoldUrl, AnnounceUrl): an audio file, or
// a TwiML document of <Play>, <Say>, <Pause> and <Redirect>, fetched like a <Conference> waitUrl.
type AudioRequest struct {
	URL, Method string // Method GET or POST; "" POST
}

// Lookup returns the account's live conference named by sid (CF...) or by its friendly name.
func (cs *Conferences) Lookup(accountID, sidOrName string) (ConferenceInfo, error) {
	cf, err := cs.findAny(accountID, sidOrName)
	if err != nil {
		return ConferenceInfo{}, err
	}
	return cf.info(), nil
}

func (cs *Conferences) findAny(accountID, sidOrName string) (*conference, error) {
	if cf, err := cs.find(accountID, sidOrName); err == nil {
		return cf, nil
	}
	cs.mu.Lock()
	defer cs.mu.Unlock()
	if cf := cs.rooms[conferenceKey{accountID, sidOrName}]; cf != nil {
		return cf, nil
	}
	return nil, ErrConferenceNotFound
}

// Reserve returns the sid of the account's room name: the live room's, or the one it will open with
// when a participant the API is adding joins it first (Twilio creates a conference the Participants
// API names by friendly name). A name no room could have gives ErrBadConferenceName.
func (cs *Conferences) Reserve(accountID, name string) (string, error) {
	if msg := checkConferenceName(name); msg != "" {
		return "", fmt.Errorf("%w: %s", ErrBadConferenceName, msg)
	}
	cs.mu.Lock()
	defer cs.mu.Unlock()
	key := conferenceKey{accountID, name}
	if cf := cs.rooms[key]; cf != nil {
		cf.mu.Lock()
		ended := cf.ended
		cf.mu.Unlock()
		if !ended {
			return cf.sid, nil
		}
	}
	if sid, ok := cs.reserved[key]; ok {
		return sid, nil
	}
	if cs.reserved == nil {
		cs.reserved = map[conferenceKey]string{}
	}
	if len(cs.reserved) >= maxReservedSids {
		for k := range cs.reserved { // any one: the map holds no order, and any old one will do
			delete(cs.reserved, k)
			break
		}
	}
	sid := newConferenceSid()
	cs.reserved[key] = sid
	return sid, nil
}

// openSid is the sid of a room opening now: the one reserved for it, else a new one. cs.mu is held.
func (cs *Conferences) openSid(key conferenceKey) string {
	if sid, ok := cs.reserved[key]; ok {
		delete(cs.reserved, key)
		return sid
	}
	return newConferenceSid()
}

// SetDeaf makes the party callSid of the account's conference hear silence (Kazoo's deaf) or the room
// again; it is still heard.
func (cs *Conferences) SetDeaf(accountID, sidOrName, callSid string, deaf bool) error {
	return cs.steerAny(accountID, sidOrName, callSid, func(cf *conference, p *confParty) {
		p.deaf = deaf
		_ = cf.room.SetDeaf(p.sess, deaf)
	})
}

// SetBeepOnExit sets whether the room hears a beep when the party leaves.
func (cs *Conferences) SetBeepOnExit(accountID, sid, callSid string, beep bool) error {
	return cs.steerAny(accountID, sid, callSid, func(_ *conference, p *confParty) {
		p.leave = nil
		if beep {
			p.leave = beepPrompt()
		}
	})
}

// SetEndOnExit sets whether the party's leaving ends the conference for all.
func (cs *Conferences) SetEndOnExit(accountID, sid, callSid string, end bool) error {
	return cs.steerAny(accountID, sid, callSid, func(_ *conference, p *confParty) { p.endOnExit = end })
}

// SetCoach makes the party a coach of target (heard by target alone, hearing the room), or an
// ordinary party again when target is "". The party rejoins the room's mix with its other settings;
// a target not in the room gives ErrParticipantNotFound, the party itself ErrBadCoach.
func (cs *Conferences) SetCoach(accountID, sid, callSid, target string) error {
	var err error
	serr := cs.steerAny(accountID, sid, callSid, func(cf *conference, p *confParty) {
		if target == p.coachOf {
			return
		}
		opts := cf.partyOptions(p)
		if target != "" {
			if target == p.callSid {
				err = fmt.Errorf("%w: a participant cannot coach itself", ErrBadCoach)
				return
			}
			i := slices.IndexFunc(cf.parties, func(q *confParty) bool { return q.callSid == target })
			if i < 0 {
				err = fmt.Errorf("%w: coach: no participant %s", ErrParticipantNotFound, target)
				return
			}
			opts.CoachOf = cf.parties[i].sess
		}
		cf.room.Leave(p.sess)
		if err = cf.room.Join(p.sess, opts); err != nil {
			// Back as it was: its old target may have left meanwhile, then as an ordinary party.
			opts.CoachOf = nil
			_ = cf.room.Join(p.sess, opts)
			p.coachOf = ""
			return
		}
		p.coachOf = target
	})
	if serr != nil {
		return serr
	}
	return err
}

// partyOptions are p's current settings, for a rejoin. cf.mu is held.
func (cf *conference) partyOptions(p *confParty) media.PartyOptions {
	o := media.PartyOptions{Muted: p.muted, Deaf: p.deaf}
	switch {
	case p.announcing != nil:
		o.Hold = p.announcing
	case p.hold && p.holdAudio != nil:
		o.Hold = p.holdAudio
	case p.hold:
		o.Hold = cf.waitDefault
	case !cf.started:
		o.Hold = p.wait
	}
	return o
}

// SetHoldAudio fetches what the party callSid hears while on hold (HoldUrl) on its call goroutine and
// uses it from then on (at once when it is on hold now); until it is fetched, and when it cannot be,
// the party hears pivotua's default hold audio.
func (cs *Conferences) SetHoldAudio(accountID, sid, callSid string, r AudioRequest) error {
	return cs.partyTask(accountID, sid, callSid, func(ctx context.Context, c *Call) {
		audio := c.conferenceAudio(ctx, r.URL, r.Method, "Participant HoldUrl")
		_ = cs.steerAny(accountID, sid, callSid, func(cf *conference, p *confParty) {
			p.holdAudio = audio
			cf.applyHold(p)
		})
	})
}

// AnnounceTo plays r's audio to the party callSid alone, once, from when it is fetched on its call
// goroutine. The room's mixer has one announcement for all, so the party hears it in place of the
// room (as on hold) and is not heard meanwhile.
func (cs *Conferences) AnnounceTo(accountID, sid, callSid string, r AudioRequest) error {
	return cs.partyTask(accountID, sid, callSid, func(ctx context.Context, c *Call) {
		audio := c.conferenceAudio(ctx, r.URL, r.Method, "Participant AnnounceUrl")
		if audio == nil {
			return
		}
		_ = cs.steerAny(accountID, sid, callSid, func(cf *conference, p *confParty) {
			p.announcing = audio
			cf.applyHold(p)
		})
		d := time.Duration(len(audio.PCM())) * time.Second / codec.SampleRate
		time.AfterFunc(d, func() {
			_ = cs.steerAny(accountID, sid, callSid, func(cf *conference, p *confParty) {
				if p.announcing == audio {
					p.announcing = nil
					cf.applyHold(p)
				}
			})
		})
	})
}

// Announce plays r's audio once to the whole room (Room.Announce: every party but those on hold or
// deaf, and the recording), fetched on the call goroutine of the party that joined first.
func (cs *Conferences) Announce(accountID, sid string, r AudioRequest) error {
	cf, err := cs.findAny(accountID, sid)
	if err != nil {
		return err
	}
	cf.mu.Lock()
	var first string
	if len(cf.parties) > 0 && !cf.ended {
		first = cf.parties[0].callSid
	}
	cf.mu.Unlock()
	if first == "" {
		return ErrConferenceNotFound
	}
	return cs.partyTask(accountID, sid, first, func(ctx context.Context, c *Call) {
		if audio := c.conferenceAudio(ctx, r.URL, r.Method, "Conference AnnounceUrl"); audio != nil {
			cf.room.Announce(audio)
		}
	})
}

// partyTask queues fn for the call goroutine of the party callSid (its runConference loop).
func (cs *Conferences) partyTask(accountID, sid, callSid string, fn func(context.Context, *Call)) error {
	var tasks chan func(context.Context)
	var call *Call
	err := cs.steerAny(accountID, sid, callSid, func(_ *conference, p *confParty) { tasks, call = p.tasks, p.call })
	if err != nil {
		return err
	}
	if tasks == nil || call == nil {
		return fmt.Errorf("%w: the participant's call cannot fetch audio", ErrConferenceBusy)
	}
	select {
	case tasks <- func(ctx context.Context) { fn(ctx, call) }:
		return nil
	default:
		return fmt.Errorf("%w: %d actions are waiting for the participant already", ErrConferenceBusy, partyTasks)
	}
}

// steerAny is steer with the conference named by sid or friendly name.
func (cs *Conferences) steerAny(accountID, sidOrName, callSid string, fn func(*conference, *confParty)) error {
	cf, err := cs.findAny(accountID, sidOrName)
	if err != nil {
		return err
	}
	return cs.steer(accountID, cf.sid, callSid, fn)
}

// ParticipantByID returns the CallSid of the party of the account's conference whose Kazoo
// participant_id (decimal) or CallSid is key.
func (cs *Conferences) ParticipantByID(accountID, sidOrName, key string) (string, error) {
	ci, err := cs.Lookup(accountID, sidOrName)
	if err != nil {
		return "", err
	}
	for _, p := range ci.Participants {
		if p.CallSid == key || fmt.Sprint(p.ID) == strings.TrimSpace(key) {
			return p.CallSid, nil
		}
	}
	return "", ErrParticipantNotFound
}
