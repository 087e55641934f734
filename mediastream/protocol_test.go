package mediastream

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"strings"
	"testing"
)

func TestParseAppMessageNamesWhatIsWrong(t *testing.T) {
	audio := make([]byte, 1024)
	deep := strings.Repeat("[", 9) + strings.Repeat("]", 9)
	for _, tc := range []struct {
		name, msg, want string
	}{
		{"not JSON", `{this is not json`, "not a JSON object"},
		{"deep", `{"event":"media","x":` + deep + `}`, "nested deeper than 8"},
		{"no event", `{"streamSid":"MZ1"}`, "no event"},
		{"media without payload", `{"event":"media","media":{}}`, "media without media.payload"},
		{"payload not base64", `{"event":"media","media":{"payload":"!!!!"}}`, "not base64"},
		{"payload too large", `{"event":"media","media":{"payload":"` + strings.Repeat("A", 2000) + `"}}`, "too large"},
		{"mark without name", `{"event":"mark","mark":{}}`, "mark without mark.name"},
		{"mark name too long", `{"event":"mark","mark":{"name":"` + strings.Repeat("x", 300) + `"}}`, "over 256 bytes"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := parseAppMessage([]byte(tc.msg), audio)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want one saying %q", err, tc.want)
			}
		})
	}
}

func TestParseAppMessageDecodesTwilioMessages(t *testing.T) {
	audio := make([]byte, 1024)
	payload := bytes.Repeat([]byte{0x7f, 0xff}, 120)
	m, pcm, err := parseAppMessage([]byte(`{"event":"media","streamSid":"MZ1","media":{"payload":"`+base64.StdEncoding.EncodeToString(payload)+`"}}`), audio)
	if err != nil || m.Event != "media" || m.StreamSID != "MZ1" || !bytes.Equal(pcm, payload) {
		t.Fatalf("media: %+v %d bytes %v", m, len(pcm), err)
	}
	m, _, err = parseAppMessage([]byte(`{"event":"mark","streamSid":"MZ1","mark":{"name":"end of turn"}}`), audio)
	if err != nil || m.Mark.Name != "end of turn" {
		t.Fatalf("mark: %+v %v", m, err)
	}
	if m, _, err = parseAppMessage([]byte(`{"event":"clear","streamSid":"MZ1"}`), audio); err != nil || m.Event != "clear" {
		t.Fatalf("clear: %+v %v", m, err)
	}
}

// FuzzParseAppMessage: whatever an application sends, parsing returns an error or a message whose
// audio fits the buffer it was given, and never panics.
func FuzzParseAppMessage(f *testing.F) {
	for _, seed := range []string{
		`{"event":"media","streamSid":"MZ1","media":{"payload":"f39/fw=="}}`,
		`{"event":"mark","mark":{"name":"a"}}`,
		`{"event":"clear"}`,
		`[[[[[[[[[[]]]]]]]]]]`,
		`{"event":"media","media":{"payload":"\"}"}}`,
		`{"a":"\\\"[[[[[[[[[["}`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		audio := make([]byte, 256)
		m, pcm, err := parseAppMessage(b, audio)
		if err != nil {
			return
		}
		if len(pcm) > cap(audio) {
			t.Fatalf("%d bytes of audio in a %d-byte buffer", len(pcm), cap(audio))
		}
		if m.Event == "mark" && (m.Mark == nil || m.Mark.Name == "" || len(m.Mark.Name) > maxMarkName) {
			t.Fatalf("accepted mark %+v", m.Mark)
		}
	})
}

func TestEncoderWritesTwilioMessages(t *testing.T) {
	e := &encoder{streamSID: "MZ0123"}
	o := &Options{AccountSID: "AC1", CallSID: "CA\"1", Inbound: true, Outbound: true,
		Parameters: []Parameter{{"a", "1"}, {"b\n", "<x>"}}}
	for _, msg := range [][]byte{
		append([]byte(nil), e.connected()...),
		append([]byte(nil), e.start(o)...),
		append([]byte(nil), e.media("inbound", 7, 140, bytes.Repeat([]byte{0xff}, 160))...),
		append([]byte(nil), e.dtmf('#')...),
		append([]byte(nil), e.mark("say \"hi\"")...),
		append([]byte(nil), e.stop(o)...),
	} {
		var v map[string]any
		if err := json.Unmarshal(msg, &v); err != nil {
			t.Fatalf("%s: %v", msg, err)
		}
	}
	var start struct {
		Event          string `json:"event"`
		SequenceNumber string `json:"sequenceNumber"`
		StreamSID      string `json:"streamSid"`
		Start          struct {
			CallSID          string            `json:"callSid"`
			Tracks           []string          `json:"tracks"`
			CustomParameters map[string]string `json:"customParameters"`
			MediaFormat      struct {
				Encoding   string `json:"encoding"`
				SampleRate int    `json:"sampleRate"`
				Channels   int    `json:"channels"`
			} `json:"mediaFormat"`
		} `json:"start"`
	}
	e = &encoder{streamSID: "MZ0123"}
	if err := json.Unmarshal(e.start(o), &start); err != nil {
		t.Fatal(err)
	}
	if start.SequenceNumber != "1" || start.StreamSID != "MZ0123" || start.Start.CallSID != `CA"1` ||
		strings.Join(start.Start.Tracks, ",") != "inbound,outbound" || start.Start.CustomParameters["b\n"] != "<x>" ||
		start.Start.MediaFormat.Encoding != "audio/x-mulaw" || start.Start.MediaFormat.SampleRate != 8000 || start.Start.MediaFormat.Channels != 1 {
		t.Fatalf("start %+v", start)
	}
}

