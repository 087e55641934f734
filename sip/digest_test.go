package sip

import (
	"strings"
	"testing"
)

// TestDigestResponseMatchesTheRFCExamples: RFC 2617 §3.5 (MD5, qop=auth) and RFC 7616 §3.9.1
// (MD5 and SHA-256 for the same request).
func TestDigestResponseMatchesTheRFCExamples(t *testing.T) {
	for _, c := range []struct {
		algorithm, user, realm, password, method, uri, nonce, nc, cnonce, qop, want string
	}{
		{"MD5", "Mufasa", "testrealm@host.com", "Circle Of Life", "GET", "/dir/index.html",
			"dcd98b7102dd2f0e8b11d0f600bfb0c093", "00000001", "0a4f113b", "auth", "6629fae49393a05397450978507c4ef1"},
		{"MD5", "Mufasa", "http-auth@example.org", "Circle of Life", "GET", "/dir/index.html",
			"7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v", "00000001", "f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ", "auth",
			"8ca523f5e9506fed4657c9700eebdbec"},
		{"SHA-256", "Mufasa", "http-auth@example.org", "Circle of Life", "GET", "/dir/index.html",
			"7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v", "00000001", "f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ", "auth",
			"753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1"},
	} {
		if got := digestResponse(c.algorithm, c.user, c.realm, c.password, c.method, c.uri, c.nonce, c.nc, c.cnonce, c.qop); got != c.want {
			t.Errorf("%s response %s, want %s", c.algorithm, got, c.want)
		}
	}
}

func TestAuthorizationQuotesWhatTheChallengeSent(t *testing.T) {
	ch, err := parseChallenge(`Digest realm="a \"quoted\" realm", nonce="abc", opaque="o", qop="auth", algorithm=sha-256`)
	if err != nil {
		t.Fatal(err)
	}
	v := ch.authorization("REGISTER", "sip:carrier.test", "3004", "pw", 1)
	p, err := parseDigestParams(v)
	if err != nil {
		t.Fatalf("our own Authorization %q does not parse: %v", v, err)
	}
	if p["realm"] != `a "quoted" realm` || p["algorithm"] != "SHA-256" || p["nc"] != "00000001" || p["qop"] != "auth" || p["opaque"] != "o" {
		t.Errorf("Authorization %q reads back as %v", v, p)
	}
	if want := digestResponse("SHA-256", "3004", p["realm"], "pw", "REGISTER", "sip:carrier.test", "abc", "00000001", p["cnonce"], "auth"); p["response"] != want {
		t.Errorf("response %s, want %s", p["response"], want)
	}
}

func TestPickChallengeTakesTheFirstWeSpeak(t *testing.T) {
	ch, err := pickChallenge([]string{`Digest realm="r", nonce="1", algorithm=SHA-512-256`, `Digest realm="r", nonce="2", algorithm=SHA-256`, `Digest realm="r", nonce="3"`})
	if err != nil || ch.nonce != "2" || ch.algorithm != "SHA-256" {
		t.Errorf("picked %+v, %v; want the SHA-256 one", ch, err)
	}
	if _, err := pickChallenge([]string{`Digest realm="r", nonce="1", algorithm=SHA-512-256`}); err == nil || !strings.Contains(err.Error(), "SHA-512-256") {
		t.Errorf("an algorithm we do not speak: %v", err)
	}
}

func TestParseDigestParamsRefusesControlCharacters(t *testing.T) {
	if _, err := parseDigestParams("Digest realm=\"r\", nonce=\"a\x00b\""); err == nil {
		t.Error("a NUL in a nonce was accepted")
	}
}

func FuzzParseChallenge(f *testing.F) {
	f.Add(`Digest realm="r", nonce="n", qop="auth,auth-int", algorithm=MD5, opaque="o", stale=TRUE`)
	f.Add(`Digest realm="\"", nonce=n,,,`)
	f.Add(`digest   realm = "r" , nonce="n`)
	f.Fuzz(func(t *testing.T, v string) {
		ch, err := parseChallenge(v)
		if err != nil {
			return
		}
		if len(ch.nonce) > maxDigestParam || len(ch.realm) > maxDigestParam || ch.nonce == "" {
			t.Fatalf("accepted %+v", ch)
		}
		// What we answer must parse back, whatever the challenge held.
		if _, err := parseDigestParams(ch.authorization("REGISTER", "sip:h", "u", "p", 1)); err != nil {
			t.Fatalf("our answer to %q does not parse: %v", v, err)
		}
	})
}
