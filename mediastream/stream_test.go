package mediastream

import (
	"context"
	"encoding/base64"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/pivotua/pivotua/httpfetch"
)

// fakeAudio is a call's audio with nothing to send.
type fakeAudio struct{ ready chan struct{} }

func (a *fakeAudio) Next(*Frame) bool       { return false }
func (a *fakeAudio) Ready() <-chan struct{} { return a.ready }

// fakePlayer records what the application sent.
type fakePlayer struct {
	mu     sync.Mutex
	queued int
	limit  int
	marks  chan uint64
}

func newFakePlayer(limit int) *fakePlayer {
	return &fakePlayer{limit: limit, marks: make(chan uint64, 8)}
}

func (p *fakePlayer) Write(b []byte) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.queued+len(b) > p.limit {
		return errors.New("queue full")
	}
	p.queued += len(b)
	return nil
}
func (p *fakePlayer) Mark(id uint64) error { p.marks <- id; return nil }
func (p *fakePlayer) Clear()               {}
func (p *fakePlayer) Marks() <-chan uint64 { return p.marks }

// app serves one WebSocket with handle and reports the request and how the stream was closed.
type app struct {
	*httptest.Server
	req    chan *http.Request
	closed chan websocket.CloseError
}

func newApp(t *testing.T, handle func(ctx context.Context, c *websocket.Conn)) *app {
	t.Helper()
	a := &app{req: make(chan *http.Request, 1), closed: make(chan websocket.CloseError, 1)}
	a.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		a.req <- r
		c, err := websocket.Accept(w, r, nil)
		if err != nil {
			return
		}
		c.SetReadLimit(1 << 20)
		ctx := r.Context()
		go handle(ctx, c)
		for {
			if _, _, err := c.Read(ctx); err != nil {
				var ce websocket.CloseError
				if errors.As(err, &ce) {
					a.closed <- ce
				}
				return
			}
		}
	}))
	t.Cleanup(a.Close)
	return a
}

func (a *app) wsURL(path string) string { return "ws" + strings.TrimPrefix(a.URL, "http") + path }

func testClient(deny ...netip.Prefix) *Client {
	cfg := DefaultConfig()
	cfg.ConnectTimeout = 2 * time.Second
	cfg.StallTimeout = 300 * time.Millisecond
	return NewClient(cfg, deny, "pivotua/test")
}

func runFor(t *testing.T, s *Stream, p Player) (error, context.CancelFunc) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	err := s.Run(ctx, &fakeAudio{ready: make(chan struct{})}, p)
	return err, cancel
}

func TestDialSignsTheUpgradeAsTwilioDoes(t *testing.T) {
	a := newApp(t, func(ctx context.Context, c *websocket.Conn) { c.Close(websocket.StatusNormalClosure, "") })
	url := a.wsURL("/media?x=1")
	s, err := testClient().Dial(context.Background(), Options{URL: url, SigningKey: "12345", Inbound: true, Bidirectional: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.conn.CloseNow()
	r := <-a.req
	if !httpfetch.ValidateTwilioSignature("12345", url, nil, r.Header.Get(httpfetch.HeaderTwilioSignature)) {
		t.Fatalf("X-Twilio-Signature %q does not validate for %s", r.Header.Get(httpfetch.HeaderTwilioSignature), url)
	}
	if r.URL.RequestURI() != "/media?x=1" || !strings.HasPrefix(s.SID(), "MZ") {
		t.Fatalf("request %s, sid %s", r.URL.RequestURI(), s.SID())
	}
}

func TestBadMessagesCloseTheStreamWith1008AndSayWhy(t *testing.T) {
	for _, tc := range []struct {
		name, msg, want string
		code            websocket.StatusCode
	}{
		{"not JSON", `{nope`, "not a JSON object", websocket.StatusPolicyViolation},
		{"other stream", `{"event":"clear","streamSid":"MZother"}`, `streamSid "MZother"`, websocket.StatusPolicyViolation},
		{"queue over", `{"event":"media","media":{"payload":"` + strings.Repeat("////", 100) + `"}}`, "of audio queued", websocket.StatusPolicyViolation},
		{"too big", `{"event":"mark","mark":{"name":"` + strings.Repeat("x", 70000) + `"}}`, "over 65536 bytes", websocket.StatusMessageTooBig},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := newApp(t, func(ctx context.Context, c *websocket.Conn) { _ = c.Write(ctx, websocket.MessageText, []byte(tc.msg)) })
			s, err := testClient().Dial(context.Background(), Options{URL: a.wsURL("/"), Inbound: true, Bidirectional: true})
			if err != nil {
				t.Fatal(err)
			}
			err, cancel := runFor(t, s, newFakePlayer(50))
			defer cancel()
			if !errors.Is(err, ErrBadMessage) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Run: %v, want ErrBadMessage saying %q", err, tc.want)
			}
			select {
			case ce := <-a.closed:
				if ce.Code != tc.code {
					t.Fatalf("closed with %d %q, want %d", ce.Code, ce.Reason, tc.code)
				}
			case <-time.After(2 * time.Second):
				t.Fatal("the application got no close frame")
			}
		})
	}
}

