package flow

import (
	"testing"
	"time"
)

func TestSleepDurationsAndCap(t *testing.T) {
	for doc, want := range map[string]time.Duration{
		`{"duration":2}`:                 2 * time.Second,
		`{"duration":3,"unit":"m"}`:      3 * time.Minute,
		`{"duration":5000,"unit":"h"}`:   maxSleep,
		`{"duration":1e300,"unit":"ms"}`: 0, // not an integer we can hold: a validation error
	} {
		d := newDataReader([]byte(doc), "data")
		a := parseSleep(d).(*sleepAction)
		if want == 0 {
			if len(d.errs) == 0 {
				t.Errorf("%s: no error", doc)
			}
			continue
		}
		if len(d.errs) > 0 || a.duration != want {
			t.Errorf("%s: %v %v, want %v", doc, a.duration, d.errs, want)
		}
	}
}
