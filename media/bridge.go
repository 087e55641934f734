package media

import "sync"

// Bridge relays media between two sessions anchored in pivotua (Dial's A and
// B legs), both on one Engine: it is a room of two (room.go).
//
// Each leg keeps sending on its own stream, paced by the engine's send
// clock, with its own SSRC, sequence numbers and timestamps. What arrives on
// one leg is not forwarded packet by packet: its audio goes into the leg's
// FIFO in the room, and the other leg's clock sends one 20 ms frame of it per
// tick, in its own G.711 law, in place of silence or prompts. So packet
// sizes (a 30 ms sender), jitter and gaps on one leg never show on the
// other: the other leg's stream stays a clean 20 ms stream, with silence on
// underrun. In a room of two the mix of the other party is its voice
// unchanged (total minus one's own voice, in int32), so the bridge adds no
// mixing loss: a frame leaves as it came, or transcoded PCMU<->PCMA by
// table. RFC 4733 events received on one leg are re-sent, one per tick and
// in order, on the other leg's telephone-event payload type, with a
// timestamp of its own clock and the sender's durations and end bits
// (dropped if that leg negotiated none).
//
// The FIFO waits for two frames before it starts (and again after running
// dry), which absorbs 30 ms packets and jitter at 40 ms of added delay;
// beyond maxFeedFrames it drops the oldest audio, so clock drift between the
// far ends cannot build up delay. A callee opened WithTickOf its caller
// shares the caller's tick, so what one leg reads leaves on the other in the
// same tick.
type Bridge struct {
	room   *Room
	a, b   *Session
	ab, ba *roomParty // the parties of a and b: ab holds what is received on a, heard on b
	once   sync.Once
}

const (
	primeFeedFrames = 2  // frames queued before a party's audio is mixed
	maxFeedFrames   = 10 // 200 ms; beyond it the oldest audio is dropped
	feedEvents      = 16 // telephone-event packets waiting; more are dropped
)

type relayedEvent struct {
	ts      uint32 // sender's event timestamp: identifies the event (RFC 4733 §2.5.1.2)
	payload [telephoneEventSize]byte
}

// NewBridge connects a and b until Stop: a hears what b sends and b what a
// sends. A session in another bridge or room gives ErrBusy. The sessions
// must be started (Start) for media to flow; prompts playing on them are
// held until Stop (Play blocks meanwhile).
func NewBridge(a, b *Session) (*Bridge, error) {
	if a == nil || b == nil || a == b || a.e != b.e {
		return nil, ErrInvalidParams
	}
	r := NewRoom()
	if err := r.Join(a, PartyOptions{}); err != nil {
		return nil, err
	}
	if err := r.Join(b, PartyOptions{}); err != nil {
		r.Leave(a)
		return nil, err
	}
	v := r.view.Load()
	return &Bridge{room: r, a: a, b: b, ab: v.parties[0], ba: v.parties[1]}, nil
}

// Stop ends the bridge: each session goes back to its own prompts and
// silence (the next packet carries the marker bit). A recording of the
// bridge stops receiving audio; stop it with its own Stop. Stop twice is
// harmless.
func (br *Bridge) Stop() {
	br.once.Do(func() {
		br.room.Leave(br.a)
		br.room.Leave(br.b)
	})
}
