package debugapi

import (
	"errors"
	"net/url"
	"testing"
	"time"
)

func FuzzParseListQuery(f *testing.F) {
	for _, s := range []string{
		"", "page_size=50", "page_size=0", "page_size=99999999999999999999", "start_key=" + EncodeStartKey(Cursor{Created: baseTime, CallID: "a@b"}),
		"created_from=63896025600&created_to=63896025600", "created_from=-1", "ascending=true&descending=true",
		"start_key=MXwxfA", "start_key=%ff%fe", "page_size=1&page_size=2000", "auth_token=x&created_to=253402300799",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		v, err := url.ParseQuery(raw)
		if err != nil {
			return
		}
		q, err := ParseListQuery(v)
		if err != nil {
			var pe *paramError
			if !errors.As(err, &pe) || pe.Param == "" {
				t.Fatalf("error %v does not name a parameter", err)
			}
			return
		}
		if q.Limit < 1 || q.Limit > MaxPageSize {
			t.Fatalf("limit %d", q.Limit)
		}
		if !q.From.IsZero() && !q.To.IsZero() && q.To.Before(q.From) {
			t.Fatalf("range %v..%v", q.From, q.To)
		}
		if q.Start != nil && q.Start.CallID == "" {
			t.Fatal("a start key without a call id")
		}
	})
}

func FuzzDecodeStartKey(f *testing.F) {
	for _, c := range []Cursor{{Created: baseTime, CallID: "829597750@10.26.0.158"}, {CallID: "x|y|z"}, {Created: time.UnixMicro(1), CallID: "é"}} {
		f.Add(EncodeStartKey(c))
	}
	f.Add("")
	f.Add("MXwtMXx4")     // 1|-1|x
	f.Add("MXwwMXx4")     // 1|01|x
	f.Add("Mnw1fHg")      // 2|5|x
	f.Add("MXw5OTk5OTk5") // no call id
	f.Fuzz(func(t *testing.T, key string) {
		c, err := DecodeStartKey(key)
		if err != nil {
			if !errors.Is(err, ErrBadStartKey) {
				t.Fatalf("err = %v", err)
			}
			return
		}
		again, err := DecodeStartKey(EncodeStartKey(c))
		if err != nil || !again.Created.Equal(c.Created) || again.CallID != c.CallID {
			t.Fatalf("round trip of %+v gave %+v, %v", c, again, err)
		}
	})
}
