package sip

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"sync/atomic"
	"testing"
	"time"
)

// newTestServer listens on an ephemeral UDP and TCP port of 127.0.0.1 with handler h.
func newTestServer(t *testing.T, h Handler) *Server {
	t.Helper()
	s, err := NewServer(Config{
		Listen: []string{"udp://127.0.0.1:0"},
		Logger: slog.New(slog.DiscardHandler),
	}, h)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Listen(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s
}

func targetOf(s *Server, user string) string {
	return fmt.Sprintf("sip:%s@%s", user, s.Listeners()[0].Addr)
}

var testRTP = netip.MustParseAddrPort("127.0.0.1:40000")

func TestDialAnsweredThenCalleeHangsUp(t *testing.T) {
	var got atomic.Pointer[CallInfo]
	callee := newTestServer(t, func(c *InboundCall) {
		info := c.Info()
		got.Store(&info)
		_ = c.Ring()
		// A callee rings before answering; a 180 overtaken by the 200 need not be reported.
		time.Sleep(100 * time.Millisecond)
		md, err := c.Answer(context.Background(), netip.MustParseAddrPort("127.0.0.1:41000"))
		if err != nil || md.Addr != testRTP {
			t.Errorf("callee answer: %v %v", md, err)
		}
		time.Sleep(200 * time.Millisecond)
		_ = c.Hangup(context.Background())
	})
	caller := newTestServer(t, func(c *InboundCall) {})
	var rang atomic.Int32
	oc, err := caller.Dial(t.Context(), OutboundRequest{
		Target: targetOf(callee, "bob"), FromUser: "alice", FromDisplay: "Alice", LocalRTP: testRTP,
		OnProgress: func(p Progress) {
			if p.Code == 180 {
				rang.Add(1)
			}
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	if md := oc.Media(); md.Addr != netip.MustParseAddrPort("127.0.0.1:41000") || md.PayloadType != PayloadPCMU || md.EventPayloadType != 101 {
		t.Errorf("negotiated %+v", md)
	}
	if rang.Load() != 1 {
		t.Errorf("180 reported %d times", rang.Load())
	}
	select {
	case <-oc.Done():
	case <-time.After(3 * time.Second):
		t.Fatal("the callee's BYE did not end the outbound call")
	}
	if info := got.Load(); info == nil || info.FromUser != "alice" || info.FromDisplay != "Alice" || info.RequestUser != "bob" || info.CallID != oc.CallID() {
		t.Errorf("callee saw %+v", info)
	}
}

func TestDialWeHangUp(t *testing.T) {
	ended := make(chan struct{})
	callee := newTestServer(t, func(c *InboundCall) {
		_, _ = c.Answer(context.Background(), netip.MustParseAddrPort("127.0.0.1:41000"))
		<-c.Done()
		close(ended)
	})
	caller := newTestServer(t, func(c *InboundCall) {})
	oc, err := caller.Dial(t.Context(), OutboundRequest{Target: targetOf(callee, "bob"), FromUser: "alice", LocalRTP: testRTP})
	if err != nil {
		t.Fatal(err)
	}
	if err := oc.Hangup(t.Context()); err != nil {
		t.Fatal(err)
	}
	select {
	case <-ended:
	case <-time.After(2 * time.Second):
		t.Fatal("callee did not see our BYE")
	}
	<-oc.Done()
}

func TestDialFailuresMapToKinds(t *testing.T) {
	for _, tc := range []struct {
		code int
		want error
	}{{486, ErrBusy}, {600, ErrBusy}, {480, ErrNoAnswer}, {404, ErrDeclined}, {503, ErrDeclined}} {
		t.Run(fmt.Sprint(tc.code), func(t *testing.T) {
			callee := newTestServer(t, func(c *InboundCall) { _ = c.Reject(tc.code, "Nope") })
			caller := newTestServer(t, func(c *InboundCall) {})
			_, err := caller.Dial(t.Context(), OutboundRequest{Target: targetOf(callee, "bob"), FromUser: "alice", LocalRTP: testRTP})
			var de *DialError
			if !errors.Is(err, tc.want) || !errors.As(err, &de) || de.Code != tc.code {
				t.Errorf("err = %v, want %v with code %d", err, tc.want, tc.code)
			}
		})
	}
}

func TestDialRingTimeoutCancels(t *testing.T) {
	cancelled := make(chan struct{})
	callee := newTestServer(t, func(c *InboundCall) {
		_ = c.Ring()
		<-c.Done()
		close(cancelled)
	})
	caller := newTestServer(t, func(c *InboundCall) {})
	start := time.Now()
	_, err := caller.Dial(t.Context(), OutboundRequest{Target: targetOf(callee, "bob"), FromUser: "alice", LocalRTP: testRTP, RingTimeout: 300 * time.Millisecond})
	if !errors.Is(err, ErrNoAnswer) {
		t.Fatalf("err = %v, want no answer", err)
	}
	if took := time.Since(start); took > 2*time.Second {
		t.Errorf("dial took %v with a 300 ms ring timeout", took)
	}
	select {
	case <-cancelled:
	case <-time.After(2 * time.Second):
		t.Fatal("the callee never saw the CANCEL")
	}
}

func TestDialContextCancelIsCanceled(t *testing.T) {
	callee := newTestServer(t, func(c *InboundCall) {
		_ = c.Ring()
		<-c.Done()
	})
	caller := newTestServer(t, func(c *InboundCall) {})
	ctx, cancel := context.WithTimeout(t.Context(), 200*time.Millisecond)
	defer cancel()
	_, err := caller.Dial(ctx, OutboundRequest{Target: targetOf(callee, "bob"), FromUser: "alice", LocalRTP: testRTP})
	if !errors.Is(err, ErrCanceled) {
		t.Fatalf("err = %v, want canceled", err)
	}
}

func TestDialEarlyMediaReported(t *testing.T) {
	callee := newTestServer(t, func(c *InboundCall) {
		if _, err := c.EarlyMedia(netip.MustParseAddrPort("127.0.0.1:41002")); err != nil {
			t.Error(err)
		}
		time.Sleep(100 * time.Millisecond)
		_ = c.Reject(486, "Busy Here")
	})
	caller := newTestServer(t, func(c *InboundCall) {})
	early := make(chan Progress, 4)
	_, err := caller.Dial(t.Context(), OutboundRequest{Target: targetOf(callee, "bob"), FromUser: "alice", LocalRTP: testRTP,
		OnProgress: func(p Progress) { early <- p }})
	if !errors.Is(err, ErrBusy) {
		t.Fatalf("err = %v", err)
	}
	select {
	case p := <-early:
		if p.Code != 183 || p.EarlyMedia == nil || p.EarlyMedia.Addr.Port() != 41002 {
			t.Errorf("progress %+v", p)
		}
	default:
		t.Fatal("no 183 reported")
	}
}

func TestDialBadTarget(t *testing.T) {
	caller := newTestServer(t, func(c *InboundCall) {})
	if _, err := caller.Dial(t.Context(), OutboundRequest{Target: "sip:", LocalRTP: testRTP}); !errors.Is(err, ErrDeclined) {
		t.Errorf("err = %v", err)
	}
}
