package httpfetch

import (
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"syscall"
	"time"
)

// NewGuardedTransport returns an HTTP transport that refuses to connect to
// any address in deny. The check runs on the resolved address as the socket
// connects (net.Dialer.Control), so a hostname that resolves, or is rebound,
// to a denied address is refused, and so is every redirect hop. With a
// deny-list, unspecified addresses (0.0.0.0, ::), which reach the local host,
// are refused too, and proxies from the environment are not used: the check
// must see the real destination.
func NewGuardedTransport(deny []netip.Prefix) *http.Transport {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConnsPerHost = 64
	if len(deny) == 0 {
		return t
	}
	t.Proxy = nil
	d := &net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second, Control: denyControl(deny)}
	t.DialContext = d.DialContext
	return t
}

// WithDenyCIDRs makes the Client refuse destinations in deny (see
// NewGuardedTransport); the failure is ErrConnect wrapping ErrDenied. It
// replaces the Client's transport, so give it after WithHTTPClient only if
// that client's Transport may be replaced.
func WithDenyCIDRs(deny []netip.Prefix) Option {
	return func(c *Client) {
		if len(deny) > 0 {
			copied := *c.http
			copied.Transport = NewGuardedTransport(deny)
			c.http = &copied
		}
	}
}

// denyControl refuses a connection whose remote address is denied; an
// address it cannot read is refused too (fail closed).
func denyControl(deny []netip.Prefix) func(network, address string, _ syscall.RawConn) error {
	return func(network, address string, _ syscall.RawConn) error {
		ap, err := netip.ParseAddrPort(address)
		if err != nil {
			return fmt.Errorf("%w: unreadable address %q", ErrDenied, address)
		}
		a := ap.Addr().Unmap()
		if a.IsUnspecified() {
			return fmt.Errorf("%w: %s is the unspecified address", ErrDenied, a)
		}
		for _, p := range deny {
			if p.Contains(a) {
				return fmt.Errorf("%w: %s is in %s", ErrDenied, a, p)
			}
		}
		return nil
	}
}
