package flow

import (
	"testing"
	"time"
)

func TestRecordParsesTwilioDefaults(t *testing.T) {
	p := &twimlParser{}
	root, err := parseXMLTree([]byte(`<Record action="/done"/>`))
	if err != nil {
		t.Fatal(err)
	}
	r := parseRecordVerb(p, root, "Response/Record[1]")
	if len(p.errs) > 0 || r.action != "/done" || r.method != "POST" || r.timeout != 5*time.Second || r.finishOnKey != "1234567890*#" ||
		r.maxLength != time.Hour || !r.playBeep || r.trim != "trim-silence" {
		t.Errorf("record = %+v, errors %v", r, p.errs)
	}
}
