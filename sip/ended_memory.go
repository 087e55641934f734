package sip

import (
	"encoding/binary"
	"hash/maphash"
	"sync"
	"time"

	"github.com/emiago/sipgo/sip"
)

// endedMemory remembers, for 64×T1 (RFC 3261 Timer J, RFC 6026 Timer L), the requests whose server
// transactions we ended early, so that a retransmission of one is treated as its transaction would
// have treated it:
//   - the dialogs whose BYE we answered with 200: a retransmitted BYE (our 200 was lost) gets 200
//     again from a new transaction, which asks here before it would answer 481;
//   - the INVITEs we answered with 2xx: a retransmitted INVITE that finds no transaction is absorbed
//     (RFC 6026 §7.1, the "Accepted" state), not taken for a new call.
//
// Those transactions would do it themselves, but they keep their requests and responses (the BYE
// and its 200, about 2 KB; the INVITE's transaction and sipgo's dialog, about 4.5 KB) for those 32 s,
// however soon the call ended; this keeps 8 bytes each.
//
// A key is a hash, with a seed of the process's own, of what identifies the request: who sends one
// cannot choose a collision with another, and if one happened by chance that BYE would get 200
// instead of 481, or that INVITE would go unanswered and be sent again by its UAC. Only what a call
// of ours answered is remembered, so the memory holds at most the calls answered or ended in the last
// one to two spans.
type endedMemory struct {
	seed maphash.Seed
	span time.Duration // how long at least an entry is remembered

	mu        sync.Mutex
	cur, prev map[uint64]struct{}
	since     time.Time // when cur began
}

func newEndedMemory(span time.Duration) *endedMemory {
	return &endedMemory{seed: maphash.MakeSeed(), span: span, cur: map[uint64]struct{}{}, since: time.Now()}
}

// byeAnswered remembers req's dialog: a BYE we answered with 200.
func (m *endedMemory) byeAnswered(req *sip.Request) { m.note(m.dialogKey(req)) }

// byeEnded reports whether req is a BYE of a dialog whose BYE we answered within the span.
func (m *endedMemory) byeEnded(req *sip.Request) bool { return m.recalled(m.dialogKey(req)) }

// inviteAccepted remembers inv, an INVITE we answer with 2xx.
func (m *endedMemory) inviteAccepted(inv *sip.Request) { m.note(m.inviteKey(inv)) }

// inviteEnded reports whether req is a retransmission of an INVITE remembered within the span.
func (m *endedMemory) inviteEnded(req *sip.Request) bool { return m.recalled(m.inviteKey(req)) }

// note remembers k now, if the request had a key (ok).
func (m *endedMemory) note(k uint64, ok bool) {
	if ok {
		m.remember(k, time.Now())
	}
}

// recalled reports whether k, if the request had a key (ok), is remembered now.
func (m *endedMemory) recalled(k uint64, ok bool) bool { return ok && m.recalls(k, time.Now()) }

func (m *endedMemory) remember(k uint64, now time.Time) {
	m.mu.Lock()
	m.rotate(now)
	m.cur[k] = struct{}{}
	m.mu.Unlock()
}

func (m *endedMemory) recalls(k uint64, now time.Time) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.rotate(now)
	_, inCur := m.cur[k]
	_, inPrev := m.prev[k]
	return inCur || inPrev
}

// rotate starts a new generation once the current one is span old: an entry is kept from span to
// twice span. The caller holds mu.
func (m *endedMemory) rotate(now time.Time) {
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

// dialogKey is a dialog's: its Call-ID and the From and To tags (RFC 3261 §12); false for a request
// without a To tag, which is within no dialog.
func (m *endedMemory) dialogKey(req *sip.Request) (uint64, bool) {
	callID, from, to := req.CallID(), req.From(), req.To()
	if callID == nil || from == nil || to == nil {
		return 0, false
	}
	fromTag, _ := from.Params.Get("tag")
	toTag, _ := to.Params.Get("tag")
	if toTag == "" {
		return 0, false
	}
	return m.hash('D', 0, callID.Value(), fromTag, toTag), true
}

// inviteKey is an INVITE transaction's as its retransmissions carry it (RFC 3261 §17.2.3): the top
// Via's branch, the Call-ID, the From tag and the CSeq number. The To header is left out: our dialog's
// copy of the INVITE carries our tag in it, a retransmission does not.
func (m *endedMemory) inviteKey(req *sip.Request) (uint64, bool) {
	via, callID, from, cseq := req.Via(), req.CallID(), req.From(), req.CSeq()
	if via == nil || callID == nil || from == nil || cseq == nil || cseq.MethodName != sip.INVITE {
		return 0, false
	}
	branch, _ := via.Params.Get("branch")
	fromTag, _ := from.Params.Get("tag")
	return m.hash('I', cseq.SeqNo, branch, callID.Value(), fromTag), true
}

func (m *endedMemory) hash(kind byte, seq uint32, parts ...string) uint64 {
	var h maphash.Hash
	h.SetSeed(m.seed)
	h.WriteByte(kind)
	h.Write(binary.BigEndian.AppendUint32(make([]byte, 0, 4), seq))
	for _, p := range parts {
		h.WriteString(p)
		h.WriteByte(0)
	}
	return h.Sum64()
}
