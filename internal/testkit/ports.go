package testkit

import (
	"net"
	"strconv"
	"sync"
	"testing"
)

// Test ports come from a band of their own, below pivotua's default RTP range (16384-32767), the
// media tests' engines (20000 and up) and the kernel's ephemeral ports (32768 and up): so no socket
// opened elsewhere takes a port between our check and the peer's bind, which SIPp, unlike
// pivotua, does not retry. Test binaries that run at once must be serialized (make test and the
// e2e lock do): the band is handed out per process.
const PortBandMin, PortBandMax = 10000, 16383

var portBand = struct {
	sync.Mutex
	next int
}{next: PortBandMin}

// FreePort finds a port free for both UDP and TCP on 127.0.0.1.
func FreePort(t testing.TB) int { return FreePortOn(t, "127.0.0.1") }

// FreePortOn finds a port free for both UDP and TCP on ip.
func FreePortOn(t testing.TB, ip string) int { return FreePorts(t, ip, 1) }

// FreeMediaPort finds a SIPp -mp port: SIPp binds it for audio and two above it for video, so the
// four ports from it are all free.
func FreeMediaPort(t testing.TB) int { return FreePorts(t, "127.0.0.1", 4) }

// FreePorts finds n consecutive ports free for both UDP and TCP on ip and returns the first; no
// other call returns them until the band wraps around.
func FreePorts(t testing.TB, ip string, n int) int {
	t.Helper()
	portBand.Lock()
	defer portBand.Unlock()
	for range (PortBandMax - PortBandMin) / n {
		first := portBand.next
		if first+n-1 > PortBandMax {
			first = PortBandMin
		}
		portBand.next = first + n
		if portsFree(ip, first, n) {
			return first
		}
	}
	t.Fatalf("no %d free ports in %d-%d on %s", n, PortBandMin, PortBandMax, ip)
	return 0
}

// portsFree reports whether ports first to first+n-1 can be bound on ip, for UDP and TCP.
func portsFree(ip string, first, n int) bool {
	for port := first; port < first+n; port++ {
		addr := net.JoinHostPort(ip, strconv.Itoa(port))
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			return false
		}
		pc, err := net.ListenPacket("udp", addr)
		ln.Close()
		if err != nil {
			return false
		}
		pc.Close()
	}
	return true
}
