package media

import (
	"math"
	"math/rand/v2"
	"net"
	"net/netip"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/pion/rtp"

	"github.com/pivotua/pivotua/codec"
)

var loopback = netip.MustParseAddr("127.0.0.1")

// newTestEngine starts an engine on 127.0.0.1 with ports ports of its own in
// this test process (testPortRange; other processes on the box may hold some:
// Open skips those).
// MEDIA_TEST_IO_URING=off runs it without a ring, as `make test` does once more
// for this package, so both I/O paths pass every test.
func newTestEngine(t testing.TB, ports int, mod func(*Config)) *Engine {
	t.Helper()
	base := testPortRange(ports)
	cfg := Config{IP: loopback, PortMin: base, PortMax: base + 2*ports - 1, MediaTimeout: -1,
		DisableIOUring: os.Getenv("MEDIA_TEST_IO_URING") == "off"}
	if mod != nil {
		mod(&cfg)
	}
	e, err := NewEngine(cfg)
	if err != nil {
		t.Fatalf("NewEngine: %v", err)
	}
	t.Cleanup(func() { e.Close() })
	return e
}

// testPorts is where the next test engine's ports begin.
var testPorts struct {
	sync.Mutex
	next int
}

// testPortRange hands a test engine n RTP/RTCP pairs no other engine of this process
// holds, so that an engine of many sessions never takes the whole range of a small one
// started beside it. The ranges follow each other from a random start, wrapping, between
// 20000 and 30000: below the kernel's ephemeral ports (32768 up), where the tests' peers
// bind, and the end-to-end tests' pivotua instances (30000 up).
func testPortRange(n int) int {
	const lo, hi = 20000, 30000
	testPorts.Lock()
	defer testPorts.Unlock()
	if testPorts.next == 0 {
		testPorts.next = lo + 2*rand.IntN((hi-lo)/4)
	}
	if testPorts.next+2*n > hi {
		testPorts.next = lo
	}
	base := testPorts.next
	testPorts.next += 2 * n
	return base
}

func openSession(t testing.TB, e *Engine) *Session {
	t.Helper()
	s, err := e.Open()
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// startToward starts s sending PCMU to peer.
func startToward(t testing.TB, s *Session, peer *testPeer) {
	t.Helper()
	if err := s.Start(Params{Remote: peer.addr(), Law: codec.PCMU}); err != nil {
		t.Fatal(err)
	}
}

// idleClock is a send clock whose run goroutine is not started.
func idleClock(t testing.TB) *sendClock {
	t.Helper()
	c, err := newSendClock(time.Now(), -1)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.backstop.close)
	return c
}

// offClock takes s off its clock, so that the test goroutine alone drives
// its send and receive paths.
func offClock(s *Session) {
	s.clock.leave(s)
}

// receivedPacket is one datagram a testPeer decoded, copied out of its buffer.
type receivedPacket struct {
	header  rtp.Header
	payload []byte
	at      time.Time
	from    netip.AddrPort
}

// testPeer is the far end: a real UDP socket that decodes what it receives.
type testPeer struct {
	t       testing.TB
	conn    *net.UDPConn
	packets chan receivedPacket
}

func newTestPeer(t testing.TB) *testPeer {
	t.Helper()
	return newTestPeerOn(t, loopback)
}

// newTestPeerOn is a test peer on another address (127.0.0.2 stands for
// another host).
func newTestPeerOn(t testing.TB, ip netip.Addr) *testPeer {
	t.Helper()
	conn, err := net.ListenUDP("udp4", net.UDPAddrFromAddrPort(netip.AddrPortFrom(ip, 0)))
	if err != nil {
		t.Fatalf("peer listen: %v", err)
	}
	p := &testPeer{t: t, conn: conn, packets: make(chan receivedPacket, 8192)}
	go func() {
		buf := make([]byte, 1500)
		for {
			n, from, err := conn.ReadFromUDPAddrPort(buf)
			if err != nil {
				return
			}
			var pkt rtp.Packet
			if err := pkt.Unmarshal(buf[:n]); err != nil {
				continue
			}
			rp := receivedPacket{header: pkt.Header.Clone(), payload: append([]byte(nil), pkt.Payload...), at: time.Now(), from: from}
			select {
			case p.packets <- rp:
			default:
			}
		}
	}()
	t.Cleanup(func() { conn.Close() })
	return p
}

