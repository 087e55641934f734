package media

import (
	"crypto/rand"
	"encoding/binary"
	"fmt"
	"sync"
)

// rtpPortAllocator hands out the even ports of [min, max] at random, so that
// an outsider who sees one call's port cannot guess the next call's and send
// into it (RTP bleed). Odd ports stay unused, for RTCP.
//
// A freed port first waits in a queue of recently freed ports (a quarter of
// the range) before it is drawn again, so late packets of an ended call
// seldom reach the next call on the same port; when no other port is free the
// longest-waiting one is handed out. reserve and release are O(1).
type rtpPortAllocator struct {
	first int // lowest even port; immutable
	count int // number of even ports; immutable
	hold  int // how many freed ports wait before they are drawn again; immutable
	// random fills its argument from crypto/rand; tests replace it. Immutable after construction.
	random func([]byte) (int, error)

	mu      sync.Mutex // guards the fields below; never held across a syscall
	pool    []int32    // indexes (port-first)/2 free to draw, in any order
	cooling []int32    // freed indexes, oldest first: a ring of capacity count
	head    int        // cooling[head] is the oldest
	waiting int        // len of the ring
	inUse   []bool     // by index
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
	a := &rtpPortAllocator{
		first:   first,
		count:   count,
		hold:    count / 4,
		pool:    make([]int32, count),
		cooling: make([]int32, count),
		inUse:   make([]bool, count),
		random:  rand.Read,
	}
	for i := range a.pool {
		a.pool[i] = int32(i)
	}
	return a, nil
}

// reserve marks a free port, drawn at random, as used. The caller binds it
// and calls release if that fails or when the session ends.
func (a *rtpPortAllocator) reserve() (int, bool) {
	// The random bytes are read before the lock: crypto/rand may block (a
	// starved entropy source at boot), and other calls' reserve and release
	// must not wait behind it.
	var draw [8]byte
	if _, err := a.random(draw[:]); err != nil {
		panic(err) // crypto/rand.Read never fails on Linux (Go 1.24+: it crashes the program itself)
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	var i int32
	switch {
	case len(a.pool) > 0:
		k := randomBelow(draw, len(a.pool))
		i = a.pool[k]
		last := len(a.pool) - 1
		a.pool[k] = a.pool[last]
		a.pool = a.pool[:last]
	case a.waiting > 0: // every free port was freed lately: the oldest
		i = a.cooling[a.head]
		a.head = (a.head + 1) % a.count
		a.waiting--
	default:
		return 0, false
	}
	a.inUse[i] = true
	return a.first + 2*int(i), true
}

func (a *rtpPortAllocator) release(port int) {
	i := (port - a.first) / 2
	a.mu.Lock()
	defer a.mu.Unlock()
	if port < a.first || (port-a.first)%2 != 0 || i >= a.count || !a.inUse[i] {
		return
	}
	a.inUse[i] = false
	a.cooling[(a.head+a.waiting)%a.count] = int32(i)
	a.waiting++
	for a.waiting > a.hold { // the oldest have waited long enough
		a.pool = append(a.pool, a.cooling[a.head]) // within pool's capacity: count
		a.head = (a.head + 1) % a.count
		a.waiting--
	}
}

// randomBelow maps 8 bytes from crypto/rand to a uniform int in [0, n): the
// port must not be predictable from earlier ones, which math/rand does not
// promise.
func randomBelow(draw [8]byte, n int) int {
	// The modulo bias is below 2^-48 for the at most 32768 even ports.
	return int(binary.LittleEndian.Uint64(draw[:]) % uint64(n))
}
