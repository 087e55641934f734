package sip

import (
	"encoding/base64"
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"testing"
)

// A 30-byte key and salt as RFC 4568's examples write them (base64, 40 characters).
const testInlineKey = "WVNfX19zZW1jdGwgKCkgewkyMjA7fQp9CnVubGVz"

func savpOffer(profile string, cryptoLines ...string) string {
	s := "v=0\r\no=- 1 1 IN IP4 10.0.0.1\r\ns=-\r\nc=IN IP4 10.0.0.1\r\nt=0 0\r\nm=audio 4000 " + profile + " 0 101\r\n" +
		"a=rtpmap:101 telephone-event/8000\r\n"
	for _, l := range cryptoLines {
		s += "a=crypto:" + l + "\r\n"
	}
	return s
}

func acceptUnder(t *testing.T, policy SRTPPolicy, body string) (MediaDesc, error) {
	t.Helper()
	off, err := parseRemoteSDP([]byte(body))
	if err != nil {
		t.Fatalf("parse: %v", err)
	}
	l := localSDP{sessionID: 1, version: 1, addr: netip.MustParseAddrPort("127.0.0.1:20000"), policy: policy}
	return l.accept(off)
}

func TestSRTPOfferAnsweredUnderEachPolicy(t *testing.T) {
	good80 := "1 AES_CM_128_HMAC_SHA1_80 inline:" + testInlineKey
	good32 := "7 AES_CM_128_HMAC_SHA1_32 inline:" + testInlineKey + "|2^31"
	tests := []struct {
		name      string
		policy    SRTPPolicy
		sdp       string
		wantErr   error
		wantSuite string
	}{
		{"off refuses RTP/SAVP", SRTPOff, savpOffer("RTP/SAVP", good80), ErrSRTPOff, ""},
		{"the zero policy is off", "", savpOffer("RTP/SAVP", good80), ErrSRTPOff, ""},
		{"off answers RTP/AVP with a=crypto in plain", SRTPOff, savpOffer("RTP/AVP", good80), nil, ""},
		{"optional answers RTP/SAVP with SRTP", SRTPOptional, savpOffer("RTP/SAVP", good80), nil, SuiteAES128SHA1_80},
		{"optional answers plain RTP in plain", SRTPOptional, savpOffer("RTP/AVP"), nil, ""},
		{"optional takes a=crypto in RTP/AVP (best effort)", SRTPOptional, savpOffer("RTP/AVP", good32), nil, SuiteAES128SHA1_32},
		{"mandatory refuses plain RTP", SRTPMandatory, savpOffer("RTP/AVP"), ErrSRTPRequired, ""},
		{"mandatory answers RTP/SAVP", SRTPMandatory, savpOffer("RTP/SAVP", good32, good80), nil, SuiteAES128SHA1_32},
		{"mandatory skips an unknown suite for the next line", SRTPMandatory,
			savpOffer("RTP/SAVP", "1 AES_256_CM_HMAC_SHA1_80 inline:"+testInlineKey+testInlineKey[:20], good80), nil, SuiteAES128SHA1_80},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			md, err := acceptUnder(t, tt.policy, tt.sdp)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("got %v, want %v", err, tt.wantErr)
			}
			if md.SRTP.Suite != tt.wantSuite {
				t.Errorf("suite %q, want %q", md.SRTP.Suite, tt.wantSuite)
			}
			if tt.wantSuite != "" && base64.StdEncoding.EncodeToString(md.SRTP.Remote[:]) != testInlineKey {
				t.Error("the remote key is not the offer's")
			}
		})
	}
}

// Hostile a=crypto lines: under mandatory (or RTP/SAVP) the offer is refused with the reason; under
// optional a plain offer falls back to plain RTP, ignoring the bad line.
func TestSRTPRefusesHostileCryptoLines(t *testing.T) {
	many := make([]string, maxCryptoLines+1)
	for i := range many {
		many[i] = "1 AES_CM_128_HMAC_SHA1_80 inline:" + testInlineKey
	}
	tests := []struct {
		name  string
		lines []string
		why   string
	}{
		{"bad base64", []string{"1 AES_CM_128_HMAC_SHA1_80 inline:!!!!notbase64!!!!"}, "not base64"},
		{"key too short", []string{"1 AES_CM_128_HMAC_SHA1_80 inline:" + base64.StdEncoding.EncodeToString(make([]byte, 16))}, "16 bytes"},
		{"key too long", []string{"1 AES_CM_128_HMAC_SHA1_80 inline:" + base64.StdEncoding.EncodeToString(make([]byte, 46))}, "46 bytes"},
		{"unknown suite", []string{"1 F8_128_HMAC_SHA1_80 inline:" + testInlineKey}, "unsupported suite"},
		{"MKI", []string{"1 AES_CM_128_HMAC_SHA1_80 inline:" + testInlineKey + "|2^31|1:4"}, "MKI"},
		{"short lifetime", []string{"1 AES_CM_128_HMAC_SHA1_80 inline:" + testInlineKey + "|2^20"}, "lifetime"},
		{"nonsense lifetime", []string{"1 AES_CM_128_HMAC_SHA1_80 inline:" + testInlineKey + "|forever"}, "lifetime"},
		{"session parameter", []string{"1 AES_CM_128_HMAC_SHA1_80 inline:" + testInlineKey + " UNENCRYPTED_SRTP"}, "session parameters"},
		{"two keys", []string{"1 AES_CM_128_HMAC_SHA1_80 inline:" + testInlineKey + ";inline:" + testInlineKey}, "several keys"},
		{"not inline", []string{"1 AES_CM_128_HMAC_SHA1_80 uri:" + testInlineKey}, "not inline"},
		{"tag not digits", []string{"x1 AES_CM_128_HMAC_SHA1_80 inline:" + testInlineKey}, "tag"},
		{"tag too long", []string{"1234567890 AES_CM_128_HMAC_SHA1_80 inline:" + testInlineKey}, "tag"},
		{"too few fields", []string{"1 AES_CM_128_HMAC_SHA1_80"}, "want a tag"},
		{"too many a=crypto lines", many, "more than 16"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, profile := range []string{"RTP/SAVP", "RTP/AVP"} {
				_, err := acceptUnder(t, SRTPMandatory, savpOffer(profile, tt.lines...))
				if !errors.Is(err, ErrSRTPRequired) || !errors.Is(err, ErrBadCrypto) || !strings.Contains(err.Error(), tt.why) {
					t.Errorf("mandatory, %s: got %v, want ErrSRTPRequired naming %q", profile, err, tt.why)
				}
				if strings.Contains(err.Error(), testInlineKey) || strings.Contains(err.Error(), "notbase64") {
					t.Errorf("the error quotes the key: %v", err)
				}
			}
			if _, err := acceptUnder(t, SRTPOptional, savpOffer("RTP/SAVP", tt.lines...)); !errors.Is(err, ErrSRTPRequired) {
				t.Errorf("optional, RTP/SAVP: got %v, want ErrSRTPRequired", err)
			}
			md, err := acceptUnder(t, SRTPOptional, savpOffer("RTP/AVP", tt.lines...))
			if err != nil || md.SRTP.Enabled() {
				t.Errorf("optional, RTP/AVP: got %v and SRTP %v, want plain RTP", err, md.SRTP.Enabled())
			}
		})
	}
}

