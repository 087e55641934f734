//go:build linux

// Command rtpgen is the bench's RTP peer: one UDP socket whose address every SIPp call's SDP names.
// It latches on each call's source from its first packet and answers it with its own 20 ms PCMU
// frames, all streams from one 1 ms sendmmsg loop; it reads with recvmmsg and takes each packet's
// kernel receive time (SO_TIMESTAMPNS), so its own scheduling does not enter the pacing it measures.
// On loopback that time is taken in the sender's context, as the datagram is queued to this socket.
//
// One goroutine on its own OS thread does all of it, once a millisecond: a thread that woke for
// every arriving batch as well cost twice the CPU.
//
// It measures, per window: the pacing of what it receives (|Δ − 20 ms| between consecutive audio
// packets of a stream, pooled), loss from sequence gaps, its socket's drops (SO_RXQ_OVFL), and its
// own CPU (getrusage). The harness (bench/cmd/loadrun) drives it through stdin: each line "mark"
// ends the current window and is answered with one JSON line on stdout; "quit" or the end of stdin
// ends it, and so does -bound.
package main

import (
	"bufio"
	"encoding/json"
	"flag"
	"fmt"
	"math"
	"net/netip"
	"os"
	"runtime"
	"sync/atomic"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/pivotua/pivotua/codec"
)

const tickNs = 1_000_000

type generator struct {
	fd        int
	t         *table
	payload   []byte
	startMono int64
	idleTicks int64
	stopped   atomic.Bool
	readErr   atomic.Pointer[string]
	done      chan struct{}
}

