package media

import (
	"math"
	"net"
	"net/netip"
	"os"
	"slices"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/pivotua/pivotua/codec"
)

// TestLoadPacing is a bounded load run, off by default: PIVOTUA_MEDIA_LOAD=N
// starts N sessions sending silence to one loopback receiver for 5 s and
// reports the inter-arrival deviation per stream and the process CPU.
func TestLoadPacing(t *testing.T) {
	n, _ := strconv.Atoi(os.Getenv("PIVOTUA_MEDIA_LOAD"))
	if n <= 0 {
		t.Skip("set PIVOTUA_MEDIA_LOAD=N to run")
	}
	const window = 5 * time.Second
	e := newTestEngine(t, n+n/4+16, nil)
	conn, err := net.ListenUDP("udp4", net.UDPAddrFromAddrPort(netip.AddrPortFrom(loopback, 0)))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetReadBuffer(4 << 20)
	sink := conn.LocalAddr().(*net.UDPAddr).AddrPort()

	last := make(map[uint32]time.Time, n)
	var devs []float64
	var packets int
	stop := time.Now().Add(window + time.Second)
	done := make(chan struct{})
	go func() {
		defer close(done)
		buf := make([]byte, 1500)
		for {
			conn.SetReadDeadline(stop)
			k, _, err := conn.ReadFromUDPAddrPort(buf)
			if err != nil {
				return
			}
			now := time.Now()
			if k < rtpHeaderSize {
				continue
			}
			ssrc := uint32(buf[8])<<24 | uint32(buf[9])<<16 | uint32(buf[10])<<8 | uint32(buf[11])
			if prev, ok := last[ssrc]; ok {
				devs = append(devs, math.Abs(float64(now.Sub(prev)-20*time.Millisecond))/1e6)
			}
			last[ssrc] = now
			packets++
		}
	}()

	for range n {
		s, err := e.Open()
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		if err := s.Start(Params{Remote: sink, Law: codec.PCMU}); err != nil {
			t.Fatal(err)
		}
	}
	time.Sleep(time.Second) // warm up
	var r0, r1 syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &r0)
	begin := time.Now()
	time.Sleep(window - time.Second)
	syscall.Getrusage(syscall.RUSAGE_SELF, &r1)
	wall := time.Since(begin)
	<-done
	cpu := time.Duration(r1.Utime.Nano()+r1.Stime.Nano()-r0.Utime.Nano()-r0.Stime.Nano()) * time.Nanosecond
	slices.Sort(devs)
	q := func(p float64) float64 { return devs[int(p*float64(len(devs)-1))] }
	t.Logf("%d sessions: %d packets; |Δ-20ms| p50 %.2f ms p99 %.2f ms p99.9 %.2f ms max %.2f ms; CPU %.1f%% of a core (sender+receiver)",
		n, packets, q(0.5), q(0.99), q(0.999), devs[len(devs)-1], 100*cpu.Seconds()/wall.Seconds())
}
