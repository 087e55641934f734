package flow

import (
	"github.com/pivotua/pivotua/media"
	"github.com/pivotua/pivotua/sip"
)

// srtpOf hands the media session the SDES keys (RFC 4568) the SDP negotiated; zero for plain RTP.
// Each leg keys its own session, so a Dial bridges an SRTP leg to a plain one: the bridge relays
// audio that one session decrypted and the other encrypts (or sends plain).
func srtpOf(md sip.MediaDesc) media.SRTP {
	if !md.SRTP.Enabled() {
		return media.SRTP{}
	}
	return media.SRTP{Suite: md.SRTP.Suite, Local: md.SRTP.Local[:], Remote: md.SRTP.Remote[:]}
}