func TestSRTPOfferAnswerRoundTrip(t *testing.T) {
	for _, policy := range []SRTPPolicy{SRTPOptional, SRTPMandatory} {
		offerer := localSDP{sessionID: 1, version: 1, addr: netip.MustParseAddrPort("127.0.0.1:20000"), policy: policy}
		offer, err := offerer.offer()
		if err != nil {
			t.Fatal(err)
		}
		wantProfile := map[SRTPPolicy]string{SRTPOptional: "RTP/AVP", SRTPMandatory: "RTP/SAVP"}[policy]
		if !strings.Contains(string(offer), "m=audio 20000 "+wantProfile+" ") ||
			!strings.Contains(string(offer), "a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:") ||
			!strings.Contains(string(offer), "a=crypto:2 AES_CM_128_HMAC_SHA1_32 inline:") {
			t.Fatalf("%s offer:\n%s", policy, offer)
		}
		answerer := localSDP{sessionID: 2, version: 1, addr: netip.MustParseAddrPort("127.0.0.1:30000"), policy: SRTPMandatory}
		off, err := parseRemoteSDP(offer)
		if err != nil {
			t.Fatal(err)
		}
		md, err := answerer.accept(off)
		if err != nil {
			t.Fatal(err)
		}
		answer, err := answerer.answer(md)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(answer), "m=audio 30000 "+wantProfile+" ") || strings.Count(string(answer), "a=crypto:") != 1 {
			t.Fatalf("answer to the %s offer:\n%s", policy, answer)
		}
		ans, err := parseRemoteSDP(answer)
		if err != nil {
			t.Fatal(err)
		}
		got, err := offerer.acceptAnswer(ans)
		if err != nil {
			t.Fatal(err)
		}
		// Each side sends with its own key and hears with the other's.
		if got.SRTP.Suite != SuiteAES128SHA1_80 || got.SRTP.Remote != md.SRTP.Local || got.SRTP.Local != md.SRTP.Remote {
			t.Errorf("%s: keys do not pair up (suites %q/%q)", policy, got.SRTP.Suite, md.SRTP.Suite)
		}
		if got.SRTP.Local == (SRTPKey{}) {
			t.Error("the local key is all zero: not drawn from crypto/rand")
		}
	}
	// A plain answer to a mandatory offer is refused; to an optional one it is plain RTP.
	plain, _ := parseRemoteSDP([]byte(savpOffer("RTP/AVP")))
	if _, err := (&localSDP{policy: SRTPMandatory}).acceptAnswer(plain); !errors.Is(err, ErrSRTPRequired) {
		t.Errorf("plain answer to a mandatory offer: got %v", err)
	}
	if md, err := (&localSDP{policy: SRTPOptional}).acceptAnswer(plain); err != nil || md.SRTP.Enabled() {
		t.Errorf("plain answer to an optional offer: got %v", err)
	}
	// An answer must repeat one of our tags with its suite (RFC 4568 §7.1.3).
	wrongTag, _ := parseRemoteSDP([]byte(savpOffer("RTP/SAVP", "2 AES_CM_128_HMAC_SHA1_80 inline:"+testInlineKey)))
	if _, err := (&localSDP{policy: SRTPMandatory}).acceptAnswer(wrongTag); !errors.Is(err, ErrSRTPRequired) {
		t.Errorf("answer with another suite under our tag: got %v", err)
	}
}

func TestSRTPKeyNeverPrints(t *testing.T) {
	var k SRTPKey
	copy(k[:], "0123456789abcdefghijklmnopqrst")
	md := MediaDesc{SRTP: SRTPParams{Suite: SuiteAES128SHA1_80, Local: k, Remote: k}}
	for _, s := range []string{fmtSprint("%v", md), fmtSprint("%+v", md), fmtSprint("%#v", md), fmtSprint("%s", k)} {
		if strings.Contains(s, "0123") || strings.Contains(s, "48 49 50") || strings.Contains(s, "0x30") {
			t.Errorf("the key shows: %s", s)
		}
	}
}

func fmtSprint(format string, v any) string { return fmt.Sprintf(format, v) }
