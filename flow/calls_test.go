package flow_test

import (
	"errors"
	"testing"
	"time"

	"github.com/pivotua/pivotua/flow"
	"github.com/pivotua/pivotua/flow/flowtest"
	"github.com/pivotua/pivotua/internal/testkit"
)

// steerWhenFetched sends u to the call once the webhook got its document request for path.
func steerWhenFetched(t *testing.T, hook *testkit.Webhook, path string, calls *flow.Calls, sid string, u flow.CallUpdate) {
	go func() {
		for deadline := time.Now().Add(5 * time.Second); len(hook.Forms(path)) == 0 && time.Now().Before(deadline); {
			time.Sleep(10 * time.Millisecond)
		}
		if _, err := calls.Update(flowtest.AccountID, sid, u); err != nil {
			t.Errorf("Update: %v", err)
		}
	}()
}

// A minute-long <Pause> is cut by new instructions: the inline document runs at once and hangs up.
func TestCallsUpdateWithTwiMLStopsTheVerbRunningAndRunsTheNewDocument(t *testing.T) {
	hook := testkit.NewWebhook(t, testkit.ServeDocs(map[string][2]string{
		"/voice": {"text/xml", `<Response><Say>hello</Say><Pause length="60"/><Say>never</Say></Response>`},
	}))
	ch := flowtest.NewChannel()
	c := flowtest.NewCall(t, ch, nil)
	calls := flow.NewCalls(10, time.Hour)
	rec := c.Register(calls)
	doc, err := flow.ParseTwiML([]byte(`<Response><Hangup/></Response>`))
	if err != nil {
		t.Fatal(err)
	}
	steerWhenFetched(t, hook, "/voice", calls, rec.Sid, flow.CallUpdate{TwiML: doc})
	flowtest.Run(t, c, flowtest.MustNode(t, flowtest.PivotFlow(hook.URL+"/voice", `,"req_format":"twiml"`, false)))
	if events := ch.Events(); len(events) == 0 || events[len(events)-1] != "hangup" {
		t.Errorf("events %q, want the new document's hangup", events)
	}
}

// A redirect by URL fetches it with the call's parameters; a hangup then ends the call it runs.
func TestCallsUpdateWithURLFetchesItAndStatusCompletedHangsUp(t *testing.T) {
	hook := testkit.NewWebhook(t, testkit.ServeDocs(map[string][2]string{
		"/voice": {"text/xml", `<Response><Gather timeout="60"><Say>press a key</Say></Gather></Response>`},
		"/next":  {"text/xml", `<Response><Pause length="60"/></Response>`},
	}))
	ch := flowtest.NewChannel()
	c := flowtest.NewCall(t, ch, nil)
	calls := flow.NewCalls(10, time.Hour)
	rec := c.Register(calls)
	steerWhenFetched(t, hook, "/voice", calls, rec.Sid, flow.CallUpdate{URL: hook.URL + "/next", Method: "GET"})
	steerWhenFetched(t, hook, "/next", calls, rec.Sid, flow.CallUpdate{Status: flow.StatusCompleted})
	flowtest.Run(t, c, flowtest.MustNode(t, flowtest.PivotFlow(hook.URL+"/voice", `,"req_format":"twiml"`, false)))
	next := hook.Forms("/next")
	if len(next) != 1 || next[0].Get("CallSid") != ch.Info().CallID {
		t.Fatalf("/next got %v", next)
	}
	if events := ch.Events(); events[len(events)-1] != "hangup" {
		t.Errorf("events %q, want a hangup last", events)
	}
}

func TestCallsRegistryIsBoundedAndKeepsAccountsApart(t *testing.T) {
	calls := flow.NewCalls(2, time.Hour)
	var sids []string
	for i := range 3 {
		c := flowtest.NewCall(t, flowtest.NewChannel(), nil)
		rec := c.Register(calls)
		sids = append(sids, rec.Sid)
		if i < 2 {
			flowtest.Run(t, c, flowtest.MustNode(t, `{"module":"response","data":{"code":486}}`))
			calls.End(rec.Sid, flow.StatusBusy)
		}
	}
	if _, ok := calls.Get(flowtest.AccountID, sids[0]); !ok {
		t.Error("the first of two ended calls is gone with max 2")
	}
	calls.End(sids[2], flow.StatusCompleted) // a third ended call pushes out the oldest
	if _, ok := calls.Get(flowtest.AccountID, sids[0]); ok {
		t.Error("the oldest of three ended calls is kept with max 2")
	}
	if _, ok := calls.Get(flowtest.AccountID, sids[1]); !ok {
		t.Error("the second of three ended calls is gone with max 2")
	}
	got, ok := calls.Get(flowtest.AccountID, sids[2])
	if !ok || got.Status != flow.StatusCompleted || got.Live() {
		t.Errorf("the last call: %+v %v", got, ok)
	}
	if _, ok := calls.Get("another-account", sids[2]); ok {
		t.Error("another account sees the call")
	}
	if _, err := calls.Update(flowtest.AccountID, sids[2], flow.CallUpdate{Status: flow.StatusCompleted}); !errors.Is(err, flow.ErrCallNotLive) {
		t.Errorf("updating an ended call: %v, want ErrCallNotLive", err)
	}
	if _, err := calls.Update("another-account", sids[2], flow.CallUpdate{Status: flow.StatusCompleted}); !errors.Is(err, flow.ErrCallNotFound) {
		t.Errorf("updating another account's call: %v, want ErrCallNotFound", err)
	}
}
