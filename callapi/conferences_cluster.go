package callapi

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/pivotua/pivotua/debugapi"
)

// Conferences across nodes (debugapi/forward.go): a request that names a conference sid this node
// does not host is authenticated here, then asked of the other live nodes, and the answer of the
// node hosting it is relayed; the list merges every live node's conferences. participants.create
// by friendly name goes to the one node pivot_rooms names as the room's host (asking every node
// would have each of them call the party out), and opens the room here when no live node hosts it.

// Forward makes the resources ask the other live nodes for conferences this node does not host;
// nil (one node) answers from this node's rooms only.
func (c *ConferencesAPI) Forward(f *debugapi.Forwarder) *ConferencesAPI {
	c.fwd = f
	return c
}

// routed serves h locally when this node hosts the conference sid in path value name (with or
// without .json), or the request came from another node; otherwise it relays the answer of the node
// that hosts it, and h answers (404) when none does.
func (c *ConferencesAPI) routed(name string, h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if c.fwd == nil || debugapi.IsForwarded(r) {
			h(w, r)
			return
		}
		sid := strings.TrimSuffix(r.PathValue(name), ".json")
		if !conferenceSidRe.MatchString(sid) {
			h(w, r)
			return
		}
		if _, err := c.rooms.Get(accountIDOf(r.PathValue("AccountSid")), sid); err == nil {
			h(w, r)
			return
		}
		c.forward(w, r, h)
	}
}

// routedCreate is routed for participants.create, whose path names a conference by sid or by
// friendly name: a name no room here has goes to the node hosting a room of that name, if any.
func (c *ConferencesAPI) routedCreate(h http.HandlerFunc) http.HandlerFunc {
	bySid := c.routed("ConferenceSid", h)
	return func(w http.ResponseWriter, r *http.Request) {
		ref := r.PathValue("ConferenceSid")
		if c.fwd == nil || debugapi.IsForwarded(r) || conferenceSidRe.MatchString(ref) || len(ref) > 256 {
			bySid(w, r)
			return
		}
		acct := accountIDOf(r.PathValue("AccountSid"))
		if _, err := c.rooms.Lookup(acct, ref); err == nil {
			h(w, r)
			return
		}
		acct, ok := c.api.authenticate(w, r)
		if !ok {
			return
		}
		body, ok := c.forwardBody(w, r)
		if !ok {
			return
		}
		a, found, err := c.fwd.AskHost(r, acct, ref, body)
		switch {
		case err != nil:
			writeError(w, http.StatusServiceUnavailable, 20503, "Service Unavailable: %v", err)
		case !found:
			h(w, r) // no other node hosts it: it opens here
		case a.Err != nil:
			c.api.log.Warn("conferences API: the node hosting the room did not answer", "node", a.Peer.Node, "err", a.Err)
			writeError(w, http.StatusGatewayTimeout, 20504, "Gateway Timeout: node %s, which hosts the conference, did not answer", a.Peer.Node)
		default:
			debugapi.Relay(w, a)
		}
	}
}

// forwardBody reads the body to send on, within the bound of readForm; it answers itself on failure.
func (c *ConferencesAPI) forwardBody(w http.ResponseWriter, r *http.Request) ([]byte, bool) {
	body, tooLarge, err := debugapi.ReadBody(r, maxBodyBytes)
	switch {
	case tooLarge:
		writeError(w, http.StatusRequestEntityTooLarge, 21200, "the body is over %d bytes", maxBodyBytes)
		return nil, false
	case err != nil:
		writeError(w, http.StatusBadRequest, 21200, "the body could not be read: %v", err)
		return nil, false
	}
	return body, true
}

// forward authenticates r, asks the other live nodes and relays the answer of the one that has the
// conference; h answers (404) when none does.
func (c *ConferencesAPI) forward(w http.ResponseWriter, r *http.Request, h http.HandlerFunc) {
	// Credentials are checked before any node is asked: a stranger's request costs no one else.
	if _, ok := c.api.authenticate(w, r); !ok {
		return
	}
	body, ok := c.forwardBody(w, r)
	if !ok {
		return
	}
	answers, err := c.fwd.Ask(r, r.URL.RawQuery, body)
	if err != nil {
		writeError(w, http.StatusServiceUnavailable, 20503, "Service Unavailable: %v", err)
		return
	}
	a, found, silent := debugapi.Holder(answers)
	if found {
		debugapi.Relay(w, a)
		return
	}
	if len(silent) > 0 {
		c.api.log.Warn("conferences API: nodes did not answer a forwarded request", "nodes", silent, "path", r.URL.Path)
		writeError(w, http.StatusGatewayTimeout, 20504, "Gateway Timeout: node %s did not answer; the conference may be hosted there", strings.Join(silent, ", "))
		return
	}
	h(w, r) // nobody hosts it: the local 404
}

// remoteConferences returns the conferences the other live nodes list for the request's account
// with its FriendlyName and Status filters (up to a page of maxPageSize each); it answers 503 or 504
// itself when a node cannot be asked or does not answer: a list is whole or refused.
func (c *ConferencesAPI) remoteConferences(w http.ResponseWriter, r *http.Request) ([]conferenceJSON, bool) {
	if c.fwd == nil || debugapi.IsForwarded(r) {
		return nil, true
	}
	q := url.Values{"PageSize": {strconv.Itoa(maxPageSize)}}
	for _, k := range []string{"FriendlyName", "Status"} {
		if v := r.URL.Query().Get(k); v != "" {
			q.Set(k, v)
		}
	}
	var out []conferenceJSON
	err := c.fwd.Gather(r, q.Encode(), func(body []byte) error {
		var page conferencePage
		if err := json.Unmarshal(body, &page); err != nil {
			return err
		}
		out = append(out, page.Conferences...)
		return nil
	})
	var pe *debugapi.PeerError
	switch {
	case errors.As(err, &pe):
		c.api.log.Warn("conferences API: a node did not list its conferences", "node", pe.Node, "err", pe.Err)
		writeError(w, http.StatusGatewayTimeout, 20504, "Gateway Timeout: node %s did not list its conferences", pe.Node)
		return nil, false
	case err != nil:
		writeError(w, http.StatusServiceUnavailable, 20503, "Service Unavailable: %v", err)
		return nil, false
	}
	return out, true
}
