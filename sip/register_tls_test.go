package sip

import (
	"context"
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"
	"github.com/pivotua/pivotua/internal/testkit"
)

// tlsRegistrar is a registrar on TLS (tlsPeer) that answers REGISTER 200 and
// OPTIONS 200, and after the first 200 sends an INVITE for our Contact on the
// same connection, as a carrier does for a client behind NAT (RFC 5626 §5.3).
type tlsRegistrar struct {
	addr string
	mu   sync.Mutex
	from map[string]int // requests by the connection's remote address (ours)
}

func newTLSRegistrar(t *testing.T, certFile, keyFile string) *tlsRegistrar {
	t.Helper()
	reg := &tlsRegistrar{from: map[string]int{}}
	invited := false
	reg.addr = tlsPeer(t, certFile, keyFile, func(msg string, from net.Addr) string {
		m, err := sip.ParseMessage([]byte(msg))
		req, ok := m.(*sip.Request)
		if err != nil || !ok {
			return "" // our answer to the INVITE
		}
		reg.mu.Lock()
		defer reg.mu.Unlock()
		reg.from[from.String()]++
		switch req.Method {
		case sip.REGISTER:
			out := okWithContact(req, "3600").String()
			if !invited {
				invited = true
				out += inviteFor(req.Contact().Address, reg.addr)
			}
			return out
		case sip.OPTIONS:
			return reply(req, 200, "OK").String()
		}
		return ""
	})
	return reg
}

// inviteFor is a carrier's INVITE to contact, sent from addr.
func inviteFor(contact sip.Uri, addr string) string {
	sdp := "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 40002 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n"
	return fmt.Sprintf("INVITE %s SIP/2.0\r\nVia: SIP/2.0/TLS %s;branch=z9hG4bK-carrier-1\r\nFrom: <sip:carrier@%s>;tag=c1\r\n"+
		"To: <%s>\r\nCall-ID: call-over-the-registration\r\nCSeq: 1 INVITE\r\nContact: <sip:carrier@%s;transport=tls>\r\n"+
		"Max-Forwards: 70\r\nContent-Type: application/sdp\r\nContent-Length: %d\r\n\r\n%s",
		contact.String(), addr, addr, contact.String(), addr, len(sdp), sdp)
}

func (r *tlsRegistrar) connections() map[string]int {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := map[string]int{}
	for k, v := range r.from {
		out[k] = v
	}
	return out
}

