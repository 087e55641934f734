package flow

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/pivotua/pivotua/media"
	"github.com/pivotua/pivotua/mediastream"
)

// EventStream is a media stream that ended: url, stream_sid, name, direction, ended_by ("call",
// "stop", "app", "error") and error.
const EventStream = "stream"

const (
	// maxForks is Twilio's limit of <Start><Stream> forks running on one call.
	maxForks = 4
	// maxStreamParameters bounds the <Parameter> children of one <Stream>.
	maxStreamParameters = 64
	// streamStopWait bounds how long a call's end waits for its forks to send stop.
	streamStopWait = 5 * time.Second
)

// streamNoun is <Stream> inside <Connect> or <Start>: where the call's audio goes, which tracks,
// and the custom parameters the application gets in its start message.
type streamNoun struct {
	url        string
	name       string
	inbound    bool
	outbound   bool
	parameters []mediastream.Parameter
	callback   string // statusCallback: where the stream's events are posted; "" = nowhere
	cbMethod   string // statusCallbackMethod (POST)
}

func parseStreamNoun(p *twimlParser, e *xmlElement, path string, bidirectional bool) *streamNoun {
	a := p.attrs(e, path, "url", "name", "track", "statusCallback", "statusCallbackMethod")
	n := &streamNoun{name: strings.TrimSpace(a["name"])}
	n.url = strings.TrimSpace(a["url"])
	if _, ok := a["url"]; !ok {
		p.fail(path+"@url", "required")
	} else if msg := mediastream.CheckURL(n.url); msg != "" {
		p.fail(path+"@url", msg)
	}
	allowed := []string{"inbound_track", "outbound_track", "both_tracks"}
	if bidirectional {
		allowed = allowed[:1] // Twilio: a bidirectional stream carries the caller's track only
	}
	switch p.enumAttr(a, path, "track", "inbound_track", allowed...) {
	case "inbound_track":
		n.inbound = true
	case "outbound_track":
		n.outbound = true
	case "both_tracks":
		n.inbound, n.outbound = true, true
	}
	if _, ok := a["statusCallback"]; ok {
		n.callback = p.urlAttr(a, path, "statusCallback")
	}
	n.cbMethod = p.enumAttr(a, path, "statusCallbackMethod", "POST", "GET", "POST")
	p.noText(e, path)
	p.eachChild(e, path, func(child *xmlElement, cpath string) {
		if child.name != "Parameter" {
			p.fail(cpath, fmt.Sprintf("<%s> is not allowed in <Stream>", child.name))
			return
		}
		pa := p.attrs(child, cpath, "name", "value")
		p.noText(child, cpath)
		p.noChildren(child, cpath)
		name := strings.TrimSpace(pa["name"])
		if name == "" {
			p.fail(cpath+"@name", "required")
			return
		}
		if len(n.parameters) == maxStreamParameters {
			p.fail(cpath, fmt.Sprintf("more than %d <Parameter>s", maxStreamParameters))
			return
		}
		n.parameters = append(n.parameters, mediastream.Parameter{Name: name, Value: pa["value"]})
	})
	return n
}

// startVerb is <Start><Stream>: a one-way fork of the call's audio that runs beside the verbs that
// follow, until <Stop><Stream>, its application closing it, or the call's end.
type startVerb struct{ stream *streamNoun }

func parseStartVerb(p *twimlParser, e *xmlElement, path string) twimlVerb {
	p.attrs(e, path) // action and method are refused (twiml_attrs.go)
	p.noText(e, path)
	v := &startVerb{}
	p.eachChild(e, path, func(child *xmlElement, cpath string) {
		switch {
		case child.name != "Stream":
			p.fail(cpath, fmt.Sprintf("<%s> is not supported in <Start> (only <Stream>)", child.name))
		case v.stream != nil:
			p.fail(cpath, "one <Stream> per <Start>")
		default:
			v.stream = parseStreamNoun(p, child, cpath, false)
		}
	})
	if v.stream == nil {
		p.fail(path, "<Start> needs a <Stream>")
	}
	return v
}

func (v *startVerb) run(ctx context.Context, c *Call, _ int) twimlOutcome {
	if c.answer(ctx) != nil {
		return twimlStop
	}
	c.startFork(ctx, v.stream)
	return twimlOutcome{}
}

// stopVerb is <Stop><Stream name>: ends the fork of that name (every fork when it names none).
type stopVerb struct{ name string }