func TestAStalledApplicationLosesItsStream(t *testing.T) {
	// The application never reads: pivotua's writes fill the socket's buffers and stall.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := websocket.Accept(w, r, nil)
		if err != nil {
			return
		}
		<-r.Context().Done()
		c.CloseNow()
	})}
	go srv.Serve(ln)
	defer srv.Close()
	s, err := testClient().Dial(context.Background(), Options{URL: "ws://" + ln.Addr().String() + "/", Inbound: true})
	if err != nil {
		t.Fatal(err)
	}
	audio := &floodAudio{ready: make(chan struct{}, 1)}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	err = s.Run(ctx, audio, nil)
	if !errors.Is(err, ErrStalled) {
		t.Fatalf("Run: %v, want ErrStalled", err)
	}
}

// floodAudio always has another frame.
type floodAudio struct{ ready chan struct{} }

func (a *floodAudio) Next(f *Frame) bool     { f.Chunk++; return true }
func (a *floodAudio) Ready() <-chan struct{} { return a.ready }

func TestDialRefusesDeniedHostsAndNonWebSocketAnswers(t *testing.T) {
	a := newApp(t, func(ctx context.Context, c *websocket.Conn) {})
	_, err := testClient(netip.MustParsePrefix("127.0.0.0/8")).Dial(context.Background(), Options{URL: a.wsURL("/")})
	if !errors.Is(err, ErrConnect) || !errors.Is(err, httpfetch.ErrDenied) {
		t.Fatalf("denied host: %v, want ErrConnect wrapping httpfetch.ErrDenied", err)
	}
	plain := httptest.NewServer(http.NotFoundHandler())
	defer plain.Close()
	_, err = testClient().Dial(context.Background(), Options{URL: "ws" + strings.TrimPrefix(plain.URL, "http")})
	if !errors.Is(err, ErrConnect) || !strings.Contains(err.Error(), "404") {
		t.Fatalf("an HTTP answer: %v", err)
	}
	if _, err := testClient().Dial(context.Background(), Options{URL: "https://example.com/"}); !errors.Is(err, ErrBadURL) {
		t.Fatalf("https URL: %v", err)
	}
}

func TestStopIsTheLastMessageWhenTheCallEnds(t *testing.T) {
	got := make(chan []string, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := websocket.Accept(w, r, nil)
		if err != nil {
			return
		}
		var events []string
		for {
			_, b, err := c.Read(r.Context())
			if err != nil {
				got <- events
				return
			}
			m, _, _ := parseAppMessage(b, make([]byte, 1024))
			events = append(events, m.Event)
		}
	}))
	defer srv.Close()
	s, err := testClient().Dial(context.Background(), Options{URL: "ws" + strings.TrimPrefix(srv.URL, "http"), Inbound: true, AccountSID: "AC1", CallSID: "CA1"})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(100*time.Millisecond, cancel)
	if err := s.Run(ctx, &fakeAudio{ready: make(chan struct{})}, nil); err != nil {
		t.Fatalf("Run after the call ended: %v", err)
	}
	if events := <-got; strings.Join(events, ",") != "connected,start,stop" {
		t.Fatalf("events %v", events)
	}
}

