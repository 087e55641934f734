//go:build linux

package media

import (
	"fmt"
	"log/slog"
	"runtime"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// receiver reads every session's socket from one goroutine. The sockets sit
// in one epoll set (level-triggered); each wake-up drains the ready ones in a
// row. A goroutine parked per socket would cost a scheduler wake-up per
// packet (netpoll, park, unpark), which is most of a socket-per-call engine's
// CPU at a thousand calls, and a stack per call.
type receiver struct {
	epfd, wake int // the epoll set, and an eventfd that stops the loop
	log        *slog.Logger

	mu     sync.Mutex // guards byID and nextID; never held across a syscall
	byID   map[uint64]*Session
	nextID uint64

	// current is the id of the session the loop is reading (0: none). remove
	// waits until it is not the removed session's, so no packet of a session
	// is handled after remove returns and its socket may be closed.
	current atomic.Uint64
	stopped chan struct{}
}

const (
	wakeID     = 1 << 63 // the eventfd's epoll data; session ids count up from 1
	epollBatch = 256
)

func newReceiver(log *slog.Logger) (*receiver, error) {
	epfd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("media: epoll: %w", err)
	}
	wake, err := unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK)
	if err != nil {
		unix.Close(epfd)
		return nil, fmt.Errorf("media: eventfd: %w", err)
	}
	if err := unix.EpollCtl(epfd, unix.EPOLL_CTL_ADD, wake, epollEvent(wakeID)); err != nil {
		unix.Close(epfd)
		unix.Close(wake)
		return nil, fmt.Errorf("media: epoll add: %w", err)
	}
	r := &receiver{epfd: epfd, wake: wake, log: log, byID: make(map[uint64]*Session), stopped: make(chan struct{})}
	go r.run()
	return r, nil
}

func epollEvent(id uint64) *unix.EpollEvent {
	return &unix.EpollEvent{Events: unix.EPOLLIN, Fd: int32(uint32(id)), Pad: int32(uint32(id >> 32))}
}

// add starts reading s's socket.
func (r *receiver) add(s *Session) error {
	r.mu.Lock()
	r.nextID++
	s.rxID = r.nextID
	r.byID[s.rxID] = s
	r.mu.Unlock()
	if err := unix.EpollCtl(r.epfd, unix.EPOLL_CTL_ADD, s.fd, epollEvent(s.rxID)); err != nil {
		r.mu.Lock()
		delete(r.byID, s.rxID)
		r.mu.Unlock()
		return fmt.Errorf("media: epoll add %s: %w", s.local, err)
	}
	return nil
}

// remove stops reading s's socket and returns once no packet of s is being
// handled. The socket is still open: it is closed after.
func (r *receiver) remove(s *Session) {
	r.mu.Lock()
	delete(r.byID, s.rxID)
	r.mu.Unlock()
	_ = unix.EpollCtl(r.epfd, unix.EPOLL_CTL_DEL, s.fd, nil)
	for i := 0; r.current.Load() == s.rxID; i++ { // the loop holds at most one packet of s
		if i < 10 {
			runtime.Gosched()
		} else {
			time.Sleep(50 * time.Microsecond)
		}
	}
}

// close stops the loop; every session must have been removed.
func (r *receiver) close() {
	one := uint64(1)
	_, _ = unix.Write(r.wake, (*[8]byte)(unsafe.Pointer(&one))[:])
	<-r.stopped
	unix.Close(r.epfd)
	unix.Close(r.wake)
}

func (r *receiver) run() {
	defer close(r.stopped)
	events := make([]unix.EpollEvent, epollBatch)
	buf := make([]byte, readBufferSize)
	var from unix.RawSockaddrInet6
	for {
		// Polled once a millisecond, not blocked in: a blocking epoll_wait returns per datagram at
		// low rates, and each return from a blocking syscall costs the runtime a thread hand-off.
		// A pass a millisecond batches a thousand calls' packets, like the send clock's slots.
		n, err := unix.EpollWait(r.epfd, events, 0)
		if err != nil && err != unix.EINTR {
			r.log.Error("rtp receiver stopped", "err", err)
			return
		}
		for i := range events[:max(n, 0)] {
			id := uint64(uint32(events[i].Fd)) | uint64(uint32(events[i].Pad))<<32
			if id == wakeID {
				return
			}
			r.current.Store(id) // before the look-up: see remove
			r.mu.Lock()
			s := r.byID[id]
			r.mu.Unlock()
			if s != nil {
				s.drain(buf, &from)
			}
			r.current.Store(0)
		}
		if n < len(events) {
			time.Sleep(time.Millisecond)
		}
	}
}

// drain reads one datagram waiting on s's socket. One, not all: the set is
// level-triggered, so a socket with more waiting is reported again at the next
// pass a millisecond later, and a call's socket rarely holds more than one
// (50 packets a second). Reading until EAGAIN would cost a second, empty
// recvfrom for nearly every packet; one read per pass also bounds what a flood
// on one port can take from the others.
func (s *Session) drain(buf []byte, from *unix.RawSockaddrInet6) {
	for range 4 {
		n, src, errno := recvFrom(s.fd, buf, from)
		switch errno {
		case 0:
			s.receivePacket(buf[:n], src)
			return
		case unix.ECONNREFUSED, unix.EINTR: // an ICMP error queued on the socket: read on
		default: // EAGAIN: empty
			return
		}
	}
}
