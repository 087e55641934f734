package sipptest

import (
	"bytes"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/pion/rtp"
	"github.com/pivotua/pivotua/codec"
)

// Capture is a caller's RTP socket on 127.0.0.1: it keeps every packet pivotua sends it. Give its
// Port to SIPp as the SDP's media port (Data.RTPPort).
type Capture struct {
	conn *net.UDPConn
	mu   sync.Mutex
	pkts []Packet
	done chan struct{}
}

// Packet is one RTP packet received, with when it arrived.
type Packet struct {
	At      time.Time
	Header  rtp.Header
	Payload []byte
}

// NewCapture opens the socket; it closes when t ends.
func NewCapture(t testing.TB) *Capture {
	t.Helper()
	conn, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	c := &Capture{conn: conn, done: make(chan struct{})}
	go func() {
		defer close(c.done)
		buf := make([]byte, 1500)
		for {
			n, _, err := conn.ReadFromUDP(buf)
			if err != nil {
				return
			}
			var p rtp.Packet
			if p.Unmarshal(buf[:n]) != nil {
				continue
			}
			c.mu.Lock()
			c.pkts = append(c.pkts, Packet{At: time.Now(), Header: p.Header, Payload: bytes.Clone(p.Payload)})
			c.mu.Unlock()
		}
	}()
	t.Cleanup(func() { conn.Close(); <-c.done })
	return c
}

// Port is the socket's UDP port.
func (c *Capture) Port() int { return c.conn.LocalAddr().(*net.UDPAddr).Port }

// Packets returns what arrived so far, in order of arrival.
func (c *Capture) Packets() []Packet {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]Packet(nil), c.pkts...)
}

// Audio checks the stream is one well-formed RTP stream of payload type pt (one SSRC, consecutive
// sequence numbers, timestamps 160 apart, 20 ms payloads) and decodes it.
func (c *Capture) Audio(t testing.TB, pt uint8) []int16 {
	t.Helper()
	pkts := c.Packets()
	if len(pkts) == 0 {
		t.Fatal("pivotua sent no RTP")
	}
	ssrc := pkts[0].Header.SSRC
	var pcm []int16
	frame := make([]int16, codec.FrameSamples)
	for i, p := range pkts {
		h := p.Header
		if h.SSRC != ssrc {
			t.Fatalf("packet %d: SSRC %08x, the stream started with %08x", i, h.SSRC, ssrc)
		}
		if h.PayloadType != pt {
			t.Fatalf("packet %d: payload type %d, want %d", i, h.PayloadType, pt)
		}
		if i > 0 {
			prev := pkts[i-1].Header
			if h.SequenceNumber != prev.SequenceNumber+1 {
				t.Fatalf("packet %d: sequence %d after %d", i, h.SequenceNumber, prev.SequenceNumber)
			}
			// Timestamps advance by 160 per frame; across a hold they may jump further ahead.
			if d := h.Timestamp - prev.Timestamp; d < 160 || d%160 != 0 {
				t.Fatalf("packet %d: timestamp %d after %d", i, h.Timestamp, prev.Timestamp)
			}
		}
		if len(p.Payload) != codec.FrameSamples {
			t.Fatalf("packet %d: %d payload bytes, want 160 (20 ms)", i, len(p.Payload))
		}
		n := codec.DecodeFrame(codec.Law(pt), frame, p.Payload)
		pcm = append(pcm, frame[:n]...)
	}
	return pcm
}
