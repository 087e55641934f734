package media

import (
	"net/netip"
	"time"
)

// Stats is a snapshot of a session's counters.
type Stats struct {
	PacketsSent     uint64
	PacketsReceived uint64
	// PacketsLost is expected minus received by extended sequence number
	// (RFC 3550 §6.4.1 / Appendix A.3), summed over the peer's streams and
	// never negative.
	PacketsLost uint64
	// BytesSent and BytesReceived count RTP payload octets, without headers
	// (the RFC 3550 §6.4.1 sender's octet count).
	BytesSent     uint64
	BytesReceived uint64
	// SendErrors counts packets the socket refused (ICMP port unreachable
	// is not one of them: the socket is unconnected).
	SendErrors uint64
	// LastReceived is when the last accepted packet arrived; zero before.
	LastReceived time.Time
	// Remote is where RTP goes: the latched source, else the declared remote.
	Remote netip.AddrPort
	// SSRC is ours; RemoteSSRC is the latched peer's, 0 before a packet.
	SSRC, RemoteSSRC uint32
}

// Stats reads the counters without stopping the session.
func (s *Session) Stats() Stats {
	st := Stats{
		PacketsSent:     s.packetsSent.Load(),
		PacketsReceived: s.packetsReceived.Load(),
		PacketsLost:     s.packetsLost.Load(),
		BytesSent:       s.bytesSent.Load(),
		BytesReceived:   s.bytesReceived.Load(),
		SendErrors:      s.sendErrors.Load(),
		SSRC:            s.ssrc,
		RemoteSSRC:      s.remoteSSRC.Load(),
	}
	if last := s.lastReceived.Load(); last != 0 {
		st.LastReceived = s.e.origin.Add(time.Duration(last))
	}
	if r := s.remote.Load(); r != nil {
		st.Remote = *r
	}
	return st
}
