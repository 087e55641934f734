package flow

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"slices"
	"time"
)

// Several nodes behind one SIP load balancer share one store; a Calls API request (fetch, list,
// update) may reach any of them, while only the node that holds a call can act on it. A registry
// that Shares a CallStore writes every state change of its calls to the store's table (Save: queued,
// never waiting), reads the other nodes' calls from it when its own map misses, and forwards an
// update of a call another node holds to that node (Forward), which applies it to its own registry
// (ApplyForwarded) and answers. The store owns the transport (a table and PostgreSQL's LISTEN/NOTIFY)
// and the fate of a dead node's calls; flow only routes. Without a CallStore (SQLite: one node)
// nothing here runs.

// CallStore is the table of calls that the nodes sharing one store keep, and the way to the node that
// holds a call. cmd/pivotua wires debugapi's implementation.
type CallStore interface {
	// Save queues rec's current state for the table and returns at once: it runs on a call's
	// goroutine, under the registry's lock, and must never block.
	Save(rec CallRecord)
	// Find returns the account's call whose sid or SIP Call-ID is key, held by any node; a call of a
	// node that stopped heartbeating reads over (failed, or completed once answered) with EndReason.
	Find(ctx context.Context, accountID, key string) (CallRecord, bool, error)
	// List returns the account's calls on every node, newest first, at most limit.
	List(ctx context.Context, accountID string, limit int) ([]CallRecord, error)
	// CountLive counts the account's live calls of direction held by other nodes than this one.
	CountLive(ctx context.Context, accountID, direction string) (int, error)
	// Forward hands u to the node holding the account's live call sid and returns that node's answer:
	// the call's record, or one of ErrCallNotFound, ErrCallNotLive, ErrCallNotRinging,
	// ErrBadForwardedUpdate as that node's registry gave it; ErrCallOwnerTimeout when the node did not
	// answer before ctx ended; ErrCallStoreUnavailable when the store failed.
	Forward(ctx context.Context, accountID, sid string, u ForwardedUpdate) (CallRecord, error)
}

// ForwardedUpdate is a CallUpdate on its way to another node: the TwiML as text, parsed again by the
// node that runs it.
type ForwardedUpdate struct {
	URL, Method string
	TwiML       string
	Flow        string // a Kazoo callflow node as JSON (the channels API's transfer and pivot)
	Status      string
	Action      string // CallUpdate.Action
}

// Bounds of a ForwardedUpdate, checked by the node that receives one: the Calls API's own bounds
// (a Twiml of 4000 characters is at most 16000 bytes) with room, never more.
const (
	MaxForwardedURL   = 4096
	MaxForwardedTwiML = 64 << 10
)

// clusterTimeout bounds one read of the shared table for a fetch or a list.
const clusterTimeout = 5 * time.Second

// clusterState is what a registry that shares its calls keeps; set once by Share before any call.
type clusterState struct {
	store   CallStore
	node    string        // this node's name, stamped on its calls
	forward time.Duration // how long an update waits for the node holding the call
	log     *slog.Logger
}

// Share makes r this node's part of the calls every node sharing store sees: node names this node on
// its calls, forward bounds how long an update of another node's call waits for that node's answer.
// Call it before the registry takes its first call.
func (r *Calls) Share(store CallStore, node string, forward time.Duration, log *slog.Logger) {
	if log == nil {
		log = slog.Default()
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.cluster = &clusterState{store: store, node: node, forward: forward, log: log}
}

// shareLocked queues rec for the shared table; r.mu is held. Without a store it does nothing.
func (r *Calls) shareLocked(rec *CallRecord) {
	if r.cluster == nil {
		return
	}
	rec.Node = r.cluster.node
	r.cluster.store.Save(*rec)
}

// clusterOf returns the registry's shared state, nil when it shares nothing.
func (r *Calls) clusterOf() *clusterState {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.cluster
}

// getAnywhere is Get, then the shared table when this node does not hold the call. A store that fails
// reads as no such call (the caller's signature has no error); it is logged.
func (r *Calls) getAnywhere(accountID, key string) (CallRecord, bool) {
	rec, ok := r.Get(accountID, key)
	cl := r.clusterOf()
	if ok || cl == nil {
		return rec, ok
	}
	ctx, cancel := context.WithTimeout(context.Background(), clusterTimeout)
	defer cancel()
	rec, ok, err := cl.store.Find(ctx, accountID, key)
	if err != nil {
		cl.log.Warn("calls API: the shared table of calls could not be read", "account_id", accountID, "err", err)
		return CallRecord{}, false
	}
	return rec, ok
}

// listAnywhere is List merged with the shared table's calls of every node: this node's own entries
// win (they are newer than what is queued for the table).
func (r *Calls) listAnywhere(accountID string) []CallRecord {
	local := r.List(accountID)
	cl := r.clusterOf()
	if cl == nil {
		return local
	}
	ctx, cancel := context.WithTimeout(context.Background(), clusterTimeout)
	defer cancel()
	shared, err := cl.store.List(ctx, accountID, r.maxEnded+len(local)+1)
	if err != nil {
		cl.log.Warn("calls API: the shared table of calls could not be read; listing this node's calls only", "account_id", accountID, "err", err)
		return local
	}
	seen := make(map[string]bool, len(local))
	for _, rec := range local {
		seen[rec.Sid] = true
	}
	out := local
	for _, rec := range shared {
		if !seen[rec.Sid] {
			seen[rec.Sid] = true
			out = append(out, rec)
		}
	}
	slices.SortFunc(out, func(a, b CallRecord) int {
		if c := b.Created.Compare(a.Created); c != 0 {
			return c
		}
		return cmpString(a.Sid, b.Sid)
	})
	return out
}

// updateAnywhere is Update, or, for a call another node holds, the same update forwarded to it.
func (r *Calls) updateAnywhere(accountID, key string, u CallUpdate) (CallRecord, error) {
	rec, err := r.Update(accountID, key, u)
	cl := r.clusterOf()
	if !errors.Is(err, ErrCallNotFound) || cl == nil {
		return rec, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), clusterTimeout)
	shared, ok, err := cl.store.Find(ctx, accountID, key)
	cancel()
	switch {
	case err != nil:
		return CallRecord{}, fmt.Errorf("%w: %v", ErrCallStoreUnavailable, err)
	case !ok:
		return CallRecord{}, fmt.Errorf("%w: %s", ErrCallNotFound, key)
	case !shared.Live():
		return shared, fmt.Errorf("%w: %s is %s", ErrCallNotLive, shared.Sid, shared.Status)
	case u.Status == StatusCanceled && !shared.Answered.IsZero():
		return shared, fmt.Errorf("%w: %s is %s", ErrCallNotRinging, shared.Sid, shared.Status)
	}
	f := ForwardedUpdate{URL: u.URL, Method: u.Method, Status: u.Status, Action: u.Action}
	if u.TwiML != nil {
		f.TwiML = u.TwiML.source
	}
	if u.Flow != nil {
		b, err := json.Marshal(u.Flow)
		if err != nil {
			return CallRecord{}, err
		}
		f.Flow = string(b)
	}
	fctx, fcancel := context.WithTimeout(context.Background(), cl.forward)
	defer fcancel()
	got, err := cl.store.Forward(fctx, accountID, shared.Sid, f)
	if err != nil {
		if errors.Is(err, ErrCallOwnerTimeout) {
			cl.log.Warn("calls API: the node holding the call did not answer", "call_sid", shared.Sid, "node", shared.Node, "err", err)
		}
		if got.Sid == "" {
			got = shared
		}
		return got, err
	}
	cl.log.Info("calls API: update forwarded to the node holding the call", "call_sid", shared.Sid, "node", shared.Node)
	return got, nil
}

