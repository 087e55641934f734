package main

// End-to-end tests of hostile RTP against the real binary: a caller whose
// timestamps jump to fill the disk through a recording, an outsider spraying
// key presses at the RTP port range, and a real caller whose NAT binding
// changes mid-call. The caller is a small raw SIP client over UDP, so the
// test decides every RTP packet's source, SSRC, sequence and timestamp.

import (
	"encoding/binary"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pivotua/pivotua/codec"
	"github.com/pivotua/pivotua/internal/testkit"
	"github.com/pivotua/pivotua/internal/testkit/sipptest"
)

// rawCaller is one call placed by hand: INVITE, ACK, BYE over UDP, and RTP
// from a socket of the test's choosing.
type rawCaller struct {
	t      *testing.T
	sip    *net.UDPConn
	server *net.UDPAddr
	callID string
	toTag  string
	remote netip.AddrPort // pivotua's RTP address from its SDP answer
	rtp    *net.UDPConn   // the SDP's m= port: where the caller's RTP comes from
	byes   chan struct{}  // closed when pivotua sent BYE (answered 200)

	mu  sync.Mutex
	src *net.UDPConn // where RTP is sent from now (moveRTP changes it)
}

var sdpPort = regexp.MustCompile(`(?m)^m=audio (\d+) `)
var sdpConn = regexp.MustCompile(`(?m)^c=IN IP4 (\S+)`)

// dialRaw calls 3004 on p offering PCMU and telephone-event 101 and waits for the answer.
func dialRaw(t *testing.T, p *pivotuaInstance) *rawCaller {
	t.Helper()
	sipConn, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	rtpConn, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sipConn.Close(); rtpConn.Close() })
	server, err := net.ResolveUDPAddr("udp4", p.sipAddr())
	if err != nil {
		t.Fatal(err)
	}
	c := &rawCaller{t: t, sip: sipConn, server: server, rtp: rtpConn, src: rtpConn, byes: make(chan struct{}),
		callID: fmt.Sprintf("hostile-%d@127.0.0.1", time.Now().UnixNano())}
	rtpPort := rtpConn.LocalAddr().(*net.UDPAddr).Port
	sdp := "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n" +
		fmt.Sprintf("m=audio %d RTP/AVP 0 101\r\n", rtpPort) +
		"a=rtpmap:0 PCMU/8000\r\na=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-16\r\na=sendrecv\r\n"
	c.send("INVITE", 1, "", "Content-Type: application/sdp\r\n", sdp)

	deadline := time.Now().Add(10 * time.Second)
	buf := make([]byte, 65535)
	for {
		_ = sipConn.SetReadDeadline(deadline)
		n, err := sipConn.Read(buf)
		if err != nil {
			t.Fatalf("no answer to the INVITE: %v\n%s", err, sipptest.LastLines(p.logs(), 30))
		}
		msg := string(buf[:n])
		if !strings.HasPrefix(msg, "SIP/2.0 ") {
			continue
		}
		code, _ := strconv.Atoi(msg[8:11])
		if code < 200 {
			continue
		}
		if code >= 300 {
			t.Fatalf("INVITE answered %d", code)
		}
		to := testkit.SIPHeader(msg, "To")
		if i := strings.Index(to, "tag="); i >= 0 {
			c.toTag = strings.TrimSpace(strings.SplitN(to[i+4:], ";", 2)[0])
		}
		port, host := sdpPort.FindStringSubmatch(msg), sdpConn.FindStringSubmatch(msg)
		if port == nil || host == nil {
			t.Fatalf("200 OK without an SDP answer:\n%s", msg)
		}
		c.remote = netip.MustParseAddrPort(host[1] + ":" + port[1])
		break
	}
	c.send("ACK", 1, c.toTag, "", "")
	_ = sipConn.SetReadDeadline(time.Time{})
	go c.serve()
	return c
}

