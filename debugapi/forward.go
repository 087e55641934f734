package debugapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"
)

// Conference requests across nodes. A room lives on one node (store_rooms.go), but an HTTP load
// balancer sends an app's request for it to any node: a node that does not have the conference a
// request names asks the other live nodes' APIs (Peers, store_peers.go) the same request (method,
// path, query, body, credentials) and relays the answer of the one that has it; a list asks them all
// and merges. Asking every live node, rather than reading the host from pivot_rooms, needs no
// write on a room's way in and finds every conference a node knows by sid, including one the
// Participants API reserved by name before any party joined; its cost, a request per node for a
// conference that is not local, is small for the few nodes behind one balancer.
//
// A forwarded request carries ForwardedHeader, and a node never forwards such a request again (no
// loop, no storm). The header is no credential: the receiving node authenticates the request as any
// other, and the sending node has authenticated it before asking anyone.

// ForwardedHeader marks a request one node passed to another; its value is the sending node's name.
const ForwardedHeader = "X-Pivotua-Forwarded"

// maxPeerAnswer bounds the body of a node's answer read (a page of 1,000 participants is ~0.6 MB).
const maxPeerAnswer = 8 << 20

// forwardHeaders are the request headers passed on: the credentials of both APIs and the body's type.
var forwardHeaders = []string{"Authorization", "X-Auth-Token", "Content-Type", "Accept", "X-Request-ID"}

// relayHeaders are the answer headers relayed to the client.
var relayHeaders = []string{"Content-Type", "WWW-Authenticate", "Retry-After", "X-Request-ID", "Cache-Control"}

// PeerSource lists the other live nodes' APIs; *CallStore implements it.
type PeerSource interface {
	Peers(ctx context.Context) ([]Peer, error)
}

// Forwarder asks the other live nodes' APIs a request this node cannot answer alone. Safe for
// concurrent use.
type Forwarder struct {
	peers   PeerSource
	node    string
	timeout time.Duration
	client  *http.Client
}

// NewForwarder asks the nodes peers lists, naming this node node; a node that has not answered within
// timeout is counted as not answering.
func NewForwarder(peers PeerSource, node string, timeout time.Duration) *Forwarder {
	return &Forwarder{peers: peers, node: node, timeout: timeout, client: &http.Client{
		// Never through a proxy from the environment, never following a redirect: the answer is
		// the node's own.
		Transport:     &http.Transport{Proxy: nil, MaxIdleConnsPerHost: 8, IdleConnTimeout: time.Minute},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}}
}

// IsForwarded reports whether r came from another node: it is answered from this node's rooms only.
func IsForwarded(r *http.Request) bool { return r.Header.Get(ForwardedHeader) != "" }

// PeerAnswer is one node's answer to a forwarded request; Err is set when it gave none.
type PeerAnswer struct {
	Peer   Peer
	Status int
	Header http.Header
	Body   []byte
	Err    error
}

// ErrPeersUnavailable reports that the list of live nodes could not be read (the store is down).
var ErrPeersUnavailable = errors.New("the other nodes could not be listed")

// Ask sends r (its method and path, rawQuery as the query, body as the body) to every other live node
// at once and returns their answers, in the order of the nodes' names. No node: none.
func (f *Forwarder) Ask(r *http.Request, rawQuery string, body []byte) ([]PeerAnswer, error) {
	ctx, cancel := context.WithTimeout(r.Context(), f.timeout)
	defer cancel()
	peers, err := f.peers.Peers(ctx)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrPeersUnavailable, err)
	}
	out := make([]PeerAnswer, len(peers))
	var wg sync.WaitGroup
	for i, p := range peers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			out[i] = f.ask(ctx, p, r, rawQuery, body)
		}()
	}
	wg.Wait()
	return out, nil
}

func (f *Forwarder) ask(ctx context.Context, p Peer, r *http.Request, rawQuery string, body []byte) PeerAnswer {
	a := PeerAnswer{Peer: p}
	target := p.BaseURL + r.URL.EscapedPath()
	if rawQuery != "" {
		target += "?" + rawQuery
	}
	req, err := http.NewRequestWithContext(ctx, r.Method, target, bytes.NewReader(body))
	if err != nil {
		a.Err = err
		return a
	}
	for _, h := range forwardHeaders {
		if v := r.Header.Get(h); v != "" {
			req.Header.Set(h, v)
		}
	}
	req.Header.Set(ForwardedHeader, f.node)
	res, err := f.client.Do(req)
	if err != nil {
		a.Err = err
		return a
	}
	defer res.Body.Close()
	a.Body, err = io.ReadAll(io.LimitReader(res.Body, maxPeerAnswer+1))
	switch {
	case err != nil:
		a.Err = err
	case len(a.Body) > maxPeerAnswer:
		a.Err = fmt.Errorf("its answer is over %d bytes", maxPeerAnswer)
	}
	a.Status, a.Header = res.StatusCode, res.Header
	return a
}

// RoomHosts finds the node hosting an account's room by name (pivot_rooms); *CallStore implements it.
type RoomHosts interface {
	RoomHost(ctx context.Context, accountID, name string) (Peer, bool, error)
}

