package flow_test

import (
	"errors"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/pivotua/pivotua/flow"
	"github.com/pivotua/pivotua/flow/flowtest"
	"github.com/pivotua/pivotua/internal/testkit"
	"github.com/pivotua/pivotua/media"
)

// A callflow node given as an update (the channels API's pivot action) replaces what runs: the
// minute-long <Pause> stops, the new pivot is fetched with its own request format (Kazoo's), and its
// document runs.
func TestCallsUpdateWithAFlowRunsThatNodeInPlaceOfTheVerb(t *testing.T) {
	hook := testkit.NewWebhook(t, testkit.ServeDocs(map[string][2]string{
		"/voice": {"text/xml", `<Response><Pause length="60"/><Say>never</Say></Response>`},
		"/kazoo": {"application/json", `{"module":"hangup"}`},
	}))
	ch := flowtest.NewChannel()
	c := flowtest.NewCall(t, ch, nil)
	calls := flow.NewCalls(10, time.Hour)
	rec := c.Register(calls)
	node := flowtest.MustNode(t, flowtest.PivotFlow(hook.URL+"/kazoo", `,"method":"post","req_format":"kazoo"`, false))
	steerWhenFetched(t, hook, "/voice", calls, rec.Sid, flow.CallUpdate{Flow: node, Action: "pivot"})
	start := time.Now()
	flowtest.Run(t, c, flowtest.MustNode(t, flowtest.PivotFlow(hook.URL+"/voice", `,"req_format":"twiml"`, false)))
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("the call ran %v: the <Pause> was not cut", d)
	}
	got := hook.Forms("/kazoo")
	if len(got) != 1 || got[0].Get("Call-ID") != ch.Info().CallID || got[0].Get("CallSid") != "" {
		t.Fatalf("/kazoo got %v, want one request in Kazoo's naming", got)
	}
	if events := ch.Events(); events[len(events)-1] != "hangup" {
		t.Errorf("events %q, want the new flow's hangup last", events)
	}
}

// TransferCall refuses, before the call is touched, a number when no trunk is open to the account and
// a target that is no SIP URI or number; an unknown call is not found.
func TestTransferCallRefusesTargetsTheAccountMayNotReach(t *testing.T) {
	engine, err := media.NewEngine(media.Config{IP: netip.MustParseAddr("127.0.0.1"), PortMin: 41020, PortMax: 41030})
	if err != nil {
		t.Fatal(err)
	}
	defer engine.Close()
	deps := flowtest.Deps(t, nil)
	deps.Dial = flow.DialDeps{Outbound: refusingSIP{t}, Engine: engine,
		Trunks: []flow.Trunk{{Name: "carrier", URI: "sip:gw.example.net", Accounts: []string{"someone-else"}}}}
	calls := flow.NewCalls(10, time.Hour)
	srv := flow.NewServer(flow.ServerConfig{Calls: calls, APIKeys: map[string]string{flowtest.AccountID: flowtest.SigningKey}, Deps: deps})
	c := flowtest.NewCall(t, flowtest.NewChannel(), nil)
	rec := c.Register(calls)
	for _, tc := range []struct {
		target string
		want   error
	}{
		{"2600", flow.ErrTrunkNotAllowed},
		{"sip:", flow.ErrBadCallTarget},
		{"sip:bob@host;x=\r\nVia: y", flow.ErrBadCallTarget},
		{"2600@evil.example", flow.ErrBadCallTarget},
	} {
		if _, err := srv.TransferCall(flowtest.AccountID, rec.Sid, tc.target); !errors.Is(err, tc.want) {
			t.Errorf("TransferCall(%q) = %v, want %v", tc.target, err, tc.want)
		}
	}
	if _, err := srv.TransferCall(flowtest.AccountID, "CA"+strings.Repeat("0", 32), "sip:bob@example.com"); !errors.Is(err, flow.ErrCallNotFound) {
		t.Errorf("an unknown call: %v, want ErrCallNotFound", err)
	}
	if _, err := srv.TransferCall("another-account", rec.Sid, "sip:bob@example.com"); !errors.Is(err, flow.ErrCallNotFound) {
		t.Errorf("another account's call: %v, want ErrCallNotFound", err)
	}
}
