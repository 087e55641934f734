package callapi

import (
	"fmt"

	"github.com/pivotua/pivotua/flow"
)

// Place places a call within the account's limits, for this API and for any other that starts calls
// (the channels API): ErrDraining while the process shuts down, ErrTooManyCalls past api.max_calls
// or api.calls_per_second, else what flow's Originate returns. Both APIs share one count and one
// rate per account.
func (a *API) Place(req flow.OriginateRequest) (flow.CallRecord, error) {
	if a.refuse != nil && a.refuse() {
		return flow.CallRecord{}, ErrDraining
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if n := a.liveOutbound(req.AccountID); n >= a.cfg.MaxCalls {
		return flow.CallRecord{}, fmt.Errorf("%w: the account has %d calls placed through the API live, the most api.max_calls allows", ErrTooManyCalls, n)
	}
	if !a.take(req.AccountID) {
		return flow.CallRecord{}, fmt.Errorf("%w: the account places more than api.calls_per_second (%v) calls a second", ErrTooManyCalls, a.cfg.CallsPerSecond)
	}
	return a.calls.Originate(req)
}
