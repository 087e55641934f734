package mediastream

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"

	"github.com/pivotua/pivotua/httpfetch"
)

// FrameSamples is one 20 ms frame of 8 kHz audio, in bytes of μ-law.
const FrameSamples = 160

// Parameter is a <Parameter name value/> of the stream: it reaches the application in
// start.customParameters.
type Parameter struct{ Name, Value string }

// Options describe one stream.
type Options struct {
	URL        string // ws:// or wss://
	SigningKey string // signs the upgrade request (X-Twilio-Signature); "" signs nothing
	AccountSID string
	CallSID    string
	StreamSID  string // "" draws one (NewStreamSID)
	// Inbound and Outbound are the tracks sent: what the caller says, what pivotua plays to
	// the caller.
	Inbound, Outbound bool
	// Bidirectional streams (<Connect><Stream>) play the application's audio to the caller and
	// report its keys; others (forks) ignore what the application sends.
	Bidirectional bool
	Parameters    []Parameter
}

func (o *Options) tracks() []string {
	var t []string
	if o.Inbound {
		t = append(t, "inbound")
	}
	if o.Outbound {
		t = append(t, "outbound")
	}
	return t
}

// Frame is one 20 ms frame of a track, as Audio hands it over.
type Frame struct {
	Outbound  bool   // the outbound track (what the caller hears); else inbound
	Chunk     uint64 // 1, 2, ... per track
	Timestamp int64  // milliseconds since the stream started
	Payload   [FrameSamples]byte
}

// Audio is the call's audio for a stream; flow implements it with a media.Tap. The clock fills
// it and never waits: Next takes what is there, Ready signals that more came.
type Audio interface {
	Next(f *Frame) bool
	Ready() <-chan struct{}
}

// Player plays the application's audio to the caller; flow implements it with a
// media.StreamFeed, which the clock drains one frame a tick.
type Player interface {
	Write(ulaw []byte) error // all or nothing; an error when the queue has no room
	Mark(id uint64) error    // id comes back on Marks once the audio before it was played
	Clear()                  // drop the queue; pending marks come back at once
	Marks() <-chan uint64
}

// Client opens streams. It is safe for concurrent use; one per process.
type Client struct {
	cfg       Config
	http      *http.Client
	userAgent string
}

// NewClient returns a Client that never connects to an address in deny (fetch.deny_cidrs,
// checked on the resolved address by httpfetch's transport).
func NewClient(cfg Config, deny []netip.Prefix, userAgent string) *Client {
	return &Client{
		cfg: cfg,
		http: &http.Client{
			Transport: withBatchConns(httpfetch.NewGuardedTransport(deny)),
			// A stream URL answers 101 or fails: following a redirect would let it point the
			// signed upgrade somewhere else.
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		},
		userAgent: userAgent,
	}
}

// Config is the client's checked settings.
func (c *Client) Config() Config { return c.cfg }

// NewStreamSID draws a Twilio-shaped stream id: MZ and 32 hex digits.
func NewStreamSID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return "MZ" + hex.EncodeToString(b[:])
}

// CheckURL says why raw is not a usable stream URL, or "".
func CheckURL(raw string) string {
	u, err := url.Parse(strings.TrimSpace(raw))
	if err != nil {
		return "must be a URL"
	}
	if s := strings.ToLower(u.Scheme); s != "ws" && s != "wss" {
		return "must be a ws:// or wss:// URL"
	}
	if u.Hostname() == "" {
		return "must name a host"
	}
	if u.User != nil {
		return "must not carry credentials"
	}
	return ""
}

// Stream is one open WebSocket to an application.
type Stream struct {
	c    *Client
	conn *websocket.Conn
	opts Options

	dtmf chan byte // keys to report; SendDTMF drops beyond its room

	// connCtx ends when the connection is done for; reads and writes use it. Cancelling it closes
	// the socket at once, so a close frame with a reason is sent before (fail).
	connCtx    context.Context
	cancelConn context.CancelFunc
	causeOnce  sync.Once
	causeErr   error        // the first reason the stream ended; written in causeOnce, read after it
	writingAt  atomic.Int64 // unix nanos a write began, 0 when none runs (the watchdog reads it)

	marksMu sync.Mutex
	marks   map[uint64]string // mark id -> name, while its audio plays
	markID  uint64

	dropped atomic.Uint64 // frames the application's queue could not take (see Run)

	batch *batchConn // the connection under the WebSocket; nil when the transport reused one (batch.go)
}

