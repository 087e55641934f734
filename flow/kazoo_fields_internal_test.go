package flow

import (
	"bytes"
	"encoding/json"
	"reflect"
	"testing"
)

// jsonString reads most strings without a decoder; what it gives must be what json.Unmarshal gives,
// for every input, escapes, invalid UTF-8 and broken strings included.
func FuzzJSONStringDecodesAsUnmarshal(f *testing.F) {
	for _, seed := range []string{
		`"abc"`, `""`, ` "x" `, `"a\"b"`, `"\u00e9\n"`, `"é"`, "\"\xff\"", "\"a\x01\"", "\"a\x7f\"",
		`"`, `"a`, `"a"b"`, `x"`, `"\"`, `"\\"`, `"\ud800"`, `null`, `1`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(tt *testing.T, raw []byte) {
		got, ok := jsonString(raw)
		var want string
		t := bytes.TrimSpace(raw) // as jsonString trims it; a string, not null or a number
		wantOK := len(t) > 0 && t[0] == '"' && json.Unmarshal(t, &want) == nil
		if ok != wantOK || got != want {
			tt.Fatalf("jsonString(%q) = %q, %v; json.Unmarshal gives %q, %v", raw, got, ok, want, wantOK)
		}
	})
}

// jsonMembers reads an object without encoding/json's map decoding; what it gives must be what
// jsonObject gives, for every input: members, keys repeated or escaped, nesting, whitespace, and
// anything that is not an object.
func FuzzJSONMembersDecodeAsJSONObject(f *testing.F) {
	for _, seed := range []string{
		`{}`, ` { } `, `{"a":1}`, `{"a" : "x" , "b":[1,{"c":"}"}],"a":null}`, `{"k\"ey":"v\\"}`,
		"{\"\xff\":true}", `{"module":"play","data":{"id":"http://h/a.wav","loop_count":2},"children":{"_":{}}}`,
		`{"a":-1.5e3,"b":false,"c":"\u00e9"}`, `[1]`, `"x"`, `null`, `{"a":1,}`, `{"a":1}x`, `{"a"`, `{`, ``,
		"{\"a\":\t{\"b\":\n[\r]}}",
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		members, ok := jsonMembers(raw)
		want, wantOK := jsonObject(raw)
		if ok != wantOK {
			t.Fatalf("jsonMembers(%q): %v, jsonObject: %v", raw, ok, wantOK)
		}
		got := map[string]json.RawMessage{}
		for _, m := range members {
			got[m.key] = m.value
		}
		if ok && !reflect.DeepEqual(got, want) && !(len(got) == 0 && len(want) == 0) {
			t.Fatalf("jsonMembers(%q) = %q, jsonObject gives %q", raw, got, want)
		}
		for k, v := range want {
			if l, _ := lookup(members, k); !bytes.Equal(l, v) {
				t.Fatalf("lookup(%q) in %q = %q, want %q", k, raw, l, v)
			}
		}
	})
}
