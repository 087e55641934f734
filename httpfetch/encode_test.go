package httpfetch

import (
	"errors"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"
)

// goldenParams is a call with every kind of value: escapes, objects, a
// <Set> variable.
var goldenParams = CallParams{
	AccountID:             "4b31dd1d32ce6d249897c06332375d65",
	CallID:                "abc123@10.0.0.1",
	CallerIDName:          "Alice Smith",
	CallerIDNumber:        "+14155550100",
	From:                  "+14155550100",
	FromRealm:             "example.com",
	To:                    "3004",
	ToRealm:               "pivotua.local",
	Request:               "3004",
	RequestRealm:          "pivotua.local",
	Language:              "en-us",
	CustomSIPHeaders:      map[string]string{"X-Foo": "bar baz"},
	CustomApplicationVars: map[string]string{"step": "2"},
	Digits:                map[string]string{"default": "12", "pin": "4321"},
	Variables:             map[string]string{"color": "blue&green"},
}

var goldenTwiMLParams = CallParams{
	AccountID:      "4b31dd1d32ce6d249897c06332375d65",
	CallID:         "abc123@10.0.0.1",
	CallerIDName:   "Alice Smith",
	CallerIDNumber: "+14155550100",
	From:           "+14155550100",
	FromRealm:      "example.com",
	To:             "3004",
	ToRealm:        "pivotua.local",
	CallStatus:     "in-progress",
	Language:       "en-us", // not a TwiML parameter
	Digits:         map[string]string{"default": "12#", "pin": "4321"},
	DialCallStatus: "completed",
	RecordingURL:   "http://rec.example.com/r 1.wav",
	Variables:      map[string]string{"color": "blue&green"},
	// Twilio's SipHeader_<name>, the name as the INVITE wrote it.
	CustomSIPHeaders: map[string]string{"X-Client-ID": "42 a&b", "x-lower": "1"},
}

const (
	goldenKazooQuery = "Account-ID=4b31dd1d32ce6d249897c06332375d65&Api-Version=4.x&Call-ID=abc123%4010.0.0.1" +
		"&Caller-ID-Name=Alice+Smith&Caller-ID-Number=%2B14155550100&Custom-Application-Vars[step]=2" +
		"&Custom-SIP-Headers[X-Foo]=bar+baz&Digits[default]=12&Digits[pin]=4321&Direction=inbound" +
		"&From=%2B14155550100&From-Realm=example.com&Language=en-us&Request=3004&Request-Realm=pivotua.local" +
		"&To=3004&To-Realm=pivotua.local&color=blue%26green"
	goldenKazooJSON = `{"Account-ID":"4b31dd1d32ce6d249897c06332375d65","Api-Version":"4.x","Call-ID":"abc123@10.0.0.1",` +
		`"Caller-ID-Name":"Alice Smith","Caller-ID-Number":"+14155550100","Custom-Application-Vars":{"step":"2"},` +
		`"Custom-SIP-Headers":{"X-Foo":"bar baz"},"Digits":{"default":"12","pin":"4321"},"Direction":"inbound",` +
		`"From":"+14155550100","From-Realm":"example.com","Language":"en-us","Request":"3004",` +
		`"Request-Realm":"pivotua.local","To":"3004","To-Realm":"pivotua.local","color":"blue&green"}`
	goldenTwiMLQuery = "AccountSid=4b31dd1d32ce6d249897c06332375d65&ApiVersion=2010-04-01&CallSid=abc123%4010.0.0.1" +
		"&CallStatus=in-progress&CallerName=Alice+Smith&CallerNumber=%2B14155550100&DialCallStatus=completed" +
		"&Digits=12%23&Direction=inbound&From=%2B14155550100&FromRealm=example.com" +
		"&RecordingUrl=http%3A%2F%2Frec.example.com%2Fr+1.wav&SipHeader_X-Client-ID=42+a%26b&SipHeader_x-lower=1&To=3004&ToRealm=pivotua.local&color=blue%26green"
)

