package main

import (
	"fmt"
	"strings"
	"testing"
)

func TestRoomLevels(t *testing.T) {
	got, err := roomLevels("200x5, 1X100")
	if err != nil || fmt.Sprint(got) != "[200x5 1x100]" {
		t.Fatalf("got %v, %v", got, err)
	}
	for _, bad := range []string{"200", "x5", "0x5", "10x1", "1x251", "ax5", "2x5x1"} {
		if _, err := roomLevels(bad); err == nil || !strings.Contains(err.Error(), bad) {
			t.Errorf("%q: error %v, want one naming it", bad, err)
		}
	}
}

// The k-th caller joins room k mod R: R rooms of P parties once N = R×P callers are in, and the
// caller replacing the k-th (the (k+N)-th) joins the same room.
func TestRoomDocSpreadsCallers(t *testing.T) {
	doc := roomDoc(15, 5)
	count := map[string]int{}
	var first []string
	for k := range 30 {
		d := string(doc())
		if !strings.Contains(d, `<Conference beep="false" waitUrl="">`) {
			t.Fatalf("document %s", d)
		}
		room := d[strings.Index(d, "room-"):strings.Index(d, "</Conference>")]
		if k < 15 {
			count[room]++
			first = append(first, room)
		} else if room != first[k-15] {
			t.Errorf("caller %d joined %s, the caller it replaced %s", k, room, first[k-15])
		}
	}
	if len(count) != 3 || count["room-0"] != 5 || count["room-1"] != 5 || count["room-2"] != 5 {
		t.Errorf("rooms %v, want room-0..2 with 5 each", count)
	}
}
