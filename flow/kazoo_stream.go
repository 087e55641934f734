package flow

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/pivotua/pivotua/mediastream"
)

// streamAction is the "stream" module: pivotua's own, since Kazoo has no media streams. It speaks
// Twilio's Media Streams protocol, as <Connect><Stream> and <Start><Stream> do:
//
//	{"module": "stream", "data": {"url": "wss://...", "mode": "bidirectional", "parameters": {"k": "v"}},
//	 "children": {"_": {...}, "error": {...}}}
//
// mode "bidirectional" (the default) holds the flow while the socket is open, then continues with
// "_" when the application closed it, or with "error" (falling back to "_") when it could not be
// opened or broke the protocol; the caller's hangup ends the flow. mode "fork" starts a one-way
// stream of track (inbound, outbound or both) beside the modules that follow and continues at once;
// mode "stop" ends the fork named name (every fork without one).
type streamAction struct {
	mode   string
	stream *streamNoun
	name   string // for stop
}

func parseStream(d *dataReader) kazooAction {
	a := &streamAction{mode: d.enum("mode", "bidirectional", "bidirectional", "fork", "stop")}
	a.name = strings.TrimSpace(d.str("name", ""))
	if a.mode == "stop" {
		return a
	}
	n := &streamNoun{name: a.name}
	if d.required("url") {
		n.url = strings.TrimSpace(d.str("url", ""))
		if msg := mediastream.CheckURL(n.url); msg != "" {
			d.fail("url", msg)
		}
	}
	track := d.enum("track", "inbound", "inbound", "outbound", "both")
	if a.mode == "bidirectional" && track != "inbound" {
		d.fail("track", "a bidirectional stream carries the caller's track only (inbound)")
	}
	n.inbound, n.outbound = track != "outbound", track != "inbound"
	if raw, ok := d.raw("parameters"); ok {
		var params map[string]string
		if err := json.Unmarshal(raw, &params); err != nil {
			d.fail("parameters", "must be an object of strings")
		} else if len(params) > maxStreamParameters {
			d.fail("parameters", fmt.Sprintf("at most %d", maxStreamParameters))
		} else {
			for _, k := range slices.Sorted(maps.Keys(params)) {
				n.parameters = append(n.parameters, mediastream.Parameter{Name: k, Value: params[k]})
			}
		}
	}
	a.stream = n
	return a
}

func (a *streamAction) run(ctx context.Context, c *Call, _ *Node) kazooOutcome {
	switch a.mode {
	case "stop":
		c.stopForks(a.name)
		return continueWith("_")
	case "fork":
		if c.answer(ctx) != nil {
			return stopFlow()
		}
		c.startFork(ctx, a.stream)
		return continueWith("_")
	}
	if c.answer(ctx) != nil {
		return stopFlow()
	}
	c.activity++
	sid, by, err := c.connectStream(ctx, a.stream)
	c.streamEnded(a.stream, sid, true, by, err)
	switch {
	case by == "call" || c.ended() || ctx.Err() != nil:
		return stopFlow()
	case by == "error":
		return continueWith("error")
	}
	return continueWith("_")
}
