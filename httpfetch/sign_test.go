package httpfetch

import (
	"net/url"
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
