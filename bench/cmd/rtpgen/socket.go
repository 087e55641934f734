//go:build linux

package main

import (
	"fmt"
	"net/netip"
	"os"
	"unsafe"

	"golang.org/x/sys/unix"
)

// The generator's one socket is a raw descriptor outside Go's netpoller: its one loop reads it
// with recvmmsg and writes it with sendmmsg, never blocking in either.

const (
	readBatchSize = 64
	readBufSize   = 2048 // an RTP packet of any codec pivotua offers fits
	ctrlBufSize   = 128  // SCM_TIMESTAMPNS (16 + 16) and SO_RXQ_OVFL (16 + 4, padded to 24)
	sendBatchSize = 256
)

// openSocket binds the generator's UDP socket on local with kernel receive timestamps and the
// drop counter switched on and a receive buffer of rcvbuf bytes: SO_RCVBUFFORCE first (root may
// pass net.core.rmem_max), SO_RCVBUF when refused. It returns the buffer the kernel granted.
func openSocket(local netip.AddrPort, rcvbuf int) (fd, granted int, err error) {
	if !local.Addr().Is4() {
		return -1, 0, fmt.Errorf("listen address %s: IPv4 only", local)
	}
	fd, err = unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, unix.IPPROTO_UDP)
	if err != nil {
		return -1, 0, os.NewSyscallError("socket", err)
	}
	fail := func(what string, err error) (int, int, error) {
		unix.Close(fd)
		return -1, 0, os.NewSyscallError(what, err)
	}
	if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, rcvbuf); err != nil {
		if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUF, rcvbuf); err != nil {
			return fail("setsockopt SO_RCVBUF", err)
		}
	}
	_ = unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_SNDBUFFORCE, 4<<20)
	if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_TIMESTAMPNS, 1); err != nil {
		return fail("setsockopt SO_TIMESTAMPNS", err)
	}
	if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RXQ_OVFL, 1); err != nil {
		return fail("setsockopt SO_RXQ_OVFL", err)
	}
	if err := unix.Bind(fd, &unix.SockaddrInet4{Port: int(local.Port()), Addr: local.Addr().As4()}); err != nil {
		return fail("bind", err)
	}
	granted, _ = unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUF)
	return fd, granted, nil
}

// readBatch holds recvmmsg's buffers; the kernel is handed pointers inside it, so it lives on the
// heap for the reader's whole life.
type readBatch struct {
	hdrs  [readBatchSize]unix.Mmsghdr
	iovs  [readBatchSize]unix.Iovec
	names [readBatchSize]unix.RawSockaddrInet4
	ctrl  [readBatchSize][ctrlBufSize]byte
	bufs  [readBatchSize][readBufSize]byte
}

func newReadBatch() *readBatch {
	rb := new(readBatch)
	for i := range rb.hdrs {
		rb.iovs[i].Base = &rb.bufs[i][0]
		rb.iovs[i].SetLen(readBufSize)
		h := &rb.hdrs[i].Hdr
		h.Name = (*byte)(unsafe.Pointer(&rb.names[i]))
		h.Iov = &rb.iovs[i]
		h.SetIovlen(1)
		h.Control = &rb.ctrl[i][0]
	}
	return rb
}

// read takes up to readBatchSize waiting datagrams in one recvmmsg without blocking; 0 when none
// is waiting.
func (rb *readBatch) read(fd int) (int, error) {
	for i := range rb.hdrs {
		h := &rb.hdrs[i].Hdr
		h.Namelen = unix.SizeofSockaddrInet4
		h.SetControllen(ctrlBufSize)
		h.Flags = 0
	}
	n, _, errno := unix.RawSyscall6(unix.SYS_RECVMMSG, uintptr(fd), uintptr(unsafe.Pointer(&rb.hdrs[0])), readBatchSize,
		unix.MSG_DONTWAIT, 0, 0)
	switch errno {
	case 0:
		return int(n), nil
	case unix.EAGAIN, unix.EINTR, unix.ECONNREFUSED:
		return 0, nil
	default:
		return 0, os.NewSyscallError("recvmmsg", errno)
	}
}

