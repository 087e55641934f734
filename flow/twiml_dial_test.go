package flow

import (
	"testing"
	"time"
)

func TestDialParsesTwilioDefaults(t *testing.T) {
	p := &twimlParser{}
	root, err := parseXMLTree([]byte(`<Dial><Number>+14155550100</Number><Sip username="u" password="p">sip:bob@example.com</Sip></Dial>`))
	if err != nil {
		t.Fatal(err)
	}
	d := parseDialVerb(p, root, "Response/Dial[1]")
	if len(p.errs) > 0 || d.method != "POST" || d.timeout != 30*time.Second || d.timeLimit != 4*time.Hour || d.hangupOnStar ||
		len(d.targets) != 2 || d.targets[0].number != "+14155550100" || d.targets[1].sipURI != "sip:bob@example.com" || d.targets[1].username != "u" {
		t.Errorf("dial = %+v, errors %v", d, p.errs)
	}
}
