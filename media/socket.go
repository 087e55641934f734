//go:build linux

package media

import (
	"net"
	"net/netip"
	"os"
	"unsafe"

	"golang.org/x/sys/unix"
)

// The sessions' sockets are plain non-blocking descriptors, not net.UDPConns:
// each session's clock writes and reads its socket directly, so Go's
// netpoller never sees them. A socket it saw would wake the runtime's poller
// for every arriving datagram although no goroutine waits on it (about a
// sixth of the engine's CPU at a thousand calls).

// openUDP binds a non-blocking UDP socket on local.
func openUDP(local netip.AddrPort) (int, error) {
	family := unix.AF_INET
	if local.Addr().Is6() {
		family = unix.AF_INET6
	}
	fd, err := unix.Socket(family, unix.SOCK_DGRAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, unix.IPPROTO_UDP)
	if err != nil {
		return -1, os.NewSyscallError("socket", err)
	}
	var sa unix.Sockaddr
	if family == unix.AF_INET {
		sa = &unix.SockaddrInet4{Port: int(local.Port()), Addr: local.Addr().As4()}
	} else {
		sa6 := &unix.SockaddrInet6{Port: int(local.Port()), Addr: local.Addr().As16()}
		if zone := local.Addr().Zone(); zone != "" {
			ifi, err := net.InterfaceByName(zone)
			if err != nil {
				unix.Close(fd)
				return -1, err
			}
			sa6.ZoneId = uint32(ifi.Index)
		}
		sa = sa6
	}
	if err := unix.Bind(fd, sa); err != nil {
		unix.Close(fd)
		return -1, os.NewSyscallError("bind", err)
	}
	return fd, nil
}

// sockaddr is a send destination in the kernel's form, rebuilt only when the
// destination changes, so a send neither converts nor allocates.
type sockaddr struct {
	ap  netip.AddrPort // what raw holds; invalid until set
	v6  bool           // the socket's family
	raw unix.RawSockaddrInet6
	len uint32
}

// set makes a hold the address of dst. An IPv4 destination on an IPv6 socket
// is sent to as v4-mapped; an IPv6 one on an IPv4 socket cannot be reached
// (len stays 0).
func (a *sockaddr) set(dst netip.AddrPort) {
	if dst == a.ap {
		return
	}
	a.ap = dst
	a.raw = unix.RawSockaddrInet6{}
	port := (*[2]byte)(unsafe.Pointer(&a.raw.Port))
	port[0], port[1] = byte(dst.Port()>>8), byte(dst.Port())
	switch {
	case a.v6:
		a.raw.Family = unix.AF_INET6
		a.raw.Addr = dst.Addr().As16()
		a.len = unix.SizeofSockaddrInet6
	case dst.Addr().Is4():
		sa4 := (*unix.RawSockaddrInet4)(unsafe.Pointer(&a.raw))
		sa4.Family = unix.AF_INET
		sa4.Addr = dst.Addr().As4()
		a.len = unix.SizeofSockaddrInet4
	default:
		a.len = 0
	}
}

// sendTo writes one datagram to a without blocking.
func sendTo(fd int, pkt []byte, a *sockaddr) error {
	if a.len == 0 {
		return unix.EAFNOSUPPORT
	}
	_, _, errno := unix.RawSyscall6(unix.SYS_SENDTO, uintptr(fd), uintptr(unsafe.Pointer(&pkt[0])), uintptr(len(pkt)),
		unix.MSG_DONTWAIT, uintptr(unsafe.Pointer(&a.raw)), uintptr(a.len))
	if errno != 0 {
		return errno
	}
	return nil
}

// readBatch is a clock's buffers for recvmmsg: up to readBatchSize datagrams
// from one socket per system call. It lives on the heap (the clock's), as the
// kernel is handed pointers inside it.
type readBatch struct {
	hdrs  [readBatchSize]unix.Mmsghdr
	iovs  [readBatchSize]unix.Iovec
	names [readBatchSize]unix.RawSockaddrInet6
	bufs  [readBatchSize][readBufferSize]byte
}

// readBatchSize bounds the datagrams a session's socket gives per 20 ms tick:
// a 20 ms peer sends one, a 10 ms one two; the rest of a burst or a flood is
// left to the next tick, or dropped by the kernel when the socket is full.
const readBatchSize = 8

func newReadBatch() *readBatch {
	rb := new(readBatch)
	for i := range rb.hdrs {
		rb.iovs[i].Base = &rb.bufs[i][0]
		rb.iovs[i].SetLen(readBufferSize)
		h := &rb.hdrs[i].Hdr
		h.Name = (*byte)(unsafe.Pointer(&rb.names[i]))
		h.Iov = &rb.iovs[i]
		h.SetIovlen(1)
	}
	return rb
}

// read takes what is waiting on fd, at most readBatchSize datagrams, in one
// recvmmsg without blocking; 0 when nothing is (EAGAIN).
func (rb *readBatch) read(fd int) int {
	for range 2 { // a queued ICMP error (ECONNREFUSED) is reported once, then reading goes on
		for i := range rb.hdrs {
			rb.hdrs[i].Hdr.Namelen = unix.SizeofSockaddrInet6
		}
		n, _, errno := unix.RawSyscall6(unix.SYS_RECVMMSG, uintptr(fd), uintptr(unsafe.Pointer(&rb.hdrs[0])), readBatchSize,
			unix.MSG_DONTWAIT, 0, 0)
		switch errno {
		case 0:
			return int(n)
		case unix.ECONNREFUSED, unix.EINTR:
		default: // EAGAIN: empty
			return 0
		}
	}
	return 0
}

// datagram is the i-th datagram of the last read and its source.
func (rb *readBatch) datagram(i int) ([]byte, netip.AddrPort) {
	return rb.bufs[i][:rb.hdrs[i].Len], sourceOf(&rb.names[i])
}

// sourceOf is the address the kernel wrote to sa for a received datagram.
func sourceOf(sa *unix.RawSockaddrInet6) netip.AddrPort {
	port := (*[2]byte)(unsafe.Pointer(&sa.Port))
	p := uint16(port[0])<<8 | uint16(port[1])
	if sa.Family == unix.AF_INET {
		sa4 := (*unix.RawSockaddrInet4)(unsafe.Pointer(sa))
		return netip.AddrPortFrom(netip.AddrFrom4(sa4.Addr), p)
	}
	return netip.AddrPortFrom(netip.AddrFrom16(sa.Addr), p)
}