// Dial opens the WebSocket: a GET upgrade to o.URL within streams.connect_timeout, signed like
// Twilio's (X-Twilio-Signature over the URL exactly as given; a GET carries no parameters).
func (c *Client) Dial(ctx context.Context, o Options) (*Stream, error) {
	if msg := CheckURL(o.URL); msg != "" {
		return nil, fmt.Errorf("%w: %q %s", ErrBadURL, o.URL, msg)
	}
	if o.StreamSID == "" {
		o.StreamSID = NewStreamSID()
	}
	o.URL = strings.TrimSpace(o.URL)
	h := http.Header{}
	if c.userAgent != "" {
		h.Set("User-Agent", c.userAgent)
	}
	if o.SigningKey != "" {
		h.Set(httpfetch.HeaderTwilioSignature, httpfetch.TwilioSignature(o.SigningKey, o.URL, nil))
	}
	slot := &batchSlot{}
	dctx, cancel := context.WithTimeout(context.WithValue(ctx, batchSlotKey{}, slot), c.cfg.ConnectTimeout)
	defer cancel()
	conn, resp, err := websocket.Dial(dctx, o.URL, &websocket.DialOptions{
		HTTPClient: c.http, HTTPHeader: h, CompressionMode: websocket.CompressionDisabled,
	})
	if err != nil {
		switch {
		case resp != nil:
			return nil, fmt.Errorf("%w: %s answered %s, not 101 Switching Protocols", ErrConnect, displayURL(o.URL), resp.Status)
		case dctx.Err() != nil && ctx.Err() == nil:
			return nil, fmt.Errorf("%w: %s: no WebSocket within %v", ErrConnect, displayURL(o.URL), c.cfg.ConnectTimeout)
		}
		return nil, fmt.Errorf("%w: %s: %w", ErrConnect, displayURL(o.URL), err)
	}
	conn.SetReadLimit(int64(c.cfg.MaxMessageBytes))
	s := &Stream{c: c, conn: conn, opts: o, dtmf: make(chan byte, 32), marks: map[uint64]string{}, batch: slot.conn}
	s.connCtx, s.cancelConn = context.WithCancel(context.Background())
	// Reads and writes are given no context of their own: coder/websocket registers a
	// context.AfterFunc per call for one that can end (an allocation and the parent's lock for
	// every 20 ms message both ways). Ending connCtx closes the socket once instead, which fails
	// whatever read or write is under way.
	context.AfterFunc(s.connCtx, func() { _ = s.conn.CloseNow() })
	return s, nil
}

// displayURL is the URL without its query, for logs and errors (a query may hold a token).
func displayURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(bad URL)"
	}
	u.RawQuery, u.User = "", nil
	return u.String()
}

// Abort closes a stream that will not Run (its call could not attach to it), telling the
// application why with 1011.
func (s *Stream) Abort(why string) {
	_ = s.conn.Close(websocket.StatusInternalError, why)
}

// SID is the stream's streamSid.
func (s *Stream) SID() string { return s.opts.StreamSID }

// Dropped counts audio the application sent that could not be queued: none, since a full queue
// closes the stream; kept for the caller's metrics.
func (s *Stream) Dropped() uint64 { return s.dropped.Load() }

// SendDTMF reports a key the caller pressed (bidirectional streams only); it never blocks.
func (s *Stream) SendDTMF(key byte) {
	select {
	case s.dtmf <- key:
	default:
	}
}

