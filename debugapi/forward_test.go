package debugapi

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

// noRooms is a node hosting no room.
type noRooms struct{}

func (noRooms) List(string) []Conference                 { return nil }
func (noRooms) Get(string, string) (Conference, bool)    { return Conference{}, false }
func (noRooms) Act(string, string, string, string) error { return ErrConferenceNotFound }

type staticPeers []Peer

func (p staticPeers) Peers(context.Context) ([]Peer, error) { return p, nil }

// Kazoo's conferences API on a node that hosts no room answers for the room another node hosts: the
// list shows it, a participant action reaches that node with the token and acts there; a request
// without a valid token is refused here, and one marked as forwarded is answered from this node's
// rooms only.
func TestConferencesAPIAnswersForAnotherNodesRoom(t *testing.T) {
	a, rooms := conferencesFixture(t)
	b := &apiFixture{store: openSQLiteTest(t), clock: &testClock{now: baseTime}}
	api := NewAPI(APIConfig{Store: b.store, Accounts: []Account{{ID: accountA, Name: "alpha", APIKey: keyA}}, Node: "b", Version: "test-1", Now: b.clock.Now})
	api.UseConferences(noRooms{})
	api.ForwardConferences(NewForwarder(staticPeers{{Node: "a", BaseURL: a.srv.URL}}, "b", time.Second))
	mux := http.NewServeMux()
	api.Register(mux)
	b.srv = httptest.NewServer(mux)
	t.Cleanup(b.srv.Close)

	tok := b.token(t, keyA)
	base := "/v2/accounts/" + accountA + "/conferences"
	if r := b.do(t, "GET", base, tok, ""); r.code != 200 || len(r.body["data"].([]any)) != 1 {
		t.Fatalf("list on b: %d %v", r.code, r.body)
	}
	if r := b.do(t, "PUT", base+"/sales/participants/2", tok, `{"data":{"action":"kick"}}`); r.code != 200 {
		t.Fatalf("kick on b: %d %v", r.code, r.body)
	}
	if len(rooms.acts) != 1 || rooms.acts[0] != "kick "+roomSid+" 2" {
		t.Errorf("a did %v, want the kick", rooms.acts)
	}
	if r := b.do(t, "PUT", base+"/sales/participants/2", "", `{"data":{"action":"kick"}}`); r.code != 401 {
		t.Errorf("without a token: %d", r.code)
	}
	if r := b.do(t, "GET", base+"/nobody", tok, ""); r.code != 404 {
		t.Errorf("an unknown room: %d", r.code)
	}
	req, _ := http.NewRequest("GET", b.srv.URL+base+"/sales", nil)
	req.Header.Set("X-Auth-Token", tok)
	req.Header.Set(ForwardedHeader, "a")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != 404 || len(rooms.acts) != 1 {
		t.Errorf("a forwarded request on b: %d, want 404 (b's rooms only)", res.StatusCode)
	}
}
