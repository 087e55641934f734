package media

import (
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/pivotua/pivotua/codec"
)

func TestTotalsKeepClosedSessionsCounts(t *testing.T) {
	e := newTestEngine(t, 4, nil)
	peer, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer peer.Close()
	s, err := e.Open()
	if err != nil {
		t.Fatal(err)
	}
	remote := peer.LocalAddr().(*net.UDPAddr).AddrPort()
	if err := s.Start(Params{Remote: netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), remote.Port()), Law: codec.PCMU}); err != nil {
		t.Fatal(err)
	}
	time.Sleep(200 * time.Millisecond)
	if live := e.Totals(); live.Sessions != 1 || live.PacketsSent == 0 {
		t.Fatalf("live totals %+v", live)
	}
	sent := s.Stats().PacketsSent
	s.Close()
	after := e.Totals()
	if after.Sessions != 0 || after.PacketsSent < sent {
		t.Errorf("after close: %+v, want the session's %d packets kept", after, sent)
	}
}
