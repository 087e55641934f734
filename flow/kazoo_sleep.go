package flow

import (
	"context"
	"math"
	"time"
)

// maxSleep caps the sleep module: a longer duration sleeps an hour.
const maxSleep = time.Hour

// sleepAction waits without answering (module "sleep").
type sleepAction struct {
	duration time.Duration
}

func parseSleep(d *dataReader) kazooAction {
	a := &sleepAction{}
	d.required("duration")
	n := d.integer("duration", 0, 0, math.MaxInt64)
	unit := map[string]time.Duration{"ms": time.Millisecond, "s": time.Second, "m": time.Minute, "h": time.Hour}[d.enum("unit", "s", "ms", "s", "m", "h")]
	if n > int64(maxSleep/unit) {
		a.duration = maxSleep
	} else {
		a.duration = time.Duration(n) * unit
	}
	return a
}

func (a *sleepAction) run(ctx context.Context, c *Call, _ *Node) kazooOutcome {
	if !c.wait(ctx, a.duration) {
		return stopFlow()
	}
	return continueWith("_")
}
