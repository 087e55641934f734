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
// the receiver reads them from its own epoll set and the clock writes them
// directly, so Go's netpoller never sees them. A socket it saw would wake the
// runtime's poller for every arriving datagram although no goroutine waits on
// it (about a sixth of the engine's CPU at a thousand calls).

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

// recvFrom reads one datagram without blocking and without allocating
// (unix.Recvfrom returns the source as an allocated Sockaddr).
func recvFrom(fd int, buf []byte, sa *unix.RawSockaddrInet6) (int, netip.AddrPort, unix.Errno) {
	salen := uint32(unix.SizeofSockaddrInet6)
	n, _, errno := unix.RawSyscall6(unix.SYS_RECVFROM, uintptr(fd), uintptr(unsafe.Pointer(&buf[0])), uintptr(len(buf)),
		unix.MSG_DONTWAIT, uintptr(unsafe.Pointer(sa)), uintptr(unsafe.Pointer(&salen)))
	if errno != 0 {
		return 0, netip.AddrPort{}, errno
	}
	port := (*[2]byte)(unsafe.Pointer(&sa.Port))
	p := uint16(port[0])<<8 | uint16(port[1])
	if sa.Family == unix.AF_INET {
		sa4 := (*unix.RawSockaddrInet4)(unsafe.Pointer(sa))
		return int(n), netip.AddrPortFrom(netip.AddrFrom4(sa4.Addr), p), 0
	}
	return int(n), netip.AddrPortFrom(netip.AddrFrom16(sa.Addr), p), 0
}
