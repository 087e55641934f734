// Package sipptest drives SIPp against pivotua and judges what pivotua sent: it renders the
// scenario templates of the repository's testdata/sipp and runs them (Run, Start), keeps a
// caller's RTP (Capture) and writes a caller's RTP as a pcap for play_pcap_audio
// (WriteCallerPCAP, from Audio, Silence, Key and DTMFTone segments). It imports codec, so codec's own tests cannot use it; flow's, media's and
// cmd/pivotua's can.
package sipptest
