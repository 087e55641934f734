package callapi

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pivotua/pivotua/debugapi"
)

// staticPeers is a PeerSource of fixed nodes.
type staticPeers []debugapi.Peer

func (p staticPeers) Peers(context.Context) ([]debugapi.Peer, error) { return p, nil }

// seenRequests records the requests a node got.
type seenRequests struct {
	mu   sync.Mutex
	reqs []*http.Request
}

func (s *seenRequests) wrap(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		s.reqs = append(s.reqs, r.Clone(context.Background()))
		s.mu.Unlock()
		h.ServeHTTP(w, r)
	})
}

func (s *seenRequests) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.reqs)
}

// twoNodes starts node A hosting the fake room (confSid) and node B hosting another, with B asking A
// and the extra peers.
func twoNodes(t *testing.T, extra ...debugapi.Peer) (b *httptest.Server, aRooms *fakeRooms, aSeen *seenRequests) {
	t.Helper()
	keys := map[string]string{account: apiKey}
	aRooms, aSeen = newFakeRooms(), &seenRequests{}
	muxA := http.NewServeMux()
	New(&fakeCalls{}, keys, defaultConfig(t), slog.New(slog.DiscardHandler)).Conferences(aRooms).Register(muxA)
	a := httptest.NewServer(aSeen.wrap(muxA))
	t.Cleanup(a.Close)

	bRooms := newFakeRooms()
	bRooms.conf.Sid, bRooms.conf.FriendlyName = "CFbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb", "room of b"
	bRooms.conf.Created = aRooms.conf.Created.Add(-time.Minute) // older: listed first
	peers := append(staticPeers{{Node: "node-a", BaseURL: a.URL}}, extra...)
	muxB := http.NewServeMux()
	New(&fakeCalls{}, keys, defaultConfig(t), slog.New(slog.DiscardHandler)).Conferences(bRooms).
		Forward(debugapi.NewForwarder(peers, "node-b", 300*time.Millisecond)).Register(muxB)
	b = httptest.NewServer(muxB)
	t.Cleanup(b.Close)
	return b, aRooms, aSeen
}

func TestConferencesOfAnotherNodeAreListedReadAndSteeredThroughThisOne(t *testing.T) {
	b, aRooms, aSeen := twoNodes(t)
	status, body := call(t, b, "GET", confBase+".json", account, apiKey, nil)
	confs, _ := body["conferences"].([]any)
	if status != 200 || len(confs) != 2 || confs[0].(map[string]any)["friendly_name"] != "room of b" || confs[1].(map[string]any)["sid"] != confSid {
		t.Fatalf("list through node B: %d %v, want B's room then A's", status, body)
	}
	if status, body := call(t, b, "GET", confBase+".json?FriendlyName=room+1&PageSize=1", account, apiKey, nil); status != 200 || len(body["conferences"].([]any)) != 1 {
		t.Errorf("filtered list through node B: %d %v", status, body)
	}
	if status, body := call(t, b, "GET", confBase+"/"+confSid+".json", account, apiKey, nil); status != 200 || body["friendly_name"] != "room 1" {
		t.Errorf("fetch through node B: %d %v", status, body)
	}
	if status, body := call(t, b, "POST", confBase+"/"+confSid+"/Participants/call-a.json", account, apiKey, url.Values{"Muted": {"true"}}); status != 200 {
		t.Errorf("mute through node B: %d %v", status, body)
	}
	if status, _ := call(t, b, "DELETE", confBase+"/"+confSid+"/Participants/call-b.json", account, apiKey, nil); status != 204 {
		t.Errorf("kick through node B: %d", status)
	}
	if got := strings.Join(aRooms.log, ", "); got != "mute call-a on, kick call-b" {
		t.Errorf("node A did %q", got)
	}
	for _, r := range aSeen.reqs {
		if r.Header.Get(debugapi.ForwardedHeader) != "node-b" {
			t.Errorf("a request node A got does not carry %s: node-b (%q)", debugapi.ForwardedHeader, r.Header.Get(debugapi.ForwardedHeader))
		}
		if u, p, ok := r.BasicAuth(); !ok || u != account || p != apiKey {
			t.Errorf("node A got the request without the client's credentials")
		}
	}
}