func TestEncoderMediaAllocatesNothingOnceWarm(t *testing.T) {
	e := &encoder{streamSID: "MZ0123"}
	payload := bytes.Repeat([]byte{0xff}, 160)
	e.media("inbound", 1, 0, payload)
	if n := testing.AllocsPerRun(100, func() { e.media("inbound", 2, 20, payload) }); n != 0 {
		t.Fatalf("%v allocations per media message", n)
	}
}

// FuzzFastAppMessageAgreesWithJSON: the hand parser of the common shapes never trusts itself over
// encoding/json: whatever it accepts, encoding/json reads the same (event, streamSid, payload,
// mark), and a message it does not take is left to encoding/json.
func FuzzFastAppMessageAgreesWithJSON(f *testing.F) {
	for _, seed := range []string{
		string(appMediaMessage),
		`{"event":"media","streamSid":"MZ1","media":{"payload":"f39/fw=="}}`,
		` { "streamSid" : "MZ1" , "event" : "mark" , "mark" : { "name" : "a b" } } `,
		`{"event":"clear","streamSid":"MZ1"}`,
		`{"event":"media","media":{"payload":""}}`,
		`{"event":"media","event":"mark"}`,
		`{"Event":"media"}`,
		`{"event":"media","media":{"payload":"a\u0041"}}`,
		`{"event":"media"}x`,
		`{"event":"media","media":null}`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var p appParser
		m, payload, ok := p.fast(b)
		if !ok {
			return
		}
		var j appMessage
		if err := json.Unmarshal(b, &j); err != nil {
			t.Fatalf("fast took %q, encoding/json refuses it: %v", b, err)
		}
		if m.Event != j.Event || m.StreamSID != j.StreamSID {
			t.Fatalf("%q: fast read event %q sid %q, encoding/json %q %q", b, m.Event, m.StreamSID, j.Event, j.StreamSID)
		}
		if (m.Media == nil) != (j.Media == nil) || (j.Media != nil && string(payload) != j.Media.Payload) {
			t.Fatalf("%q: fast read payload %q (media %v), encoding/json %+v", b, payload, m.Media != nil, j.Media)
		}
		if (m.Mark == nil) != (j.Mark == nil) || (j.Mark != nil && m.Mark.Name != j.Mark.Name) {
			t.Fatalf("%q: fast read mark %+v, encoding/json %+v", b, m.Mark, j.Mark)
		}
	})
}

func TestFastAppMessageReadsTwilioShapesAndLeavesTheRest(t *testing.T) {
	var p appParser
	for _, tc := range []struct {
		msg  string
		fast bool
	}{
		{string(appMediaMessage), true},
		{`{"event":"mark","streamSid":"MZ1","mark":{"name":"end of turn"}}`, true},
		{"{\"event\":\"clear\",\n\"streamSid\":\"MZ1\"}\n", true},
		{`{"event":"media","media":{"payload":"a\/b"}}`, false}, // an escape
		{`{"EVENT":"media"}`, false},                            // encoding/json matches keys case-insensitively
		{`{"event":"media","event":"clear"}`, false},            // a duplicate: encoding/json takes the last
		{`{"event":"media","media":{"payload":"AA==","track":"outbound"}}`, false},
		{`{"event":"mark","mark":{"name":"caf` + "\xc3\xa9" + `"}}`, false}, // not ASCII
		{`{"event":"media"} {}`, false},
		{`{}`, false},
	} {
		if _, _, ok := p.fast([]byte(tc.msg)); ok != tc.fast {
			t.Errorf("fast(%q) ok = %v, want %v", tc.msg, ok, tc.fast)
		}
	}
}

// TestParsingAMediaMessageAllocatesNothing: the reader's work on a 20 ms media message (a stream
// reads fifty a second) allocates nothing once its parser has seen the stream's streamSid.
func TestParsingAMediaMessageAllocatesNothing(t *testing.T) {
	audio := make([]byte, 1024)
	var p appParser
	if n := testing.AllocsPerRun(100, func() {
		if _, _, err := p.parse(appMediaMessage, audio); err != nil {
			t.Fatal(err)
		}
	}); n != 0 {
		t.Fatalf("%v allocations per media message", n)
	}
}