// send writes one request of the dialog.
func (c *rawCaller) send(method string, cseq int, toTag, extra, body string) {
	local := c.sip.LocalAddr().(*net.UDPAddr)
	to := "<sip:3004@127.0.0.1>"
	if toTag != "" {
		to += ";tag=" + toTag
	}
	msg := fmt.Sprintf("%s sip:3004@%s SIP/2.0\r\nVia: SIP/2.0/UDP %s;branch=z9hG4bK-%d;rport\r\nMax-Forwards: 70\r\n"+
		"From: <sip:hostile@127.0.0.1>;tag=caller1\r\nTo: %s\r\nCall-ID: %s\r\nCSeq: %d %s\r\n"+
		"Contact: <sip:hostile@%s>\r\n%sContent-Length: %d\r\n\r\n%s",
		method, c.server, local, time.Now().UnixNano(), to, c.callID, cseq, method, local, extra, len(body), body)
	if _, err := c.sip.WriteToUDP([]byte(msg), c.server); err != nil {
		c.t.Errorf("send %s: %v", method, err)
	}
}

// serve answers pivotua's requests (its BYE) with 200 OK until the socket closes.
func (c *rawCaller) serve() {
	buf := make([]byte, 65535)
	var once sync.Once
	for {
		n, from, err := c.sip.ReadFromUDP(buf)
		if err != nil {
			return
		}
		msg := string(buf[:n])
		if strings.HasPrefix(msg, "SIP/2.0 ") {
			continue
		}
		var resp strings.Builder
		resp.WriteString("SIP/2.0 200 OK\r\n")
		for _, h := range []string{"Via", "From", "To", "Call-ID", "CSeq"} {
			fmt.Fprintf(&resp, "%s: %s\r\n", h, testkit.SIPHeader(msg, h))
		}
		resp.WriteString("Content-Length: 0\r\n\r\n")
		_, _ = c.sip.WriteToUDP([]byte(resp.String()), from)
		if strings.HasPrefix(msg, "BYE ") {
			once.Do(func() { close(c.byes) })
		}
	}
}

// hangUp sends BYE unless pivotua already ended the call.
func (c *rawCaller) hangUp() {
	select {
	case <-c.byes:
	default:
		c.send("BYE", 2, c.toTag, "", "")
	}
}

// sendRTP sends one packet to pivotua from the current source socket.
func (c *rawCaller) sendRTP(pt uint8, marker bool, seq uint16, ts, ssrc uint32, payload []byte) {
	c.mu.Lock()
	src := c.src
	c.mu.Unlock()
	pkt := rtpPacket(pt, marker, seq, ts, ssrc, payload)
	if _, err := src.WriteToUDPAddrPort(pkt, c.remote); err != nil {
		c.t.Errorf("send RTP: %v", err)
	}
}

// moveRTP makes the caller's RTP come from a new port, as a NAT rebinding does.
func (c *rawCaller) moveRTP() {
	conn, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		c.t.Fatal(err)
	}
	c.t.Cleanup(func() { conn.Close() })
	c.mu.Lock()
	c.src = conn
	c.mu.Unlock()
}

func rtpPacket(pt uint8, marker bool, seq uint16, ts, ssrc uint32, payload []byte) []byte {
	pkt := make([]byte, 12+len(payload))
	pkt[0] = 0x80
	pkt[1] = pt
	if marker {
		pkt[1] |= 0x80
	}
	binary.BigEndian.PutUint16(pkt[2:], seq)
	binary.BigEndian.PutUint32(pkt[4:], ts)
	binary.BigEndian.PutUint32(pkt[8:], ssrc)
	copy(pkt[12:], payload)
	return pkt
}

// keyEvent is an RFC 4733 §2.3 telephone-event payload for a digit.
func keyEvent(key byte, end bool, duration uint16) []byte {
	p := []byte{key - '0', 10, 0, 0}
	if end {
		p[1] |= 0x80
	}
	binary.BigEndian.PutUint16(p[2:], duration)
	return p
}

// rtpStream is a caller's RTP stream: one SSRC, sequence and timestamp, 20 ms a packet.
type rtpStream struct {
	c    *rawCaller
	ssrc uint32
	seq  uint16
	ts   uint32
}

