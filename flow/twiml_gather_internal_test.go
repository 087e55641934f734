package flow

import (
	"testing"
	"time"
)

func TestGatherParsesTwilioDefaults(t *testing.T) {
	p := &twimlParser{}
	root, err := parseXMLTree([]byte(`<Gather><Say>a</Say><Pause/></Gather>`))
	if err != nil {
		t.Fatal(err)
	}
	g := parseGatherVerb(p, root, "Response/Gather[1]").(*gatherVerb)
	if len(p.errs) > 0 || g.method != "POST" || g.timeout != 5*time.Second || g.finishOnKey != "#" || g.numDigits != 0 ||
		len(g.prompts) != 2 || g.action != "" || g.actionOnEmptyResult {
		t.Errorf("gather = %+v, errors %v", g, p.errs)
	}
}
