package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"text/tabwriter"
)

// roomLevel is one level of the rooms mode: rooms x size parties.
type roomLevel struct{ rooms, size int }

func (l roomLevel) String() string { return fmt.Sprintf("%dx%d", l.rooms, l.size) }

// roomLevels parses "200x5,1x100" (rooms x parties); a malformed entry is an error naming it.
func roomLevels(s string) ([]roomLevel, error) {
	var out []roomLevel
	for _, f := range strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == ' ' }) {
		a, b, ok := strings.Cut(strings.ToLower(f), "x")
		r, err1 := strconv.Atoi(a)
		p, err2 := strconv.Atoi(b)
		if !ok || err1 != nil || err2 != nil || r < 1 || p < 2 || p > 250 {
			return nil, fmt.Errorf("room level %q: want ROOMSxPARTIES, 2-250 parties a room", f)
		}
		out = append(out, roomLevel{r, p})
	}
	return out, nil
}

// roomDoc is the rooms level's webhook: the k-th pivot request joins room-(k mod rooms), so N
// callers fill the rooms in turn, and a call replacing one that ended (SIPp replaces them in the
// order it started them) takes its place in the same room. No beep and an empty waitUrl (silence):
// what a party hears is the other parties' mix, nothing the room plays itself.
func roomDoc(n, size int) func() []byte {
	rooms := max(1, n/size)
	var k atomic.Int64
	return func() []byte {
		room := (k.Add(1) - 1) % int64(rooms)
		return []byte(fmt.Sprintf(`<?xml version="1.0" encoding="UTF-8"?><Response><Dial><Conference beep="false" waitUrl="">room-%d</Conference></Dial></Response>`, room))
	}
}

// runRooms runs each rooms level: N = rooms x size parties, each a SIPp call in a conference room
// of size parties, rtpgen sending its tone into every party and measuring what each hears (the
// mix of the others). Every level runs: a big room and many small ones are different loads, so one
// hitting a limit does not say the other would.
func runRooms(ctx context.Context, o options, bin, gen, work, resDir string, res *Result) {
	for _, l := range o.roomLevels {
		if ctx.Err() != nil {
			return
		}
		n := l.rooms * l.size
		fmt.Printf("== rooms %s: %d parties in conference rooms of %d\n", l, n, l.size)
		o.roomSize = l.size
		cr, err := runConcurrency(ctx, o, bin, gen, work, resDir, n, kindRoom)
		if err != nil {
			res.Notes = append(res.Notes, fmt.Sprintf("rooms %s: %v", l, err))
			fmt.Fprintln(os.Stderr, "rooms:", err)
		}
		if cr != nil {
			res.Rooms = append(res.Rooms, *cr)
			printConc([]ConcResult{*cr})
			printRooms([]ConcResult{*cr})
		}
	}
}

// RoomCensus is what the Conferences API showed after a rooms level's window, while its calls were
// still up: the rooms live and the fewest and most parties in one, so the table says the calls
// were in the rooms it names.
type RoomCensus struct {
	Rooms      int    `json:"rooms_live"`
	Parties    int    `json:"parties"`
	MinParties int    `json:"min_parties"`
	MaxParties int    `json:"max_parties"`
	Error      string `json:"error,omitempty"`
}

// roomCensus lists the account's conferences in progress and each one's participants.
func roomCensus(httpURL string) *RoomCensus {
	c := newAPIClient(httpURL)
	c.base = strings.TrimSuffix(c.base, "/Calls") + "/Conferences"
	rc := &RoomCensus{}
	var list struct {
		Conferences []struct {
			Sid string `json:"sid"`
		} `json:"conferences"`
	}
	if _, err := c.do("GET", ".json?"+url.Values{"Status": {"in-progress"}, "PageSize": {"1000"}}.Encode(), nil, &list); err != nil {
		rc.Error = err.Error()
		return rc
	}
	rc.Rooms = len(list.Conferences)
	for i, cf := range list.Conferences {
		var ps struct {
			Participants []json.RawMessage `json:"participants"`
		}
		if _, err := c.do("GET", "/"+cf.Sid+"/Participants.json?PageSize=1000", nil, &ps); err != nil {
			rc.Error = err.Error()
			return rc
		}
		n := len(ps.Participants)
		rc.Parties += n
		if i == 0 || n < rc.MinParties {
			rc.MinParties = n
		}
		rc.MaxParties = max(rc.MaxParties, n)
	}
	return rc
}

// printRooms is the rooms table: CPU per party-tick, memory per party and what the parties heard.
func printRooms(rs []ConcResult) {
	if len(rs) == 0 {
		return
	}
	w := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(w, "rooms x parties\tN\tup@win/end\trooms live (parties min-max)\tcore %\tµs/party-tick\tKB/party\tgen %\tother %\tsteal %\tfailed\tloss out\tloss in\tdrops srv/gen\tp50/p99/p99.9 dev ms\tmax Δ ms\tsilent heard\trunq %/µs\tlimit\tmissed\t")
	for _, c := range rs {
		p := c.Pacing
		if p == nil {
			p = &Pacing{}
		}
		var genDrops, silent, audio int64
		if c.Gen != nil {
			genDrops, silent, audio = max(c.Gen.Drops, c.GenProcDrops), c.Gen.SilentFrames, c.Gen.RxAudio
		}
		census := "-"
		if rc := c.Census; rc != nil {
			census = fmt.Sprintf("%d (%d-%d)", rc.Rooms, rc.MinParties, rc.MaxParties)
			if rc.Error != "" {
				census = "error: " + rc.Error
			}
		}
		fmt.Fprintf(w, "%dx%d\t%d\t%d/%d\t%s\t%.1f\t%.2f\t%.1f\t%.1f\t%.1f\t%.1f\t%d/%d\t%d/%d\t%.0f/%.0f\t%d/%d\t%.2f/%.2f/%.2f\t%.1f\t%d/%d\t%.1f/%.0f\t%s\t%s\t\n",
			c.Rooms, c.RoomSize, c.N, c.ConcAtWindow, c.ConcAtEnd, census, c.CPU.UACorePct, c.UsPerPartyTick, c.KBPerCall,
			c.CPU.GenCorePct, c.CPU.OtherPct, c.CPU.StealPct, c.Failed, c.Successful+c.Failed, p.Lost, p.Expected,
			c.EchoLost, c.EchoLost+c.EchoReceived, c.ServerSocketDrops, genDrops, p.DevP50Ms, p.DevP99Ms, p.DevP999Ms,
			p.MaxDeltaMs, silent, audio, c.Runq.Pct, c.Runq.PerSliceUs, c.Limit, strings.Join(c.Misses, ", "))
	}
	w.Flush()
	fmt.Println()
}
