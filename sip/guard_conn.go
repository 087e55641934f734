package sip

import (
	"net"
	"sync"
)

// guardedPacketConn is the UDP socket as sipgo sees it: every datagram is
// judged by the guard before sipgo parses it, and refusals are answered from
// here, so hostile input costs one read and, at most, one small write.
type guardedPacketConn struct {
	net.PacketConn
	guard *guard
	buf   []byte // read buffer; used only by sipgo's single reader goroutine
	// serving is closed at sipgo's first read: by then sipgo's transport has
	// the socket in its pool, so requests of ours can leave from it.
	serving   chan struct{}
	firstRead sync.Once
}

func newGuardedPacketConn(pc net.PacketConn, g *guard) *guardedPacketConn {
	return &guardedPacketConn{PacketConn: pc, guard: g, buf: make([]byte, 65536), serving: make(chan struct{})}
}

// ReadFrom returns the next datagram the guard lets through.
func (c *guardedPacketConn) ReadFrom(b []byte) (int, net.Addr, error) {
	c.firstRead.Do(func() { close(c.serving) })
	limit := min(c.guard.cfg.MaxMessageBytes, len(b))
	for {
		n, addr, err := c.PacketConn.ReadFrom(c.buf)
		if err != nil {
			return n, addr, err
		}
		ua, ok := addr.(*net.UDPAddr)
		if !ok {
			continue
		}
		// A rebuilt request is written straight into sipgo's buffer b.
		pass, reply, to := c.guard.inspectDatagram(c.buf[:n], ua.AddrPort(), limit, b)
		if reply != nil {
			_, _ = c.PacketConn.WriteTo(reply, net.UDPAddrFromAddrPort(to))
		}
		if pass != nil {
			return copy(b, pass), addr, nil
		}
	}
}
