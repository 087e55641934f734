package main

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/pivotua/pivotua/callapi"
	"github.com/pivotua/pivotua/debugapi"
	"github.com/pivotua/pivotua/flow"
)

// checkTargetTimeout bounds the DNS lookup of a sip: target checked against sip.egress before a
// channels API request acts.
const checkTargetTimeout = 3 * time.Second

// channelControl is the channels API (debugapi) over flow's registry of calls: it turns a Kazoo
// channel request into the Calls API's steering and placing, and flow's answers into the API's.
type channelControl struct {
	calls *flow.Server
	// place places a call within the account's API limits (callapi.API.Place), which both APIs share.
	place func(flow.OriginateRequest) (flow.CallRecord, error)
	// checkTarget refuses a sip: target that sip.egress denies (sip.Server.CheckTarget), so the client
	// hears it in the answer rather than from a leg that fails later.
	checkTarget func(ctx context.Context, uri string) error
}

var _ debugapi.ChannelControl = (*channelControl)(nil)

// channelOf is a registry record as a Kazoo channel.
func channelOf(rec flow.CallRecord) debugapi.Channel {
	c := debugapi.Channel{
		UUID: rec.SIPCallID, CallSid: rec.Sid, Direction: "inbound", Answered: !rec.Answered.IsZero(),
		Destination: rec.To, Username: rec.From, Status: rec.Status, Created: rec.Created, OtherLeg: rec.OtherLeg,
	}
	if c.UUID == "" { // a placed call not answered yet has no Call-ID pivotua knows
		c.UUID = rec.Sid
	}
	if rec.Direction == flow.DirectionOutboundAPI {
		c.Direction, c.Username = "outbound", rec.To
		if rest, ok := cutSIPScheme(rec.To); ok {
			user, host, _ := strings.Cut(rest, "@")
			if i := strings.IndexAny(host, ";?"); i >= 0 {
				host = host[:i]
			}
			c.Username = user
			if user != "" && host != "" {
				c.PresenceID = user + "@" + host
			}
		}
	}
	return c
}

// cutSIPScheme returns a sip: or sips: URI without its scheme.
func cutSIPScheme(uri string) (string, bool) {
	lower := strings.ToLower(uri)
	for _, scheme := range []string{"sip:", "sips:"} {
		if strings.HasPrefix(lower, scheme) {
			return uri[len(scheme):], true
		}
	}
	return "", false
}

func (cc *channelControl) List(accountID string) []debugapi.Channel {
	var out []debugapi.Channel
	for _, rec := range cc.calls.ListCalls(accountID) {
		if rec.Live() {
			out = append(out, channelOf(rec))
		}
	}
	return out
}

func (cc *channelControl) Get(accountID, uuid string) (debugapi.Channel, bool) {
	rec, ok := cc.calls.GetCall(accountID, uuid)
	if !ok || !rec.Live() {
		return debugapi.Channel{}, false
	}
	return channelOf(rec), true
}

func (cc *channelControl) Hangup(accountID, uuid string) (debugapi.Channel, error) {
	rec, err := cc.calls.UpdateCall(accountID, uuid, flow.CallUpdate{Status: flow.StatusCompleted, Action: "hangup"})
	return channelOf(rec), channelError(err, "data.action")
}

func (cc *channelControl) Transfer(accountID, uuid, target string) (debugapi.Channel, error) {
	if _, ok := cc.Get(accountID, uuid); !ok { // a missing channel is 404 whatever the target
		return debugapi.Channel{}, fmt.Errorf("%w: %s", debugapi.ErrChannelNotFound, uuid)
	}
	if err := cc.checkEgress(target, "data.target"); err != nil {
		return debugapi.Channel{}, err
	}
	rec, err := cc.calls.TransferCall(accountID, uuid, target)
	return channelOf(rec), channelError(err, "data.target")
}

