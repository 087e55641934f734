package sip

import (
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"
)

var trunkCreds = []InboundCredential{{Trunk: "carrier", Username: "carrier-in", Password: "in-secret"}}

// answerChallenge writes the Authorization a UAC would send for the challenge in v.
func answerChallenge(t *testing.T, v, method, uri, user, password string, nc uint32) string {
	t.Helper()
	ch, err := parseChallenge(v)
	if err != nil {
		t.Fatal(err)
	}
	return ch.authorization(method, uri, user, password, nc)
}

func inviteWith(auth string) *sip.Request {
	req := sip.NewRequest(sip.INVITE, sip.Uri{Scheme: "sip", User: "3004", Host: "127.0.0.1", Port: 5060})
	if auth != "" {
		req.AppendHeader(sip.NewHeader("Authorization", auth))
	}
	return req
}

func TestInboundDigestChallengesThenAdmitsOnce(t *testing.T) {
	d := newInboundDigest(trunkCreds)
	clock := time.Unix(1_800_000_000, 0)
	d.now = func() time.Time { return clock }
	src := netip.MustParseAddr("198.51.100.7")
	if v := d.check(inviteWith(""), src); v.ok || !v.challenge || v.stale {
		t.Fatalf("no credentials: %+v, want a challenge", v)
	}
	chs := d.challenges(src, false)
	if len(chs) != 2 || !strings.Contains(chs[0].Value(), "algorithm=MD5") || !strings.Contains(chs[1].Value(), "algorithm=SHA-256") {
		t.Fatalf("challenges %v", chs)
	}
	for i := range chs {
		clock = clock.Add(time.Millisecond) // a 401 of its own: both challenges of one share their nonce
		ch := d.challenges(src, false)[i]
		auth := answerChallenge(t, ch.Value(), "INVITE", "sip:3004@127.0.0.1:5060", "carrier-in", "in-secret", 1)
		if v := d.check(inviteWith(auth), src); !v.ok || v.trunk != "carrier" {
			t.Errorf("challenge %d answered right: %+v", i, v)
		}
		if v := d.check(inviteWith(auth), src); v.ok || v.challenge || !strings.Contains(v.reason, "replayed") {
			t.Errorf("challenge %d answer replayed: %+v, want refused as a replay", i, v)
		}
		next := answerChallenge(t, ch.Value(), "INVITE", "sip:3004@127.0.0.1:5060", "carrier-in", "in-secret", 2)
		if v := d.check(inviteWith(next), src); !v.ok {
			t.Errorf("challenge %d answered again with nc=2: %+v", i, v)
		}
	}
}

