package media

import (
	"fmt"
	"io"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/pion/rtp"

	"github.com/pivotua/pivotua/codec"
)

// Room joins the audio of any number of sessions (parties) on the engine's
// send clocks: each party hears the sum of the others' voices, re-encoded in
// its own law. A muted party is heard by no one and hears the room; a party
// on hold is heard by no one and hears its wait prompt; a coach (whisper) is
// heard by its target only and hears the room; a deaf party hears silence
// and is heard; an announcement (Announce: a conference's entry and exit
// tones) is mixed once into what everyone hears. Dial's bridge is a room of
// two (bridge.go); in a room of two RFC 4733 events are relayed to the other
// party too (in a larger room a key press has no one to go to, and the
// presser's own session still reports it).
//
// # The tick
//
// A party's session keeps its own stream (SSRC, sequence, timestamps, its
// clock and phase slot). What it receives is decoded, on its clock, into a
// sample FIFO of its party (push). Once per 20 ms the room mixes (mix): it
// takes one frame from every party's FIFO (silence while a FIFO primes or
// has run dry: jitter and 30 ms senders are absorbed as in the bridge),
// sums the voices that the room hears once, in int32 (total), and gives
// each party clamp(total - own voice + what its coaches whisper), a
// saturating sum that cannot wrap, as one PCM frame in that party's outbox.
// Each party's clock takes one frame from its outbox per tick and encodes it
// in the party's law (next). So the work of a tick is linear in the parties:
// one pass to sum, one to subtract, one to encode. In a room of two without
// a coach (a bridge) each party's mix is the other's voice, copied as it is:
// the same law comes out byte for byte (µ-law's negative zero aside), the
// other law by the transcoding table.
//
// Nobody schedules the mix: the first party whose outbox is empty at its
// tick mixes, for everyone. Every party takes one frame per tick and a mix
// gives each one frame, so in steady state the party whose slot comes first
// after the room's frames are taken mixes once per 20 ms and the others
// find their frame waiting; a party on another clock that ticks at the same
// moment as the mixer finds the mix busy, sends silence once and from then
// on runs a frame behind. An outbox keeps at most outboxKeep frames, so a
// party that fell behind (a stall, a catch-up) does not keep the delay.
//
// # Who owns what
//
//   - A party's inbox (the sample FIFO and the received-event ring) has one
//     producer, the party's session clock (push, from the receive path), and
//     one consumer, the mixer. Each is a single-producer single-consumer ring
//     whose head and tail are atomics: no lock.
//   - The mixer is whichever clock holds the room's mix token (mixing, taken
//     by CompareAndSwap and never waited for on a clock: a clock that finds
//     it taken sends what it has). The token holder alone owns the fields
//     marked "mixer" (total, the parties' current frames, whispers, the
//     recording's buffer); taking the token orders it after the last holder.
//   - A party's outbox (mixed frames and relayed events) has the mixer as
//     producer and the party's clock as consumer, again an atomic SPSC ring.
//   - Join, Leave, SetMuted, SetHold and Record are API calls (flow): the
//     party list is copied and republished under mu (never taken on a
//     clock), and the flags are atomics. A recording's Stop takes the mix
//     token itself (waiting for it, off the clocks) to take over the
//     recording's buffer.
//
// Per tick nothing allocates: every buffer is a party's, made at Join.
type Room struct {
	mu   sync.Mutex                    // serialises Join and Leave; never taken by a clock
	view atomic.Pointer[roomView]      // the parties, republished by Join and Leave; read by the mixer
	rec  atomic.Pointer[RoomRecording] // set by Record, cleared by its Stop; fed by the mixer
	// announce is set by Announce and cleared by the mixer once it has mixed it all in.
	announce atomic.Pointer[roomAnnouncement]

	mixing atomic.Bool // the mix token

	// mixer only.
	total [codec.FrameSamples]int32
	gen   uint64 // mixes so far: marks which parties have a whisper this mix
}

// roomAnnouncement is a prompt being mixed into the room: pcm is the
// prompt's (read-only), pos is the mixer's.
type roomAnnouncement struct {
	pcm []int16
	pos int // mixer only
}

// roomView is an immutable list of a room's parties.
type roomView struct {
	parties []*roomParty
	coaches []*roomParty // the parties with a coach target, also in parties
}

