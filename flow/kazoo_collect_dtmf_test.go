package flow_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/pivotua/pivotua/flow"
	"github.com/pivotua/pivotua/flow/flowtest"
	"github.com/pivotua/pivotua/internal/testkit"
)

func TestCollectDTMFSendsDigitsByCollectionToTheNextPivot(t *testing.T) {
	app := testkit.NewWebhook(t, testkit.ServeDocs(map[string][2]string{"/next": {"application/json", `{"module":"hangup"}`}}))
	ch := flowtest.NewChannel()
	c := flowtest.NewCall(t, ch, nil)
	flow := fmt.Sprintf(`{"module":"collect_dtmf","data":{"max_digits":4,"collection_name":"pin","timeout":2000},
		"children":{"_":{"module":"pivot","data":{"voice_url":"%s/next"}}}}`, app.URL)
	go func() {
		time.Sleep(50 * time.Millisecond)
		ch.Press("1234")
	}()
	flowtest.Run(t, c, flowtest.MustNode(t, flow))
	reqs := app.Requests()
	if len(reqs) != 1 || reqs[0].Form.Get("Digits[pin]") != "1234" {
		t.Fatalf("want Digits[pin]=1234 in the next request, got %+v", reqs)
	}
}

func TestCollectDTMFStopsAtTheTerminatorAndOnTimeouts(t *testing.T) {
	tests := []struct {
		name    string
		data    string
		presses string
		want    string
	}{
		{"terminator ends and is not collected", `{"max_digits":10,"timeout":1000}`, "42#9", "42"},
		{"max_digits ends", `{"max_digits":2,"timeout":1000}`, "789", "78"},
		{"interdigit timeout ends", `{"max_digits":10,"timeout":1000,"interdigit_timeout":100}`, "5", "5"},
		{"first-key timeout collects nothing", `{"max_digits":3,"timeout":100}`, "", ""},
		{"a terminators list replaces #", `{"max_digits":9,"timeout":1000,"terminators":["*"]}`, "1#2*", "1#2"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ch := flowtest.NewChannel()
			c := flowtest.NewCall(t, ch, nil)
			ch.Press(tt.presses)
			node := flowtest.MustNode(t, `{"module":"collect_dtmf","data":`+tt.data+`}`)
			flowtest.Run(t, c, node)
			if got := c.Digits()["default"]; got != tt.want {
				t.Errorf("collected %q, want %q", got, tt.want)
			}
		})
	}
}

func TestKeysPressedDuringAPromptStopItAndAreCollectedNext(t *testing.T) {
	ch := flowtest.NewChannel()
	ch.PlayTime = 2 * time.Second
	c := flowtest.NewCall(t, ch, nil)
	flow := `{"module":"tts","data":{"text":"press one for sales"},
		"children":{"_":{"module":"collect_dtmf","data":{"max_digits":1,"collection_name":"menu","timeout":500}}}}`
	go func() {
		time.Sleep(100 * time.Millisecond)
		ch.Press("1")
	}()
	start := time.Now()
	flowtest.Run(t, c, flowtest.MustNode(t, flow))
	if took := time.Since(start); took > time.Second {
		t.Errorf("the key should cut the 2 s prompt short; the flow took %v", took)
	}
	if got := c.Digits()["menu"]; got != "1" {
		t.Errorf("collected %q, want the key pressed during the prompt", got)
	}
}

func TestKeysPressedDuringPromptsGoToDefaultWithoutCollectDTMF(t *testing.T) {
	app := testkit.NewWebhook(t, testkit.ServeDocs(map[string][2]string{"/next": {"application/json", `{"module":"hangup"}`}}))
	ch := flowtest.NewChannel()
	ch.PlayTime = 300 * time.Millisecond
	c := flowtest.NewCall(t, ch, nil)
	// terminators [] : keys do not stop the prompt, yet they are kept, as Kazoo does.
	flow := fmt.Sprintf(`{"module":"tts","data":{"text":"hello","terminators":[]},
		"children":{"_":{"module":"pivot","data":{"voice_url":"%s/next"}}}}`, app.URL)
	ch.Press("7")
	flowtest.Run(t, c, flowtest.MustNode(t, flow))
	if reqs := app.Requests(); len(reqs) != 1 || reqs[0].Form.Get("Digits[default]") != "7" {
		t.Fatalf("want Digits[default]=7, got %+v", reqs)
	}
	flowtest.EqualEvents(t, ch.Kinds(), []string{"answer", "play", "hangup"})
}

func TestCollectDTMFValidation(t *testing.T) {
	for _, doc := range []string{
		`{"module":"collect_dtmf","data":{"max_digits":0}}`,
		`{"module":"collect_dtmf","data":{"terminator":"x"}}`,
		`{"module":"collect_dtmf","data":{"terminators":["##"]}}`,
		`{"module":"collect_dtmf","data":{"collection_name":""}}`,
		`{"module":"send_dtmf","data":{"digits":"12x"}}`,
		`{"module":"send_dtmf","data":{}}`,
		`{"module":"record_caller","data":{"url":"ftp://x/y"}}`,
		`{"module":"record_caller","data":{"url":"http://x/y","time_limit":2}}`,
		`{"module":"record_caller","data":{"url":"http://x/y","format":"ogg"}}`,
	} {
		n, err := flow.ParseNode([]byte(doc), "flow")
		if err != nil {
			continue
		}
		if errs := flow.ValidateNode(n, "flow"); len(errs) == 0 {
			t.Errorf("%s should fail validation", doc)
		}
	}
}

func TestSendDTMFPlaysDigitsToTheCaller(t *testing.T) {
	ch := flowtest.NewChannel()
	c := flowtest.NewCall(t, ch, nil)
	flowtest.Run(t, c, flowtest.MustNode(t, `{"module":"send_dtmf","data":{"digits":"12w#","duration_ms":80}}`))
	flowtest.EqualEvents(t, ch.Events(), []string{"answer", "send_dtmf 12w# 80ms", "hangup"})
}