func TestInboundDigestRefusals(t *testing.T) {
	src := netip.MustParseAddr("198.51.100.7")
	for _, c := range []struct {
		name          string
		auth          func(d *inboundDigest, nonceHdr string) string
		later         time.Duration // the clock moves this far after the challenge
		wantChallenge bool
		wantStale     bool
		wantReason    string
	}{
		{"wrong password", func(d *inboundDigest, ch string) string {
			return answerChallenge(t, ch, "INVITE", "sip:3004@127.0.0.1:5060", "carrier-in", "guess", 1)
		}, 0, false, false, "wrong password"},
		{"unknown user", func(d *inboundDigest, ch string) string {
			return answerChallenge(t, ch, "INVITE", "sip:3004@127.0.0.1:5060", "root", "in-secret", 1)
		}, 0, false, false, "unknown username"},
		{"stale nonce, right password", func(d *inboundDigest, ch string) string {
			return answerChallenge(t, ch, "INVITE", "sip:3004@127.0.0.1:5060", "carrier-in", "in-secret", 1)
		}, nonceLifetime + time.Second, true, true, "stale"},
		{"stale nonce, wrong password", func(d *inboundDigest, ch string) string {
			return answerChallenge(t, ch, "INVITE", "sip:3004@127.0.0.1:5060", "carrier-in", "guess", 1)
		}, nonceLifetime + time.Second, false, false, "wrong password"},
		{"nonce issued to another source", func(d *inboundDigest, _ string) string {
			ch := d.challenges(netip.MustParseAddr("203.0.113.1"), false)[0].Value()
			return answerChallenge(t, ch, "INVITE", "sip:3004@127.0.0.1:5060", "carrier-in", "in-secret", 1)
		}, 0, true, false, "not issued"},
		{"made-up nonce", func(d *inboundDigest, _ string) string {
			return answerChallenge(t, `Digest realm="pivotua", nonce="AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", qop="auth"`, "INVITE", "sip:3004@127.0.0.1:5060", "carrier-in", "in-secret", 1)
		}, 0, true, false, "not issued"},
		{"digest uri of another target", func(d *inboundDigest, ch string) string {
			return answerChallenge(t, ch, "INVITE", "sip:9999@127.0.0.1:5060", "carrier-in", "in-secret", 1)
		}, 0, false, false, "not the Request-URI"},
		{"nc zero", func(d *inboundDigest, ch string) string {
			return answerChallenge(t, ch, "INVITE", "sip:3004@127.0.0.1:5060", "carrier-in", "in-secret", 0)
		}, 0, false, false, "nc"},
		{"garbage", func(d *inboundDigest, ch string) string { return `Digest username="carrier-in", nonce="` }, 0, false, false, "unreadable"},
	} {
		t.Run(c.name, func(t *testing.T) {
			d := newInboundDigest(trunkCreds)
			clock := time.Unix(1_800_000_000, 0)
			d.now = func() time.Time { return clock }
			ch := d.challenges(src, false)[0].Value()
			auth := c.auth(d, ch)
			clock = clock.Add(c.later)
			v := d.check(inviteWith(auth), src)
			if v.ok || v.challenge != c.wantChallenge || v.stale != c.wantStale || !strings.Contains(v.reason, c.wantReason) {
				t.Errorf("verdict %+v; want challenge=%v stale=%v, reason with %q", v, c.wantChallenge, c.wantStale, c.wantReason)
			}
		})
	}
}

func TestInboundDigestReplayMemoryIsBounded(t *testing.T) {
	d := newInboundDigest(trunkCreds)
	d.limit = 3
	clock := time.Unix(1_800_000_000, 0)
	d.now = func() time.Time { return clock }
	src := netip.MustParseAddr("198.51.100.7")
	use := func() bool {
		ch := d.challenges(src, false)[0].Value()
		clock = clock.Add(time.Millisecond) // each challenge its own nonce
		return d.check(inviteWith(answerChallenge(t, ch, "INVITE", "sip:3004@127.0.0.1:5060", "carrier-in", "in-secret", 1)), src).ok
	}
	for i := range 3 {
		if !use() {
			t.Fatalf("use %d refused below the bound", i)
		}
	}
	if use() {
		t.Error("a fourth live nonce was remembered past the bound of 3")
	}
	clock = clock.Add(nonceLifetime + time.Second) // the remembered ones expire and make room
	if !use() {
		t.Error("no room made once the remembered nonces expired")
	}
	if len(d.used) > 3 {
		t.Errorf("%d nonces remembered, bound 3", len(d.used))
	}
}

