// Command streamecho is the bench's media streams application: a WebSocket server on loopback that
// speaks Twilio's Media Streams protocol (twilio.com/docs/voice/media-streams/websocket-messages)
// and echoes each caller's audio back, so that what the caller hears is its own audio after a trip
// through pivotua's tap, the socket both ways and pivotua's paced playback queue.
//
// Each inbound media message is answered at once with a media message carrying the same payload
// (no decoding: the base64 text is copied), and after every 50th a mark, whose return measures how
// long the application's audio waited in pivotua before it was played. It measures, per window, the
// regularity of the caller's frames as they reach it (|Δ − 20 ms| between a stream's media
// messages, at its own read: its scheduling is in the figure) and the marks' round trips.
//
// The harness (bench/cmd/loadrun) drives it like rtpgen: it prints one JSON line when it listens,
// each "mark" on stdin is answered with one JSON line (genwindow.Echo), and "quit", the end of stdin
// or -bound end it.
package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/coder/websocket"

	"github.com/pivotua/pivotua/bench/internal/genwindow"
)

const (
	frameNs   = 20_000_000
	markEvery = 50          // media messages echoed between two marks: one a second
	histBins  = 100_000     // |Δ − 20 ms| at 1 µs up to 100 ms; beyond in the last bin
	markBins  = 10_000      // mark round trips at 100 µs up to 1 s; beyond in the last bin
	maxMsg    = 64 << 10    // pivotua's messages are a few hundred bytes
	markUnit  = 100_000     // ns per mark bin
	sidMax    = 64          // a streamSid longer than this is not pivotua's
	idleClose = time.Hour   // a connection the harness forgot
	bufInit   = 1024        // per connection read buffer to start with
	outInit   = 512         // per connection write buffer to start with
	noStream  = "(none)"    // the streamSid before start
	trackIn   = `"inbound"` // the track of the caller's audio
)

// stats is one window's figures, shared by every connection under mu.
type stats struct {
	mu sync.Mutex
	window
}

type window struct {
	open                 int
	newStreams, closed   int64
	mediaIn, mediaOut    int64
	otherIn, errs        int64
	marksSent, marksBack int64
	deltas               int64
	maxDeltaNs           int64
	hist                 [histBins]uint32
	marks                [markBins]uint32
	firstErr             string
}

var st stats

