package sip

import (
	"hash/maphash"
	"sync"
	"time"

	"github.com/emiago/sipgo/sip"
)

// byeMemory remembers the dialogs whose BYE we answered with 200, for Timer J (64×T1, RFC 3261
// §17.2.2), so that a retransmission of that BYE (our 200 was lost) is answered 200 again. The BYE's
// server transaction would do that itself, but it keeps the BYE and its 200 (about 2 KB) for those
// 32 s after every call; this keeps 8 bytes. The BYE's transaction is ended once it is answered,
// and a retransmission opens a new one, which asks here before it would answer 481.
//
// A dialog is its Call-ID and the BYE's From and To tags, hashed with a seed of the process's own:
// who sends a BYE cannot choose a collision with another dialog, and if one happened by chance that
// BYE would get 200 instead of 481. Only a BYE that ended a live dialog is remembered, so the memory
// holds at most the calls that ended in the last one to two Timer J periods.
type byeMemory struct {
	seed maphash.Seed
	span time.Duration // how long at least a dialog is remembered

	mu        sync.Mutex
	cur, prev map[uint64]struct{}
	since     time.Time // when cur began
}

func newByeMemory(span time.Duration) *byeMemory {
	return &byeMemory{seed: maphash.MakeSeed(), span: span, cur: map[uint64]struct{}{}, since: time.Now()}
}

// answered remembers req's dialog: a BYE we answered with 200.
func (m *byeMemory) answered(req *sip.Request) {
	if k, ok := m.key(req); ok {
		m.remember(k, time.Now())
	}
}

// ended reports whether req is a BYE of a dialog whose BYE we answered within the span.
func (m *byeMemory) ended(req *sip.Request) bool {
	k, ok := m.key(req)
	return ok && m.recalls(k, time.Now())
}

func (m *byeMemory) remember(k uint64, now time.Time) {
	m.mu.Lock()
	m.rotate(now)
	m.cur[k] = struct{}{}
	m.mu.Unlock()
}

func (m *byeMemory) recalls(k uint64, now time.Time) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.rotate(now)
	_, inCur := m.cur[k]
	_, inPrev := m.prev[k]
	return inCur || inPrev
}

// rotate starts a new generation once the current one is span old: an entry is kept from span to
// twice span. The caller holds mu.
func (m *byeMemory) rotate(now time.Time) {
	if now.Sub(m.since) < m.span {
		return
	}
	if now.Sub(m.since) >= 2*m.span {
		m.prev = nil // idle for two spans: nothing in cur is still young enough
	} else {
		m.prev = m.cur
	}
	m.cur, m.since = map[uint64]struct{}{}, now
}

func (m *byeMemory) key(req *sip.Request) (uint64, bool) {
	callID, from, to := req.CallID(), req.From(), req.To()
	if callID == nil || from == nil || to == nil {
		return 0, false
	}
	fromTag, _ := from.Params.Get("tag")
	toTag, _ := to.Params.Get("tag")
	if toTag == "" {
		return 0, false // not within a dialog
	}
	var h maphash.Hash
	h.SetSeed(m.seed)
	h.WriteString(callID.Value())
	h.WriteByte(0)
	h.WriteString(fromTag)
	h.WriteByte(0)
	h.WriteString(toTag)
	return h.Sum64(), true
}
