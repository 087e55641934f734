package httpfetch

import (
	"fmt"
	"net/netip"
)

// Settings is the fetch: section of pivotua's config file, as written: what pivotua's
// outbound HTTP (webhooks, media, recording uploads) may reach. It belongs to this
// package: a new fetch setting is a field here, its check beside DenyPrefixes, and a
// line in the sample file.
type Settings struct {
	// DenyCIDRs are destinations pivotua never connects to, checked on the
	// resolved address (no DNS-rebinding bypass, every redirect hop). Empty by
	// default because the demo app lives on 127.0.0.1; when developers you do
	// not trust write the webhooks, deny at least 127.0.0.0/8, 10.0.0.0/8,
	// 172.16.0.0/12, 192.168.0.0/16, 169.254.0.0/16 (cloud metadata), ::1/128,
	// fc00::/7 and fe80::/10.
	DenyCIDRs []string `yaml:"deny_cidrs" json:"deny_cidrs"`
}

// DenyPrefixes checks DenyCIDRs and returns them for WithDenyCIDRs and
// NewGuardedTransport, or their problems named by path ("fetch.deny_cidrs[1]: ...").
// A bare address is a one-address prefix.
func (s Settings) DenyPrefixes(path string) ([]netip.Prefix, []error) {
	var (
		out  []netip.Prefix
		errs []error
	)
	for i, c := range s.DenyCIDRs {
		p, err := netip.ParsePrefix(c)
		if err != nil {
			a, aerr := netip.ParseAddr(c)
			if aerr != nil {
				errs = append(errs, fmt.Errorf("%s[%d]: %q is not a CIDR such as 203.0.113.0/24", path, i, c))
				continue
			}
			p = netip.PrefixFrom(a, a.BitLen())
		}
		out = append(out, p.Masked())
	}
	return out, errs
}