// TestReadingAllocatesForTheMessagesThatCome: a stream whose max_message_bytes is large does not
// allocate that much to read small messages: the decode buffer follows the messages read.
func TestReadingAllocatesForTheMessagesThatCome(t *testing.T) {
	frame := `{"event":"media","media":{"payload":"` + base64.StdEncoding.EncodeToString(make([]byte, FrameSamples)) + `"}}` // 20 ms
	a := newApp(t, func(ctx context.Context, c *websocket.Conn) {
		for range 5 {
			_ = c.Write(ctx, websocket.MessageText, []byte(frame))
		}
		c.Close(websocket.StatusNormalClosure, "")
	})
	cfg := DefaultConfig()
	cfg.MaxMessageBytes = maxMessageBytes // 16 MiB, the largest the config takes
	s, err := NewClient(cfg, nil, "pivotua/test").Dial(context.Background(), Options{URL: a.wsURL("/"), Inbound: true, Bidirectional: true})
	if err != nil {
		t.Fatal(err)
	}
	p := newFakePlayer(1 << 20)
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	err, cancel := runFor(t, s, p)
	defer cancel()
	runtime.ReadMemStats(&after)
	if !errors.Is(err, ErrClosedByApp) {
		t.Fatalf("Run: %v, want ErrClosedByApp", err)
	}
	if p.queued != 5*FrameSamples {
		t.Fatalf("%d bytes of audio queued, want 5 frames", p.queued)
	}
	if n := after.TotalAlloc - before.TotalAlloc; n > 4<<20 {
		t.Fatalf("a stream that read five 20 ms messages allocated %d bytes", n)
	}
}

// tickAudio hands Run the frames of one tick, both tracks of a fork, each time the test asks.
type tickAudio struct {
	ready  chan struct{}
	ticks  atomic.Uint64
	served uint64
	track  int
}

func (a *tickAudio) Next(f *Frame) bool {
	if a.served == a.ticks.Load() {
		return false
	}
	f.Outbound = a.track == 1
	if a.track++; a.track == 2 {
		a.track = 0
		a.served++
	}
	return true
}
func (a *tickAudio) Ready() <-chan struct{} { return a.ready }

// writeSyscalls is this process's write system calls so far (/proc/self/io).
func writeSyscalls(t *testing.T) uint64 {
	t.Helper()
	b, err := os.ReadFile("/proc/self/io")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "syscw: "); ok {
			n, _ := strconv.ParseUint(v, 10, 64)
			return n
		}
	}
	t.Fatal("no syscw in /proc/self/io")
	return 0
}

// TestATicksMessagesLeaveInOneWrite: a fork of both tracks has two media messages a tick; they
// reach the kernel in one write system call, not one each (coder/websocket flushes every message).
func TestATicksMessagesLeaveInOneWrite(t *testing.T) {
	const ticks = 200
	got := make(chan struct{}, 2*ticks+8)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := websocket.Accept(w, r, nil)
		if err != nil {
			return
		}
		for {
			if _, _, err := c.Read(r.Context()); err != nil {
				return
			}
			got <- struct{}{}
		}
	}))
	defer srv.Close()
	s, err := testClient().Dial(context.Background(), Options{URL: "ws" + strings.TrimPrefix(srv.URL, "http"), Inbound: true, Outbound: true})
	if err != nil {
		t.Fatal(err)
	}
	audio := &tickAudio{ready: make(chan struct{}, 1)}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx, audio, nil) }()
	<-got // connected
	<-got // start
	before := writeSyscalls(t)
	for range ticks {
		audio.ticks.Add(1)
		audio.ready <- struct{}{}
		<-got
		<-got
	}
	writes := writeSyscalls(t) - before
	cancel()
	<-done
	if writes > ticks+ticks/10 {
		t.Fatalf("%d ticks of two messages took %d write system calls, want about one a tick", ticks, writes)
	}
}
