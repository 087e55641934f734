package flow

import (
	"testing"
	"time"
)

func TestSleepWaitsWithoutAnswering(t *testing.T) {
	ch := newFakeChannel()
	start := time.Now()
	runFlow(t, newTestCall(t, ch, nil), mustNode(t, `{"module":"sleep","data":{"duration":150,"unit":"ms"}}`))
	if elapsed := time.Since(start); elapsed < 150*time.Millisecond {
		t.Errorf("slept %v", elapsed)
	}
	equalEvents(t, ch.Events(), []string{"hangup"})
}

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
