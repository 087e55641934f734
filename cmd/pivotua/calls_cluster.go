package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/pivotua/pivotua/debugapi"
	"github.com/pivotua/pivotua/flow"
)

// shareCalls makes the Calls registry one node's part of the calls every node sharing the PostgreSQL
// store sees (flow/calls_cluster.go, debugapi/store_calls.go): its calls go to the shared table, the
// API of any node finds them, and updates other nodes forward to this node's calls are applied to
// registry. With SQLite (one node) it does nothing (and the store returned is nil). The returned func
// writes what is still queued and stops; call it once the calls are over.
func shareCalls(ctx context.Context, s *Settings, store *debugapi.SQLStore, registry *flow.Calls, log *slog.Logger) (func(), *debugapi.CallStore, error) {
	if s.Store.Driver != "postgres" {
		return func() {}, nil, nil
	}
	cs, err := store.OpenCalls(ctx, debugapi.CallsConfig{
		Node: s.Node, Heartbeat: s.Store.Heartbeat, DeadAfter: s.Store.DeadAfter, KeepEnded: s.API.KeepEnded, Logger: log,
	}, func(u debugapi.CallUpdateRequest) (debugapi.CallRow, string, string) {
		rec, err := registry.ApplyForwarded(u.AccountID, u.Sid, flow.ForwardedUpdate{URL: u.URL, Method: u.Method, TwiML: u.TwiML, Flow: u.Flow, Status: u.Status, Action: u.Action})
		outcome := debugapi.ForwardApplied
		switch {
		case err == nil:
		case errors.Is(err, flow.ErrCallNotFound):
			outcome = debugapi.ForwardNotFound
		case errors.Is(err, flow.ErrCallNotLive):
			outcome = debugapi.ForwardNotLive
		case errors.Is(err, flow.ErrCallNotRinging):
			outcome = debugapi.ForwardNotRinging
		default:
			outcome = debugapi.ForwardRefused
		}
		detail := ""
		if err != nil {
			detail = err.Error()
			log.Warn("calls API: a forwarded update not applied", "call_sid", u.Sid, "outcome", outcome, "err", err)
		} else {
			log.Info("calls API: a forwarded update applied", "call_sid", u.Sid, "status", u.Status, "url", u.URL, "twiml", u.TwiML != "", "flow", u.Flow != "", "action", u.Action)
		}
		return callRow(rec), outcome, detail
	})
	if err != nil {
		return nil, nil, fmt.Errorf("shared table of calls: %w", err)
	}
	registry.Share(sharedCalls{cs}, s.Node, s.Store.ForwardTimeout, log)
	return func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := cs.Close(ctx); err != nil {
			log.Warn("shared table of calls: close", "error", err)
		}
	}, cs, nil
}

// sharedCalls is debugapi's CallStore as flow's (debugapi imports none of pivotua's packages).
type sharedCalls struct{ cs *debugapi.CallStore }

var _ flow.CallStore = sharedCalls{}

func (s sharedCalls) Save(rec flow.CallRecord) { s.cs.Save(callRow(rec)) }

func (s sharedCalls) Find(ctx context.Context, accountID, key string) (flow.CallRecord, bool, error) {
	row, ok, err := s.cs.Find(ctx, accountID, key)
	return callRecord(row), ok, err
}

func (s sharedCalls) List(ctx context.Context, accountID string, limit int) ([]flow.CallRecord, error) {
	rows, err := s.cs.List(ctx, accountID, limit)
	out := make([]flow.CallRecord, 0, len(rows))
	for _, r := range rows {
		out = append(out, callRecord(r))
	}
	return out, err
}

func (s sharedCalls) CountLive(ctx context.Context, accountID, direction string) (int, error) {
	return s.cs.CountLive(ctx, accountID, direction)
}

func (s sharedCalls) Forward(ctx context.Context, accountID, sid string, u flow.ForwardedUpdate) (flow.CallRecord, error) {
	row, err := s.cs.Forward(ctx, debugapi.CallUpdateRequest{AccountID: accountID, Sid: sid, URL: u.URL, Method: u.Method, TwiML: u.TwiML, Flow: u.Flow, Status: u.Status, Action: u.Action})
	rec := callRecord(row)
	var fe *debugapi.ForwardError
	switch {
	case err == nil:
		return rec, nil
	case errors.As(err, &fe):
		sentinel := flow.ErrBadForwardedUpdate
		switch fe.Outcome {
		case debugapi.ForwardNotFound:
			sentinel = flow.ErrCallNotFound
		case debugapi.ForwardNotLive:
			sentinel = flow.ErrCallNotLive
		case debugapi.ForwardNotRinging:
			sentinel = flow.ErrCallNotRinging
		}
		return rec, fmt.Errorf("%w: %v", sentinel, err)
	case errors.Is(err, debugapi.ErrOwnerTimeout):
		return rec, fmt.Errorf("%w: %s", flow.ErrCallOwnerTimeout, detailOf(err, debugapi.ErrOwnerTimeout))
	}
	return rec, fmt.Errorf("%w: %s", flow.ErrCallStoreUnavailable, detailOf(err, debugapi.ErrCallsUnavailable))
}

// detailOf is err's text after its sentinel's, which flow's sentinel replaces.
func detailOf(err, sentinel error) string {
	return strings.TrimPrefix(err.Error(), sentinel.Error()+": ")
}

func callRow(r flow.CallRecord) debugapi.CallRow {
	return debugapi.CallRow{
		Sid: r.Sid, AccountID: r.AccountID, SIPCallID: r.SIPCallID, Node: r.Node, Direction: r.Direction, Status: r.Status,
		From: r.From, To: r.To, Created: r.Created, Answered: r.Answered, Ended: r.Ended, Updated: r.Updated,
		SIPResponseCode: r.SIPResponseCode, EndReason: r.EndReason,
	}
}

func callRecord(r debugapi.CallRow) flow.CallRecord {
	return flow.CallRecord{
		Sid: r.Sid, AccountID: r.AccountID, SIPCallID: r.SIPCallID, Node: r.Node, Direction: r.Direction, Status: r.Status,
		From: r.From, To: r.To, Created: r.Created, Answered: r.Answered, Ended: r.Ended, Updated: r.Updated,
		SIPResponseCode: r.SIPResponseCode, EndReason: r.EndReason,
	}
}