// Run sends connected and start, then the call's audio, played marks and keys until ctx ends
// (the call hung up, <Stop><Stream>: stop is sent and the socket closed normally, and Run returns
// nil), the application closes the socket (ErrClosedByApp), breaks the protocol (ErrBadMessage,
// the socket closed with 1008) or stalls (ErrStalled). player is nil for a fork.
func (s *Stream) Run(ctx context.Context, audio Audio, player Player) error {
	defer s.conn.CloseNow()
	defer s.cancelConn()
	go s.read(player)
	go s.watchdog()

	enc := &encoder{streamSID: s.opts.StreamSID, buf: make([]byte, 0, 512)}
	if err := s.write(enc.connected()); err != nil {
		return err
	}
	if err := s.write(enc.start(&s.opts)); err != nil {
		return err
	}
	var marks <-chan uint64
	if player != nil {
		marks = player.Marks()
	}
	var f Frame
	for {
		// The frames waiting (a tick's tracks, a catch-up's frames) leave in one write.
		s.beginBatch()
		for audio.Next(&f) {
			track := "inbound"
			if f.Outbound {
				track = "outbound"
			}
			if err := s.write(enc.media(track, f.Chunk, f.Timestamp, f.Payload[:])); err != nil {
				return err
			}
		}
		if err := s.flushBatch(); err != nil {
			return err
		}
		select {
		case <-audio.Ready():
		case id := <-marks:
			if err := s.write(enc.mark(s.takeMark(id))); err != nil {
				return err
			}
		case key := <-s.dtmf:
			if err := s.write(enc.dtmf(key)); err != nil {
				return err
			}
		case <-ctx.Done():
			// Ours to end: stop is the last message, then a normal close.
			if err := s.write(enc.stop(&s.opts)); err != nil {
				return err
			}
			_ = s.conn.Close(websocket.StatusNormalClosure, "")
			return nil
		case <-s.connCtx.Done():
			return s.cause()
		}
	}
}

// write sends one message, watched for stalls.
func (s *Stream) write(b []byte) error {
	s.writingAt.Store(time.Now().UnixNano())
	err := s.conn.Write(context.Background(), websocket.MessageText, b) // connCtx closes the socket (Dial)
	s.writingAt.Store(0)
	if err != nil {
		if s.batch != nil {
			// A close frame the reader wrote (fail) may be in the batch: it goes out before the
			// socket is closed.
			_ = s.batch.flush()
		}
		s.end(fmt.Errorf("%w: write: %v", ErrClosedByApp, err))
		return s.cause()
	}
	return nil
}

func (s *Stream) beginBatch() {
	if s.batch != nil {
		s.batch.begin()
	}
}

// flushBatch writes what the batch gathered, watched for stalls as write is.
func (s *Stream) flushBatch() error {
	if s.batch == nil {
		return nil
	}
	s.writingAt.Store(time.Now().UnixNano())
	err := s.batch.flush()
	s.writingAt.Store(0)
	if err != nil {
		s.end(fmt.Errorf("%w: write: %v", ErrClosedByApp, err))
		return s.cause()
	}
	return nil
}

// end records why the stream ended (the first reason wins) and closes the connection.
func (s *Stream) end(err error) {
	s.causeOnce.Do(func() { s.causeErr = err })
	s.cancelConn()
}

// cause is why the connection ended; called once connCtx is done.
func (s *Stream) cause() error {
	s.causeOnce.Do(func() { s.causeErr = ErrClosedByApp })
	return s.causeErr
}

// watchdog ends a stream whose write has not finished within stall_timeout: the application
// stopped reading, and the kernel's buffers are full.
func (s *Stream) watchdog() {
	stall := s.c.cfg.StallTimeout
	t := time.NewTicker(max(stall/4, 10*time.Millisecond))
	defer t.Stop()
	for {
		select {
		case <-s.connCtx.Done():
			return
		case now := <-t.C:
			if at := s.writingAt.Load(); at != 0 && now.UnixNano()-at > int64(stall) {
				s.end(fmt.Errorf("%w: a message was not taken within %v", ErrStalled, stall))
				return
			}
		}
	}
}

