package media

import (
	"bytes"
	"fmt"

	"github.com/pion/rtp"
	"github.com/pion/srtp/v3"
)

// SRTP suites a session can protect its stream with (RFC 4568 §6.2 names, as SDES negotiates them).
const (
	SRTPSuiteAES128SHA1_80 = "AES_CM_128_HMAC_SHA1_80"
	SRTPSuiteAES128SHA1_32 = "AES_CM_128_HMAC_SHA1_32"
)

// srtpMasterLen is the master key (16 bytes) and salt (14 bytes) of the AES_CM_128 suites.
const (
	srtpKeyLen    = 16
	srtpSaltLen   = 14
	srtpMasterLen = srtpKeyLen + srtpSaltLen
	// srtpMaxTagLen is the longest authentication tag the suites append (HMAC-SHA1-80).
	srtpMaxTagLen = 10
	// srtpReplayWindow is how many packets back a late packet is still accepted once (RFC 3711
	// §3.3.2 asks for at least 64).
	srtpReplayWindow = 128
)

// SRTP is the SRTP (RFC 3711) protection of a session's stream, keyed by SDES (RFC 4568). A zero
// SRTP (empty Suite) is plain RTP.
type SRTP struct {
	// Suite is SRTPSuiteAES128SHA1_80 or SRTPSuiteAES128SHA1_32.
	Suite string
	// Local (ours) protects what we send; Remote (the peer's) authenticates and decrypts what we
	// receive. Each is the 30-byte master key and salt. Start copies them.
	Local, Remote []byte
}

// srtpState is a session's SRTP contexts. The contexts keep rollover counters and the replay
// window, so they are used only by the session's clock goroutine; Start builds the state and
// publishes it in a sendConfig, and a Start with the same keys passes the same state on, so a
// re-INVITE does not reset the stream's counters.
type srtpState struct {
	suite         string
	local, remote [srtpMasterLen]byte

	tx, rx   *srtp.Context
	txHeader rtp.Header // scratch for EncryptRTP's header parse: no allocation per packet
	rxHeader rtp.Header // scratch for DecryptRTP's
}

func (st *srtpState) sameKeys(p SRTP) bool {
	return st != nil && st.suite == p.Suite && bytes.Equal(st.local[:], p.Local) && bytes.Equal(st.remote[:], p.Remote)
}

// newSRTPState checks p and creates its contexts; nil for plain RTP.
func newSRTPState(p SRTP) (*srtpState, error) {
	if p.Suite == "" {
		return nil, nil
	}
	var profile srtp.ProtectionProfile
	switch p.Suite {
	case SRTPSuiteAES128SHA1_80:
		profile = srtp.ProtectionProfileAes128CmHmacSha1_80
	case SRTPSuiteAES128SHA1_32:
		profile = srtp.ProtectionProfileAes128CmHmacSha1_32
	default:
		return nil, fmt.Errorf("%w: SRTP suite %q", ErrInvalidParams, p.Suite)
	}
	if len(p.Local) != srtpMasterLen || len(p.Remote) != srtpMasterLen {
		return nil, fmt.Errorf("%w: SRTP keys of %d and %d bytes, want %d", ErrInvalidParams, len(p.Local), len(p.Remote), srtpMasterLen)
	}
	st := &srtpState{suite: p.Suite}
	copy(st.local[:], p.Local)
	copy(st.remote[:], p.Remote)
	var err error
	if st.tx, err = srtp.CreateContext(st.local[:srtpKeyLen], st.local[srtpKeyLen:], profile); err != nil {
		return nil, fmt.Errorf("%w: SRTP send context: %w", ErrInvalidParams, err)
	}
	// RFC 3711 §3.3.2: a receiver keeps a replay list; pion's default is none.
	st.rx, err = srtp.CreateContext(st.remote[:srtpKeyLen], st.remote[srtpKeyLen:], profile,
		srtp.SRTPReplayProtection(srtpReplayWindow))
	if err != nil {
		return nil, fmt.Errorf("%w: SRTP receive context: %w", ErrInvalidParams, err)
	}
	return st, nil
}

// protect encrypts and authenticates pkt in place (RFC 3711 §3.3), in the spare capacity of the
// send buffer that holds it; plain RTP passes through. Called by the clock only.
func (s *Session) protect(pkt []byte) ([]byte, error) {
	cfg := s.tx.cfg
	if cfg == nil || cfg.srtp == nil {
		return pkt, nil
	}
	st := cfg.srtp
	return st.tx.EncryptRTP(pkt, pkt, &st.txHeader)
}

// unprotect authenticates and decrypts a received packet in place (RFC 3711 §3.3), before anything
// trusts its header: a packet that fails (wrong key, forged, replayed, plain RTP on an SRTP
// session) is dropped, so it neither latches a source nor counts as media. Plain RTP passes
// through. Called by the clock only.
func (s *Session) unprotect(data []byte) ([]byte, bool) {
	cfg := s.cfg.Load()
	if cfg == nil || cfg.srtp == nil {
		return data, true
	}
	st := cfg.srtp
	out, err := st.rx.DecryptRTP(data, data, &st.rxHeader)
	return out, err == nil
}
