package httpfetch

import (
	"encoding/json"
	"net/url"
	"reflect"
	"testing"
)

// FuzzEncodeForm checks that any key or value survives form encoding: the
// encoder never panics and url.ParseQuery reads back exactly the flattened
// pairs, and the JSON body is always valid.
func FuzzEncodeForm(f *testing.F) {
	f.Add("color", "X-Foo", "bar baz", "default", "12#")
	f.Add("a b&c=d", "X-]=[", "100%+", "", "")
	f.Add(";", "%zz", "\x00\xff", "é", "\r\n")
	f.Fuzz(func(t *testing.T, varKey, headerKey, value, digitsKey, digits string) {
		p := CallParams{
			CallID:           "c1",
			Variables:        map[string]string{varKey: value},
			CustomSIPHeaders: map[string]string{headerKey: value},
			Digits:           map[string]string{digitsKey: digits},
		}
		fields := buildParams(FormatKazoo, &p)
		fields = append(fields, paramField{name: varKey, object: []paramPair{{headerKey, value}}})
		if value == "" || varKey == "" || headerKey == "" {
			fields = fields[:len(fields)-1] // buildParams never makes empty ones
		}

		encoded := encodeForm(fields)
		got, err := url.ParseQuery(encoded)
		if err != nil {
			t.Fatalf("ParseQuery(%q): %v", encoded, err)
		}
		want := url.Values{}
		for _, pair := range flatten(fields) {
			want.Add(pair.key, pair.value)
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("encoded %q\n got %v\nwant %v", encoded, got, want)
		}
		if _, err := url.Parse("http://h/p?" + encoded); err != nil {
			t.Fatalf("not a valid query: %q: %v", encoded, err)
		}

		body, err := encodeJSON(fields)
		if err != nil || !json.Valid(body) {
			t.Fatalf("JSON %q: %v", body, err)
		}
	})
}
