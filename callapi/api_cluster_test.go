package callapi

import (
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"
	"time"

	"github.com/pivotua/pivotua/flow"
)

// countingCalls is a CallService that counts live placed calls itself, as flow.Server does across
// nodes: the limit asks it, not the list.
type countingCalls struct {
	*fakeCalls
	live int
}

func (c *countingCalls) LiveOutbound(string) int { return c.live }

func (c *countingCalls) ListCalls(string) []flow.CallRecord {
	panic("the limit check listed every call")
}

func TestCreateLimitCountsThroughTheService(t *testing.T) {
	cfg := defaultConfig(t)
	cfg.MaxCalls, cfg.CallsPerSecond = 3, 1000
	calls := &countingCalls{fakeCalls: &fakeCalls{}, live: 3} // placed on other nodes
	mux := http.NewServeMux()
	New(calls, map[string]string{account: apiKey}, cfg, slog.New(slog.DiscardHandler)).Register(mux)
	srv := httptest.NewServer(mux)
	defer srv.Close()
	status, body := call(t, srv, "POST", callsPath, "AC"+account, apiKey, validCreate())
	wantError(t, "a call over max_calls counted on every node", status, body, 429, 20429, "api.max_calls")
	calls.live = 2
	if status, body := call(t, srv, "POST", callsPath, "AC"+account, apiKey, validCreate()); status != 201 {
		t.Errorf("under the limit: %d %v", status, body)
	}
}

// An update another node did not answer in time is a 504 naming why; a store that is down is a 503.
func TestUpdateOfAnotherNodesCallThatFails(t *testing.T) {
	srv, calls := newTestAPI(t, defaultConfig(t))
	sid := "CA" + "0123456789abcdef0123456789abcdef"
	calls.recs = append(calls.recs, flow.CallRecord{Sid: sid, AccountID: account, Direction: flow.DirectionInbound, Status: flow.StatusInProgress, Created: time.Now(), Updated: time.Now()})
	for _, tc := range []struct {
		err          error
		status, code int
	}{
		{flow.ErrCallOwnerTimeout, 504, 20504},
		{flow.ErrCallStoreUnavailable, 503, 20503},
		{flow.ErrBadForwardedUpdate, 502, 20500},
	} {
		calls.updateErr = tc.err
		for _, form := range []url.Values{{"Status": {"completed"}}, {"Url": {"http://example.com/next"}}} {
			status, body := call(t, srv, "POST", callsPath[:len(callsPath)-len(".json")]+"/"+sid+".json", "AC"+account, apiKey, form)
			wantError(t, tc.err.Error(), status, body, tc.status, tc.code, tc.err.Error())
		}
	}
}
