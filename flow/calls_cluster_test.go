package flow_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pivotua/pivotua/flow"
	"github.com/pivotua/pivotua/flow/flowtest"
)

// fakeCallStore is the shared table of another node's calls, and the node behind it.
type fakeCallStore struct {
	mu        sync.Mutex
	saved     []flow.CallRecord
	rows      map[string]flow.CallRecord // by sid
	forwarded []flow.ForwardedUpdate
	forward   func(flow.ForwardedUpdate) (flow.CallRecord, error)
}

func (f *fakeCallStore) Save(rec flow.CallRecord) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.saved = append(f.saved, rec)
}

func (f *fakeCallStore) Find(_ context.Context, accountID, key string) (flow.CallRecord, bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	rec, ok := f.rows[key]
	return rec, ok && rec.AccountID == accountID, nil
}

func (f *fakeCallStore) List(_ context.Context, accountID string, _ int) ([]flow.CallRecord, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []flow.CallRecord
	for _, rec := range f.rows {
		if rec.AccountID == accountID {
			out = append(out, rec)
		}
	}
	return out, nil
}

func (f *fakeCallStore) CountLive(_ context.Context, accountID, direction string) (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for _, rec := range f.rows {
		if rec.AccountID == accountID && rec.Direction == direction && rec.Live() {
			n++
		}
	}
	return n, nil
}

func (f *fakeCallStore) Forward(_ context.Context, _, _ string, u flow.ForwardedUpdate) (flow.CallRecord, error) {
	f.mu.Lock()
	f.forwarded = append(f.forwarded, u)
	fn := f.forward
	f.mu.Unlock()
	return fn(u)
}

const otherSid = "CA0123456789abcdef0123456789abcdef"

func sharedRegistry(t *testing.T) (*flow.Calls, *fakeCallStore, *flow.Server) {
	calls := flow.NewCalls(10, time.Hour)
	store := &fakeCallStore{rows: map[string]flow.CallRecord{
		otherSid: {Sid: otherSid, AccountID: flowtest.AccountID, Node: "node-b", Direction: flow.DirectionInbound, Status: flow.StatusInProgress,
			Created: time.Now().Add(-time.Minute), Answered: time.Now().Add(-time.Minute)},
	}}
	calls.Share(store, "node-a", time.Second, nil)
	return calls, store, flow.NewServer(flow.ServerConfig{Calls: calls})
}

// Every state change of this node's calls is queued for the shared table, named by this node.
func TestSharedRegistrySavesEveryStateChange(t *testing.T) {
	calls, store, _ := sharedRegistry(t)
	c := flowtest.NewCall(t, flowtest.NewChannel(), nil)
	rec := c.Register(calls)
	calls.End(rec.Sid, flow.StatusCompleted)
	if len(store.saved) != 2 || store.saved[0].Status != flow.StatusRinging || store.saved[1].Status != flow.StatusCompleted ||
		store.saved[1].Ended.IsZero() || store.saved[0].Node != "node-a" || store.saved[0].Sid != rec.Sid {
		t.Errorf("saved %+v", store.saved)
	}
}

// A fetch, list or update of a call this node does not hold goes to the shared table and to the node
// holding it: the update's TwiML travels as the text it was parsed from.
func TestSharedRegistryRoutesToTheNodeHoldingTheCall(t *testing.T) {
	calls, store, srv := sharedRegistry(t)
	local := flowtest.NewCall(t, flowtest.NewChannel(), nil).Register(calls)
	if rec, ok := srv.GetCall(flowtest.AccountID, otherSid); !ok || rec.Node != "node-b" {
		t.Errorf("GetCall of node B's call: %+v %v", rec, ok)
	}
	if _, ok := srv.GetCall("another-account", otherSid); ok {
		t.Errorf("another account fetched the call")
	}
	if list := srv.ListCalls(flowtest.AccountID); len(list) != 2 || list[0].Sid != local.Sid || list[1].Sid != otherSid {
		t.Errorf("list %+v, want this node's call then node B's (newest first)", list)
	}

	// Calls placed through the API count on every node for api.max_calls: node B's one here.
	store.mu.Lock()
	store.rows["CAbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"] = flow.CallRecord{Sid: "CAbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb", AccountID: flowtest.AccountID,
		Node: "node-b", Direction: flow.DirectionOutboundAPI, Status: flow.StatusRinging, Created: time.Now().Add(-2 * time.Minute)}
	store.mu.Unlock()
	if n := srv.LiveOutbound(flowtest.AccountID); n != 1 {
		t.Errorf("LiveOutbound = %d, want node B's placed call", n)
	}

	const text = `<Response><Say>moved</Say></Response>`
	doc, err := flow.ParseTwiML([]byte(text))
	if err != nil {
		t.Fatal(err)
	}
	store.forward = func(u flow.ForwardedUpdate) (flow.CallRecord, error) {
		return flow.CallRecord{Sid: otherSid, Status: flow.StatusInProgress}, nil
	}
	if rec, err := srv.UpdateCall(flowtest.AccountID, otherSid, flow.CallUpdate{TwiML: doc}); err != nil || rec.Sid != otherSid {
		t.Fatalf("UpdateCall: %+v %v", rec, err)
	}
	if len(store.forwarded) != 1 || store.forwarded[0].TwiML != text {
		t.Errorf("forwarded %+v, want the TwiML text", store.forwarded)
	}
	// The channels API's transfer and pivot steer onto a callflow node: it crosses as JSON.
	node := &flow.Node{Module: "tts", Data: []byte(`{"text":"moved"}`)}
	if _, err := srv.UpdateCall(flowtest.AccountID, otherSid, flow.CallUpdate{Flow: node, Action: "pivot"}); err != nil {
		t.Fatalf("UpdateCall with a flow: %v", err)
	}
	if f := store.forwarded[len(store.forwarded)-1]; f.Flow != `{"module":"tts","data":{"text":"moved"}}` || f.Action != "pivot" || f.TwiML != "" {
		t.Errorf("forwarded %+v, want the node as JSON and its action", f)
	}
	store.forwarded = store.forwarded[:1]
	// The local call is steered here, never forwarded.
	if _, err := srv.UpdateCall(flowtest.AccountID, local.Sid, flow.CallUpdate{Status: flow.StatusCompleted}); err != nil || len(store.forwarded) != 1 {
		t.Errorf("a local update: %v, forwarded %d", err, len(store.forwarded))
	}

	store.forward = func(flow.ForwardedUpdate) (flow.CallRecord, error) {
		return flow.CallRecord{}, fmt.Errorf("%w: node-b was silent", flow.ErrCallOwnerTimeout)
	}
	if rec, err := srv.UpdateCall(flowtest.AccountID, otherSid, flow.CallUpdate{Status: flow.StatusCompleted}); !errors.Is(err, flow.ErrCallOwnerTimeout) || rec.Sid != otherSid {
		t.Errorf("a silent owner: %+v %v", rec, err)
	}
	if _, err := srv.UpdateCall(flowtest.AccountID, "CAffffffffffffffffffffffffffffffff", flow.CallUpdate{Status: flow.StatusCompleted}); !errors.Is(err, flow.ErrCallNotFound) {
		t.Errorf("an unknown sid: %v", err)
	}
	// A call the table shows over is not forwarded; a cancel of an answered one neither.
	store.mu.Lock()
	over := store.rows[otherSid]
	store.rows[otherSid] = flow.CallRecord{Sid: otherSid, AccountID: flowtest.AccountID, Status: flow.StatusFailed, Created: over.Created, Ended: time.Now(), EndReason: "node node-b stopped"}
	store.mu.Unlock()
	n := len(store.forwarded)
	if rec, err := srv.UpdateCall(flowtest.AccountID, otherSid, flow.CallUpdate{URL: "http://x/y"}); !errors.Is(err, flow.ErrCallNotLive) || rec.EndReason == "" {
		t.Errorf("an update of a dead node's call: %+v %v", rec, err)
	}
	if len(store.forwarded) != n {
		t.Errorf("an update of a call over was forwarded")
	}
}

