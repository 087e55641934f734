package httpfetch

import (
	"net/url"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"
)

// The vector from peers.md §1c (Twilio's documented example).
func TestTwilioSignatureMatchesTwilioVector(t *testing.T) {
	const (
		key    = "12345"
		rawURL = "https://mycompany.com/myapp.php?foo=1&bar=2"
		want   = "0/KCTR6DLpKmkAf8muzZqo1nDgQ="
	)
	form := url.Values{
		"CallSid": {"CA1234567890ABCDE"},
		"Caller":  {"+12349013030"},
		"Digits":  {"1234"},
		"From":    {"+12349013030"},
		"To":      {"+18005551212"},
	}
	if got := twilioSignature(key, rawURL, pairsFromValues(form)); got != want {
		t.Fatalf("signature = %s, want %s", got, want)
	}
	if !ValidateTwilioSignature(key, rawURL, form, want) {
		t.Error("ValidateTwilioSignature rejects the vector")
	}
	if !ValidateTwilioSignature(key, "https://mycompany.com:443/myapp.php?foo=1&bar=2", form, want) {
		t.Error("the URL with its default port is not accepted")
	}
	form.Set("Digits", "1235")
	if ValidateTwilioSignature(key, rawURL, form, want) {
		t.Error("a changed parameter still validates")
	}
	if ValidateTwilioSignature("", rawURL, form, want) || ValidateTwilioSignature(key, rawURL, form, "%%%") {
		t.Error("empty key or undecodable signature validates")
	}
}

func TestTwilioSignatureSortsRepeatedValues(t *testing.T) {
	a := twilioSignature("k", "http://x/", []paramPair{{"b", "2"}, {"a", "z"}, {"a", "y"}})
	b := twilioSignature("k", "http://x/", []paramPair{{"a", "y"}, {"a", "z"}, {"b", "2"}})
	if a != b {
		t.Error("signature depends on parameter order")
	}
}

func TestDefaultPortVariants(t *testing.T) {
	tests := map[string]string{
		"https://h/p?q":       "https://h:443/p?q",
		"http://h:80/p":       "http://h/p",
		"http://[::1]:80/p":   "http://[::1]/p",
		"https://[::1]/p":     "https://[::1]:443/p",
		"http://h:8080/p":     "",
		"ftp://h/p":           "",
		"https://h:443/a?b=c": "https://h/a?b=c",
	}
	for in, want := range tests {
		got := defaultPortVariants(in)
		if want == "" {
			if len(got) != 1 {
				t.Errorf("%s: got %v, want no variant", in, got)
			}
			continue
		}
		if len(got) != 2 || got[1] != want {
			t.Errorf("%s: got %v, want %s", in, got, want)
		}
	}
}

func TestValidatePivotSignature(t *testing.T) {
	const key, rawURL = "secret", "https://h.example/ivr?Call-ID=1"
	body := []byte("a=b")
	now := time.Unix(1700000000, 0)
	header := pivotSignatureHeader(key, now.Unix(), rawURL, body)
	tests := []struct {
		name   string
		key    string
		url    string
		body   []byte
		header string
		now    time.Time
		skew   time.Duration
		want   bool
	}{
		{"valid", key, rawURL, body, header, now, time.Minute, true},
		{"within skew", key, rawURL, body, header, now.Add(59 * time.Second), time.Minute, true},
		{"too old", key, rawURL, body, header, now.Add(61 * time.Second), time.Minute, false},
		{"from the future", key, rawURL, body, header, now.Add(-61 * time.Second), time.Minute, false},
		{"skew check off", key, rawURL, body, header, now.Add(time.Hour), 0, true},
		{"rotated keys: any v1", key, rawURL, body, header + ",v1=00ff", now, time.Minute, true},
		{"wrong key", "other", rawURL, body, header, now, time.Minute, false},
		{"empty key", "", rawURL, body, header, now, time.Minute, false},
		{"other URL", key, rawURL + "2", body, header, now, time.Minute, false},
		{"other body", key, rawURL, []byte("a=c"), header, now, time.Minute, false},
		{"no v1", key, rawURL, body, "t=1700000000", now, time.Minute, false},
		{"no t", key, rawURL, body, "v1=00", now, time.Minute, false},
		{"two t", key, rawURL, body, "t=1,t=2," + header, now, 0, false},
		{"garbage", key, rawURL, body, "x", now, time.Minute, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := ValidatePivotSignature(tt.key, tt.url, tt.body, tt.header, tt.now, tt.skew); got != tt.want {
				t.Errorf("got %v, want %v", got, tt.want)
			}
		})
	}
}