// talk sends d of a 440 Hz tone in real time.
func (s *rtpStream) talk(d time.Duration) {
	frames := codec.NewPrompt(codec.Tone(440, d, 0.3)).Frames(codec.PCMU)
	next := time.Now()
	for _, f := range frames {
		time.Sleep(time.Until(next))
		s.c.sendRTP(0, false, s.seq, s.ts, s.ssrc, f)
		s.seq++
		s.ts += codec.FrameSamples
		next = next.Add(codec.FrameDuration)
	}
}

// press sends key as RFC 4733 events in real time: 100 ms of the key, then its three end packets.
func (s *rtpStream) press(key byte) {
	start := s.ts
	for i := range 5 {
		s.c.sendRTP(101, i == 0, s.seq, start, s.ssrc, keyEvent(key, false, uint16(i+1)*codec.FrameSamples))
		s.seq++
		time.Sleep(codec.FrameDuration)
	}
	for range 3 {
		s.c.sendRTP(101, false, s.seq, start, s.ssrc, keyEvent(key, true, 5*codec.FrameSamples))
		s.seq++
	}
	s.ts += 5 * codec.FrameSamples
}

// sprayKeys sends key 9 as RFC 4733 events (payload type 101, as most peers
// negotiate) from 127.0.0.2 (another host) to every even port of [min, max], as an
// outsider scanning for a call's RTP port does, until stop closes; it returns
// the packets sent.
func sprayKeys(t *testing.T, min, max int, stop <-chan struct{}) <-chan int {
	conn, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 2)}) // another host than the caller's
	if err != nil {
		t.Fatal(err)
	}
	sent := make(chan int, 1)
	go func() {
		defer conn.Close()
		n := 0
		defer func() { sent <- n }()
		for seq := uint16(0); ; seq++ {
			select {
			case <-stop:
				return
			case <-time.After(5 * time.Millisecond):
			}
			ts := uint32(seq/4) * 800
			payload := keyEvent('9', seq%4 == 3, uint16(seq%4+1)*codec.FrameSamples)
			for port := min + min%2; port <= max; port += 2 {
				pkt := rtpPacket(101, seq%4 == 0, seq, ts, 0xbadbad, payload)
				if _, err := conn.WriteToUDPAddrPort(pkt, netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), uint16(port))); err == nil {
					n++
				}
			}
		}
	}()
	return sent
}

// gatherApp asks for one key and reports it to /gathered.
func gatherApp(t *testing.T) *twimlApp {
	return newTwiMLApp(t, map[string]func(int) string{
		"/ivr/voice":    static(`<Response><Gather action="gathered" numDigits="1" timeout="8"><Pause length="8"/></Gather><Hangup/></Response>`),
		"/ivr/gathered": static(`<Response><Hangup/></Response>`),
	})
}

// gathered returns the Digits of the action requests.
func gathered(app *twimlApp) []string {
	var keys []string
	for _, r := range app.received() {
		if r.Path == "/ivr/gathered" {
			keys = append(keys, r.Form.Get("Digits"))
		}
	}
	return keys
}

// An outsider sprays RFC 4733 presses of 9 at every port of pivotua's RTP
// range, from before the call and throughout it, while the real caller talks
// and then presses 5: the application gets 5, and not one injected key.
func TestE2EHostileMediaInjectedKeysAreNotHeard(t *testing.T) {
	needE2E(t)
	app := gatherApp(t)
	var pmin, pmax int
	p := startPivotua(t, twimlFlow(app.URL+"/ivr/voice"), func(c *Config) { pmin, pmax = c.RTP.PortMin, c.RTP.PortMax })
	stop := make(chan struct{})
	sprayed := sprayKeys(t, pmin, pmax, stop)
	time.Sleep(300 * time.Millisecond) // the outsider is there first

	c := dialRaw(t, p)
	s := &rtpStream{c: c, ssrc: 0x5151}
	s.talk(1500 * time.Millisecond)
	s.press('5')
	s.talk(500 * time.Millisecond)
	c.hangUp()
	close(stop)
	n := <-sprayed

	keys := gathered(app)
	t.Logf("%d injected packets sprayed at ports %d-%d; keys the application got: %q", n, pmin, pmax, keys)
	if !slices.Equal(keys, []string{"5"}) {
		t.Errorf("the application got keys %q, want only the caller's \"5\" (injected keys heard: %d)", keys, strings.Count(strings.Join(keys, ""), "9"))
	}
}