func (cc *channelControl) Redirect(accountID, uuid string, cf debugapi.Callflow) (debugapi.Channel, error) {
	n, err := parseCallflow(cf)
	if err != nil {
		return debugapi.Channel{}, err
	}
	rec, err := cc.calls.UpdateCall(accountID, uuid, flow.CallUpdate{Flow: n, Action: "pivot"})
	return channelOf(rec), channelError(err, "data")
}

func (cc *channelControl) Originate(accountID string, o debugapi.Origination) (debugapi.Channel, error) {
	if msg := flow.CheckCallerID(o.From); msg != "" {
		return debugapi.Channel{}, &debugapi.FieldError{Field: "data.from", Message: msg}
	}
	n, err := parseCallflow(o.Flow)
	if err != nil {
		return debugapi.Channel{}, err
	}
	if err := cc.checkEgress(o.To, "data.to"); err != nil {
		return debugapi.Channel{}, err
	}
	rec, err := cc.place(flow.OriginateRequest{AccountID: accountID, To: o.To, From: o.From, Flow: n, Timeout: o.Timeout})
	switch {
	case errors.Is(err, callapi.ErrTooManyCalls):
		return debugapi.Channel{}, fmt.Errorf("%w: %w", debugapi.ErrChannelLimit, err)
	case errors.Is(err, callapi.ErrDraining), errors.Is(err, flow.ErrNoCapacity):
		return debugapi.Channel{}, fmt.Errorf("%w: %w", debugapi.ErrChannelUnavailable, err)
	case errors.Is(err, flow.ErrBadCallerID):
		return debugapi.Channel{}, &debugapi.FieldError{Field: "data.from", Message: err.Error()}
	}
	return channelOf(rec), channelError(err, "data.to")
}

// checkEgress refuses a sip: target sip.egress denies; a number goes through the account's trunk,
// which the operator configured, and is checked when dialled.
func (cc *channelControl) checkEgress(target, field string) error {
	if _, ok := cutSIPScheme(strings.TrimSpace(target)); !ok || cc.checkTarget == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), checkTargetTimeout)
	defer cancel()
	if err := cc.checkTarget(ctx, target); err != nil {
		return &debugapi.FieldError{Field: field, Message: "cannot be dialled: " + err.Error()}
	}
	return nil
}

// parseCallflow parses and validates a callflow from the API, its errors named by the request's path.
func parseCallflow(cf debugapi.Callflow) (*flow.Node, error) {
	n, err := flow.ParseNode(cf.JSON, cf.Path)
	if err == nil {
		errs := flow.ValidateNode(n, cf.Path)
		err = errors.Join(errs...)
	}
	if err == nil {
		return n, nil
	}
	field := cf.Path
	if field == "" {
		field = "data"
	}
	var ve *flow.ValidationError
	if errors.As(err, &ve) && ve.Path != "" {
		return nil, &debugapi.FieldError{Field: ve.Path, Message: ve.Message}
	}
	return nil, &debugapi.FieldError{Field: field, Message: err.Error()}
}

// channelError turns flow's answer to an action into the channels API's: a call that is not (or no
// longer) live is not found, a target that cannot be dialled names field, and a call another node
// holds that could not be reached (calls_cluster.go) is a timeout or unavailable.
func channelError(err error, field string) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, flow.ErrCallNotFound), errors.Is(err, flow.ErrCallNotLive):
		return fmt.Errorf("%w: %w", debugapi.ErrChannelNotFound, err)
	case errors.Is(err, flow.ErrBadCallTarget):
		return &debugapi.FieldError{Field: field, Message: err.Error()}
	case errors.Is(err, flow.ErrCallOwnerTimeout):
		return fmt.Errorf("%w: %w", debugapi.ErrChannelOwnerTimeout, err)
	case errors.Is(err, flow.ErrCallStoreUnavailable), errors.Is(err, flow.ErrBadForwardedUpdate):
		return fmt.Errorf("%w: %w", debugapi.ErrChannelUnavailable, err)
	}
	return err
}