func parseStopVerb(p *twimlParser, e *xmlElement, path string) twimlVerb {
	p.attrs(e, path)
	p.noText(e, path)
	v := &stopVerb{}
	seen := false
	p.eachChild(e, path, func(child *xmlElement, cpath string) {
		if child.name != "Stream" || seen {
			p.fail(cpath, fmt.Sprintf("<%s> is not supported in <Stop> (one <Stream>)", child.name))
			return
		}
		seen = true
		a := p.attrs(child, cpath, "name", "url", "track", "statusCallback", "statusCallbackMethod")
		p.noChildren(child, cpath)
		v.name = strings.TrimSpace(a["name"])
	})
	if !seen {
		p.fail(path, "<Stop> needs a <Stream>")
	}
	return v
}

func (v *stopVerb) run(_ context.Context, c *Call, _ int) twimlOutcome {
	c.stopForks(v.name)
	return twimlOutcome{}
}

// streamState is the call's running forks; owned by the call's goroutine, each fork's goroutine
// only closes its done channel.
type streamState struct {
	forks []*fork
}

type fork struct {
	name string
	sid  string
	stop context.CancelFunc
	done chan struct{}
}

// startFork opens a fork and runs it on a goroutine of its own. A fork that cannot start is a
// warning; the document goes on.
func (c *Call) startFork(ctx context.Context, n *streamNoun) {
	live := c.streams.forks[:0]
	for _, f := range c.streams.forks {
		select {
		case <-f.done:
		default:
			live = append(live, f)
		}
	}
	c.streams.forks = live
	if len(live) >= maxForks {
		c.streamWarning(n, fmt.Sprintf("more than %d <Start><Stream> forks on one call; this one is not started", maxForks))
		return
	}
	sc, err := c.openStream(ctx, n, false)
	if err != nil {
		c.streamEnded(n, "", false, "error", err)
		return
	}
	// The fork lives with the call, not with the verb: its context is the channel's.
	fctx, stop := context.WithCancel(c.ch.Context())
	f := &fork{name: n.name, sid: sc.stream.SID(), stop: stop, done: make(chan struct{})}
	if f.name == "" {
		f.name = f.sid
	}
	c.streams.forks = append(c.streams.forks, f)
	report, log, hungUp := c.forkReporter(), c.log, c.ch.Context()
	go func() {
		defer close(f.done)
		err := sc.run(fctx)
		by := "call"
		switch {
		case err != nil && errors.Is(err, mediastream.ErrClosedByApp):
			by = "app"
		case err != nil:
			by = "error"
		case hungUp.Err() == nil:
			by = "stop"
		}
		if err != nil {
			log.Warn("media stream ended", "stream_sid", f.sid, "url", displayStreamURL(n.url), "err", err)
		}
		report.ended(n, f.sid, by, err)
	}()
}

// stopForks ends the forks named name (all for ""), waiting until each sent stop.
func (c *Call) stopForks(name string) {
	for _, f := range c.streams.forks {
		if name == "" || f.name == name || f.sid == name {
			f.stop()
			waitStreamDone(f.done)
		}
	}
}

// stopStreams ends every fork when the call's flow ends.
func (c *Call) stopStreams() {
	c.stopForks("")
	c.streams.forks = nil
}

func waitStreamDone(done <-chan struct{}) {
	t := time.NewTimer(streamStopWait)
	defer t.Stop()
	select {
	case <-done:
	case <-t.C:
	}
}

// streamConn is an open stream with its hooks in the caller's media session.
type streamConn struct {
	stream *mediastream.Stream
	sess   *media.Session
	tap    *media.Tap
	feed   *media.StreamFeed // nil for a fork
	events *streamCallbacks  // the noun's statusCallback; nil: none
}