func TestPivotRequestGoldenEncodings(t *testing.T) {
	c := NewClient(WithUserAgent("1.2.3"))
	tests := []struct {
		name            string
		req             PivotRequest
		wantURL         string
		wantBody        string
		wantContentType string
	}{
		{
			name:    "kazoo GET joins the existing query and drops the fragment",
			req:     PivotRequest{URL: "http://127.0.0.1:9000/ivr?app=1#frag", Params: goldenParams},
			wantURL: "http://127.0.0.1:9000/ivr?app=1&" + goldenKazooQuery,
		},
		{
			name:    "kazoo GET without a query starts one",
			req:     PivotRequest{URL: "https://hooks.example.com/ivr", Method: "get", Format: "kazoo", Params: goldenParams},
			wantURL: "https://hooks.example.com/ivr?" + goldenKazooQuery,
		},
		{
			name:            "kazoo POST form",
			req:             PivotRequest{URL: "http://127.0.0.1:9000/ivr?app=1", Method: "post", Params: goldenParams},
			wantURL:         "http://127.0.0.1:9000/ivr?app=1",
			wantBody:        goldenKazooQuery,
			wantContentType: "application/x-www-form-urlencoded",
		},
		{
			name:            "kazoo POST json keeps objects",
			req:             PivotRequest{URL: "http://127.0.0.1:9000/ivr", Method: "POST", BodyFormat: "json", Params: goldenParams},
			wantURL:         "http://127.0.0.1:9000/ivr",
			wantBody:        goldenKazooJSON,
			wantContentType: "application/json",
		},
		{
			name:    "twiml GET",
			req:     PivotRequest{URL: "http://127.0.0.1:9000/ivr", Format: "twiml", Params: goldenTwiMLParams},
			wantURL: "http://127.0.0.1:9000/ivr?" + goldenTwiMLQuery,
		},
		{
			name:            "twiml POST form",
			req:             PivotRequest{URL: "http://127.0.0.1:9000/ivr", Method: "POST", Format: "TwiML", Params: goldenTwiMLParams},
			wantURL:         "http://127.0.0.1:9000/ivr",
			wantBody:        goldenTwiMLQuery,
			wantContentType: "application/x-www-form-urlencoded",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := c.preparePivotRequest(&tt.req, time.Unix(1700000000, 0))
			if err != nil {
				t.Fatal(err)
			}
			if p.url != tt.wantURL {
				t.Errorf("URL\n got %s\nwant %s", p.url, tt.wantURL)
			}
			if string(p.body) != tt.wantBody {
				t.Errorf("body\n got %s\nwant %s", p.body, tt.wantBody)
			}
			if got := p.header.Get("Content-Type"); got != tt.wantContentType {
				t.Errorf("Content-Type = %q, want %q", got, tt.wantContentType)
			}
			if got := p.header.Get("User-Agent"); got != "pivotua/1.2.3" {
				t.Errorf("User-Agent = %q", got)
			}
			if p.header.Get(HeaderTwilioSignature) != "" || p.header.Get(HeaderPivotSignature) != "" {
				t.Errorf("signed without a key: %v", p.header)
			}
		})
	}
}

func TestSignedJSONPostCarriesBodySHA256(t *testing.T) {
	c := NewClient()
	r := PivotRequest{URL: "http://127.0.0.1:9000/ivr?app=1", Method: "POST", BodyFormat: "json", SigningKey: "k", Params: goldenParams}
	p, err := c.preparePivotRequest(&r, time.Unix(1700000000, 0))
	if err != nil {
		t.Fatal(err)
	}
	const want = "http://127.0.0.1:9000/ivr?app=1&bodySHA256="
	if !strings.HasPrefix(p.url, want) || len(p.url) != len(want)+64 {
		t.Fatalf("URL = %s", p.url)
	}
	if !ValidateTwilioBodySHA256(p.url, p.body) {
		t.Error("bodySHA256 does not match the body")
	}
	if !ValidateTwilioSignature("k", p.url, nil, p.header.Get(HeaderTwilioSignature)) {
		t.Error("Twilio signature over the URL alone does not validate")
	}
	wantPivot := "t=1700000000,v1=" + pivotSignature("k", 1700000000, p.url, p.body)
	if got := p.header.Get(HeaderPivotSignature); got != wantPivot {
		t.Errorf("X-Pivot-Signature = %s, want %s", got, wantPivot)
	}
}

