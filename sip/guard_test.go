package sip

import (
	"bytes"
	"context"
	"fmt"
	sipgosip "github.com/emiago/sipgo/sip"
	"log/slog"
	"net"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"
)

// inviteRequest is a well-formed INVITE with a PCMU offer.
func inviteRequest(callID string, extra string) []byte {
	body := "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 40000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n"
	return []byte("INVITE sip:3004@127.0.0.1 SIP/2.0\r\n" +
		"Via: SIP/2.0/UDP 127.0.0.1:5999;rport;branch=z9hG4bK" + callID + "\r\n" +
		"Max-Forwards: 70\r\nFrom: <sip:caller@127.0.0.1>;tag=c1\r\nTo: <sip:3004@127.0.0.1>\r\n" +
		"Call-ID: " + callID + "\r\nCSeq: 1 INVITE\r\nContact: <sip:caller@127.0.0.1:5999>\r\n" + extra +
		"Content-Type: application/sdp\r\nContent-Length: " + fmt.Sprint(len(body)) + "\r\n\r\n" + body)
}

// newUDPPeerFrom is a peer bound to a given loopback address (127.0.0.2 is another source).
func newUDPPeerFrom(t *testing.T, from string, to netip.AddrPort) *udpPeer {
	t.Helper()
	conn, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.ParseIP(from)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return &udpPeer{t: t, conn: conn, to: net.UDPAddrFromAddrPort(to)}
}

func (p *udpPeer) ask(msg []byte, wait time.Duration) int {
	p.send(viaToPeer(msg, p.local()))
	return statusOf(p.final(wait))
}

func TestRateLimitBlocksAFloodingSourceAndSparesOthers(t *testing.T) {
	srv := startTestServer(t, Config{Guard: GuardConfig{RateLimit: RateLimit{Requests: 5, Window: 10 * time.Second, Block: time.Minute}}}, rejectAll(486))
	flood := newUDPPeer(t, srv.addr("udp"))
	for i := range 5 {
		if code := flood.ask(optionsRequest(fmt.Sprintf("rl-%d", i), ""), 2*time.Second); code != 200 {
			t.Fatalf("request %d within the limit: %d", i, code)
		}
	}
	for i := 5; i < 8; i++ {
		if code := flood.ask(optionsRequest(fmt.Sprintf("rl-%d", i), ""), 200*time.Millisecond); code != -1 {
			t.Fatalf("request %d over the limit was answered %d", i, code)
		}
	}
	// A BYE outside any live dialog gets no pass (a blocked caller's BYE in
	// its own call does: TestStrangerBYEAndACKFloodsAreRateLimited).
	bye := bytes.ReplaceAll(optionsRequest("rl-bye", ""), []byte("OPTIONS"), []byte("BYE"))
	if code := flood.ask(bye, 200*time.Millisecond); code != -1 {
		t.Fatalf("stray BYE from a blocked source: %d, want none", code)
	}
	other := newUDPPeerFrom(t, "127.0.0.2", srv.addr("udp"))
	if code := other.ask(optionsRequest("rl-other", ""), 2*time.Second); code != 200 {
		t.Fatalf("another source: %d, want 200", code)
	}
}

func TestRateLimitSparesExemptSources(t *testing.T) {
	srv := startTestServer(t, Config{Guard: GuardConfig{RateLimit: RateLimit{
		Requests: 2, Window: 10 * time.Second, Block: time.Minute, Exempt: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")},
	}}}, rejectAll(486))
	p := newUDPPeer(t, srv.addr("udp"))
	for i := range 6 {
		if code := p.ask(optionsRequest(fmt.Sprintf("ex-%d", i), ""), 2*time.Second); code != 200 {
			t.Fatalf("request %d from an exempt source: %d", i, code)
		}
	}
}

