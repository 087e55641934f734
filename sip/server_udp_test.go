package sip

import (
	"net/netip"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
)

// The SIP socket's receive buffer holds the datagrams that arrive while its one reader is held up
// (a GC cycle, a busy CPU): with the kernel's default (208 KiB) a burst of a few hundred INVITEs
// overflowed it at 1,000 setups a second, and each INVITE dropped cost its caller a 500 ms
// retransmission.
func TestSIPUDPSocketHasALargeReceiveBuffer(t *testing.T) {
	pc, err := listenUDP(netip.MustParseAddrPort("127.0.0.1:0"))
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	raw, err := pc.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var got int
	var serr error
	if err := raw.Control(func(fd uintptr) { got, serr = syscall.GetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF) }); err != nil || serr != nil {
		t.Fatal(err, serr)
	}
	// The kernel caps what SO_RCVBUF asks at net.core.rmem_max and reports twice what it granted.
	want := udpReadBuffer
	if b, err := os.ReadFile("/proc/sys/net/core/rmem_max"); err == nil {
		if m, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil && m < want {
			want = m
		}
	}
	if got < 2*want {
		t.Errorf("SO_RCVBUF %d, want at least %d (2 x %d)", got, 2*want, want)
	}
}
