package mediastream

import (
	"context"
	"net"
	"net/http"
	"sync"
)

// coder/websocket flushes every message as it is written: a write system call per message, which
// was a quarter of a streamed call's CPU at 300 calls. It has no way to hold several back, so the
// stream's connection is wrapped under it (under TLS for wss://): while Run writes the frames it
// found waiting (both tracks of a fork, the frames of a clock's catch-up), batchConn gathers them
// and Run hands them to the kernel in one write.

// maxBatchBytes bounds what a batch gathers before it is written anyway (about 180 media messages).
const maxBatchBytes = 64 << 10

// batchConn is a stream's TCP connection. Run alone begins and flushes batches; coder/websocket
// writes from Run and, for close frames, from the reader goroutine; mu orders them all.
type batchConn struct {
	net.Conn

	mu       sync.Mutex // guards batching and buf; held across the connection's writes to keep their order
	batching bool
	buf      []byte
}

// Write gathers p while a batch is open, else writes it through.
func (c *batchConn) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.batching {
		return c.Conn.Write(p)
	}
	if len(c.buf)+len(p) > maxBatchBytes {
		if err := c.writeBuffered(); err != nil {
			return 0, err
		}
	}
	c.buf = append(c.buf, p...)
	return len(p), nil
}

// begin opens a batch: writes are gathered until flush.
func (c *batchConn) begin() {
	c.mu.Lock()
	c.batching = true
	c.mu.Unlock()
}

// flush closes the batch and writes what it gathered, in one write.
func (c *batchConn) flush() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.batching = false
	return c.writeBuffered()
}

// writeBuffered writes buf; under mu.
func (c *batchConn) writeBuffered() error {
	if len(c.buf) == 0 {
		return nil
	}
	_, err := c.Conn.Write(c.buf)
	c.buf = c.buf[:0]
	return err
}

// batchSlot carries the connection a Dial's transport opened back to the Dial.
type batchSlot struct{ conn *batchConn }

type batchSlotKey struct{}

// withBatchConns makes t wrap each connection it dials for a Dial (a context holding a batchSlot)
// in a batchConn and put it in the slot. A connection the transport reused from its pool is not
// wrapped, and the stream then writes each message as it comes.
func withBatchConns(t *http.Transport) *http.Transport {
	dial := t.DialContext
	if dial == nil {
		dial = (&net.Dialer{}).DialContext
	}
	t.DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := dial(ctx, network, addr)
		if err != nil {
			return c, err
		}
		slot, ok := ctx.Value(batchSlotKey{}).(*batchSlot)
		if !ok {
			return c, nil
		}
		bc := &batchConn{Conn: c}
		slot.conn = bc
		return bc, nil
	}
	return t
}
