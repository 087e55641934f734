package flow_test

import (
	"context"
	"errors"
	"net/netip"
	"testing"

	"github.com/pivotua/pivotua/flow"
	"github.com/pivotua/pivotua/flow/flowtest"
	"github.com/pivotua/pivotua/media"
	"github.com/pivotua/pivotua/sip"
)

// refusingSIP is an OutboundSIP that must not be reached.
type refusingSIP struct{ t *testing.T }

func (r refusingSIP) Dial(context.Context, sip.OutboundRequest) (*sip.OutboundCall, error) {
	r.t.Error("a refused call was dialled")
	return nil, errors.New("refused")
}

// Originate applies the trunk permission and the caller ID and SIP URI checks before anything is
// dialled or registered: a number goes out only through a trunk open to the account.
func TestOriginateRefusesTargetsTheAccountMayNotReach(t *testing.T) {
	engine, err := media.NewEngine(media.Config{IP: netip.MustParseAddr("127.0.0.1"), PortMin: 41000, PortMax: 41010})
	if err != nil {
		t.Fatal(err)
	}
	defer engine.Close()
	deps := flowtest.Deps(t, nil)
	deps.Dial = flow.DialDeps{Outbound: refusingSIP{t}, Engine: engine,
		Trunks: []flow.Trunk{{Name: "carrier", URI: "sip:gw.example.net", Accounts: []string{"someone-else"}}}}
	calls := flow.NewCalls(10, 0)
	srv := flow.NewServer(flow.ServerConfig{Calls: calls, APIKeys: map[string]string{flowtest.AccountID: flowtest.SigningKey}, Deps: deps})
	for _, c := range []struct {
		to, from string
		want     error
	}{
		{"+15550100", "100", flow.ErrTrunkNotAllowed},
		{"+15550100", "100", flow.ErrBadCallTarget},
		{"sip:", "100", flow.ErrBadCallTarget},
		{"sip:bob@host\r\nX: y", "100", flow.ErrBadCallTarget},
		{"15550100@evil.example", "100", flow.ErrBadCallTarget},
		{"sip:bob@example.com", "100;x", flow.ErrBadCallerID},
		{"sip:bob@example.com", "", flow.ErrBadCallerID},
	} {
		_, err := srv.Originate(flow.OriginateRequest{AccountID: flowtest.AccountID, To: c.to, From: c.from, URL: "https://app.example/voice"})
		if !errors.Is(err, c.want) {
			t.Errorf("To %q From %q: %v, want %v", c.to, c.from, err, c.want)
		}
	}
	if n := len(calls.List(flowtest.AccountID)); n != 0 {
		t.Errorf("refused calls are listed: %d", n)
	}
}
