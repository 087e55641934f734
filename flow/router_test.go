package flow

import (
	"encoding/json"
	"log/slog"
	"regexp"
	"testing"
)

func TestRouterMatchesNumbersThenPatterns(t *testing.T) {
	router := NewRouter([]Route{
		{AccountID: "a", Numbers: []string{"3004"}},
		{AccountID: "b", Numbers: []string{"+14155550100"}, Patterns: []*regexp.Regexp{regexp.MustCompile(`^\+?1\d{10}$`)}},
		{AccountID: "c", Numbers: []string{"3004"}, Patterns: []*regexp.Regexp{regexp.MustCompile(`^3\d{3}$`)}},
		{AccountID: "d", Patterns: []*regexp.Regexp{regexp.MustCompile(`.*`)}},
	})
	tests := []struct {
		request, to string
		want        string
	}{
		{"3004", "", "a"},         // the first route listing a number wins
		{"+14155550100", "", "b"}, // exact number
		{"14155550199", "", "b"},  // pattern, in file order
		{"3999", "", "c"},         // later route's pattern
		{"", "3004", "a"},         // To user when the Request-URI has none
		{"zzz", "3004", "d"},      // the Request-URI user matches a pattern first
	}
	for _, tt := range tests {
		rt, ok := router.Match(tt.request, tt.to)
		if !ok || rt.AccountID != tt.want {
			t.Errorf("Match(%q, %q) = %v, %v; want %s", tt.request, tt.to, rt, ok, tt.want)
		}
	}
}

// TestRouterReportsNoMatchForAnUnroutedRequestURI: an unrouted Request-URI user is a 404 even when
// the To user would match (product.md: no match -> 404); the To user routes only a user-less one.
func TestRouterReportsNoMatchForAnUnroutedRequestURI(t *testing.T) {
	router := NewRouter([]Route{{AccountID: "a", Numbers: []string{"3004"}, Patterns: []*regexp.Regexp{regexp.MustCompile(`^5\d+$`)}}})
	if rt, ok := router.Match("9999", "3004"); ok {
		t.Errorf("an unrouted Request-URI user was routed by its To user: %v", rt)
	}
	if rt, ok := router.Match("", "555"); !ok || rt.AccountID != "a" {
		t.Errorf("a user-less Request-URI: %v %v, want the To user's route", rt, ok)
	}
	if _, ok := router.Match("", ""); ok {
		t.Error("matched a call with no user at all")
	}
	if _, ok := NewRouter(nil).Match("3004", "3004"); ok {
		t.Error("empty router matched")
	}
}

// A route's flow is validated once, by NewRouter: a valid one is marked so its calls skip it; an
// invalid one is not, so each of its calls still validates it and ends with the errors (Call.run).
func TestRouterValidatesEachFlowOnce(t *testing.T) {
	router := NewRouter([]Route{
		{AccountID: "a", Numbers: []string{"1"}, Flow: &Node{Module: "hangup"}},
		{AccountID: "b", Numbers: []string{"2"}, Flow: &Node{Module: "no-such-module"}},
		{AccountID: "c", Numbers: []string{"3"}},
	})
	for user, want := range map[string]bool{"1": true, "2": false, "3": false} {
		rt, ok := router.Match(user, "")
		if !ok || rt.checked != want {
			t.Errorf("route %s: checked %v, want %v", user, rt.checked, want)
		}
	}
}

// A route's flow is compiled once, by NewRouter, and a pivot's document once, as it is validated:
// running a node then parses none of its data again (a route's calls share its actions, which
// nothing changes once parsed), and builds no event a call without debug would not send.
func TestRouterAndDocumentNodesAreCompiledOnce(t *testing.T) {
	var events []Event
	c := &Call{deps: &Deps{Events: func(e Event) { events = append(events, e) }}, log: slog.New(slog.DiscardHandler)}
	route := &Node{Module: "pivot", Data: json.RawMessage(`{"voice_url":"http://hook.test/ivr","method":"post"}`),
		Children: map[string]*Node{"_": {Module: "response", Data: json.RawMessage(`{"code":480,"message":"Fallback"}`)}}}
	NewRouter([]Route{{AccountID: "a", Numbers: []string{"1"}, Flow: route}})
	doc, err := parsePivotDocument("application/json", []byte(`{"module":"play","data":{"id":"http://hook.test/a.wav","loop_count":3},"children":{"_":{"module":"hangup"}}}`))
	if err != nil {
		t.Fatal(err)
	}
	for name, n := range map[string]*Node{"route": route, "route's _": route.Children["_"], "document": doc.kazoo, "document's _": doc.kazoo.Children["_"]} {
		if a := c.compile(n); a == nil {
			t.Fatalf("%s: did not compile", name)
		}
		if allocs := testing.AllocsPerRun(10, func() { c.compile(n) }); allocs != 0 {
			t.Errorf("%s: compiling it for a run allocates %.0f times: its data is parsed again, or an event built", name, allocs)
		}
	}
	if len(events) != 0 {
		t.Errorf("a call without debug sent %d events", len(events))
	}
	c.events.debug = true
	c.compile(doc.kazoo)
	if len(events) != 1 || events[0].Name != EventVerb || events[0].Data["name"] != "play" {
		t.Errorf("a debug call's events: %+v, want the play verb's", events)
	}
	plain := &Node{Module: "hangup"}
	if errs := ValidateNode(plain, ""); len(errs) > 0 || plain.action != nil {
		t.Errorf("ValidateNode wrote to the node it checked (%v): it may be a flow calls share", errs)
	}
}
