package media

import (
	"strings"
	"testing"
)

func TestSettingsCheckTheSRTPPolicy(t *testing.T) {
	for _, ok := range []string{"", "off", "optional", "mandatory"} {
		s := DefaultSettings()
		s.SRTP = ok
		if _, errs := s.Config("rtp"); len(errs) != 0 {
			t.Errorf("rtp.srtp %q: %v", ok, errs)
		}
	}
	s := DefaultSettings()
	s.SRTP = "required"
	_, errs := s.Config("rtp")
	if len(errs) != 1 || !strings.HasPrefix(errs[0].Error(), "rtp.srtp: ") {
		t.Errorf("rtp.srtp \"required\": got %v, want one error naming rtp.srtp", errs)
	}
}