// AskHost sends r (with body) to the live node hosting the account's room name, found false when no
// other node hosts it (or the PeerSource cannot tell). Used where asking every node would not do: a
// request that creates what it names on whichever node it reaches.
func (f *Forwarder) AskHost(r *http.Request, accountID, name string, body []byte) (PeerAnswer, bool, error) {
	rh, ok := f.peers.(RoomHosts)
	if !ok {
		return PeerAnswer{}, false, nil
	}
	ctx, cancel := context.WithTimeout(r.Context(), f.timeout)
	defer cancel()
	p, found, err := rh.RoomHost(ctx, accountID, name)
	if err != nil {
		return PeerAnswer{}, false, fmt.Errorf("%w: %v", ErrPeersUnavailable, err)
	}
	if !found {
		return PeerAnswer{}, false, nil
	}
	return f.ask(ctx, p, r, r.URL.RawQuery, body), true, nil
}

// Holder returns the answer of the node that has what the request named: the first that answered
// with anything but 404. Otherwise found is false and silent names the nodes that gave no answer.
func Holder(answers []PeerAnswer) (a PeerAnswer, found bool, silent []string) {
	for _, a := range answers {
		switch {
		case a.Err != nil:
			silent = append(silent, a.Peer.Node)
		case a.Status != http.StatusNotFound:
			return a, true, nil
		}
	}
	return PeerAnswer{}, false, silent
}

// PeerError is a node that did not answer as a list needs (no answer, a status other than 200, or a
// body its caller could not read).
type PeerError struct {
	Node string
	Err  error
}

func (e *PeerError) Error() string { return "node " + e.Node + ": " + e.Err.Error() }
func (e *PeerError) Unwrap() error { return e.Err }

// Gather asks every other live node r with rawQuery and hands each one's 200 answer body to add, for
// a list that is whole or refused: ErrPeersUnavailable when the nodes cannot be listed, a *PeerError
// naming the first node that did not answer 200 or whose body add refused.
func (f *Forwarder) Gather(r *http.Request, rawQuery string, add func(body []byte) error) error {
	answers, err := f.Ask(r, rawQuery, nil)
	if err != nil {
		return err
	}
	for _, a := range answers {
		if a.Err == nil && a.Status != http.StatusOK {
			a.Err = fmt.Errorf("status %d", a.Status)
		}
		if a.Err == nil {
			a.Err = add(a.Body)
		}
		if a.Err != nil {
			return &PeerError{Node: a.Peer.Node, Err: a.Err}
		}
	}
	return nil
}

// Relay writes a node's answer to w as this node's.
func Relay(w http.ResponseWriter, a PeerAnswer) {
	for _, h := range relayHeaders {
		if v := a.Header.Get(h); v != "" {
			w.Header().Set(h, v)
		}
	}
	w.WriteHeader(a.Status)
	_, _ = w.Write(a.Body)
}

// ReadBody reads r's body, at most limit bytes, so it can be sent to the nodes and still be read
// here; tooLarge is true past limit (the caller answers 413 as for its own requests).
func ReadBody(r *http.Request, limit int64) (body []byte, tooLarge bool, err error) {
	if r.Body == nil {
		return nil, false, nil
	}
	body, err = io.ReadAll(io.LimitReader(r.Body, limit+1))
	if err != nil {
		return nil, false, err
	}
	if int64(len(body)) > limit {
		return nil, true, nil
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	return body, false, nil
}

// ForwardConferences makes the conferences API ask the other live nodes (through f) for the rooms
// this node does not host, and list theirs with its own.
func (a *API) ForwardConferences(f *Forwarder) { a.confFwd = f }

// forwardConference relays the answer of the node hosting the room the request names, when this
// node does not host it; it returns false when no node does (the caller answers 404). It runs after
// authorize: a request without a valid token never reaches another node.
func (a *API) forwardConference(rp *reply, r *http.Request) bool {
	if a.confFwd == nil || IsForwarded(r) {
		return false
	}
	body, tooLarge, err := ReadBody(r, maxChannelBody)
	switch {
	case tooLarge:
		rp.fail(http.StatusRequestEntityTooLarge, fmt.Sprintf("the body is over %d bytes", maxChannelBody))
		return true
	case err != nil:
		rp.fail(http.StatusBadRequest, "the body could not be read")
		return true
	}
	answers, err := a.confFwd.Ask(r, r.URL.RawQuery, body)
	if err != nil {
		rp.fail(http.StatusServiceUnavailable, err.Error())
		return true
	}
	ans, found, silent := Holder(answers)
	if found {
		Relay(rp.w, ans)
		return true
	}
	if len(silent) > 0 {
		a.log.Warn("conferences API: nodes did not answer a forwarded request", "nodes", silent, "path", r.URL.Path)
		rp.fail(http.StatusGatewayTimeout, "node "+strings.Join(silent, ", ")+" did not answer; the conference may be hosted there")
		return true
	}
	return false
}

// remoteConferences returns the rows the other live nodes list for the request's account; it
// answers 503 or 504 itself when a node cannot be asked or does not answer: a list is whole or
// refused.
func (a *API) remoteConferences(rp *reply, r *http.Request) ([]conferenceRowJSON, bool) {
	if a.confFwd == nil || IsForwarded(r) {
		return nil, true
	}
	var out []conferenceRowJSON
	err := a.confFwd.Gather(r, r.URL.RawQuery, func(body []byte) error {
		var env struct {
			Data []conferenceRowJSON `json:"data"`
		}
		if err := json.Unmarshal(body, &env); err != nil {
			return err
		}
		out = append(out, env.Data...)
		return nil
	})
	var pe *PeerError
	switch {
	case errors.As(err, &pe):
		a.log.Warn("conferences API: a node did not list its rooms", "node", pe.Node, "err", pe.Err)
		rp.fail(http.StatusGatewayTimeout, "node "+pe.Node+" did not list its conferences")
		return nil, false
	case err != nil:
		rp.fail(http.StatusServiceUnavailable, err.Error())
		return nil, false
	}
	return out, true
}