// The X-Pivot-Signature known answers were computed outside Go, with OpenSSL:
//
//	printf '%s' '1700000000.https://h.example/ivr?Call-ID=1.a=b' | openssl dgst -sha256 -hmac secret
//	printf '%s' '1700000000.https://h.example/ivr?Call-ID=1.' | openssl dgst -sha256 -hmac secret
//
// so a mistake shared by pivotSignature and ValidatePivotSignature (the order of the parts, a missing
// dot, hex case) cannot hide behind the two agreeing with each other.
func TestPivotSignatureMatchesOpenSSLVector(t *testing.T) {
	const key, rawURL, ts = "secret", "https://h.example/ivr?Call-ID=1", 1700000000
	for _, tc := range []struct {
		name string
		body []byte
		want string
	}{
		{"POST form body", []byte("a=b"), "a57d349e919184d58c8ab3fedc77a097a8b784d27031b2ea2048919af3a7ffbb"},
		{"GET, empty body", nil, "4bca24d1dd8e370172111d443bfc2f3a45106b5868ace6d99b9bb58c70859224"},
	} {
		if got := pivotSignature(key, ts, rawURL, tc.body); got != tc.want {
			t.Errorf("%s: v1 = %s, want %s (openssl)", tc.name, got, tc.want)
		}
		header := "t=1700000000,v1=" + tc.want
		if !ValidatePivotSignature(key, rawURL, tc.body, header, time.Unix(ts, 0), time.Minute) {
			t.Errorf("%s: ValidatePivotSignature rejects the openssl vector %s", tc.name, header)
		}
	}
}

// TestPivotSignatureAgreesWithOpenSSL has the openssl command line sign what pivotua signs, for
// bodies a known-answer vector does not cover (JSON, non-ASCII, an escaped URL).
func TestPivotSignatureAgreesWithOpenSSL(t *testing.T) {
	openssl, err := exec.LookPath("openssl")
	if err != nil {
		t.Fatal("openssl is not installed: run `make deps` (Debian package openssl)")
	}
	for _, tc := range []struct {
		key, url string
		body     []byte
	}{
		{"e2e-key", "http://127.0.0.1:9000/voice?From=%2B14155550100&To=3004", nil},
		{"k", "https://h.example/ivr", []byte(`{"Call-ID":"abc@h","Caller-ID-Name":"Zoë Ünïcode"}`)},
		{"a key with spaces", "https://h.example/a%20b?x=1&y=%26", []byte("Digits%5Bdefault%5D=12&From=%2B1")},
	} {
		const ts = 1767225600
		cmd := exec.Command(openssl, "dgst", "-sha256", "-hmac", tc.key)
		cmd.Stdin = strings.NewReader(strconv.Itoa(ts) + "." + tc.url + "." + string(tc.body))
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("openssl: %v", err)
		}
		// "SHA2-256(stdin)= <hex>" (OpenSSL 3) or "(stdin)= <hex>" (1.1).
		_, want, ok := strings.Cut(strings.TrimSpace(string(out)), "= ")
		if !ok || len(want) != 64 {
			t.Fatalf("unexpected openssl output %q", out)
		}
		if got := pivotSignature(tc.key, ts, tc.url, tc.body); got != want {
			t.Errorf("%s %q: v1 = %s, openssl says %s", tc.url, tc.body, got, want)
		}
	}
}