func main() {
	listen := flag.String("listen", "127.43.0.1:0", "address to listen on")
	bound := flag.Duration("bound", 30*time.Minute, "exit after this long whatever happens")
	flag.Parse()
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		fmt.Fprintln(os.Stderr, "streamecho:", err)
		os.Exit(1)
	}
	srv := &http.Server{Handler: http.HandlerFunc(serve), ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	out := json.NewEncoder(os.Stdout)
	_ = out.Encode(map[string]any{"ready": true, "url": "ws://" + ln.Addr().String() + "/echo"})

	lines := make(chan string)
	go func() {
		sc := bufio.NewScanner(os.Stdin)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	ru0, at := rusage(), time.Now()
	timeout := time.After(*bound)
	for {
		select {
		case l, ok := <-lines:
			if !ok || l == "quit" {
				_ = srv.Close()
				return
			}
			if l != "mark" {
				fmt.Fprintf(os.Stderr, "streamecho: unknown command %q\n", l)
				continue
			}
			w := st.mark()
			ru1, now := rusage(), time.Now()
			w.WallS = round(now.Sub(at).Seconds(), 3)
			w.UserS, w.SysS = round(ru1[0]-ru0[0], 3), round(ru1[1]-ru0[1], 3)
			if w.WallS > 0 {
				w.CorePct = round(100*(w.UserS+w.SysS)/w.WallS, 1)
			}
			ru0, at = ru1, now
			_ = out.Encode(w)
		case <-timeout:
			fmt.Fprintln(os.Stderr, "streamecho: bound reached")
			os.Exit(1)
		}
	}
}

// serve runs one stream: everything on this goroutine, reads and the echo's writes alike.
func serve(w http.ResponseWriter, r *http.Request) {
	c, err := websocket.Accept(w, r, &websocket.AcceptOptions{CompressionMode: websocket.CompressionDisabled})
	if err != nil {
		return
	}
	defer c.CloseNow()
	c.SetReadLimit(maxMsg)
	ctx, cancel := context.WithTimeout(context.Background(), idleClose)
	defer cancel()
	st.mu.Lock()
	st.open++
	st.newStreams++
	st.mu.Unlock()
	err = echo(ctx, c)
	st.mu.Lock()
	st.open--
	st.closed++
	if err != nil {
		st.errs++
		if st.firstErr == "" {
			st.firstErr = err.Error()
		}
	}
	st.mu.Unlock()
}

// echo answers the stream's media until stop or the socket's end; nil when it ended as Twilio's
// protocol says (stop, then a normal close).
func echo(ctx context.Context, c *websocket.Conn) error {
	var (
		in       bytes.Buffer
		out      = make([]byte, 0, outInit)
		sid      = noStream
		lastNs   int64
		echoed   int
		markID   int
		sentAt   = map[string]int64{}
		stopped  bool
		payloadK = []byte(`"payload":"`)
		eventK   = []byte(`"event":"`)
		trackK   = []byte(`"track":`)
		nameK    = []byte(`"name":"`)
	)
	in.Grow(bufInit)
	for {
		_, r, err := c.Reader(ctx)
		if err != nil {
			var ce websocket.CloseError
			if stopped && errors.As(err, &ce) && ce.Code == websocket.StatusNormalClosure {
				return nil
			}
			return fmt.Errorf("stream %s: %w", sid, err)
		}
		in.Reset()
		if _, err := in.ReadFrom(r); err != nil {
			return fmt.Errorf("stream %s: read: %w", sid, err)
		}
		now := time.Now().UnixNano()
		b := in.Bytes()
		switch string(field(b, eventK)) {
		case "media":
			if t := bytes.Index(b, trackK); t < 0 || !bytes.HasPrefix(b[t+len(trackK):], []byte(trackIn)) {
				continue // only the caller's audio is echoed
			}
			p := field(b, payloadK)
			out = append(out[:0], `{"event":"media","streamSid":"`...)
			out = append(out, sid...)
			out = append(out, `","media":{"payload":"`...)
			out = append(out, p...)
			out = append(out, `"}}`...)
			if err := c.Write(ctx, websocket.MessageText, out); err != nil {
				return fmt.Errorf("stream %s: write: %w", sid, err)
			}
			echoed++
			var markName string
			if echoed%markEvery == 0 {
				markID++
				markName = strconv.Itoa(markID)
				out = append(out[:0], `{"event":"mark","streamSid":"`...)
				out = append(out, sid...)
				out = append(out, `","mark":{"name":"`...)
				out = append(out, markName...)
				out = append(out, `"}}`...)
				if err := c.Write(ctx, websocket.MessageText, out); err != nil {
					return fmt.Errorf("stream %s: write: %w", sid, err)
				}
				sentAt[markName] = time.Now().UnixNano()
			}
			st.mu.Lock()
			st.mediaIn++
			st.mediaOut++
			if markName != "" {
				st.marksSent++
			}
			if lastNs != 0 {
				st.delta(now - lastNs)
			}
			st.mu.Unlock()
			lastNs = now
		case "mark":
			name := string(field(b, nameK))
			t0, ok := sentAt[name]
			if !ok {
				continue
			}
			delete(sentAt, name)
			st.mu.Lock()
			st.marksBack++
			st.marks[min((now-t0)/markUnit, markBins-1)]++
			st.mu.Unlock()
		case "start":
			var m struct {
				StreamSID string `json:"streamSid"`
			}
			if err := json.Unmarshal(b, &m); err != nil || m.StreamSID == "" || len(m.StreamSID) > sidMax {
				return fmt.Errorf("start without a usable streamSid: %.200s", b)
			}
			sid = m.StreamSID
			st.count(&st.otherIn)
		case "stop":
			stopped = true
			st.count(&st.otherIn)
		default:
			st.count(&st.otherIn)
		}
	}
}

// field is the string value that follows key in b (pivotua writes no escapes in the fields read
// here: event names, base64 and mark names of digits), or nil.
func field(b, key []byte) []byte {
	i := bytes.Index(b, key)
	if i < 0 {
		return nil
	}
	v := b[i+len(key):]
	j := bytes.IndexByte(v, '"')
	if j < 0 {
		return nil
	}
	return v[:j]
}

func (s *stats) count(n *int64) {
	s.mu.Lock()
	*n++
	s.mu.Unlock()
}

// delta accounts the gap between two media messages of a stream; under mu.
func (s *stats) delta(d int64) {
	s.deltas++
	if d > s.maxDeltaNs {
		s.maxDeltaNs = d
	}
	dev := d - frameNs
	if dev < 0 {
		dev = -dev
	}
	s.hist[min(dev/1000, histBins-1)]++
}

// mark hands out the window's figures and starts the next window.
func (s *stats) mark() genwindow.Echo {
	s.mu.Lock()
	defer s.mu.Unlock()
	w := genwindow.Echo{Streams: s.open, NewStreams: s.newStreams, Closed: s.closed, MediaIn: s.mediaIn, MediaOut: s.mediaOut,
		OtherIn: s.otherIn, Errors: s.errs, MarksSent: s.marksSent, MarksBack: s.marksBack, Deltas: s.deltas,
		MaxDeltaMs: round(float64(s.maxDeltaNs)/1e6, 2), FirstErrMsg: s.firstErr}
	w.DevP50Ms = pct(s.hist[:], s.deltas, 50, 1e-3)
	w.DevP99Ms = pct(s.hist[:], s.deltas, 99, 1e-3)
	w.DevP999Ms = pct(s.hist[:], s.deltas, 99.9, 1e-3)
	w.MarkP50Ms = pct(s.marks[:], s.marksBack, 50, markUnit/1e6)
	w.MarkP99Ms = pct(s.marks[:], s.marksBack, 99, markUnit/1e6)
	w.MarkMaxMs = pct(s.marks[:], s.marksBack, 100, markUnit/1e6)
	s.window = window{open: s.open}
	return w
}

// pct is the p-th percentile (nearest rank) of n values counted in hist, each bin unit ms wide,
// as the middle of its bin.
func pct(hist []uint32, n int64, p, unit float64) float64 {
	if n == 0 {
		return 0
	}
	rank := int64(p/100*float64(n)+0.5) - 1
	if rank < 0 {
		rank = 0
	}
	var cum int64
	for i, c := range hist {
		cum += int64(c)
		if cum > rank {
			return round((float64(i)+0.5)*unit, 3)
		}
	}
	return round(float64(len(hist))*unit, 3)
}

func round(v float64, d int) float64 {
	p := 1.0
	for range d {
		p *= 10
	}
	return float64(int64(v*p+0.5)) / p
}

// rusage is this process's user and system CPU seconds so far.
func rusage() [2]float64 {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return [2]float64{float64(ru.Utime.Nano()) / 1e9, float64(ru.Stime.Nano()) / 1e9}
}