func (p *testPeer) addr() netip.AddrPort {
	return p.conn.LocalAddr().(*net.UDPAddr).AddrPort()
}

// next returns the next packet or fails the test after timeout.
func (p *testPeer) next(timeout time.Duration) receivedPacket {
	p.t.Helper()
	select {
	case rp := <-p.packets:
		return rp
	case <-time.After(timeout):
		p.t.Fatalf("peer %s: no RTP within %v", p.addr(), timeout)
		return receivedPacket{}
	}
}

// quiet reports whether no packet arrives for d.
func (p *testPeer) quiet(d time.Duration) bool {
	select {
	case <-p.packets:
		return false
	case <-time.After(d):
		return true
	}
}

func (p *testPeer) drain() {
	for {
		select {
		case <-p.packets:
		default:
			return
		}
	}
}

// send writes one RTP packet from the peer's socket to to.
func (p *testPeer) send(to netip.AddrPort, ssrc uint32, seq uint16, ts uint32, payload []byte) {
	p.t.Helper()
	pkt := rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 0, SequenceNumber: seq, Timestamp: ts, SSRC: ssrc}, Payload: payload}
	b, err := pkt.Marshal()
	if err != nil {
		p.t.Fatalf("marshal: %v", err)
	}
	if _, err := p.conn.WriteToUDPAddrPort(b, to); err != nil {
		p.t.Fatalf("peer send: %v", err)
	}
}

// tonePrompt is a sine of d at freq Hz: every frame differs from silence.
func tonePrompt(freq float64, d time.Duration) *codec.Prompt {
	n := int(d.Seconds() * codec.SampleRate)
	pcm := make([]int16, n)
	for i := range pcm {
		pcm[i] = int16(8000 * math.Sin(2*math.Pi*freq*float64(i)/codec.SampleRate))
	}
	return codec.NewPrompt(pcm)
}

func silenceFrame(l codec.Law) []byte {
	f := make([]byte, codec.FrameSamples)
	for i := range f {
		f[i] = codec.SilenceByte(l)
	}
	return f
}

// sendHeader writes one RTP packet with the given header from the peer's
// socket to to.
func (p *testPeer) sendHeader(to netip.AddrPort, h rtp.Header, payload []byte) {
	p.t.Helper()
	h.Version = 2
	b, err := (&rtp.Packet{Header: h, Payload: payload}).Marshal()
	if err != nil {
		p.t.Fatalf("marshal: %v", err)
	}
	if _, err := p.conn.WriteToUDPAddrPort(b, to); err != nil {
		p.t.Fatalf("peer send: %v", err)
	}
}

// mixPCM adds the samples of the others to dst, saturating.
func mixPCM(dst []int16, others ...[]int16) []int16 {
	for _, o := range others {
		for i := range min(len(dst), len(o)) {
			dst[i] = int16(max(math.MinInt16, min(math.MaxInt16, int32(dst[i])+int32(o[i]))))
		}
	}
	return dst
}

// encodeFrames cuts pcm into G.711 frames of law, the last one padded.
func encodeFrames(l codec.Law, pcm []int16) [][]byte {
	return codec.NewPrompt(pcm).Frames(l)
}

// digitCollector gathers what OnDigit reports.
type digitCollector struct{ ch chan Digit }

func collectDigits(s *Session) *digitCollector {
	c := &digitCollector{ch: make(chan Digit, 64)}
	s.OnDigit(func(d Digit) { c.ch <- d })
	return c
}

// expect waits for the keys in order, then checks no other digit follows
// within quiet.
func (c *digitCollector) expect(t *testing.T, keys string, timeout, quiet time.Duration) []Digit {
	t.Helper()
	var got []Digit
	deadline := time.After(timeout)
	for len(got) < len(keys) {
		select {
		case d := <-c.ch:
			got = append(got, d)
		case <-deadline:
			t.Fatalf("got digits %q, want %q", digitKeys(got), keys)
		}
	}
	if digitKeys(got) != keys {
		t.Fatalf("got digits %q, want %q", digitKeys(got), keys)
	}
	select {
	case d := <-c.ch:
		t.Fatalf("extra digit %q after %q", d.Key, keys)
	case <-time.After(quiet):
	}
	return got
}

func digitKeys(ds []Digit) string {
	b := make([]byte, len(ds))
	for i, d := range ds {
		b[i] = d.Key
	}
	return string(b)
}
