package flow

import (
	"bytes"
	"encoding/json"
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
