package sip

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strings"
	"sync"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"
)

// Outbound TCP and TLS connections are opened here, not by sipgo: sipgo's
// TLS client has one tls.Config for every destination and checks the
// certificate against the address dialled, where a trunk needs its own roots
// (trunks[].ca_file) and its host name checked; and sipgo cannot bind a
// stream's local address without taking an inbound connection for it. So
// streamDialer opens the connection from the chosen source, finishes and
// checks the handshake, and hands it to sipgo through a connFeeder, which
// sipgo serves like a listener: it pools the connection under the peer's
// address, where the INVITE's transaction then finds it.

// connFeeder is a net.Listener that listens on nothing: Accept returns the
// connections feed was given.
type connFeeder struct {
	addr  net.Addr
	conns chan feedItem
	done  chan struct{}
	close sync.Once
	// pooled is closed when sipgo asks for the next connection: its Serve
	// loop pools each one before calling Accept again. Touched by Accept only.
	pooled chan struct{}
}

type feedItem struct {
	conn   net.Conn
	pooled chan struct{}
}

func newConnFeeder(addr net.Addr) *connFeeder {
	return &connFeeder{addr: addr, conns: make(chan feedItem), done: make(chan struct{})}
}

func (f *connFeeder) Accept() (net.Conn, error) {
	if f.pooled != nil {
		close(f.pooled)
		f.pooled = nil
	}
	select {
	case it := <-f.conns:
		f.pooled = it.pooled
		return it.conn, nil
	case <-f.done:
		return nil, net.ErrClosed
	}
}

func (f *connFeeder) Close() error {
	f.close.Do(func() { close(f.done) })
	return nil
}

func (f *connFeeder) Addr() net.Addr { return f.addr }

// feed hands c to sipgo and returns once sipgo has pooled it.
func (f *connFeeder) feed(ctx context.Context, c net.Conn) error {
	it := feedItem{conn: c, pooled: make(chan struct{})}
	select {
	case f.conns <- it:
	case <-f.done:
		return net.ErrClosed
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case <-it.pooled:
		return nil
	case <-f.done:
		return net.ErrClosed
	}
}

// streamDialer opens Dial's TCP and TLS connections (see above) and
// remembers which are up, and for whom, so that a leg reuses a connection
// only when it left from the same source and, on TLS, proved the same
// identity against the same roots.
type streamDialer struct {
	feeders    map[string]*connFeeder // by transport: "tcp", "tls"
	clientConf *tls.Config            // TLS settings shared by every outbound handshake

	mu sync.Mutex
	// conns is the connection sipgo pools under each peer address (the
	// last one fed wins there), with what it is good for.
	conns map[peerKey]*trackedConn
	busy  map[peerKey]*sync.Mutex // one setup at a time per peer; entries live while used
	users map[peerKey]int
}

// peerKey is where sipgo pools a stream: one connection per transport and peer address.
type peerKey struct {
	transport string
	peer      netip.AddrPort
}

// streamKey is what a pooled connection is good for.
type streamKey struct {
	transport string
	peer      netip.AddrPort
	source    netip.Addr
	host      string         // TLS: the name the certificate proved
	roots     *x509.CertPool // TLS: nil = the system's
}

func newStreamDialer() *streamDialer {
	return &streamDialer{feeders: map[string]*connFeeder{}, conns: map[peerKey]*trackedConn{},
		busy: map[peerKey]*sync.Mutex{}, users: map[peerKey]int{},
		clientConf: &tls.Config{MinVersion: tls.VersionTLS12}}
}

// trackedConn forgets itself when sipgo closes it.
type trackedConn struct {
	net.Conn
	key    streamKey
	once   sync.Once
	forget func()
}

func (c *trackedConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(c.forget)
	return err
}

// lock serialises the setup and the first request to one peer, so that the
// request leaves on the connection set up for it.
func (d *streamDialer) lock(sk streamKey) func() {
	k := peerKey{sk.transport, sk.peer}
	d.mu.Lock()
	m := d.busy[k]
	if m == nil {
		m = &sync.Mutex{}
		d.busy[k] = m
	}
	d.users[k]++
	d.mu.Unlock()
	m.Lock()
	return func() {
		m.Unlock()
		d.mu.Lock()
		if d.users[k]--; d.users[k] == 0 {
			delete(d.users, k)
			delete(d.busy, k)
		}
		d.mu.Unlock()
	}
}

