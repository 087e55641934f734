package flow

import (
	"testing"

	"github.com/pivotua/pivotua/sip"
)

// FuzzParseReferVerb: whatever a webhook puts in <Refer>, a document that validates holds a target
// that may go into a Refer-To header.
func FuzzParseReferVerb(f *testing.F) {
	for _, seed := range []string{
		`<Refer action="/a"><Sip>sip:alice@example.com?X-Ticket=42</Sip></Refer>`,
		`<Refer><Sip>sips:a@b;transport=tls?User-to-User=1%3Bencoding%3Dhex&amp;X-B=2</Sip></Refer>`,
		`<Refer><Sip>sip:a@b&#13;&#10;X: y</Sip></Refer>`,
		`<Refer><Sip>sip:a@b?Replaces=x</Sip></Refer>`,
		`<Refer method="GET"><Sip>sip:[::1]:5060</Sip></Refer>`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		doc, err := ParseTwiML(append(append([]byte(`<Response>`), b...), `</Response>`...))
		if err != nil {
			return
		}
		for _, v := range doc.verbs {
			r, ok := v.(*referVerb)
			if !ok {
				continue
			}
			if err := sip.CheckReferTarget(r.target); err != nil {
				t.Fatalf("valid <Refer> with target %q: %v", r.target, err)
			}
			if hasControlChars(r.target) {
				t.Fatalf("target %q has control characters", r.target)
			}
		}
	})
}