// ApplyForwarded applies an update another node forwarded to the call sid this node holds: only to
// this registry (it is never forwarded again). Everything in f is checked again, as the Calls API
// checks a request: the table it crossed is not trusted.
func (r *Calls) ApplyForwarded(accountID, sid string, f ForwardedUpdate) (CallRecord, error) {
	u, err := forwardedUpdate(f)
	if err != nil {
		return CallRecord{}, err
	}
	r.mu.Lock()
	e := r.bySid[sid]
	r.mu.Unlock()
	if e == nil || e.sid != sid {
		return CallRecord{}, fmt.Errorf("%w: %s", ErrCallNotFound, sid)
	}
	return r.Update(accountID, sid, u)
}

// forwardedUpdate checks f and turns it into the CallUpdate it stands for.
func forwardedUpdate(f ForwardedUpdate) (CallUpdate, error) {
	bad := func(format string, args ...any) (CallUpdate, error) {
		return CallUpdate{}, fmt.Errorf("%w: %s", ErrBadForwardedUpdate, fmt.Sprintf(format, args...))
	}
	u := CallUpdate{URL: f.URL, Method: f.Method, Status: f.Status, Action: f.Action}
	switch f.Method {
	case "", "GET", "POST":
	default:
		return bad("method %.16q is not GET or POST", f.Method)
	}
	switch f.Action {
	case "", "update", "hangup", "transfer", "pivot":
	default:
		return bad("action %.16q is not one the APIs send", f.Action)
	}
	instructions := 0
	for _, v := range []string{f.URL, f.TwiML, f.Flow} {
		if v != "" {
			instructions++
		}
	}
	switch f.Status {
	case StatusCompleted, StatusCanceled:
		if instructions > 0 {
			return bad("a status and instructions together")
		}
		return u, nil
	case "":
	default:
		return bad("status %.32q is not completed or canceled", f.Status)
	}
	switch {
	case instructions != 1:
		return bad("exactly one of url, twiml and flow is needed")
	case len(f.URL) > MaxForwardedURL, len(f.TwiML) > MaxForwardedTwiML, len(f.Flow) > MaxForwardedTwiML:
		return bad("url, twiml or flow over its bound")
	case f.URL != "":
		p, err := url.Parse(f.URL)
		if err != nil || (p.Scheme != "http" && p.Scheme != "https") || p.Host == "" {
			return bad("url is not an absolute http or https URL")
		}
		return u, nil
	case f.Flow != "":
		n, err := ParseNode([]byte(f.Flow), "flow")
		if err == nil {
			err = errors.Join(ValidateNode(n, "flow")...)
		}
		if err != nil {
			return bad("flow: %v", err)
		}
		u.Flow = n
		return u, nil
	}
	doc, err := ParseTwiML([]byte(f.TwiML))
	if err != nil {
		return bad("twiml: %v", err)
	}
	u.TwiML = doc
	return u, nil
}

// LiveOutbound counts the account's live calls placed through the Calls API, on every node when the
// registry shares its calls: what api.max_calls limits. Cheaper than ListCalls, which reads every call
// kept; a store that fails counts this node's calls only (logged).
func (s *Server) LiveOutbound(accountID string) int {
	if s.cfg.Calls == nil {
		return 0
	}
	n := s.cfg.Calls.LiveOutbound(accountID)
	cl := s.cfg.Calls.clusterOf()
	if cl == nil {
		return n
	}
	ctx, cancel := context.WithTimeout(context.Background(), clusterTimeout)
	defer cancel()
	others, err := cl.store.CountLive(ctx, accountID, DirectionOutboundAPI)
	if err != nil {
		cl.log.Warn("calls API: the shared table of calls could not be read; counting this node's placed calls only", "account_id", accountID, "err", err)
		return n
	}
	return n + others
}