// The caller's NAT binding changes mid-call: its RTP (same SSRC, sequence
// going on) comes from a new port, and the key it presses from there reaches
// the application.
func TestE2EHostileMediaNATRebindingStillHeard(t *testing.T) {
	needE2E(t)
	app := gatherApp(t)
	p := startPivotua(t, twimlFlow(app.URL+"/ivr/voice"))
	c := dialRaw(t, p)
	s := &rtpStream{c: c, ssrc: 0x7171}
	s.talk(time.Second)
	c.moveRTP()
	s.talk(500 * time.Millisecond) // the new source's probation
	s.press('7')
	s.talk(500 * time.Millisecond)
	c.hangUp()
	if keys := gathered(app); !slices.Equal(keys, []string{"7"}) {
		t.Errorf("the application got keys %q, want \"7\" pressed after the rebinding\n%s", keys, sipptest.LastLines(p.logs(), 30))
	}
}

// A caller whose every RTP packet moves the timestamp 10 s on, eight packets
// every 20 ms, during a TwiML <Record>: the file on disk holds no more than
// the time that passed plus 2 s (before the fix, about 64 MB a second).
// PIVOTUA_HOSTILE_RECORD_SECONDS sets how long (default 10 s).
func TestE2EHostileMediaRecordingKeepsToTheWallClock(t *testing.T) {
	needE2E(t)
	seconds := 10
	if v, err := strconv.Atoi(os.Getenv("PIVOTUA_HOSTILE_RECORD_SECONDS")); err == nil && v > 0 {
		seconds = v
	}
	app := newTwiMLApp(t, map[string]func(int) string{
		"/rec/voice": static(fmt.Sprintf(`<Response><Record action="done" playBeep="false" timeout="0" trim="do-not-trim" maxLength="%d"/></Response>`, seconds+30)),
		"/rec/done":  static(`<Response><Hangup/></Response>`),
	})
	dir := t.TempDir()
	p := startPivotua(t, twimlFlow(app.URL+"/rec/voice"), func(c *Config) { c.Recordings.Dir = dir })
	c := dialRaw(t, p)
	started := time.Now()
	frame := codec.NewPrompt(codec.Tone(440, codec.FrameDuration, 0.3)).Frames(codec.PCMU)[0]
	var seq uint16
	var ts uint32
	var sent atomic.Int64
	for next := time.Now(); time.Since(started) < time.Duration(seconds)*time.Second; next = next.Add(codec.FrameDuration) {
		time.Sleep(time.Until(next))
		for range 8 {
			c.sendRTP(0, false, seq, ts, 0x4242, frame)
			seq++
			ts += 10 * codec.SampleRate // 10 s on, every packet
			sent.Add(1)
		}
	}
	c.hangUp()
	wall := time.Since(started)

	var files []string
	testkit.WaitFor(t, 10*time.Second, "the recording saved", func() bool {
		files, _ = filepath.Glob(filepath.Join(dir, "*", "*.wav"))
		return len(files) == 1 && slices.ContainsFunc(app.received(), func(r twimlRequest) bool { return r.Path == "/rec/done" })
	})
	st, err := os.Stat(files[0])
	if err != nil {
		t.Fatal(err)
	}
	limit := int64(44 + 2*codec.SampleRate*(wall.Seconds()+2))
	t.Logf("%d packets jumping 10 s each over %v: %s is %d bytes (%.1f s of audio), limit %d",
		sent.Load(), wall.Round(time.Millisecond), filepath.Base(files[0]), st.Size(), float64(st.Size()-44)/2/codec.SampleRate, limit)
	if st.Size() > limit {
		t.Errorf("the recording is %d bytes after %v, want at most %d (the wall clock plus 2 s)", st.Size(), wall, limit)
	}
}
