package media

import (
	"testing"
	"time"

	"github.com/pivotua/pivotua/codec"
	"github.com/pivotua/pivotua/internal/testkit"
)

// An announcement (a conference's entry beep) is mixed once into what every party hears, the
// room of two included, and then the room goes back to the voices alone.
func TestRoomAnnouncementIsHeardByEveryPartyOnce(t *testing.T) {
	for _, laws := range [][]codec.Law{roomLaws, {codec.PCMU, codec.PCMA}} {
		r, ss, ps := roomParties(t, laws, nil)
		r.Announce(tonePrompt(400, 300*time.Millisecond))
		got := talk(t, ss, ps, laws, make([]float64, len(laws)), 800*time.Millisecond)
		for i, pcm := range got {
			if n := testkit.CountToneFrames(pcm, 400); n < 10 || n > 17 {
				t.Errorf("room of %d: party %d heard %d frames of the 300 ms announcement, want about 15", len(laws), i, n)
			}
		}
	}
}

// A deaf party hears nothing of the room and is still heard.
func TestRoomDeafPartyHearsNothingAndIsHeard(t *testing.T) {
	r, ss, ps := roomParties(t, roomLaws, map[int]PartyOptions{0: {Deaf: true}})
	got := talk(t, ss, ps, roomLaws, []float64{500, 800, 1200}, 800*time.Millisecond)
	judge(t, "deaf party", got[0], nil, []float64{500, 800, 1200})
	judge(t, "party 800", got[1], []float64{500, 1200}, []float64{800})
	if err := r.SetDeaf(ss[0], false); err != nil {
		t.Fatal(err)
	}
	got = talk(t, ss, ps, roomLaws, []float64{500, 800, 1200}, 800*time.Millisecond)
	judge(t, "party no longer deaf", got[0], []float64{800, 1200}, []float64{500})
}

// Mixing an announcement in allocates nothing per tick, like the rest of the mix.
func TestRoomAnnouncementTickDoesNotAllocate(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts are not meaningful under -race")
	}
	rb := newRoomBench(t, 5)
	rb.room.Announce(tonePrompt(400, 10*time.Second))
	if n := testing.AllocsPerRun(200, func() {
		for range 5 {
			rb.partyTick()
		}
	}); n != 0 {
		t.Errorf("a tick of a room of 5 with an announcement: %v allocs", n)
	}
	if rb.room.announce.Load() == nil {
		t.Error("the 10 s announcement ended within 200 ticks")
	}
}