// TestInviteFromOutsideAllowCIDRsMustProveCredentials: over a real socket, an INVITE from outside
// allow_cidrs gets 401 with our challenges, the same INVITE answering it gets past (here to 404:
// where the handler answers 486), and a replay of that Authorization gets 403.
func TestInviteFromOutsideAllowCIDRsMustProveCredentials(t *testing.T) {
	srv := startTestServer(t, Config{
		AllowCIDRs: []netip.Prefix{netip.MustParsePrefix("192.0.2.0/24")}, InboundAuth: trunkCreds,
		Logger: slog.New(slog.DiscardHandler),
	}, func(c *InboundCall) { _ = c.Reject(486, "Busy Here") })
	conn, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	to := net.UDPAddrFromAddrPort(srv.addr("udp"))
	uri := fmt.Sprintf("sip:3004@%s", srv.addr("udp"))
	send := func(n int, auth string) *sip.Response {
		t.Helper()
		msg := fmt.Sprintf("INVITE %s SIP/2.0\r\nVia: SIP/2.0/UDP %s;branch=z9hG4bK-t-%d;rport\r\nFrom: <sip:c@x>;tag=f%d\r\n"+
			"To: <%s>\r\nCall-ID: call-%d\r\nCSeq: 1 INVITE\r\nMax-Forwards: 70\r\nContact: <sip:c@%s>\r\n",
			uri, conn.LocalAddr(), n, n, uri, n, conn.LocalAddr())
		if auth != "" {
			msg += "Authorization: " + auth + "\r\n"
		}
		msg += "Content-Length: 0\r\n\r\n"
		if _, err := conn.WriteTo([]byte(msg), to); err != nil {
			t.Fatal(err)
		}
		buf := make([]byte, 65535)
		for {
			_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
			k, _, err := conn.ReadFrom(buf)
			if err != nil {
				t.Fatalf("no final answer to INVITE %d: %v", n, err)
			}
			m, err := sip.ParseMessage(buf[:k])
			if err != nil {
				t.Fatal(err)
			}
			if res, ok := m.(*sip.Response); ok && res.StatusCode >= 200 {
				return res
			}
		}
	}
	res := send(1, "")
	if res.StatusCode != 401 || len(res.GetHeaders("WWW-Authenticate")) != 2 {
		t.Fatalf("INVITE without credentials: %d with %d challenges, want 401 with 2", res.StatusCode, len(res.GetHeaders("WWW-Authenticate")))
	}
	auth := answerChallenge(t, res.GetHeader("WWW-Authenticate").Value(), "INVITE", uri, "carrier-in", "in-secret", 1)
	if res := send(2, auth); res.StatusCode != 486 {
		t.Errorf("INVITE with the right answer: %d, want it handled (486 from the handler)", res.StatusCode)
	}
	if res := send(3, auth); res.StatusCode != 403 {
		t.Errorf("the same Authorization replayed in a new INVITE: %d, want 403", res.StatusCode)
	}
	wrong := answerChallenge(t, res.GetHeader("WWW-Authenticate").Value(), "INVITE", uri, "carrier-in", "guess", 2)
	if res := send(4, wrong); res.StatusCode != 403 {
		t.Errorf("INVITE with a wrong password: %d, want 403", res.StatusCode)
	}
}

func FuzzInboundDigestCheck(f *testing.F) {
	d := newInboundDigest(trunkCreds)
	src := netip.MustParseAddr("198.51.100.7")
	ch, err := parseChallenge(d.challenges(src, false)[0].Value())
	if err != nil {
		f.Fatal(err)
	}
	ok := ch.authorization("INVITE", "sip:3004@127.0.0.1:5060", "carrier-in", "in-secret", 1)
	f.Add(ok)
	f.Add(strings.Replace(ok, "nc=00000001", "nc=ffffffff", 1))
	f.Add(`Digest username="carrier-in", realm="pivotua", nonce="x", uri="sip:[::1", response="00", qop=auth, nc=1, cnonce=""`)
	f.Fuzz(func(t *testing.T, auth string) {
		v := d.check(inviteWith(auth), src)
		if v.ok && auth != ok {
			// Only a correct answer to a nonce we issued passes, and only once per count.
			p, err := parseDigestParams(auth)
			if err != nil || p["username"] != "carrier-in" {
				t.Fatalf("admitted %q: %+v", auth, v)
			}
		}
		if len(d.used) > maxNoncesTracked {
			t.Fatalf("%d nonces remembered", len(d.used))
		}
	})
}