// Registration over TLS checks the registrar against the trunk's roots (the
// test CA, which the system does not know), leaves from the tls:// listener's
// address, keeps that one connection for the keep-alives, and takes the
// registrar's INVITE arriving on it.
func TestRegisterOverTLSUsesTheTrunksRootsAndTakesCallsOnItsConnection(t *testing.T) {
	ca := testkit.NewCA(t, "registrar CA")
	certFile, keyFile := ca.Issue(t, t.TempDir(), "registrar", "127.0.0.1")
	calls := make(chan CallInfo, 1)
	srv := startTestServer(t, Config{Listen: []string{"udp://127.0.0.1:0", "tls://127.0.0.2:0"},
		TLS: TLSConfig{CertFile: certFile, KeyFile: keyFile}}, func(c *InboundCall) {
		calls <- c.Info()
		_ = c.Reject(486, "Busy Here")
	})
	reg := newTLSRegistrar(t, certFile, keyFile)
	roots, err := LoadRootCAs(ca.File)
	if err != nil {
		t.Fatal(err)
	}
	r, err := srv.StartRegistration(RegistrationConfig{Trunk: "tls", URI: "sip:" + reg.addr + ";transport=tls", Username: "3004",
		RootCAs: roots, Keepalive: 50 * time.Millisecond, retryMin: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Stop(context.Background()) })
	st := waitSettled(t, r)
	if st.State != RegistrationRegistered {
		t.Fatalf("registration over TLS: %s (%s)", st.State, st.Error)
	}
	select {
	case info := <-calls:
		if info.Source != reg.addr {
			t.Errorf("the registrar's INVITE came from %s, want its TLS address %s (on our connection)", info.Source, reg.addr)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the INVITE the registrar sent on the registration's connection never reached the handler")
	}
	deadline := time.Now().Add(5 * time.Second)
	for conns := reg.connections(); ; conns = reg.connections() {
		total := 0
		for _, n := range conns {
			total += n
		}
		if total >= 3 {
			if len(conns) != 1 {
				t.Fatalf("requests came on %v; want one connection, reused by the keep-alives", conns)
			}
			for from := range conns {
				if host, _, _ := net.SplitHostPort(from); host != "127.0.0.2" {
					t.Errorf("the registration's connection came from %s, not the tls:// listener's 127.0.0.2", from)
				}
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("only %v requests in 5 s; want a REGISTER and keep-alives", conns)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// A registrar whose certificate the trunk's roots do not vouch for, or that
// names another host, gets no REGISTER: the registration retries, naming why.
func TestRegisterOverTLSRefusesAWrongCertificate(t *testing.T) {
	ca := testkit.NewCA(t, "trunk CA")
	other := testkit.NewCA(t, "other CA")
	roots, err := LoadRootCAs(ca.File)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	listenCert, listenKey := ca.Issue(t, dir, "listener", "localhost")
	srv := startTestServer(t, Config{Listen: []string{"tls://127.0.0.1:0"}, TLS: TLSConfig{CertFile: listenCert, KeyFile: listenKey}}, func(*InboundCall) {})
	for name, c := range map[string]struct {
		ca    *testkit.CA
		names []string
		want  string
	}{
		"other CA":   {other, []string{"127.0.0.1"}, "certificate signed by unknown authority"},
		"wrong name": {ca, []string{"registrar.elsewhere.test"}, "its certificate names registrar.elsewhere.test, not 127.0.0.1"},
	} {
		t.Run(name, func(t *testing.T) {
			certFile, keyFile := c.ca.Issue(t, t.TempDir(), "registrar", c.names...)
			reg := newTLSRegistrar(t, certFile, keyFile)
			r, err := srv.StartRegistration(RegistrationConfig{Trunk: name, URI: "sip:" + reg.addr + ";transport=tls", Username: "3004",
				RootCAs: roots, retryMin: time.Hour})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { r.Stop(context.Background()) })
			st := waitSettled(t, r)
			if st.State != RegistrationRetrying || !strings.Contains(st.Error, c.want) || !strings.Contains(st.Error, ErrTLSPeer.Error()) {
				t.Errorf("state %s, error %q; want retrying, naming %q", st.State, st.Error, c.want)
			}
			if n := len(reg.connections()); n != 0 {
				t.Errorf("the registrar read %d requests through a certificate we refused", n)
			}
		})
	}
}

// waitSettled waits until r is registered or retrying.
func waitSettled(t *testing.T, r *Registration) RegistrationStatus {
	t.Helper()
	testkit.WaitFor(t, 10*time.Second, "registration registered or retrying", func() bool {
		st := r.Status().State
		return st == RegistrationRegistered || st == RegistrationRetrying
	})
	return r.Status()
}

// A registrar whose connection stays up but goes silent (it crashed behind a
// firewall that kept the connection's state): the keep-alive times out, and
// the next REGISTER goes on a new connection instead of the dead one.
func TestRegisterOverTLSReconnectsWhenItsConnectionGoesSilent(t *testing.T) {
	ca := testkit.NewCA(t, "registrar CA")
	certFile, keyFile := ca.Issue(t, t.TempDir(), "registrar", "127.0.0.1")
	srv := startTestServer(t, Config{Listen: []string{"tls://127.0.0.1:0"}, TLS: TLSConfig{CertFile: certFile, KeyFile: keyFile}}, func(*InboundCall) {})
	var mu sync.Mutex
	answered := map[string]int{} // REGISTERs answered, by connection
	addr := tlsPeer(t, certFile, keyFile, func(msg string, from net.Addr) string {
		m, err := sip.ParseMessage([]byte(msg))
		req, ok := m.(*sip.Request)
		if err != nil || !ok {
			return ""
		}
		mu.Lock()
		defer mu.Unlock()
		if len(answered) == 1 && answered[from.String()] > 0 {
			return "" // the first connection answers one REGISTER, then nothing
		}
		if req.Method == sip.REGISTER {
			answered[from.String()]++
			return okWithContact(req, "3600").String()
		}
		return reply(req, 200, "OK").String()
	})
	roots, err := LoadRootCAs(ca.File)
	if err != nil {
		t.Fatal(err)
	}
	r, err := srv.StartRegistration(RegistrationConfig{Trunk: "silent", URI: "sip:" + addr + ";transport=tls", Username: "3004",
		RootCAs: roots, Keepalive: 50 * time.Millisecond, retryMin: 10 * time.Millisecond, roundTimeout: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Stop(context.Background()) })
	testkit.WaitFor(t, 10*time.Second, "a REGISTER answered on a second connection", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(answered) >= 2
	})
	waitState(t, r, RegistrationRegistered)
}
