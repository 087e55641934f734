package flow_test

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/pivotua/pivotua/flow"
	"github.com/pivotua/pivotua/flow/flowtest"
	"github.com/pivotua/pivotua/internal/testkit"
)

func TestStreamVerbsValidateLikeTwilio(t *testing.T) {
	for _, tc := range []struct {
		doc, want string // want: "" valid, else a piece of the error
	}{
		{`<Connect action="/next"><Stream url="wss://ai.example.com/media?t=1"><Parameter name="a" value="b"/></Stream></Connect>`, ""},
		{`<Start><Stream name="s1" url="ws://10.0.0.1:8080/" track="both_tracks" statusCallback="/cb" statusCallbackMethod="GET"/></Start><Say>hi</Say><Stop><Stream name="s1"/></Stop>`, ""},
		{`<Connect><Stream url="https://example.com/"/></Connect>`, "Response/Connect[1]/Stream[1]@url: must be a ws:// or wss:// URL"},
		{`<Connect><Stream/></Connect>`, "Response/Connect[1]/Stream[1]@url: required"},
		{`<Connect><Stream url="wss://a/" track="both_tracks"/></Connect>`, "Response/Connect[1]/Stream[1]@track: must be one of inbound_track"},
		{`<Connect><Room>r</Room></Connect>`, "<Room> is not supported in <Connect>"},
		{`<Connect/>`, "<Connect> needs a <Stream>"},
		{`<Connect><Stream url="wss://a/"/><Stream url="wss://b/"/></Connect>`, "one <Stream> per <Connect>"},
		{`<Start><Stream url="wss://a/"><Parameter value="x"/></Stream></Start>`, "Parameter[1]@name: required"},
		{`<Start><Stream url="wss://a/"><Say>x</Say></Stream></Start>`, "<Say> is not allowed in <Stream>"},
		{`<Start><Stream url="wss://u:p@a/"/></Start>`, "must not carry credentials"},
		{`<Start><Siprec/></Start>`, "<Siprec> is not supported in <Start>"},
		{`<Stop/>`, "<Stop> needs a <Stream>"},
	} {
		_, err := flow.ParseTwiML([]byte(`<Response>` + tc.doc + `</Response>`))
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%s: %v", tc.doc, err)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("%s: error %v, want one containing %q", tc.doc, err, tc.want)
		}
	}
}

// TestConnectStreamThatCannotStartRequestsItsAction: a stream that cannot open (here the channel
// has no RTP session of pivotua's own) ends <Connect> at once, and its action runs, as when the
// application closes the socket; a <Start> fork that cannot open lets the next verb run.
func TestConnectStreamThatCannotStartRequestsItsAction(t *testing.T) {
	app := testkit.NewWebhook(t, testkit.ServeDocs(map[string][2]string{
		"/voice": {"text/xml", `<Response><Start><Stream url="ws://127.0.0.1:9/fork"/></Start><Say>fork failed, going on</Say>` +
			`<Connect action="/after"><Stream url="ws://127.0.0.1:9/agent"/></Connect><Say>not reached</Say></Response>`},
		"/after": {"text/xml", `<Response><Hangup/></Response>`},
	}))
	ch := flowtest.NewChannel()
	flowtest.Run(t, flowtest.NewCall(t, ch, nil), flowtest.MustNode(t, flowtest.PivotFlow(app.URL+"/voice", `,"req_format":"twiml"`, false)))
	var trail []string
	for _, r := range app.Requests() {
		trail = append(trail, r.Method+" "+r.Path)
	}
	if want := []string{"GET /voice", "POST /after"}; !slices.Equal(trail, want) {
		t.Fatalf("requests %q, want %q", trail, want)
	}
	flowtest.EqualEvents(t, ch.Kinds(), []string{"answer", "play", "hangup"})
}

func TestKazooStreamModuleValidates(t *testing.T) {
	for _, tc := range []struct {
		data, want string
	}{
		{`{"url":"wss://ai.example.com/m","parameters":{"b":"2","a":"1"}}`, ""},
		{`{"url":"ws://h/","mode":"fork","track":"both","name":"f"}`, ""},
		{`{"mode":"stop","name":"f"}`, ""},
		{`{"mode":"bidirectional"}`, "flow.data.url: required"},
		{`{"url":"http://h/"}`, "flow.data.url: must be a ws:// or wss:// URL"},
		{`{"url":"ws://h/","track":"both"}`, "flow.data.track: a bidirectional stream carries the caller's track only"},
		{`{"url":"ws://h/","parameters":{"a":1}}`, "flow.data.parameters: must be an object of strings"},
		{`{"url":"ws://h/","mode":"listen"}`, "flow.data.mode: must be one of bidirectional, fork, stop"},
	} {
		n, err := flow.ParseNode([]byte(`{"module":"stream","data":`+tc.data+`}`), "flow")
		if err == nil {
			err = errors.Join(flow.ValidateNode(n, "flow")...)
		}
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%s: %v", tc.data, err)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("%s: error %v, want one containing %q", tc.data, err, tc.want)
		}
	}
}

// TestKazooStreamThatCannotOpenTakesTheErrorChild: a bidirectional stream that cannot open goes on
// with the "error" child.
func TestKazooStreamThatCannotOpenTakesTheErrorChild(t *testing.T) {
	ch := flowtest.NewChannel()
	flowtest.Run(t, flowtest.NewCall(t, ch, nil), flowtest.MustNode(t, `{"module":"stream","data":{"url":"ws://127.0.0.1:9/"},
		"children":{"_":{"module":"hangup"},"error":{"module":"tts","data":{"text":"sorry"}}}}`))
	flowtest.EqualEvents(t, ch.Kinds(), []string{"answer", "play", "hangup"})
}
