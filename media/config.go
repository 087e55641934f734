package media

import (
	"fmt"
	"net/netip"
	"time"
)

// Settings is the rtp: section of pivotua's config file, as written. It belongs to
// this package: a new RTP setting is a field here, its check in Config, and a line in
// the sample file.
type Settings struct {
	IP           string `yaml:"ip" json:"ip"`
	PortMin      int    `yaml:"port_min" json:"port_min"`
	PortMax      int    `yaml:"port_max" json:"port_max"`
	MediaTimeout string `yaml:"media_timeout" json:"media_timeout"`
	// RealtimePriority, 1..99, runs pivotua under SCHED_FIFO at that priority
	// so a busy box cannot delay the send clock's wake-ups; 0 leaves it off.
	// The engine does not apply it: scheduling is the whole process's.
	RealtimePriority int `yaml:"realtime_priority" json:"realtime_priority"`
	// SRTP is the SRTP policy (SDES, RFC 4568): off, optional (answer what is offered) or
	// mandatory (refuse plain RTP with 488). The signalling applies it; the engine encrypts
	// what it is given.
	SRTP string `yaml:"srtp" json:"srtp"`
	// IOUring is auto (the send clocks batch their reads and sends through io_uring when the
	// kernel gives one) or off (a system call a packet).
	IOUring string `yaml:"io_uring" json:"io_uring"`
}

// ValidSRTPPolicy reports whether p is an SRTP policy: off, optional or mandatory.
func ValidSRTPPolicy(p string) bool { return p == "off" || p == "optional" || p == "mandatory" }

// MaxRealtimePriority is the highest SCHED_FIFO priority (sched_get_priority_max on Linux).
const MaxRealtimePriority = 99

// DefaultSettings is the rtp: section when the file leaves a key out.
func DefaultSettings() Settings {
	return Settings{IP: "127.0.0.1", PortMin: 16384, PortMax: 32767, MediaTimeout: "15s", SRTP: "off", IOUring: "auto"}
}

// Config checks s and returns the engine's Config, or every problem at once, each
// named by its path under path ("rtp.port_max: ..."). Logger is the caller's to set.
func (s Settings) Config(path string) (Config, []error) {
	var errs []error
	bad := func(p, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", p, fmt.Sprintf(format, args...)))
	}
	ip, err := netip.ParseAddr(s.IP)
	if err != nil {
		bad(path+".ip", "%q is not an IP address", s.IP)
	}
	if s.PortMin < 1024 || s.PortMin > 65534 {
		bad(path+".port_min", "must be between 1024 and 65534, not %d", s.PortMin)
	}
	if s.PortMax > 65535 || s.PortMax < s.PortMin+1 {
		bad(path+".port_max", "must be above port_min (%d) and at most 65535, not %d", s.PortMin, s.PortMax)
	}
	timeout, err := time.ParseDuration(s.MediaTimeout)
	if err != nil || timeout <= 0 {
		bad(path+".media_timeout", "%q is not a positive duration such as 15s or 5m", s.MediaTimeout)
	}
	if s.RealtimePriority < 0 || s.RealtimePriority > MaxRealtimePriority {
		bad(path+".realtime_priority", "must be 0 (off) or a SCHED_FIFO priority from 1 to %d, not %d", MaxRealtimePriority, s.RealtimePriority)
	}
	if s.SRTP != "" && !ValidSRTPPolicy(s.SRTP) {
		bad(path+".srtp", "must be off, optional or mandatory, not %q", s.SRTP)
	}
	if s.IOUring != "" && s.IOUring != "auto" && s.IOUring != "off" {
		bad(path+".io_uring", "must be auto or off, not %q", s.IOUring)
	}
	return Config{IP: ip, PortMin: s.PortMin, PortMax: s.PortMax, MediaTimeout: timeout, SRTP: s.SRTP,
		DisableIOUring: s.IOUring == "off"}, errs
}
