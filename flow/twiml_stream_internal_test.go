package flow

import (
	"testing"

	"github.com/pivotua/pivotua/mediastream"
)

// FuzzParseStreamVerbs: whatever a webhook puts in <Connect>, <Start> and <Stop>, a document that
// validates holds stream URLs the client accepts, a track, and bounded parameters.
func FuzzParseStreamVerbs(f *testing.F) {
	for _, seed := range []string{
		`<Connect action="/a"><Stream url="wss://x/y?z=1"><Parameter name="n" value="v"/></Stream></Connect>`,
		`<Start><Stream url="ws://[::1]:80/" track="outbound_track" name="n"/></Start>`,
		`<Stop><Stream name="n"/></Stop>`,
		`<Connect><Stream url=" wss://a/&#10;"/></Connect>`,
		`<Start><Stream url="wss://a/"><Parameter name="&#0;" value=""/></Stream></Start>`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		doc, err := ParseTwiML(append(append([]byte(`<Response>`), b...), `</Response>`...))
		if err != nil {
			return
		}
		for _, v := range doc.verbs {
			var n *streamNoun
			switch v := v.(type) {
			case *connectVerb:
				n = v.stream
			case *startVerb:
				n = v.stream
			default:
				continue
			}
			if n == nil {
				t.Fatal("a valid stream verb without a <Stream>")
			}
			if msg := mediastream.CheckURL(n.url); msg != "" {
				t.Fatalf("valid <Stream> with url %q: %s", n.url, msg)
			}
			if !n.inbound && !n.outbound {
				t.Fatal("a valid <Stream> with no track")
			}
			if len(n.parameters) > maxStreamParameters {
				t.Fatalf("%d parameters", len(n.parameters))
			}
		}
	})
}
