package main

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/pivotua/pivotua/callapi"
	"github.com/pivotua/pivotua/debugapi"
	"github.com/pivotua/pivotua/flow"
)

// channelOf shows a registry record in Kazoo's words: an inbound call by its Call-ID with its caller
// as username; a placed call by its sid until answered, its callee as username and user@host.
func TestChannelOfKazooShapes(t *testing.T) {
	at := time.Date(2026, 12, 3, 9, 0, 0, 0, time.UTC)
	in := channelOf(flow.CallRecord{Sid: "CA1", SIPCallID: "abc@h", From: "1000", To: "3004", Direction: flow.DirectionInbound,
		Status: flow.StatusInProgress, Created: at, Answered: at, OtherLeg: "leg@h"})
	if in.UUID != "abc@h" || in.Direction != "inbound" || !in.Answered || in.Username != "1000" || in.Destination != "3004" || in.OtherLeg != "leg@h" || in.PresenceID != "" {
		t.Errorf("inbound: %+v", in)
	}
	placed := channelOf(flow.CallRecord{Sid: "CA2", To: "sips:bob@gw.example.net:5061;transport=tls", Direction: flow.DirectionOutboundAPI, Status: flow.StatusRinging})
	if placed.UUID != "CA2" || placed.Direction != "outbound" || placed.Answered || placed.Username != "bob" || placed.PresenceID != "bob@gw.example.net:5061" {
		t.Errorf("placed, ringing: %+v", placed)
	}
	number := channelOf(flow.CallRecord{Sid: "CA3", SIPCallID: "x@y", To: "+15550100", Direction: flow.DirectionOutboundAPI})
	if number.UUID != "x@y" || number.Username != "+15550100" || number.PresenceID != "" {
		t.Errorf("placed to a number: %+v", number)
	}
}

// What the channel control refuses, it refuses naming the request's field, before anything is
// placed: a caller ID, a callflow that does not validate, a sip: target sip.egress denies; and flow's
// and callapi's errors become the API's (404, 429, 503).
func TestChannelControlNamesTheFieldAtFault(t *testing.T) {
	placed := 0
	cc := &channelControl{
		calls: flow.NewServer(flow.ServerConfig{Calls: flow.NewCalls(10, time.Hour)}),
		place: func(flow.OriginateRequest) (flow.CallRecord, error) { placed++; return flow.CallRecord{}, nil },
		checkTarget: func(_ context.Context, uri string) error {
			if strings.Contains(uri, "192.0.2.") {
				return errors.New("sip: egress denied: 192.0.2.7 is in deny_cidrs 192.0.2.0/24")
			}
			return nil
		},
	}
	pivot := func(data string) debugapi.Callflow {
		return debugapi.Callflow{JSON: []byte(`{"module":"pivot","data":` + data + `}`)}
	}
	for _, tc := range []struct {
		o     debugapi.Origination
		field string
	}{
		{debugapi.Origination{To: "2600", From: "100;tag=x", Flow: pivot(`{"voice_url":"http://a"}`)}, "data.from"},
		{debugapi.Origination{To: "2600", From: "100", Flow: pivot(`{"voice_url":"ftp://a"}`)}, "data.voice_url"},
		{debugapi.Origination{To: "2600", From: "100", Flow: debugapi.Callflow{JSON: []byte(`{"module":"nope"}`), Path: "data.flow"}}, "data.flow.module"},
		{debugapi.Origination{To: "2600", From: "100", Flow: debugapi.Callflow{JSON: []byte(`[1]`), Path: "data.flow"}}, "data.flow"},
		{debugapi.Origination{To: "sip:bob@192.0.2.7", From: "100", Flow: pivot(`{"voice_url":"http://a"}`)}, "data.to"},
	} {
		_, err := cc.Originate("acct", tc.o)
		var fe *debugapi.FieldError
		if !errors.As(err, &fe) || fe.Field != tc.field {
			t.Errorf("Originate(%+v) = %v, want a FieldError naming %s", tc.o, err, tc.field)
		}
	}
	if placed != 0 {
		t.Fatalf("%d refused calls were placed", placed)
	}
	for _, tc := range []struct {
		err  error
		want error
	}{
		{fmt.Errorf("%w: api.max_calls", callapi.ErrTooManyCalls), debugapi.ErrChannelLimit},
		{callapi.ErrDraining, debugapi.ErrChannelUnavailable},
		{fmt.Errorf("%w: no port", flow.ErrNoCapacity), debugapi.ErrChannelUnavailable},
	} {
		cc.place = func(flow.OriginateRequest) (flow.CallRecord, error) { return flow.CallRecord{}, tc.err }
		if _, err := cc.Originate("acct", debugapi.Origination{To: "2600", From: "100", Flow: pivot(`{"voice_url":"http://a"}`)}); !errors.Is(err, tc.want) {
			t.Errorf("place failing with %v: %v, want %v", tc.err, err, tc.want)
		}
	}
	if _, err := cc.Hangup("acct", "nope"); !errors.Is(err, debugapi.ErrChannelNotFound) {
		t.Errorf("hangup of an unknown channel: %v", err)
	}
	if _, err := cc.Transfer("acct", "nope", "sip:bob@192.0.2.7"); !errors.Is(err, debugapi.ErrChannelNotFound) {
		t.Errorf("transfer of an unknown channel: %v, want not found before the target is looked at", err)
	}
}
