package main

import (
	"errors"
	"fmt"

	"github.com/pivotua/pivotua/debugapi"
	"github.com/pivotua/pivotua/flow"
)

// conferenceControl is Kazoo's conferences API (debugapi) over flow's rooms: the same rooms the
// Twilio Conferences API steers.
type conferenceControl struct {
	rooms *flow.Conferences
}

var _ debugapi.ConferenceControl = (*conferenceControl)(nil)

// conferenceOf is a flow room as the conferences API shows it.
func conferenceOf(ci flow.ConferenceInfo) debugapi.Conference {
	c := debugapi.Conference{Name: ci.FriendlyName, Sid: ci.Sid, Started: ci.Status == flow.ConferenceInProgress, Created: ci.Created}
	for _, p := range ci.Participants {
		c.Participants = append(c.Participants, debugapi.Participant{
			ID: p.ID, CallID: p.CallSid, Muted: p.Muted, Deaf: p.Deaf, Hold: p.Hold, Joined: p.Joined,
			StartsOnEnter: p.StartConferenceOnEnter, EndsConferenceExit: p.EndConferenceOnExit, Moderator: p.Moderator,
		})
	}
	return c
}

func (cc *conferenceControl) List(accountID string) []debugapi.Conference {
	var out []debugapi.Conference
	for _, ci := range cc.rooms.List(accountID) {
		out = append(out, conferenceOf(ci))
	}
	return out
}

func (cc *conferenceControl) Get(accountID, id string) (debugapi.Conference, bool) {
	ci, err := cc.rooms.Lookup(accountID, id)
	if err != nil {
		return debugapi.Conference{}, false
	}
	return conferenceOf(ci), true
}

// Act does action to one participant (by participant_id or call_id) or to all of the room's.
func (cc *conferenceControl) Act(accountID, id, participant, action string) error {
	ci, err := cc.rooms.Lookup(accountID, id)
	if err != nil {
		return debugapi.ErrConferenceNotFound
	}
	var targets []string
	if participant == "" {
		for _, p := range ci.Participants {
			targets = append(targets, p.CallSid)
		}
	} else {
		callSid, err := cc.rooms.ParticipantByID(accountID, ci.Sid, participant)
		if err != nil {
			return debugapi.ErrParticipantNotFound
		}
		targets = []string{callSid}
	}
	for _, callSid := range targets {
		var err error
		switch action {
		case "mute", "unmute":
			err = cc.rooms.SetMuted(accountID, ci.Sid, callSid, action == "mute")
		case "deaf", "undeaf":
			err = cc.rooms.SetDeaf(accountID, ci.Sid, callSid, action == "deaf")
		case "kick":
			err = cc.rooms.Kick(accountID, ci.Sid, callSid)
		default:
			return fmt.Errorf("conference action %q", action)
		}
		switch {
		case errors.Is(err, flow.ErrConferenceNotFound):
			return debugapi.ErrConferenceNotFound
		case errors.Is(err, flow.ErrParticipantNotFound) && participant != "":
			return debugapi.ErrParticipantNotFound
		case errors.Is(err, flow.ErrParticipantNotFound): // left meanwhile: all that are there were acted on
		case err != nil:
			return err
		}
	}
	return nil
}
