package codec

import (
	"context"
	"os/exec"
	"runtime"

	"github.com/pivotua/pivotua/internal/rtprio"
)

// ProcessLimit caps how many external programs (lame, flite, espeak-ng)
// run at once. Every decode and render a webhook can ask for starts one,
// and each costs a CPU for up to a few seconds: without a cap, a burst of
// calls for distinct prompts would fork without bound. A nil *ProcessLimit
// lets everything run. It is safe for concurrent use.
type ProcessLimit struct {
	slots chan struct{} // one token per running program
}

// NewProcessLimit allows n programs at once; n <= 0 means twice the CPUs.
func NewProcessLimit(n int) *ProcessLimit {
	if n <= 0 {
		n = DefaultMaxProcesses()
	}
	return &ProcessLimit{slots: make(chan struct{}, n)}
}

// DefaultMaxProcesses is the cap NewProcessLimit(0) sets: two per CPU,
// so a decode waiting on its pipe does not leave a CPU idle.
func DefaultMaxProcesses() int { return 2 * runtime.NumCPU() }

// Running is how many programs hold a slot now.
func (l *ProcessLimit) Running() int {
	if l == nil {
		return 0
	}
	return len(l.slots)
}

// Max is the cap.
func (l *ProcessLimit) Max() int {
	if l == nil {
		return 0
	}
	return cap(l.slots)
}

// run waits for a free slot (or for ctx to end) and then runs cmd to its
// end. cmd should come from exec.CommandContext with a context that ends
// no later than ctx, so that the program is killed when nobody waits.
func (l *ProcessLimit) run(ctx context.Context, cmd *exec.Cmd) error {
	if l != nil {
		select {
		case l.slots <- struct{}{}:
		case <-ctx.Done():
			return ctx.Err()
		}
		defer func() { <-l.slots }()
	}
	return rtprio.Run(cmd)
}
