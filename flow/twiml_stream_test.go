package flow_test

import (
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