func TestBuildParamsMergeRules(t *testing.T) {
	tests := []struct {
		name   string
		format string
		params CallParams
		want   []paramPair
	}{
		{
			name:   "kazoo sends user vars under TwiML names beside its own",
			format: FormatKazoo,
			params: CallParams{RecordingURL: "u", RecordingDuration: "3", DialCallSid: "d", DialCallDuration: "9"},
			want: []paramPair{{"Api-Version", "4.x"}, {"DialCallDuration", "9"}, {"DialCallSid", "d"}, {"Direction", "inbound"},
				{"Recording-Duration", "3"}, {"Recording-Url", "u"}, {"RecordingDuration", "3"}, {"RecordingUrl", "u"}},
		},
		{
			name:   "base parameters and the Digits object win over variables",
			format: FormatKazoo,
			params: CallParams{From: "alice", Digits: map[string]string{"default": "1"}, Variables: map[string]string{"From": "mallory", "Digits": "9", "Api-Version": "x", "extra": "y"}},
			want:   []paramPair{{"Api-Version", "4.x"}, {"Digits[default]", "1"}, {"Direction", "inbound"}, {"From", "alice"}, {"extra", "y"}},
		},
		{
			name:   "kazoo Call-Status only when set, empty values and maps omitted",
			format: FormatKazoo,
			params: CallParams{CallStatus: "ringing", CustomSIPHeaders: map[string]string{}, Digits: map[string]string{"default": ""}, Variables: map[string]string{"": "v", "k": ""}},
			want:   []paramPair{{"Api-Version", "4.x"}, {"Call-Status", "ringing"}, {"Direction", "inbound"}},
		},
		{
			name:   "twiml Digits is the default collection; fixed user vars beat variables; X- headers as SipHeader_<name>",
			format: FormatTwiML,
			params: CallParams{Digits: map[string]string{"default": "55", "pin": "1"}, DialCallStatus: "busy", Variables: map[string]string{"DialCallStatus": "completed", "CallSid": "x", "SipHeader_X-A": "forged"}, CustomSIPHeaders: map[string]string{"X-A": "b"}},
			want:   []paramPair{{"ApiVersion", "2010-04-01"}, {"CallSid", "x"}, {"DialCallStatus", "busy"}, {"Digits", "55"}, {"Direction", "inbound"}, {"SipHeader_X-A", "b"}},
		},
		{
			name:   "a Dial callee's document: its direction and parent, in both namings",
			format: FormatTwiML,
			params: CallParams{CallID: "b", Direction: "outbound-dial", ParentCallID: "a"},
			want:   []paramPair{{"ApiVersion", "2010-04-01"}, {"CallSid", "b"}, {"Direction", "outbound-dial"}, {"ParentCallSid", "a"}},
		},
		{
			name:   "kazoo naming of a Dial callee's document",
			format: FormatKazoo,
			params: CallParams{CallID: "b", Direction: "outbound-dial", ParentCallID: "a"},
			want:   []paramPair{{"Api-Version", "4.x"}, {"Call-ID", "b"}, {"Direction", "outbound-dial"}, {"Parent-Call-ID", "a"}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := flatten(buildParams(tt.format, &tt.params))
			if !slices.Equal(got, tt.want) {
				t.Errorf("got  %v\nwant %v", got, tt.want)
			}
		})
	}
}

func TestFormKeysEscapeOnlyWhatBreaksTheForm(t *testing.T) {
	fields := []paramField{
		{name: "a b&c=d+e%f#g;h[i]", value: "v"},
		{name: "Custom-SIP-Headers", object: []paramPair{{"X-Weird]=&", "1"}, {"X-Ok/:@", "2"}}},
		{name: "ключ", value: "значение"},
	}
	got := encodeForm(fields)
	want := "a%20b%26c%3Dd%2Be%25f%23g%3Bh%5Bi%5D=v" +
		"&Custom-SIP-Headers[X-Weird%5D%3D%26]=1&Custom-SIP-Headers[X-Ok/:@]=2" +
		"&%D0%BA%D0%BB%D1%8E%D1%87=%D0%B7%D0%BD%D0%B0%D1%87%D0%B5%D0%BD%D0%B8%D0%B5"
	if got != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
}