func TestRateLimiterWindowAndBlockExpire(t *testing.T) {
	now := time.Unix(1000, 0)
	r := newRateLimiter(RateLimit{Requests: 100, Window: 2 * time.Second, Block: 5 * time.Minute})
	r.now = func() time.Time { return now }
	src := netip.MustParseAddr("203.0.113.9")
	for i := range 100 {
		if ok, _ := r.allow(src); !ok {
			t.Fatalf("request %d refused", i)
		}
	}
	ok, blocked := r.allow(src)
	if ok || !blocked {
		t.Fatalf("101st request in 2 s: ok=%v blockedNow=%v", ok, blocked)
	}
	now = now.Add(4*time.Minute + 59*time.Second)
	if ok, _ := r.allow(src); ok {
		t.Fatal("allowed before the 5 min block ended")
	}
	now = now.Add(2 * time.Second)
	if ok, _ := r.allow(src); !ok {
		t.Fatal("still blocked after 5 min")
	}
	// A steady 49 per second never trips a 100 per 2 s limit.
	for i := range 500 {
		if i%49 == 0 {
			now = now.Add(time.Second)
		}
		if ok, _ := r.allow(src); !ok {
			t.Fatalf("steady sender blocked at request %d", i)
		}
	}
}

func TestScannerUserAgentsAreDroppedSilently(t *testing.T) {
	srv := startTestServer(t, Config{}, rejectAll(486))
	p := newUDPPeer(t, srv.addr("udp"))
	for i, ua := range []string{"friendly-scanner", "SIPVicious 0.3.4", "sipcli/v1.8", "VaxSIPUserAgent/3.1", "iWar", "sip-scan", "sundayddr", "Nmap NSE"} {
		if code := p.ask(optionsRequest(fmt.Sprintf("sc-%d", i), "User-Agent: "+ua+"\r\n"), 200*time.Millisecond); code != -1 {
			t.Errorf("User-Agent %q answered %d", ua, code)
		}
	}
	if code := p.ask(optionsRequest("sc-ok", "User-Agent: Friendly PBX\r\n"), 2*time.Second); code != 200 {
		t.Fatalf("an ordinary User-Agent: %d", code)
	}
}

func TestOversizeAndHeaderFloodDatagramsAreDropped(t *testing.T) {
	srv := startTestServer(t, Config{Guard: GuardConfig{MaxMessageBytes: 4000, MaxHeaders: 40}}, rejectAll(486))
	p := newUDPPeer(t, srv.addr("udp"))
	big := optionsRequest("big", "X-Pad: "+strings.Repeat("a", 5000)+"\r\n")
	if code := p.ask(big, 300*time.Millisecond); code != -1 {
		t.Errorf("a 5 KB datagram over a 4000-byte cap was answered %d", code)
	}
	many := optionsRequest("many", strings.Repeat("X-H: 1\r\n", 50))
	if code := p.ask(many, 300*time.Millisecond); code != -1 {
		t.Errorf("50 header fields over a cap of 40 answered %d", code)
	}
	if code := p.ask(optionsRequest("small", ""), 2*time.Second); code != 200 {
		t.Fatalf("an ordinary OPTIONS after them: %d", code)
	}
}

// holdCalls answers nothing until release is closed, then rejects.
func holdCalls(release <-chan struct{}, started chan<- string) Handler {
	return func(c *InboundCall) {
		started <- c.Info().CallID
		select {
		case <-release:
		case <-c.Done():
		}
		_ = c.Reject(486, "Busy Here")
	}
}

func TestAllowCIDRsAndMaxCalls(t *testing.T) {
	release := make(chan struct{})
	started := make(chan string, 4)
	srv := startTestServer(t, Config{
		AllowCIDRs: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}, MaxCalls: 1,
	}, holdCalls(release, started))
	defer close(release)

	outsider := newUDPPeerFrom(t, "127.0.0.2", srv.addr("udp"))
	if code := outsider.ask(inviteRequest("acl-1", ""), 2*time.Second); code != 403 {
		t.Fatalf("INVITE from outside allow_cidrs: %d, want 403", code)
	}
	first := newUDPPeer(t, srv.addr("udp"))
	first.send(viaToPeer(inviteRequest("max-1", ""), first.local()))
	select {
	case <-started:
	case <-time.After(2 * time.Second):
		t.Fatal("the first call never reached the handler")
	}
	second := newUDPPeer(t, srv.addr("udp"))
	if code := second.ask(inviteRequest("max-2", ""), 2*time.Second); code != 503 {
		t.Fatalf("INVITE beyond max_calls: %d, want 503", code)
	}
}

