package flow

import (
	"regexp"
	"testing"
)

func TestRouterMatchesNumbersThenPatternsThenToUser(t *testing.T) {
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

func TestRouterFallsBackToToUserAndReportsNoMatch(t *testing.T) {
	router := NewRouter([]Route{{AccountID: "a", Numbers: []string{"3004"}, Patterns: []*regexp.Regexp{regexp.MustCompile(`^5\d+$`)}}})
	if rt, ok := router.Match("9999", "3004"); !ok || rt.AccountID != "a" {
		t.Errorf("To fallback: %v %v", rt, ok)
	}
	if rt, ok := router.Match("9999", "555"); !ok || rt.AccountID != "a" {
		t.Errorf("To pattern fallback: %v %v", rt, ok)
	}
	if _, ok := router.Match("9999", "8888"); ok {
		t.Error("matched an unknown number")
	}
	if _, ok := NewRouter(nil).Match("3004", "3004"); ok {
		t.Error("empty router matched")
	}
}