// PartyOptions is how a session joins a room.
type PartyOptions struct {
	// Muted: the party is heard by no one (it still hears the room).
	Muted bool
	// Hold: the party is on hold from the start, hearing this prompt in a
	// loop, heard by no one (see SetHold).
	Hold *codec.Prompt
	// CoachOf: the party whispers to this session's party only (which must
	// be in the room), and hears the whole room.
	CoachOf *Session
	// Deaf: the party hears silence (it is still heard; see SetDeaf).
	Deaf bool
}

const (
	// inboxSamples is a party's received-audio FIFO: maxFeedFrames of audio
	// (beyond which the mixer drops the oldest) plus room for a long packet
	// arriving before the mixer takes the frames. A power of two.
	inboxSamples = 2048
	// outboxFrames is a party's mixed-frame ring; outboxKeep of them at
	// most are kept for it, older ones dropped when it takes one.
	outboxFrames = 4
	outboxKeep   = 2
)

// roomParty is a session's place in a room; the session's feed (what its
// clock sends) and relay (where its clock hands what it receives) point to
// it while it is in the room.
type roomParty struct {
	room    *Room
	s       *Session
	coachOf *roomParty // immutable; nil unless a coach

	muted atomic.Bool
	deaf  atomic.Bool
	hold  atomic.Pointer[codec.Prompt] // nil: not on hold

	// inbox: produced by s's clock (push), consumed by the mixer.
	in             [inboxSamples]int16
	inHead, inTail atomic.Uint64 // samples taken / written since Join
	ev             [feedEvents]relayedEvent
	evHead, evTail atomic.Uint64

	// outbox: produced by the mixer, consumed by s's clock (next).
	out              [outboxFrames][codec.FrameSamples]int16
	outHead, outTail atomic.Uint64
	outEv            [feedEvents]relayedEvent
	outEvHead        atomic.Uint64
	outEvTail        atomic.Uint64

	// mixer only.
	priming    bool // waiting for primeFeedFrames before taking frames
	cur        [codec.FrameSamples]int16
	curGen     uint64 // the mix cur belongs to
	heard      bool   // cur is in the room's total this mix
	held       bool   // on hold this mix
	whisper    [codec.FrameSamples]int32
	whisperGen uint64 // the mix whisper was last written in

	// s's clock only (next).
	frame    [codec.FrameSamples]byte
	event    [telephoneEventSize]byte
	haveEv   bool
	lastEvTS uint32 // sender's timestamp of the last relayed event
	outEvTS  uint32 // our timestamp for it
	holding  *codec.Prompt
	holdPos  int
}

// NewRoom is an empty room. Its parties may be on any clock of the engine.
func NewRoom() *Room {
	r := &Room{}
	r.view.Store(&roomView{})
	return r
}