// An update another node forwards is checked as hostile before it reaches a call: only a valid one
// for a call this node holds is applied.
func TestApplyForwardedChecksWhatCrossedTheStore(t *testing.T) {
	calls, _, _ := sharedRegistry(t)
	rec := flowtest.NewCall(t, flowtest.NewChannel(), nil).Register(calls)
	for _, tc := range []struct {
		name string
		u    flow.ForwardedUpdate
		want error
	}{
		{"method", flow.ForwardedUpdate{URL: "http://h/x", Method: "DELETE"}, flow.ErrBadForwardedUpdate},
		{"status", flow.ForwardedUpdate{Status: "in-progress"}, flow.ErrBadForwardedUpdate},
		{"status and url", flow.ForwardedUpdate{Status: flow.StatusCompleted, URL: "http://h/x"}, flow.ErrBadForwardedUpdate},
		{"nothing", flow.ForwardedUpdate{}, flow.ErrBadForwardedUpdate},
		{"url and twiml", flow.ForwardedUpdate{URL: "http://h/x", TwiML: "<Response/>"}, flow.ErrBadForwardedUpdate},
		{"file url", flow.ForwardedUpdate{URL: "file:///etc/passwd"}, flow.ErrBadForwardedUpdate},
		{"huge url", flow.ForwardedUpdate{URL: "http://h/" + strings.Repeat("a", flow.MaxForwardedURL)}, flow.ErrBadForwardedUpdate},
		{"bad twiml", flow.ForwardedUpdate{TwiML: "<Response><Evil/></Response>"}, flow.ErrBadForwardedUpdate},
		{"twiml and flow", flow.ForwardedUpdate{TwiML: "<Response/>", Flow: `{"module":"hangup"}`}, flow.ErrBadForwardedUpdate},
		{"flow not json", flow.ForwardedUpdate{Flow: `{"module":`}, flow.ErrBadForwardedUpdate},
		{"flow unknown module", flow.ForwardedUpdate{Flow: `{"module":"evil"}`}, flow.ErrBadForwardedUpdate},
		{"flow bad data", flow.ForwardedUpdate{Flow: `{"module":"sip_uri","data":{"uri":"sip:a@b\r\nRoute: x"}}`}, flow.ErrBadForwardedUpdate},
		{"unknown action", flow.ForwardedUpdate{Status: flow.StatusCompleted, Action: "reboot"}, flow.ErrBadForwardedUpdate},
		{"unknown sid", flow.ForwardedUpdate{Status: flow.StatusCompleted}, flow.ErrCallNotFound},
		{"valid flow", flow.ForwardedUpdate{Flow: `{"module":"tts","data":{"text":"moved"}}`, Action: "pivot"}, nil},
		{"valid", flow.ForwardedUpdate{TwiML: "<Response><Hangup/></Response>"}, nil},
	} {
		sid := rec.Sid
		if tc.name == "unknown sid" {
			sid = otherSid // in the table, held by node B: never forwarded on
		}
		if _, err := calls.ApplyForwarded(flowtest.AccountID, sid, tc.u); !errors.Is(err, tc.want) || (tc.want == nil) != (err == nil) {
			t.Errorf("%s: %v, want %v", tc.name, err, tc.want)
		}
	}
}