func TestConferenceRequestsAcrossNodesRefuseWhatTheyMust(t *testing.T) {
	// A node that accepts and never answers in time.
	stuck := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-time.After(5 * time.Second):
		}
	}))
	t.Cleanup(stuck.Close)
	b, aRooms, aSeen := twoNodes(t)
	unknown := confBase + "/CF00000000000000000000000000000000"

	// Wrong credentials: 401 here, and no node is asked.
	status, body := call(t, b, "POST", confBase+"/"+confSid+"/Participants/call-a.json", account, "wrong", url.Values{"Muted": {"true"}})
	wantError(t, "wrong credentials", status, body, 401, 20003, "Authenticate")
	// An unknown sid: every node says 404, so does this one.
	status, body = call(t, b, "POST", unknown+"/Participants/call-a.json", account, apiKey, url.Values{"Muted": {"true"}})
	wantError(t, "unknown sid", status, body, 404, 20404, "not found")
	// A body over the cap: 413 here.
	status, body = call(t, b, "POST", confBase+"/"+confSid+"/Participants/call-a.json", account, apiKey, url.Values{"Muted": {strings.Repeat("x", maxBodyBytes)}})
	wantError(t, "a body over the cap", status, body, 413, 21200, "over")
	if n := aSeen.count(); n != 1 {
		t.Errorf("node A got %d requests, want only the unknown sid's", n)
	}
	if len(aRooms.log) != 0 {
		t.Errorf("node A acted: %v", aRooms.log)
	}

	// A request another node forwarded is answered from this node's rooms only, never forwarded again,
	// and the header is no credential.
	req, _ := http.NewRequest("GET", b.URL+confBase+"/"+confSid+".json", nil)
	req.Header.Set(debugapi.ForwardedHeader, "node-a")
	req.SetBasicAuth(account, apiKey)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	req.Header.Del("Authorization")
	res2, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res2.Body.Close()
	if res.StatusCode != 404 || res2.StatusCode != 401 || aSeen.count() != 1 {
		t.Errorf("forwarded requests: %d with credentials (want 404), %d without (want 401); node A got %d", res.StatusCode, res2.StatusCode, aSeen.count())
	}

	// A node that does not answer in time: 504 naming it, for a sid nobody else has and for a list.
	b2, _, _ := twoNodes(t, debugapi.Peer{Node: "node-stuck", BaseURL: stuck.URL})
	status, body = call(t, b2, "GET", unknown+".json", account, apiKey, nil)
	wantError(t, "a silent node", status, body, 504, 20504, "node-stuck")
	status, body = call(t, b2, "GET", confBase+".json", account, apiKey, nil)
	wantError(t, "a silent node in a list", status, body, 504, 20504, "node-stuck")
	// The node that has it answers even while another is silent.
	if status, body := call(t, b2, "GET", confBase+"/"+confSid+".json", account, apiKey, nil); status != 200 {
		t.Errorf("fetch with a silent node beside: %d %v", status, body)
	}
}

// hostedPeers is a PeerSource that also knows which node hosts a room by name (pivot_rooms).
type hostedPeers struct {
	staticPeers
	hosts map[string]debugapi.Peer
}

func (h hostedPeers) RoomHost(_ context.Context, _, name string) (debugapi.Peer, bool, error) {
	p, ok := h.hosts[name]
	return p, ok, nil
}

// participants.create by friendly name reaches the node hosting a room of that name, and only that
// one (each node asked would call the party out); a name no node hosts opens the room here.
func TestParticipantCreateByNameGoesToTheNodeHostingTheRoom(t *testing.T) {
	keys := map[string]string{account: apiKey}
	aRooms, aCalls := newFakeRooms(), &fakeCalls{}
	muxA := http.NewServeMux()
	New(aCalls, keys, defaultConfig(t), slog.New(slog.DiscardHandler)).Conferences(aRooms).Register(muxA)
	a := httptest.NewServer(muxA)
	t.Cleanup(a.Close)
	other := &seenRequests{} // a live node that does not host it: never asked
	o := httptest.NewServer(other.wrap(http.NotFoundHandler()))
	t.Cleanup(o.Close)

	bRooms, bCalls := newFakeRooms(), &fakeCalls{}
	bRooms.conf.Sid, bRooms.conf.FriendlyName = "CFbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb", "room of b"
	peerA := debugapi.Peer{Node: "node-a", BaseURL: a.URL}
	peers := hostedPeers{staticPeers{peerA, {Node: "node-o", BaseURL: o.URL}}, map[string]debugapi.Peer{"room 1": peerA}}
	muxB := http.NewServeMux()
	New(bCalls, keys, defaultConfig(t), slog.New(slog.DiscardHandler)).Conferences(bRooms).
		Forward(debugapi.NewForwarder(peers, "node-b", time.Second)).Register(muxB)
	b := httptest.NewServer(muxB)
	t.Cleanup(b.Close)

	form := url.Values{"To": {"sip:carol@example.com"}, "From": {"+15550100"}}
	status, body := call(t, b, "POST", confBase+"/room%201/Participants.json", account, apiKey, form)
	if status != 201 || body["conference_sid"] != confSid || len(aCalls.created) != 1 || len(bCalls.created) != 0 {
		t.Fatalf("create by the name of node A's room through node B: %d %v; A placed %d, B %d", status, body, len(aCalls.created), len(bCalls.created))
	}
	status, body = call(t, b, "POST", confBase+"/new%20room/Participants.json", account, apiKey, form)
	if status != 201 || len(aCalls.created) != 1 || len(bCalls.created) != 1 || strings.Join(bRooms.log, ",") != "reserve new room" {
		t.Errorf("create by a name no node hosts: %d %v; A placed %d, B %d, B did %v", status, body, len(aCalls.created), len(bCalls.created), bRooms.log)
	}
	status, body = call(t, b, "POST", confBase+"/room%201/Participants.json", account, "wrong", form)
	wantError(t, "wrong credentials", status, body, 401, 20003, "Authenticate")
	if other.count() != 0 || len(aCalls.created) != 1 {
		t.Errorf("a node not hosting the room was asked %d times; A placed %d", other.count(), len(aCalls.created))
	}
}
