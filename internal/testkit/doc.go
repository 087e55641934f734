// Package testkit holds the test doubles and judges that every package's tests share, as sipgo's
// siptest and coredns's dnstest do: polling (WaitFor), processes (WaitPIDFile, WaitGone), a
// goroutine-safe log buffer (SyncBuffer), a recording webhook (Webhook), the tone judge
// (ToneShare, Classify) and tone maker (Sine), a raw SIP header reader (SIPHeader) and the e2e
// tests' port band (FreePort).
//
// It imports none of pivotua's packages, so the internal tests of any package (package codec,
// package flow, ...) may import it without a cycle. Helpers that need codec (RTP capture and
// decoding, caller pcaps, the SIPp runner) live in testkit/sipptest; the throwaway PostgreSQL is
// testkit/pgtest. The fake flow.Channel is flow/flowtest (it imports flow, so it cannot live here).
package testkit