func TestBadPivotRequestsStillDescribeTheRequest(t *testing.T) {
	c := NewClient()
	tests := []struct {
		name string
		req  PivotRequest
		want error
	}{
		{"ftp scheme", PivotRequest{URL: "ftp://example.com/x"}, ErrBadURL},
		{"no host", PivotRequest{URL: "http:///ivr"}, ErrBadURL},
		{"relative", PivotRequest{URL: "/ivr"}, ErrBadURL},
		{"unparsable", PivotRequest{URL: "http://[::1"}, ErrBadURL},
		{"method", PivotRequest{URL: "http://example.com/", Method: "PUT"}, ErrBadRequest},
		{"format", PivotRequest{URL: "http://example.com/", Format: "xml"}, ErrBadRequest},
		{"body format", PivotRequest{URL: "http://example.com/", BodyFormat: "xml"}, ErrBadRequest},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			doc, err := c.FetchDocument(t.Context(), tt.req)
			if !errors.Is(err, tt.want) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
			if doc == nil || doc.RequestURL != tt.req.URL || doc.RequestMethod == "" || doc.Status != 0 {
				t.Errorf("doc = %+v", doc)
			}
		})
	}
}

func TestTimeoutDefaultsAndCap(t *testing.T) {
	c := NewClient()
	for _, tt := range []struct{ in, want time.Duration }{
		{0, 5 * time.Second}, {-1, 5 * time.Second}, {2 * time.Second, 2 * time.Second}, {time.Minute, 30 * time.Second},
	} {
		p, err := c.preparePivotRequest(&PivotRequest{URL: "http://example.com/", Timeout: tt.in}, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		if p.timeout != tt.want {
			t.Errorf("Timeout %v -> %v, want %v", tt.in, p.timeout, tt.want)
		}
	}
}

func TestMediaTypeDropsParameters(t *testing.T) {
	for in, want := range map[string]string{
		"":                                  "",
		"application/json; charset=utf-8":   "application/json",
		"Text/XML":                          "text/xml",
		"text/xml;; bogus":                  "text/xml",
		"application/xml ; charset=\"utf-8": "application/xml",
	} {
		if got := mediaType(http.Header{"Content-Type": {in}}); got != want {
			t.Errorf("mediaType(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestWithUserAgent(t *testing.T) {
	for in, want := range map[string]string{
		"":                 DefaultUserAgent,
		"1.4.0":            "pivotua/1.4.0",
		"pivotua/1.4.0":    "pivotua/1.4.0",
		"acme-ivr/2 (lab)": "acme-ivr/2 (lab)",
	} {
		if got := NewClient(WithUserAgent(in)).userAgent; got != want {
			t.Errorf("WithUserAgent(%q) -> %q, want %q", in, got, want)
		}
	}
}

func TestGETJoinsAnyExistingQuery(t *testing.T) {
	c := NewClient()
	for in, want := range map[string]string{
		"http://h/p":          "http://h/p?Api-Version=4.x&Direction=inbound",
		"http://h/p?":         "http://h/p?Api-Version=4.x&Direction=inbound",
		"http://h/p?a=1&":     "http://h/p?a=1&Api-Version=4.x&Direction=inbound",
		"http://h/p?a=1#x?y":  "http://h/p?a=1&Api-Version=4.x&Direction=inbound",
		"HTTP://u:p@h:81/p/q": "http://h:81/p/q?Api-Version=4.x&Direction=inbound",
	} {
		p, err := c.preparePivotRequest(&PivotRequest{URL: in}, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		if p.url != want {
			t.Errorf("%s -> %s, want %s", in, p.url, want)
		}
	}
	if got := joinQuery("a=1", ""); got != "a=1" {
		t.Errorf("joinQuery with nothing to add = %q", got)
	}
}

// queryURL builds a GET's URL in one buffer; it must be what joining the form to the query and
// writing the URL gives, for every shape of URL and with nothing to add too.
func TestQueryURLIsTheURLWithTheFormJoined(t *testing.T) {
	golden := buildParams(FormatKazoo, &goldenParams)
	for _, raw := range []string{
		"http://h/p", "http://h/p?", "http://h/p?a=1", "http://h/p?a=1&", "http://h", "https://h:8443/",
		"http://[::1]:80/a%20b/c?x=%2F", "http://h/p/%E2%82%AC?q=%E2%82%AC&", "http://h/p;x=1?",
	} {
		for _, fields := range [][]paramField{nil, golden} {
			u, err := parseHTTPURL(raw)
			if err != nil {
				t.Fatal(err)
			}
			got := queryURL(u, fields)
			ref := *u
			ref.RawQuery = joinQuery(ref.RawQuery, encodeForm(fields))
			if want := ref.String(); got != want {
				t.Errorf("%s with %d fields: %s, want %s", raw, len(fields), got, want)
			}
		}
	}
}