// datagram is the i-th datagram of the last read, its source as a table key, and what its
// control messages say: the kernel's receive time (ns since the epoch, 0 if absent) and the
// socket's drop counter at that moment (-1 if absent).
func (rb *readBatch) datagram(i int) (data []byte, src addrKey, rxNs int64, drops int64) {
	sa := &rb.names[i]
	port := (*[2]byte)(unsafe.Pointer(&sa.Port))
	src = makeKey(sa.Addr, uint16(port[0])<<8|uint16(port[1]))
	data = rb.bufs[i][:rb.hdrs[i].Len]
	rxNs, drops = parseControl(rb.ctrl[i][:rb.hdrs[i].Hdr.Controllen])
	return data, src, rxNs, drops
}

// parseControl walks the control messages by hand: unix.ParseSocketControlMessage would
// allocate for each datagram.
func parseControl(b []byte) (rxNs, drops int64) {
	drops = -1
	for len(b) >= unix.SizeofCmsghdr {
		h := (*unix.Cmsghdr)(unsafe.Pointer(&b[0]))
		l := int(h.Len)
		if l < unix.SizeofCmsghdr || l > len(b) {
			return rxNs, drops
		}
		data := b[unix.SizeofCmsghdr:l]
		if h.Level == unix.SOL_SOCKET {
			switch {
			case h.Type == unix.SCM_TIMESTAMPNS && len(data) >= int(unsafe.Sizeof(unix.Timespec{})):
				ts := (*unix.Timespec)(unsafe.Pointer(&data[0]))
				rxNs = ts.Sec*1e9 + ts.Nsec
			case h.Type == unix.SO_RXQ_OVFL && len(data) >= 4:
				drops = int64(*(*uint32)(unsafe.Pointer(&data[0])))
			}
		}
		next := (l + 7) &^ 7 // CMSG_ALIGN on 64-bit
		if next >= len(b) {
			break
		}
		b = b[next:]
	}
	return rxNs, drops
}

// sendBatch holds sendmmsg's buffers: per message the RTP header of its stream and the shared
// payload, so a frame is never copied.
type sendBatch struct {
	hdrs  [sendBatchSize]unix.Mmsghdr
	iovs  [sendBatchSize][2]unix.Iovec
	names [sendBatchSize]unix.RawSockaddrInet4
	rtp   [sendBatchSize][rtpHeaderLen]byte
	n     int
}

func newSendBatch(payload []byte) *sendBatch {
	sb := new(sendBatch)
	for i := range sb.hdrs {
		sb.iovs[i][0].Base = &sb.rtp[i][0]
		sb.iovs[i][0].SetLen(rtpHeaderLen)
		sb.iovs[i][1].Base = &payload[0]
		sb.iovs[i][1].SetLen(len(payload))
		h := &sb.hdrs[i].Hdr
		h.Name = (*byte)(unsafe.Pointer(&sb.names[i]))
		h.Namelen = unix.SizeofSockaddrInet4
		h.Iov = &sb.iovs[i][0]
		h.SetIovlen(2)
	}
	return sb
}

// add appends one packet to k with the header h; false when the batch is full.
func (sb *sendBatch) add(k addrKey, h *[rtpHeaderLen]byte) bool {
	if sb.n == sendBatchSize {
		return false
	}
	sa := &sb.names[sb.n]
	sa.Family = unix.AF_INET
	ip, port := k.split()
	sa.Addr = ip
	p := (*[2]byte)(unsafe.Pointer(&sa.Port))
	p[0], p[1] = byte(port>>8), byte(port)
	sb.rtp[sb.n] = *h
	sb.n++
	return true
}

// flush sends what the batch holds without blocking; it returns how many the kernel took and
// how many it refused.
func (sb *sendBatch) flush(fd int) (sent, failed int) {
	off := 0
	for off < sb.n {
		n, _, errno := unix.RawSyscall6(unix.SYS_SENDMMSG, uintptr(fd), uintptr(unsafe.Pointer(&sb.hdrs[off])), uintptr(sb.n-off),
			unix.MSG_DONTWAIT, 0, 0)
		switch {
		case errno == unix.EINTR:
			continue
		case errno != 0 || n == 0:
			// The message at off was refused (a full send buffer, or an ICMP error
			// reported on this socket): count it and go on with the rest.
			failed++
			off++
			continue
		}
		sent += int(n)
		off += int(n)
	}
	sb.n = 0
	return sent, failed
}
