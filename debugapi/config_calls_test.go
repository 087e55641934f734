package debugapi

import (
	"strings"
	"testing"
	"time"
)

// The shared calls' settings have their defaults, their bounds, and a dead_after that leaves room for
// late heartbeats; each problem names its path.
func TestStoreSettingsCheckTheSharedCallsTimes(t *testing.T) {
	c, errs := DefaultStoreSettings().Config("store")
	if len(errs) > 0 || c.Heartbeat != 2*time.Second || c.DeadAfter != 10*time.Second || c.ForwardTimeout != 5*time.Second {
		t.Fatalf("defaults: %+v %v", c, errs)
	}
	for _, tc := range []struct {
		set  func(*StoreSettings)
		want string
	}{
		{func(s *StoreSettings) { s.Heartbeat = "soon" }, "store.heartbeat:"},
		{func(s *StoreSettings) { s.Heartbeat = "1ms" }, "store.heartbeat:"},
		{func(s *StoreSettings) { s.DeadAfter = "2h" }, "store.dead_after:"},
		{func(s *StoreSettings) { s.Heartbeat, s.DeadAfter = "5s", "10s" }, "store.dead_after: 10s must be at least three heartbeats"},
		{func(s *StoreSettings) { s.ForwardTimeout = "0s" }, "store.forward_timeout:"},
	} {
		s := DefaultStoreSettings()
		tc.set(&s)
		_, errs := s.Config("store")
		if len(errs) != 1 || !strings.HasPrefix(errs[0].Error(), tc.want) {
			t.Errorf("%+v: %v, want one error %q", s, errs, tc.want)
		}
	}
}
