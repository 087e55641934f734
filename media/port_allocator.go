package media

import (
	"fmt"
	"sync"
)

// rtpPortAllocator hands out the even ports of [min, max] round robin: a freed
// port goes to the back of the line, so late packets of an ended call do not
// reach the next call on the same port. Odd ports stay unused, for RTCP.
type rtpPortAllocator struct {
	first int // lowest even port; immutable
	count int // number of even ports; immutable

	mu    sync.Mutex // guards the fields below; never held across a syscall
	next  int        // index of the next port to offer
	inUse []bool     // by index (port-first)/2
	used  int
}

func newRTPPortAllocator(min, max int) (*rtpPortAllocator, error) {
	if min <= 0 || max > 65535 || min > max {
		return nil, fmt.Errorf("%w: RTP port range %d-%d", ErrInvalidConfig, min, max)
	}
	first := min + min%2
	last := max - max%2
	if first > last {
		return nil, fmt.Errorf("%w: RTP port range %d-%d holds no even port", ErrInvalidConfig, min, max)
	}
	count := (last-first)/2 + 1
	return &rtpPortAllocator{first: first, count: count, inUse: make([]bool, count)}, nil
}

// reserve marks the next free port in round-robin order as used. The caller
// binds it and calls release if that fails or when the session ends.
func (a *rtpPortAllocator) reserve() (int, bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.used == a.count {
		return 0, false
	}
	for range a.count {
		i := a.next
		a.next = (a.next + 1) % a.count
		if !a.inUse[i] {
			a.inUse[i] = true
			a.used++
			return a.first + 2*i, true
		}
	}
	return 0, false
}

func (a *rtpPortAllocator) release(port int) {
	i := (port - a.first) / 2
	a.mu.Lock()
	defer a.mu.Unlock()
	if i >= 0 && i < a.count && a.inUse[i] {
		a.inUse[i] = false
		a.used--
	}
}