// ensure makes sure sipgo's pool holds, under k.peer, a connection that is
// good for k: one already up, or a new one from k.source, whose certificate
// (on TLS) chains to k.roots and names k.host. The caller holds lock(k) until
// its request has left.
func (d *streamDialer) ensure(ctx context.Context, k streamKey) error {
	pk := peerKey{k.transport, k.peer}
	d.mu.Lock()
	c := d.conns[pk]
	d.mu.Unlock()
	if c != nil && c.key == k {
		return nil
	}
	feeder := d.feeders[k.transport]
	if feeder == nil {
		return fmt.Errorf("no %s listener to send from", k.transport)
	}
	dialer := net.Dialer{Timeout: TLSHandshakeTimeout}
	if k.source.IsValid() {
		dialer.LocalAddr = &net.TCPAddr{IP: k.source.AsSlice()}
	}
	raw, err := dialer.DialContext(ctx, "tcp", k.peer.String())
	if err != nil {
		return fmt.Errorf("connect %s from %s: %w", k.peer, k.source, err)
	}
	conn := raw
	if k.transport == "tls" {
		conf := d.clientConf.Clone()
		conf.ServerName = k.host // RFC 5922 §7.2: the certificate must name the host of the URI dialled
		conf.RootCAs = k.roots
		tc := tls.Client(raw, conf)
		hctx, cancel := context.WithTimeout(ctx, TLSHandshakeTimeout)
		err := tc.HandshakeContext(hctx)
		cancel()
		if err != nil {
			_ = raw.Close()
			var wrongHost x509.HostnameError
			if errors.As(err, &wrongHost) {
				names := append(slices.Clone(wrongHost.Certificate.DNSNames), ipStrings(wrongHost.Certificate.IPAddresses)...)
				return fmt.Errorf("%w: %s (%s): its certificate names %s, not %s", ErrTLSPeer, k.host, k.peer, strings.Join(names, ", "), k.host)
			}
			return fmt.Errorf("%w: %s (%s): %v", ErrTLSPeer, k.host, k.peer, err)
		}
		conn = tc
	}
	tracked := &trackedConn{Conn: conn, key: k}
	tracked.forget = func() {
		d.mu.Lock()
		if d.conns[pk] == tracked {
			delete(d.conns, pk)
		}
		d.mu.Unlock()
	}
	d.mu.Lock()
	d.conns[pk] = tracked
	d.mu.Unlock()
	if err := feeder.feed(ctx, tracked); err != nil {
		_ = tracked.Close()
		return err
	}
	return nil
}

func (d *streamDialer) close() {
	for _, f := range d.feeders {
		_ = f.Close()
	}
}

// invitesConnection is where an inbound call's BYE goes on TCP and TLS: back
// on the connection its INVITE came in on while that is up (RFC 5923's
// connection reuse), since the caller's Contact may name an address pivotua
// cannot reach or whose certificate it cannot check. false: the Contact, as
// sipgo does.
func (s *Server) invitesConnection(invite *sip.Request) (string, bool) {
	t := strings.ToLower(invite.Transport())
	if t != "tcp" && t != "tls" {
		return "", false
	}
	src := invite.Source()
	c, err := s.ua.TransportLayer().GetConnection(t, src)
	if err != nil || c == nil {
		return "", false
	}
	c.Ref(-1) // GetConnection counted a use we do not make here
	return src, true
}

// byeOnConnection sends the dialog's BYE to dest (invitesConnection).
type byeOnConnection struct {
	*sipgo.DialogServerSession
	dest string
}

func (b byeOnConnection) Bye(ctx context.Context) error {
	inv := b.InviteRequest
	bye := sip.NewRequest(sip.BYE, inv.Contact().Address)
	bye.SetTransport(inv.Transport())
	bye.SetDestination(b.dest)
	return b.WriteBye(ctx, bye)
}

func ipStrings(ips []net.IP) []string {
	out := make([]string, len(ips))
	for i, ip := range ips {
		out[i] = ip.String()
	}
	return out
}

// ensureNextHop readies the connection for the ACK and the later requests of
// a leg sent over TCP or TLS (stream: the INVITE's), when the 2xx names
// another next hop (RFC 3261 §12.1.2: the last Record-Route, else the
// Contact): it leaves from the same source and, on TLS, must prove the hop's
// host name against the same roots. A hop at the INVITE's own address keeps
// the INVITE's connection, which proved the target's name already. Without
// this sipgo would open it itself, from any address, against the system roots.
func (s *Server) ensureNextHop(ctx context.Context, res *sip.Response, stream streamKey, checked netip.AddrPort) error {
	hop, ok := nextHopURI(res)
	if !ok {
		return nil
	}
	t := targetTransport(hop)
	if t == "udp" || s.streams.feeders[t] == nil || hop.Port < 0 || hop.Port > 65535 {
		// UDP leaves from the listener anyway; without a listener of the
		// hop's transport sipgo connects as before; a bad port is checkNextHop's.
		return nil
	}
	peer := checked // the address sip.egress checked: no second lookup to rebind
	if !peer.IsValid() {
		addrs, err := s.resolveHop(ctx, hop.Host)
		if err != nil {
			return err
		}
		port := hop.Port
		if port == 0 {
			port = sip.DefaultPort(t)
		}
		peer = netip.AddrPortFrom(addrs[0], uint16(port))
	}
	k := streamKey{transport: t, peer: peer, source: stream.source,
		host: strings.Trim(hop.Host, "[]"), roots: stream.roots}
	if k.transport == stream.transport && k.peer == stream.peer {
		return nil
	}
	if stream.transport == "" {
		// A UDP INVITE answered with a TCP or TLS hop: leave from that transport's listener.
		if ua := s.dialogUA[t]; ua != nil {
			if src := s.uaSource[ua]; !src.IsUnspecified() {
				k.source = src
			}
		}
	}
	unlock := s.streams.lock(k)
	defer unlock()
	return s.streams.ensure(ctx, k)
}