func main() {
	listen := flag.String("listen", "127.43.0.3:6000", "address every call's SDP names")
	rcvbuf := flag.Int("rcvbuf", 32<<20, "receive buffer, bytes (SO_RCVBUFFORCE as root)")
	idle := flag.Duration("idle", time.Second, "a source silent this long is forgotten (its call has ended)")
	bound := flag.Duration("bound", 30*time.Minute, "exit after this long whatever happens")
	flag.Parse()
	ap, err := netip.ParseAddrPort(*listen)
	if err != nil {
		fmt.Fprintln(os.Stderr, "rtpgen: -listen:", err)
		os.Exit(2)
	}
	g, granted, err := newGenerator(ap, *rcvbuf, *idle)
	if err != nil {
		fmt.Fprintln(os.Stderr, "rtpgen:", err)
		os.Exit(1)
	}
	go g.run()
	out := json.NewEncoder(os.Stdout)
	_ = out.Encode(map[string]any{"ready": true, "listen": ap.String(), "rcvbuf_bytes": granted})

	lines := make(chan string)
	go func() {
		sc := bufio.NewScanner(os.Stdin)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	var dropsAt int64
	ru0, at := rusage(), time.Now()
	timeout := time.After(*bound)
	for {
		select {
		case l, ok := <-lines:
			if !ok || l == "quit" {
				g.stop()
				return
			}
			if l != "mark" {
				fmt.Fprintf(os.Stderr, "rtpgen: unknown command %q\n", l)
				continue
			}
			g.t.mu.Lock()
			drops := g.t.drops
			g.t.mu.Unlock()
			w := g.t.mark(dropsAt)
			dropsAt = drops
			ru1, now := rusage(), time.Now()
			w.WallS = round(now.Sub(at).Seconds(), 3)
			w.UserS, w.SysS = round(ru1[0]-ru0[0], 3), round(ru1[1]-ru0[1], 3)
			if w.WallS > 0 {
				w.CorePct = round(100*(w.UserS+w.SysS)/w.WallS, 1)
			}
			w.RcvBuf = granted
			ru0, at = ru1, now
			if e := g.readErr.Load(); e != nil {
				fmt.Fprintln(os.Stderr, "rtpgen:", *e)
			}
			_ = out.Encode(w)
		case <-timeout:
			fmt.Fprintln(os.Stderr, "rtpgen: bound reached")
			g.stop()
			os.Exit(1)
		}
	}
}

func newGenerator(local netip.AddrPort, rcvbuf int, idle time.Duration) (*generator, int, error) {
	fd, granted, err := openSocket(local, rcvbuf)
	if err != nil {
		return nil, 0, err
	}
	g := &generator{fd: fd, t: newTable(uint8(codec.PCMU)), payload: promptFrame(), startMono: monoNow(),
		idleTicks: int64(idle / time.Millisecond), done: make(chan struct{})}
	return g, granted, nil
}

// stop ends the loop (within a tick) and closes the socket.
func (g *generator) stop() {
	g.stopped.Store(true)
	<-g.done
	unix.Close(g.fd)
}

// promptFrame is the payload of every frame sent: 20 ms of a quiet 400 Hz tone in PCMU (eight
// whole periods, so frame after frame is continuous).
func promptFrame() []byte {
	pcm := make([]int16, codec.FrameSamples)
	for i := range pcm {
		pcm[i] = int16(3000 * math.Sin(2*math.Pi*400*float64(i)/8000))
	}
	b := make([]byte, codec.FrameSamples)
	codec.EncodeFrame(codec.PCMU, b, pcm)
	return b
}

// run is the generator's one loop, on its own OS thread: it wakes every millisecond on a fixed
// schedule (clock_nanosleep to an absolute time: Go's timers round a sleep to the poller's
// millisecond), takes what arrived since the last wake-up (the kernel's receive times make the
// read's own delay irrelevant to the pacing measured), then sends each stream of the due phase slot
// its next frame, all in recvmmsg and sendmmsg batches. After a stall it serves each slot at most
// once, so a stream never gets two frames back to back.
func (g *generator) run() {
	runtime.LockOSThread()
	defer close(g.done)
	rb := newReadBatch()
	sb := newSendBatch(g.payload)
	var h [rtpHeaderLen]byte
	tick := int64(1)
	t := g.t
	for !g.stopped.Load() {
		due := g.startMono + tick*tickNs
		sleepUntil(due)
		now := monoNow()
		if now < due { // interrupted
			continue
		}
		cur := (now - g.startMono) / tickNs
		var skipped int64
		if cur-tick >= phaseSlots {
			skipped = cur - phaseSlots + 1 - tick
			tick = cur - phaseSlots + 1
		}
		g.receive(rb, cur)

		var sent, failed int
		t.mu.Lock()
		w := t.win
		w.skippedTicks += skipped
		if lag := now - due; lag > w.maxLagNs {
			w.maxLagNs = lag
		}
		if now-due > tickNs {
			w.lateTicks++
		}
		for ; tick <= cur; tick++ {
			k := int(tick % phaseSlots)
			for i := 0; i < len(t.wheel[k]); {
				if t.removeIdle(k, i, tick, g.idleTicks) {
					continue
				}
				if sb.n == sendBatchSize {
					t.mu.Unlock()
					s, f := sb.flush(g.fd)
					sent, failed = sent+s, failed+f
					t.mu.Lock()
				}
				s := t.wheel[k][i]
				s.nextFrame(&h)
				sb.add(s.key, &h)
				i++
			}
		}
		t.mu.Unlock()
		s, f := sb.flush(g.fd)
		sent, failed = sent+s, failed+f
		t.mu.Lock()
		t.win.txPackets += int64(sent)
		t.win.txFailed += int64(failed)
		t.mu.Unlock()
	}
}

// maxReadsPerTick bounds the reading of one wake-up (4096 datagrams, beyond any load the bench
// makes) so that a flood cannot hold back the sends; the rest waits in the socket for the next.
const maxReadsPerTick = 64

// receive takes every datagram waiting on the socket and accounts it at tick now.
func (g *generator) receive(rb *readBatch, now int64) {
	t := g.t
	for range maxReadsPerTick {
		n, err := rb.read(g.fd)
		if err != nil {
			e := err.Error()
			g.readErr.Store(&e)
			return
		}
		if n == 0 {
			return
		}
		t.mu.Lock()
		t.win.recvCalls++
		for i := range n {
			data, src, rxNs, drops := rb.datagram(i)
			if drops > t.drops {
				t.drops = drops
			}
			t.receive(src, data, rxNs, now)
		}
		t.mu.Unlock()
		if n < readBatchSize {
			return
		}
	}
}

// sleepUntil sleeps until the monotonic clock reads due (ns), or a signal comes. It is a raw system
// call on purpose: as an ordinary one, a millisecond's sleep would hand this thread's P back each
// time, and the runtime's monitor, seeing a P retaken from a system call every millisecond, would
// keep polling every 20 µs: about 8 % of a core with no call at all.
func sleepUntil(due int64) {
	ts := unix.NsecToTimespec(due)
	_, _, _ = unix.RawSyscall6(unix.SYS_CLOCK_NANOSLEEP, unix.CLOCK_MONOTONIC, unix.TIMER_ABSTIME,
		uintptr(unsafe.Pointer(&ts)), 0, 0, 0)
}

func monoNow() int64 {
	var ts unix.Timespec
	_ = unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts)
	return ts.Nano()
}

// rusage is this process's user and system CPU seconds so far.
func rusage() [2]float64 {
	var ru unix.Rusage
	_ = unix.Getrusage(unix.RUSAGE_SELF, &ru)
	return [2]float64{float64(ru.Utime.Nano()) / 1e9, float64(ru.Stime.Nano()) / 1e9}
}
