//go:build linux

package media

import (
	"net/netip"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// ringBatch is a send clock's memory for the operations of one submit: the kernel is handed
// pointers into it. It grows to the largest slot the clock has served, at most one ring's worth.
type ringBatch struct {
	res    []int32       // each operation's result, by id
	recv   []recvSlot    // by id, during a read
	send   []sendSlot    // by id, during a send
	queued []*Session    // the sessions of the operations in flight, in id order
	todo   [2][]*Session // sessions with more to read: this round's, the next's
}

// readsPerRound is how many datagrams a read round asks of each session: a 20 ms peer sends one
// a tick, so the second comes back EAGAIN (about 0.1 µs in a batch) unless the peer sent more,
// and a session whose reads all found one is read again, up to readBatchSize.
const readsPerRound = 2

type recvSlot struct {
	hdr  unix.Msghdr
	iov  unix.Iovec
	name unix.RawSockaddrInet6
	buf  [readBufferSize]byte
}

type sendSlot struct {
	hdr        unix.Msghdr
	iov        unix.Iovec
	payloadLen int
}

func newRingBatch() *ringBatch {
	return &ringBatch{res: make([]int32, uringEntries)}
}

// grow makes room for n operations of each kind.
func (b *ringBatch) grow(n int) {
	if len(b.recv) < n {
		b.recv = append(b.recv, make([]recvSlot, n-len(b.recv))...)
		b.send = append(b.send, make([]sendSlot, n-len(b.send))...)
	}
}

// serveRing is serve's work through the clock's ring: the slot's reads, then its sends, a
// submit for each (more only for a slot larger than the ring). A session is busy from the
// moment it is checked until the submit that carries its operation returns, so Close cannot
// close its descriptor, whose number the kernel could give to another socket, in between.
// What the reads found is handled after their submit, each session busy only for its own.
func (c *sendClock) serveRing(sessions []*Session) {
	b := c.batch
	b.grow(min(len(sessions), uringEntries/readsPerRound) * readsPerRound)
	cur, next := append(b.todo[0][:0], sessions...), b.todo[1][:0]
	for round := 0; len(cur) > 0 && round < readBatchSize/readsPerRound; round++ {
		next = next[:0]
		for rest := cur; len(rest) > 0 && c.ring != nil; {
			n := min(len(rest), c.ring.room()/readsPerRound)
			next = c.readChunk(rest[:n], next)
			rest = rest[n:]
		}
		cur, next = next, cur
	}
	clear(cur[:cap(cur)]) // no closed session stays reachable from here
	clear(next[:cap(next)])
	b.todo[0], b.todo[1] = cur[:0], next[:0]
	for len(sessions) > 0 && c.ring != nil {
		n := min(len(sessions), c.ring.room())
		c.sendChunk(sessions[:n])
		sessions = sessions[n:]
	}
	for _, s := range sessions { // the ring failed: the rest of the slot goes one call at a time
		s.sendTick()
	}
}

// readChunk reads chunk's sockets, readsPerRound datagrams each, and handles what came; it
// appends to more the sessions that may have more waiting.
func (c *sendClock) readChunk(chunk, more []*Session) []*Session {
	b := c.batch
	queued := b.queued[:0]
	for _, s := range chunk {
		s.busy.Store(true) // before the finished check: see Close
		if s.finished.Load() {
			s.busy.Store(false)
			continue
		}
		for k := range readsPerRound {
			id := len(queued)*readsPerRound + k
			b.recv[id].prepare()
			b.res[id] = -int32(unix.EAGAIN)
			c.ring.push(uringOpRecvmsg, s.fd, &b.recv[id].hdr, id)
		}
		queued = append(queued, s)
	}
	c.submit()
	for _, s := range queued {
		s.busy.Store(false)
	}
	for j, s := range queued {
		s.busy.Store(true)
		if !s.finished.Load() {
			full := true
			for id := j * readsPerRound; id < (j+1)*readsPerRound; id++ {
				switch r := b.res[id]; {
				case r >= 0:
					s.receivePacket(b.recv[id].datagram(int(r)))
				case r == -int32(unix.ECONNREFUSED): // a queued ICMP error is reported once, then reading goes on
				default: // EAGAIN: empty
					full = false
				}
			}
			if full {
				more = append(more, s)
			}
		}
		s.busy.Store(false)
	}
	clear(queued)
	b.queued = queued[:0]
	return more
}

// sendChunk builds and sends the frames of chunk's sessions.
func (c *sendClock) sendChunk(chunk []*Session) {
	b := c.batch
	queued := b.queued[:0]
	for _, s := range chunk {
		s.busy.Store(true) // before buildFrame checks finished: see Close
		pkt, payloadLen, err, ok := s.nextPacket()
		switch {
		case !ok:
			s.busy.Store(false)
			continue
		case err == nil && s.tx.dst.len == 0:
			err = unix.EAFNOSUPPORT
		}
		if err != nil {
			s.afterWrite(payloadLen, err)
			s.busy.Store(false)
			continue
		}
		id := len(queued)
		slot := &b.send[id]
		slot.prepare(pkt, &s.tx.dst)
		slot.payloadLen = payloadLen
		b.res[id] = -int32(unix.EIO)
		c.ring.push(uringOpSendmsg, s.fd, &slot.hdr, id)
		queued = append(queued, s)
	}
	c.submit()
	for id, s := range queued {
		var err error
		if r := b.res[id]; r < 0 {
			err = syscall.Errno(-r)
		}
		s.afterWrite(b.send[id].payloadLen, err)
		s.busy.Store(false)
	}
	clear(queued)
	b.queued = queued[:0]
}

// submit runs the ring's queued operations. If the ring fails, the clock goes on without it,
// one system call an operation; the operations that got no result count as failed (a read
// found nothing, a send is a send error), and the ring is kept, not closed, until the clock
// stops, as the kernel may not be done with the memory it was handed.
func (c *sendClock) submit() {
	if err := c.ring.submit(c.batch.res); err != nil {
		c.failedRing, c.ring = c.ring, nil
		c.log.Error("rtp: io_uring failed; this send clock goes on with one system call a packet", "err", err)
	}
}

func (r *recvSlot) prepare() {
	r.iov.Base = &r.buf[0]
	r.iov.SetLen(readBufferSize)
	r.hdr = unix.Msghdr{Name: (*byte)(unsafe.Pointer(&r.name)), Namelen: unix.SizeofSockaddrInet6, Iov: &r.iov}
	r.hdr.SetIovlen(1)
}

func (r *recvSlot) datagram(n int) ([]byte, netip.AddrPort) {
	return r.buf[:min(n, readBufferSize)], sourceOf(&r.name)
}

func (w *sendSlot) prepare(pkt []byte, dst *sockaddr) {
	w.iov.Base = &pkt[0]
	w.iov.SetLen(len(pkt))
	w.hdr = unix.Msghdr{Name: (*byte)(unsafe.Pointer(&dst.raw)), Namelen: dst.len, Iov: &w.iov}
	w.hdr.SetIovlen(1)
}
