package flowtest

import (
	"context"

	"github.com/pivotua/pivotua/sip"
)

// SetRefer sets what Refer returns from now on: the outcome of the REFER and an error.
func (f *Channel) SetRefer(res sip.ReferResult, err error) {
	f.mu.Lock()
	f.referResult, f.referErr = res, err
	f.mu.Unlock()
}

// Refer records "refer <target>" and returns what SetRefer set (zero values: no response at all).
func (f *Channel) Refer(_ context.Context, target string) (sip.ReferResult, error) {
	f.record("refer " + target)
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.referResult, f.referErr
}