// Join adds s to the room until Leave. A session in another room (or
// bridge) gives ErrBusy; a CoachOf session not in the room ErrNotInRoom.
// While s is in a room its prompts are held (Play blocks) and it sends the
// room's audio.
func (r *Room) Join(s *Session, o PartyOptions) error {
	if s == nil || o.CoachOf == s {
		return ErrInvalidParams
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	v := r.view.Load()
	p := &roomParty{room: r, s: s, priming: true}
	if o.CoachOf != nil {
		i := slices.IndexFunc(v.parties, func(q *roomParty) bool { return q.s == o.CoachOf })
		if i < 0 {
			return fmt.Errorf("%w: coach target", ErrNotInRoom)
		}
		p.coachOf = v.parties[i]
	}
	p.muted.Store(o.Muted)
	p.deaf.Store(o.Deaf)
	if o.Hold != nil {
		holdFrames(o.Hold)
		p.hold.Store(o.Hold)
	}
	if !s.feed.CompareAndSwap(nil, p) {
		return ErrBusy
	}
	if !s.relay.CompareAndSwap(nil, p) {
		s.feed.CompareAndSwap(p, nil)
		return ErrBusy
	}
	next := &roomView{parties: append(slices.Clip(v.parties), p), coaches: v.coaches}
	if p.coachOf != nil {
		next.coaches = append(slices.Clip(v.coaches), p)
	}
	r.view.Store(next)
	return nil
}

// Leave takes s out of the room: it goes back to its own prompts and
// silence (the next packet carries the marker bit). Leaving a room one is
// not in is harmless. A coach whose target left is heard by no one.
func (r *Room) Leave(s *Session) {
	r.mu.Lock()
	defer r.mu.Unlock()
	v := r.view.Load()
	i := slices.IndexFunc(v.parties, func(q *roomParty) bool { return q.s == s })
	if i < 0 {
		return
	}
	p := v.parties[i]
	next := &roomView{
		parties: slices.Delete(slices.Clone(v.parties), i, i+1),
		coaches: slices.DeleteFunc(slices.Clone(v.coaches), func(q *roomParty) bool { return q == p }),
	}
	r.view.Store(next)
	s.relay.CompareAndSwap(p, nil)
	s.feed.CompareAndSwap(p, nil)
}

// Parties is how many sessions are in the room.
func (r *Room) Parties() int { return len(r.view.Load().parties) }

func (r *Room) party(s *Session) (*roomParty, error) {
	for _, p := range r.view.Load().parties {
		if p.s == s {
			return p, nil
		}
	}
	return nil, ErrNotInRoom
}

// SetMuted mutes or unmutes s's party from the next tick.
func (r *Room) SetMuted(s *Session, muted bool) error {
	p, err := r.party(s)
	if err != nil {
		return err
	}
	p.muted.Store(muted)
	return nil
}

// SetDeaf makes s's party hear silence instead of the room from the next
// tick, or the room again; it is heard either way (Kazoo's join_deaf).
func (r *Room) SetDeaf(s *Session, deaf bool) error {
	p, err := r.party(s)
	if err != nil {
		return err
	}
	p.deaf.Store(deaf)
	return nil
}

// Announce mixes p once into what every party hears (on hold or deaf
// parties aside) and into the recording, from the next tick: a
// conference's entry and exit tones. It replaces an announcement still
// playing; an empty prompt does nothing.
func (r *Room) Announce(p *codec.Prompt) {
	if p == nil || len(p.PCM()) == 0 {
		return
	}
	r.announce.Store(&roomAnnouncement{pcm: p.PCM()})
}

// SetHold puts s's party on hold, hearing wait in a loop and heard by no
// one, or takes it off hold when wait is nil.
func (r *Room) SetHold(s *Session, wait *codec.Prompt) error {
	p, err := r.party(s)
	if err != nil {
		return err
	}
	if wait != nil {
		holdFrames(wait)
	}
	p.hold.Store(wait)
	return nil
}

// holdFrames encodes a wait prompt in both laws on the caller, never on a
// clock.
func holdFrames(p *codec.Prompt) {
	p.Frames(codec.PCMU)
	p.Frames(codec.PCMA)
}

// Record starts a mixed mono recording of what the room hears (the voices
// of every party that is neither muted, on hold nor a coach) to w, as 8 kHz
// 16-bit little-endian PCM, until the recording's Stop. One recording per
// room: ErrBusy while one runs.
func (r *Room) Record(w io.Writer) (*RoomRecording, error) {
	return r.record(w, false, [2]*roomParty{})
}

// push takes one accepted packet received on the party's session; called by
// that session's clock. Audio is decoded into the inbox, events queued for
// the mixer to relay; what does not fit is dropped: the mixer has not run
// for a while (nobody hears the party), or the packet is longer than a
// party may have queued (a hostile sender). It never allocates.
func (p *roomParty) push(h *rtp.Header, payload []byte) {
	cfg := p.s.cfg.Load()
	if cfg == nil {
		return
	}
	pt := h.PayloadType
	if cfg.eventPayloadType != 0 && pt == cfg.eventPayloadType {
		if len(payload) < telephoneEventSize {
			return
		}
		tail := p.evTail.Load()
		if tail-p.evHead.Load() == feedEvents {
			return
		}
		e := &p.ev[tail%feedEvents]
		e.ts = h.Timestamp
		copy(e.payload[:], payload)
		p.evTail.Store(tail + 1)
		return
	}
	law, ok := cfg.lawOf(pt)
	if !ok {
		return // comfort noise and strangers
	}
	tail := p.inTail.Load()
	free := inboxSamples - int(tail-p.inHead.Load())
	if len(payload) > free {
		payload = payload[:free]
	}
	dec := decodeTable(law)
	i := int(tail % inboxSamples)
	first := min(len(payload), inboxSamples-i)
	dst := p.in[i : i+first]
	for j, b := range payload[:first] {
		dst[j] = dec[b]
	}
	dst = p.in[:len(payload)-first]
	for j, b := range payload[first:] {
		dst[j] = dec[b]
	}
	p.inTail.Store(tail + uint64(len(payload)))
}

// take moves the party's next inbox frame into cur, or silence while the
// FIFO primes (primeFeedFrames, again after running dry), and reports
// whether it was audio. Beyond maxFeedFrames the oldest audio is dropped,
// so that clock drift between the far ends builds up no delay. Mixer only.
func (p *roomParty) take() bool {
	head, tail := p.inHead.Load(), p.inTail.Load()
	if n := tail - head; n > maxFeedFrames*codec.FrameSamples {
		head = tail - maxFeedFrames*codec.FrameSamples
	}
	n := int(tail - head)
	if p.priming && n >= primeFeedFrames*codec.FrameSamples {
		p.priming = false
	}
	switch {
	case p.priming:
	case n >= codec.FrameSamples:
		i := int(head % inboxSamples)
		c := copy(p.cur[:], p.in[i:min(i+codec.FrameSamples, inboxSamples)])
		copy(p.cur[c:], p.in[:codec.FrameSamples-c])
		p.inHead.Store(head + codec.FrameSamples)
		return true
	default:
		p.priming = true // ran dry: wait for two frames again
	}
	p.inHead.Store(head)
	clear(p.cur[:])
	return false
}

// relayEvents moves the events p received to q's outbox; events that do
// not fit are dropped. Mixer only.
func (p *roomParty) relayEvents(q *roomParty) {
	head, tail := p.evHead.Load(), p.evTail.Load()
	qTail := q.outEvTail.Load()
	for ; head != tail; head++ {
		if qTail-q.outEvHead.Load() == feedEvents {
			head = tail
			break
		}
		q.outEv[qTail%feedEvents] = p.ev[head%feedEvents]
		qTail++
	}
	q.outEvTail.Store(qTail)
	p.evHead.Store(head)
}

// mix is one tick of the room (see Room); a clock calls it when a party's
// outbox is empty. If another clock is mixing it returns at once. It never
// allocates.
func (r *Room) mix() {
	if !r.mixing.CompareAndSwap(false, true) {
		return
	}
	v := r.view.Load()
	rec := r.rec.Load()
	ann := r.announce.Load()
	r.gen++
	gen := r.gen
	// A room of two without a coach or an announcement is a bridge: each
	// party's mix is the other's voice as it is, so it is copied, not summed
	// and subtracted.
	pair := len(v.parties) == 2 && len(v.coaches) == 0 && ann == nil
	total := &r.total
	if !pair || rec != nil {
		clear(total[:])
	}
	for _, p := range v.parties {
		voiced := p.take()
		p.curGen = gen
		p.held = p.hold.Load() != nil
		p.heard = voiced && !p.held && p.coachOf == nil && !p.muted.Load()
		if p.heard && (!pair || rec != nil) {
			for i, s := range &p.cur {
				total[i] += int32(s)
			}
		}
	}
	if ann != nil {
		r.mixAnnouncement(ann)
	}
	if len(v.parties) == 2 {
		a, b := v.parties[0], v.parties[1]
		a.relayEvents(b)
		b.relayEvents(a)
	} else {
		for _, p := range v.parties {
			p.evHead.Store(p.evTail.Load())
		}
	}
	if pair {
		a, b := v.parties[0], v.parties[1]
		a.deliverVoice(b)
		b.deliverVoice(a)
	} else {
		r.whisper(v, gen)
		for _, p := range v.parties {
			if !p.held {
				p.deliver(total, gen)
			}
		}
	}
	if rec != nil {
		rec.put(total, gen)
	}
	r.mixing.Store(false)
}

// mixAnnouncement adds the announcement's next frame to the total, and
// ends it after its last. Mixer only.
func (r *Room) mixAnnouncement(ann *roomAnnouncement) {
	end := min(ann.pos+codec.FrameSamples, len(ann.pcm))
	for i, s := range ann.pcm[ann.pos:end] {
		r.total[i] += int32(s)
	}
	ann.pos = end
	if end == len(ann.pcm) {
		r.announce.CompareAndSwap(ann, nil)
	}
}

// whisper adds up, for each coach's target, what its coaches say. Mixer
// only.
func (r *Room) whisper(v *roomView, gen uint64) {
	for _, c := range v.coaches {
		t := c.coachOf
		if c.held || c.muted.Load() {
			continue
		}
		if t.whisperGen != gen {
			t.whisperGen = gen
			for i, s := range &c.cur {
				t.whisper[i] = int32(s)
			}
			continue
		}
		for i, s := range &c.cur {
			t.whisper[i] += int32(s)
		}
	}
}

// deliverVoice writes other's voice (silence when the room does not hear
// it) to the party's outbox, for a room of two. Mixer only.
func (p *roomParty) deliverVoice(other *roomParty) {
	if p.held {
		return
	}
	tail := p.outTail.Load()
	if tail-p.outHead.Load() == outboxFrames {
		return
	}
	out := &p.out[tail%outboxFrames]
	if other.heard && !p.deaf.Load() {
		*out = other.cur
	} else {
		clear(out[:])
	}
	p.outTail.Store(tail + 1)
}

// deliver writes the party's mix, clamp(total - own + whisper), to its
// outbox (dropped when the party has not taken the last outboxFrames).
// Mixer only.
func (p *roomParty) deliver(total *[codec.FrameSamples]int32, gen uint64) {
	tail := p.outTail.Load()
	if tail-p.outHead.Load() == outboxFrames {
		return
	}
	out := &p.out[tail%outboxFrames]
	whisper := p.whisperGen == gen
	switch {
	case p.deaf.Load():
		clear(out[:])
	case p.heard && !whisper:
		cur := &p.cur
		for i := range codec.FrameSamples {
			out[i] = saturate(total[i] - int32(cur[i]))
		}
	case !p.heard && !whisper:
		for i, t := range total {
			out[i] = saturate(t)
		}
	default:
		for i, t := range total {
			if p.heard {
				t -= int32(p.cur[i])
			}
			out[i] = saturate(t + p.whisper[i])
		}
	}
	p.outTail.Store(tail + 1)
}

// saturate clamps a sum of samples to 16 bits: loud parties clip rather
// than wrap around.
func saturate(v int32) int16 {
	return int16(max(-32768, min(32767, v)))
}

// next is the party's frame for this tick; called by its session's clock
// from buildFrame. It returns a relayed telephone-event packet (isEvent), the
// wait prompt on hold, or the room's mix for this party (silence if none).
// It never allocates.
func (p *roomParty) next(tx *txState, cfg *sendConfig) (payload []byte, pt uint8, ts uint32, marker, isEvent bool) {
	if payload, marker, ok := p.nextEvent(tx, cfg); ok {
		return payload, cfg.eventPayloadType, p.outEvTS, marker, true
	}
	if wait := p.hold.Load(); wait != nil {
		if wait != p.holding {
			p.holding, p.holdPos = wait, 0
		}
		payload = cfg.silence[:]
		if frames := wait.Frames(cfg.law); len(frames) > 0 {
			payload = frames[p.holdPos%len(frames)]
			p.holdPos = (p.holdPos + 1) % len(frames)
		}
		p.outHead.Store(p.outTail.Load()) // what was mixed before the hold
		return payload, cfg.payloadType, tx.ts, tx.marker, false
	}
	p.holding = nil
	head, tail := p.outHead.Load(), p.outTail.Load()
	if head == tail {
		p.room.mix()
		tail = p.outTail.Load()
	}
	payload = cfg.silence[:]
	if head != tail {
		if tail-head > outboxKeep { // fell behind: drop the oldest
			head = tail - outboxKeep
		}
		encodeG711(cfg.law, p.frame[:], p.out[head%outboxFrames][:])
		p.outHead.Store(head + 1)
		payload = p.frame[:]
	}
	return payload, cfg.payloadType, tx.ts, tx.marker, false
}

// nextEvent takes the next relayed event this party can send; events
// arriving on a party without telephone-event are dropped.
func (p *roomParty) nextEvent(tx *txState, cfg *sendConfig) (payload []byte, marker, ok bool) {
	head, tail := p.outEvHead.Load(), p.outEvTail.Load()
	if head == tail {
		return nil, false, false
	}
	if cfg.eventPayloadType == 0 {
		p.outEvHead.Store(tail)
		return nil, false, false
	}
	ev := &p.outEv[head%feedEvents]
	if !p.haveEv || ev.ts != p.lastEvTS {
		p.haveEv, p.lastEvTS, p.outEvTS = true, ev.ts, tx.ts
		marker = true
	}
	copy(p.event[:], ev.payload[:])
	p.outEvHead.Store(head + 1)
	return p.event[:], marker, true
}