// openStream connects to n's application and attaches a tap (and, bidirectional, a feed) to the
// caller's media session.
func (c *Call) openStream(ctx context.Context, n *streamNoun, bidirectional bool) (*streamConn, error) {
	events := c.streamCallbacks(n)
	client := c.deps.Streams
	if client == nil {
		err := errors.New("media streams are not configured")
		events.ended("", err)
		return nil, err
	}
	bl := c.ch.Bridge()
	if bl == nil || bl.Session() == nil {
		err := errors.New("the call has no RTP session of pivotua's own to stream")
		events.ended("", err)
		return nil, err
	}
	sess := bl.Session()
	st, err := client.Dial(ctx, mediastream.Options{
		URL: n.url, SigningKey: c.signingKey, AccountSID: c.accountID, CallSID: c.info.CallID,
		Inbound: n.inbound, Outbound: n.outbound, Bidirectional: bidirectional, Parameters: n.parameters,
	})
	if err != nil {
		events.ended("", err)
		return nil, err
	}
	defer func() {
		if err != nil {
			events.ended(st.SID(), err)
		}
	}()
	var tracks media.TapTrack
	if n.inbound {
		tracks |= media.TapInbound
	}
	if n.outbound {
		tracks |= media.TapOutbound
	}
	sc := &streamConn{stream: st, sess: sess, events: events}
	if sc.tap, err = sess.StartTap(tracks); err != nil {
		st.Abort("the call's media ended")
		return nil, fmt.Errorf("media stream tap: %w", err)
	}
	if bidirectional {
		cfg := client.Config()
		if sc.feed, err = media.NewStreamFeed(cfg.QueueBytes(), cfg.MaxPendingMarks); err == nil {
			err = sess.PlayStream(sc.feed)
		}
		if err != nil {
			sc.tap.Stop()
			st.Abort("the call's media is busy")
			return nil, fmt.Errorf("media stream playback: %w", err)
		}
	}
	events.started(st.SID())
	return sc, nil
}

// run carries the stream until ctx ends or the stream does, then detaches it from the session.
func (sc *streamConn) run(ctx context.Context) (err error) {
	defer func() { sc.events.ended(sc.stream.SID(), err) }()
	defer sc.tap.Stop()
	if sc.feed != nil {
		defer sc.sess.StopStream(sc.feed)
		return sc.stream.Run(ctx, tapAudio{sc.tap}, sc.feed)
	}
	return sc.stream.Run(ctx, tapAudio{sc.tap}, nil)
}

// tapAudio is a media.Tap as mediastream reads it.
type tapAudio struct{ t *media.Tap }

func (a tapAudio) Next(f *mediastream.Frame) bool {
	var tf media.TapFrame
	if !a.t.Next(&tf) {
		return false
	}
	f.Outbound, f.Chunk, f.Timestamp, f.Payload = tf.Track == media.TapOutbound, tf.Chunk, tf.Timestamp, tf.Payload
	return true
}

func (a tapAudio) Ready() <-chan struct{} { return a.t.Ready() }

// forkReporter sends a fork's end event from the fork's goroutine: what it needs of the call is
// copied when the fork starts, so it reads no state the call's goroutine writes.
type forkReporter struct {
	send      func(Event) // nil: the running pivot keeps no debug records
	accountID string
	callID    string
	iteration int
}

func (c *Call) forkReporter() forkReporter {
	r := forkReporter{accountID: c.accountID, callID: c.info.CallID, iteration: c.pivot.iteration}
	if c.events.debug {
		r.send = c.deps.Events
	}
	return r
}

func (r forkReporter) ended(n *streamNoun, sid, by string, err error) {
	if r.send == nil {
		return
	}
	r.send(Event{AccountID: r.accountID, CallID: r.callID, Iteration: r.iteration, At: time.Now(),
		Name: EventStream, Data: streamEventData(n, sid, false, by, err)})
}

// streamEnded reports a stream's end from the call's goroutine.
func (c *Call) streamEnded(n *streamNoun, sid string, bidirectional bool, by string, err error) {
	if err != nil && by == "error" {
		c.log.Warn("media stream failed", "url", displayStreamURL(n.url), "stream_sid", sid, "err", err)
	} else {
		c.log.Info("media stream ended", "url", displayStreamURL(n.url), "stream_sid", sid, "ended_by", by)
	}
	c.event(EventStream, streamEventData(n, sid, bidirectional, by, err))
}

func (c *Call) streamWarning(n *streamNoun, msg string) {
	c.log.Warn(msg, "url", displayStreamURL(n.url))
	c.event(EventWarning, map[string]any{"verb": "Stream", "message": msg})
}

func streamEventData(n *streamNoun, sid string, bidirectional bool, by string, err error) map[string]any {
	d := map[string]any{"url": displayStreamURL(n.url), "ended_by": by, "direction": "fork"}
	if bidirectional {
		d["direction"] = "bidirectional"
	}
	if sid != "" {
		d["stream_sid"] = sid
	}
	if n.name != "" {
		d["name"] = n.name
	}
	if err != nil {
		d["error"] = err.Error()
	}
	return d
}

// displayStreamURL is a stream URL without its query, which may hold a token.
func displayStreamURL(raw string) string {
	u, _, _ := strings.Cut(raw, "?")
	return u
}
