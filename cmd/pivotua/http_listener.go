package main

import (
	"net"
	"net/http"
	"sync"
	"time"
)

// httpLimits bound what one client of the HTTP listener can hold: every request comes from a
// browser, a script or a scanner we do not trust.
type httpLimits struct {
	// ReadTimeout bounds reading one request, headers and body: a client that dribbles its headers
	// or its body (slowloris) is cut after it. Every request pivotua accepts is small.
	ReadTimeout time.Duration
	// WriteTimeout bounds writing one response. A recording download gets it plus one second
	// per 16,000 bytes of the file (see recordings.Server), so a large one over a slow link
	// is not cut.
	WriteTimeout time.Duration
	// IdleTimeout closes a keep-alive connection that sends no next request.
	IdleTimeout time.Duration
	// MaxHeaderBytes caps the request line and headers; beyond it net/http answers 431.
	MaxHeaderBytes int
	// MaxConnections caps open connections; the next one waits in the kernel's accept queue until
	// one closes (0 = no cap).
	MaxConnections int
}

// newHTTPServer serves handler within limits.
func newHTTPServer(handler http.Handler, l httpLimits) *http.Server {
	return &http.Server{
		Handler:           handler,
		ReadHeaderTimeout: l.ReadTimeout,
		ReadTimeout:       l.ReadTimeout,
		WriteTimeout:      l.WriteTimeout,
		IdleTimeout:       l.IdleTimeout,
		MaxHeaderBytes:    l.MaxHeaderBytes,
	}
}

// limitListener accepts at most n connections at a time: Accept waits for one of them to close,
// leaving the newcomer in the kernel's accept queue (as golang.org/x/net/netutil.LimitListener
// does, without the dependency). The read, write and idle timeouts make sure held slots come back.
type limitListener struct {
	net.Listener
	slots     chan struct{} // one token per open connection
	done      chan struct{} // closed by Close: Accept stops waiting for a slot
	closeOnce sync.Once
}

func newLimitListener(ln net.Listener, n int) net.Listener {
	if n <= 0 {
		return ln
	}
	return &limitListener{Listener: ln, slots: make(chan struct{}, n), done: make(chan struct{})}
}

func (l *limitListener) Accept() (net.Conn, error) {
	select {
	case l.slots <- struct{}{}:
	case <-l.done:
		return nil, net.ErrClosed
	}
	c, err := l.Listener.Accept()
	if err != nil {
		<-l.slots
		return nil, err
	}
	return &limitedConn{Conn: c, release: func() { <-l.slots }}, nil
}

func (l *limitListener) Close() error {
	l.closeOnce.Do(func() { close(l.done) })
	return l.Listener.Close()
}

// limitedConn gives its slot back when closed, once however often Close is called.
type limitedConn struct {
	net.Conn
	once    sync.Once
	release func()
}

func (c *limitedConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(c.release)
	return err
}