// read takes the application's messages until the connection ends. Its audio goes to player,
// decoded here, off the media clock; a message that breaks a bound ends the stream.
func (s *Stream) read(player Player) {
	// The decoded audio of a media message: grown to the largest message read (base64 decodes to
	// less than it reads), not allocated at max_message_bytes up front, which was 64 KiB of every
	// stream's memory for messages that are mostly 20 ms, a few hundred bytes.
	var audio []byte
	var p appParser
	msg := make([]byte, 0, 512) // the message read: reused, grown to the largest one
	for {
		typ, b, err := s.readMessage(msg[:0])
		msg = b[:0]
		if err != nil {
			var ce websocket.CloseError
			switch {
			case s.connCtx.Err() != nil:
			case errors.As(err, &ce):
				s.end(fmt.Errorf("%w (status %d %q)", ErrClosedByApp, ce.Code, ce.Reason))
			case strings.Contains(err.Error(), "read limited"):
				s.fail(websocket.StatusMessageTooBig, fmt.Sprintf("a message over %d bytes", s.c.cfg.MaxMessageBytes))
			default:
				s.end(fmt.Errorf("%w: %v", ErrClosedByApp, err))
			}
			return
		}
		if player == nil {
			continue // a fork: Twilio's one-way streams take nothing from the application
		}
		if typ != websocket.MessageText {
			s.fail(websocket.StatusUnsupportedData, "a binary message (the protocol is JSON text)")
			return
		}
		if need := base64.StdEncoding.DecodedLen(len(b)); cap(audio) < need {
			audio = make([]byte, need)
		}
		m, pcm, err := p.parse(b, audio)
		if err != nil {
			s.fail(websocket.StatusPolicyViolation, err.Error())
			return
		}
		if m.StreamSID != "" && m.StreamSID != s.opts.StreamSID {
			s.fail(websocket.StatusPolicyViolation, fmt.Sprintf("%s for streamSid %q, not this stream's %s", m.Event, m.StreamSID, s.opts.StreamSID))
			return
		}
		switch m.Event {
		case "media":
			if err := player.Write(pcm); err != nil {
				s.fail(websocket.StatusPolicyViolation, fmt.Sprintf("media: more than %v of audio queued (%v)", s.c.cfg.MaxQueuedAudio, err))
				return
			}
		case "mark":
			id := s.addMark(m.Mark.Name)
			if err := player.Mark(id); err != nil {
				s.takeMark(id)
				s.fail(websocket.StatusPolicyViolation, fmt.Sprintf("mark: more than %d marks pending", s.c.cfg.MaxPendingMarks))
				return
			}
		case "clear":
			player.Clear()
		}
		// Other events are Twilio's to add; an application may send them to another platform.
	}
}

// readMessage reads the application's next message into buf (conn.Read allocates each one afresh,
// growing it from 512 bytes: several allocations per 20 ms message). The read limit
// (max_message_bytes) applies as to Read.
func (s *Stream) readMessage(buf []byte) (websocket.MessageType, []byte, error) {
	typ, r, err := s.conn.Reader(context.Background()) // connCtx closes the socket (Dial)
	if err != nil {
		return typ, buf, err
	}
	for {
		if len(buf) == cap(buf) {
			buf = append(buf, 0)[:len(buf)]
		}
		n, err := r.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if err == io.EOF {
			return typ, buf, nil
		}
		if err != nil {
			return typ, buf, err
		}
	}
}

// fail ends the stream for a bad message: the application is told why in the close frame (1008
// and the reason, bounded as RFC 6455 §5.5 bounds control frames).
func (s *Stream) fail(code websocket.StatusCode, why string) {
	s.causeOnce.Do(func() { s.causeErr = fmt.Errorf("%w: %s", ErrBadMessage, why) })
	reason := why
	if len(reason) > 120 {
		reason = strings.ToValidUTF8(reason[:120], "")
	}
	_ = s.conn.Close(code, reason) // the reader's own goroutine: nobody else reads the reply
	s.cancelConn()
}

func (s *Stream) addMark(name string) uint64 {
	s.marksMu.Lock()
	defer s.marksMu.Unlock()
	s.markID++
	s.marks[s.markID] = name
	return s.markID
}

func (s *Stream) takeMark(id uint64) string {
	s.marksMu.Lock()
	defer s.marksMu.Unlock()
	name := s.marks[id]
	delete(s.marks, id)
	return name
}
