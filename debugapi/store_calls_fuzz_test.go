package debugapi

import (
	"strconv"
	"testing"
)

// A notification payload is accepted only as "u:" or "r:" and a positive id that prints back the same.
func FuzzParsePayload(f *testing.F) {
	for _, s := range []string{"u:1", "r:42", "u:", "u:-1", "x:1", "u:99999999999999999999", "u:01"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, p string) {
		kind, id, ok := parsePayload(p)
		if !ok {
			return
		}
		if len(p) > maxPayloadLen || id <= 0 || (kind != 'u' && kind != 'r') {
			t.Fatalf("accepted %q as %c %d", p, kind, id)
		}
		if n, err := strconv.ParseInt(p[2:], 10, 64); err != nil || n != id {
			t.Fatalf("%q read as %d", p, id)
		}
	})
}

// A forwarded update's reply is accepted only as a call that passes the row checks.
func FuzzDecodeReply(f *testing.F) {
	f.Add(encodeReply(liveRow(sidA, "node-a")))
	f.Add(`{"sid":"CA0123456789abcdef0123456789abcdef","status":"hacked"}`)
	f.Add(`{"sid":1}`)
	f.Fuzz(func(t *testing.T, s string) {
		r, ok := decodeReply(s)
		if ok && validCallRow(r) != "" {
			t.Fatalf("accepted %q: %s", s, validCallRow(r))
		}
	})
}
