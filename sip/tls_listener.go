package sip

import (
	"context"
	"crypto/tls"
	"errors"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"time"
)

// Bounds on inbound TLS connections. A handshake costs CPU and a goroutine
// before any SIP is read, so anyone may make pivotua pay for them: one source
// gets a few at a time, and all sources together a fixed number.
const (
	maxTLSConns          = 1024 // established and handshaking, all sources
	maxTLSConnsPerSource = 32   // the same, from one IP address
)

// handshakeListener is a tls:// listener as sipgo sees it: Accept returns
// only connections whose handshake finished within TLSHandshakeTimeout, so a
// peer that stalls or speaks no TLS 1.2 holds one socket of its own for that
// long, never sipgo's accept loop. Connections over the bounds above are
// closed at once.
type handshakeListener struct {
	net.Listener
	conf *tls.Config
	log  *slog.Logger

	ready chan net.Conn
	done  chan struct{}
	close sync.Once

	mu       sync.Mutex
	total    int
	bySource map[netip.Addr]int
}

func newHandshakeListener(ln net.Listener, conf *tls.Config, log *slog.Logger) *handshakeListener {
	l := &handshakeListener{Listener: ln, conf: conf, log: log, ready: make(chan net.Conn),
		done: make(chan struct{}), bySource: map[netip.Addr]int{}}
	go l.acceptLoop()
	return l
}

func (l *handshakeListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.ready:
		return c, nil
	case <-l.done:
		return nil, net.ErrClosed
	}
}

func (l *handshakeListener) Close() error {
	l.close.Do(func() { close(l.done) })
	return l.Listener.Close()
}

func (l *handshakeListener) acceptLoop() {
	for {
		raw, err := l.Listener.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				l.Close()
				return
			}
			// Out of file descriptors, say: the listener stays, as net/http's does.
			time.Sleep(50 * time.Millisecond)
			continue
		}
		src := raw.RemoteAddr().(*net.TCPAddr).AddrPort().Addr().Unmap()
		if !l.admit(src) {
			l.log.Debug("TLS connection refused: too many", "source", raw.RemoteAddr().String())
			_ = raw.Close()
			continue
		}
		go l.handshake(raw, src)
	}
}

// admit counts a connection from src, or refuses it over the bounds.
func (l *handshakeListener) admit(src netip.Addr) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.total >= maxTLSConns || l.bySource[src] >= maxTLSConnsPerSource {
		return false
	}
	l.total++
	l.bySource[src]++
	return true
}

func (l *handshakeListener) release(src netip.Addr) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.total--
	if l.bySource[src]--; l.bySource[src] <= 0 {
		delete(l.bySource, src)
	}
}

func (l *handshakeListener) handshake(raw net.Conn, src netip.Addr) {
	c := &countedConn{Conn: tls.Server(raw, l.conf), release: func() { l.release(src) }}
	ctx, cancel := context.WithTimeout(context.Background(), TLSHandshakeTimeout)
	defer cancel()
	if err := c.Conn.(*tls.Conn).HandshakeContext(ctx); err != nil {
		l.log.Debug("TLS handshake failed", "source", raw.RemoteAddr().String(), "error", err)
		_ = c.Close()
		return
	}
	select {
	case l.ready <- c:
	case <-l.done:
		_ = c.Close()
	}
}

// countedConn gives its slot back when closed, once.
type countedConn struct {
	net.Conn
	once    sync.Once
	release func()
}

func (c *countedConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(c.release)
	return err
}