// logLines is a slog handler that keeps records.
type logLines struct {
	mu   sync.Mutex
	recs []slog.Record
}

func (l *logLines) Enabled(context.Context, slog.Level) bool { return true }
func (l *logLines) Handle(_ context.Context, r slog.Record) error {
	l.mu.Lock()
	l.recs = append(l.recs, r)
	l.mu.Unlock()
	return nil
}
func (l *logLines) WithAttrs([]slog.Attr) slog.Handler { return l }
func (l *logLines) WithGroup(string) slog.Handler      { return l }

func (l *logLines) atOrAbove(level slog.Level) []slog.Record {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []slog.Record
	for _, r := range l.recs {
		if r.Level >= level {
			out = append(out, r)
		}
	}
	return out
}

func TestHostileInputIsLoggedAsSummaries(t *testing.T) {
	lines := &logLines{}
	srv := startTestServer(t, Config{Logger: slog.New(lines)}, rejectAll(486))
	p := newUDPPeer(t, srv.addr("udp"))
	secret := "GARBAGE-" + strings.Repeat("z", 3000)
	for i := range 200 {
		p.send([]byte(fmt.Sprintf("%s %d\r\n\r\n", secret, i)))
		p.send(optionsRequest(fmt.Sprintf("h-%d", i), "User-Agent: friendly-scanner\r\n"))
		if i%20 == 19 {
			time.Sleep(5 * time.Millisecond) // stay within the socket's receive buffer
		}
	}
	code := -1
	for range 3 { // retransmitted as a UAC would (RFC 3261 §17.1.2.2)
		if code = p.ask(optionsRequest("h-ok", ""), 2*time.Second); code == 200 {
			break
		}
	}
	if code != 200 {
		t.Fatalf("server stopped answering: %d", code)
	}
	loud := lines.atOrAbove(slog.LevelWarn)
	if len(loud) > 2 {
		t.Errorf("400 hostile datagrams gave %d warning lines, want at most 2", len(loud))
	}
	for _, r := range lines.atOrAbove(slog.LevelDebug) {
		var b strings.Builder
		r.Attrs(func(a slog.Attr) bool { b.WriteString(a.Value.String()); return true })
		if strings.Contains(b.String(), strings.Repeat("z", 200)) {
			t.Fatalf("a log line carries the hostile datagram: %s %.200s", r.Message, b.String())
		}
	}
}

// FuzzGuardDatagram feeds arbitrary datagrams through the guard and, for
// what it passes, sipgo's parser and the TCP-path checks: nothing panics and
// whatever passes parses.
func FuzzGuardDatagram(f *testing.F) {
	for _, m := range loadTorture(f) {
		f.Add(m.data)
	}
	f.Add(optionsRequest("seed", ""))
	f.Add(inviteRequest("seed", "Require: 100rel\r\n"))
	g := newGuard(GuardConfig{MaxMessageBytes: 8192}, "fuzz", quietLogger())
	src := netip.MustParseAddrPort("192.0.2.1:5060")
	f.Fuzz(func(t *testing.T, data []byte) {
		pass, reply, _ := g.inspectDatagram(data, src, 8192, nil)
		if pass != nil && reply != nil {
			t.Fatal("both passed and answered")
		}
		if reply != nil {
			if _, err := g.parser.ParseSIP(reply); err != nil && !bytes.HasPrefix(reply, []byte("SIP/2.0 ")) {
				t.Fatalf("guard built an unparsable answer: %v\n%q", err, reply)
			}
		}
		if pass == nil || bytes.HasPrefix(pass, []byte("SIP/")) || len(bytes.Trim(pass, "\r\n\x00")) == 0 {
			return // nothing, a response (parsed by the guard already) or a keep-alive
		}
		msg, err := g.parser.ParseSIP(pass)
		if err != nil {
			t.Fatalf("guard passed what sipgo cannot parse: %v", err)
		}
		if req, ok := msg.(*sipgosip.Request); ok {
			req.SetSource("192.0.2.1:5060")
			g.inspectParsed(req)
		}
	})
}
