package flow_test

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/pivotua/pivotua/flow"
	"github.com/pivotua/pivotua/flow/flowtest"
)

func TestValidateNodeReportsEveryProblemWithItsPath(t *testing.T) {
	tests := []struct {
		name string
		doc  string
		path string
		want []string
	}{
		{"valid pivot", `{"module":"pivot","data":{"voice_url":"http://127.0.0.1:9000/ivr"}}`, "", nil},
		{"missing module", `{"data":{}}`, "", []string{"module: required"}},
		{"unknown module", `{"module":"x"}`, "flow", []string{`flow.module: unknown module "x"`}},
		{"sip_uri without uri", `{"module":"sip_uri","data":{"timeout":0}}`, "", []string{"data.uri: required", "data.timeout: must be between 1 and 600"}},
		{"pivot without voice_url", `{"module":"pivot","data":{}}`, "", []string{"data.voice_url: required"}},
		{"pivot bad fields", `{"module":"pivot","data":{"voice_url":"ftp://x/y","method":"put","req_format":"xml","req_body_format":"xml","req_timeout_ms":30001,"debug":"yes","cdr_url":"nope"}}`, "", []string{
			"data.voice_url: must be an http or https URL",
			"data.method: must be one of get, post",
			"data.req_format: must be one of kazoo, twiml",
			"data.req_body_format: must be one of form, json",
			"data.req_timeout_ms: must be between 1 and 30000",
			"data.debug: must be a boolean",
			"data.cdr_url: must be an http or https URL",
		}},
		{"pivot method upper case", `{"module":"pivot","data":{"voice_url":"https://h/x","method":"POST"}}`, "", nil},
		{"pivot timeout not integer", `{"module":"pivot","data":{"voice_url":"https://h/x","req_timeout_ms":1.5}}`, "", []string{"data.req_timeout_ms: must be an integer"}},
		{"nested child path", `{"module":"pivot","data":{"voice_url":"http://h/x"},"children":{"_":{"module":"tts","data":{}}}}`, "flow", []string{"flow.children._.data.text: required"}},
		{"tts limits", `{"module":"tts","data":{"text":"` + strings.Repeat("a", 4001) + `","engine":"festival","terminators":["1","x"]}}`, "", []string{
			"data.text: must be at most 4000 characters",
			"data.engine: must be flite or espeak-ng, or one of Kazoo's (ispeech, voicefabric, google, ibm_watson, polly, readspeaker), which the local engine speaks",
			"data.terminators[1]: must be one of 0-9, *, #",
		}},
		{"say alias", `{"module":"say","data":{"text":"hi"}}`, "", nil},
		{"tts wrong type", `{"module":"tts","data":{"text":5}}`, "", []string{"data.text: must be a string"}},
		{"play", `{"module":"play","data":{"id":"media-id","loop_count":0}}`, "", []string{
			"data.id: must be an http or https URL, a media id (32 hex characters from the media API) or /{ACCOUNT_ID}/{MEDIA_ID}", "data.loop_count: must be between 1 and 1000"}},
		{"play unknown fields ignored", `{"module":"play","data":{"id":"http://h/a.wav","answer":true,"whatever":[1]}}`, "", nil},
		{"sleep", `{"module":"sleep","data":{"unit":"d"}}`, "", []string{"data.duration: required", "data.unit: must be one of ms, s, m, h"}},
		{"sleep negative", `{"module":"sleep","data":{"duration":-1}}`, "", []string{"data.duration: must be at least 0"}},
		{"response", `{"module":"response","data":{"code":200,"message":"a\r\nb"}}`, "", []string{
			"data.code: must be between 400 and 699", "data.message: " + flow.MsgControlChars}},
		{"set_variables", `{"module":"set_variables","data":{"custom_application_vars":{"a":"1","b":2,"c":true,"d":null,"e":{"x":1}}}}`, "", []string{
			"data.custom_application_vars.e: must be a string, number or boolean"}},
		{"hangup", `{"module":"hangup"}`, "", nil},
		{"skip_module type", `{"module":"hangup","data":{"skip_module":1}}`, "", []string{"data.skip_module: must be a boolean"}},
		{"children sorted", `{"module":"hangup","children":{"b":{"module":"y"},"a":{"module":"x"}}}`, "", []string{
			`children.a.module: unknown module "x"`, `children.b.module: unknown module "y"`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n, err := flow.ParseNode([]byte(tt.doc), tt.path)
			if err != nil {
				t.Fatalf("ParseNode: %v", err)
			}
			var got []string
			for _, e := range flow.ValidateNode(n, tt.path) {
				var ve *flow.ValidationError
				if !errors.As(e, &ve) {
					t.Errorf("error %v is not a *ValidationError", e)
				}
				got = append(got, e.Error())
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("got\n%q\nwant\n%q", got, tt.want)
			}
		})
	}
}

func TestParseNodeRejectsMalformedDocuments(t *testing.T) {
	tests := []struct {
		name     string
		doc      string
		wantJSON bool
		want     string
	}{
		{"not JSON", `{"module":`, true, "(line 1, column 10)"},
		{"trailing data", `{"module":"hangup"} x`, true, "(line 1, column 21)"},
		{"missing comma", "{\n  \"module\": \"tts\"\n  \"data\": {}\n}", true, "invalid character '\"' after object key:value pair (line 3, column 3)"},
		{"empty", `  `, false, "empty document"},
		{"array", `[]`, false, "must be an object"},
		{"module type", `{"module":5,"data":[],"children":{"_":3}}`, false, "module: must be a string\ndata: must be an object\nchildren._: must be an object"},
		{"too deep", `{"module":"hangup","children":{"_":` + strings.Repeat(`{"module":"hangup","children":{"_":`, 40) + `{}` + strings.Repeat("}}", 40) + `}}`, false, "nested deeper than 32 levels"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := flow.ParseNode([]byte(tt.doc), "")
			if err == nil {
				t.Fatal("no error")
			}
			if errors.Is(err, flow.ErrInvalidJSON) != tt.wantJSON {
				t.Errorf("errors.Is(ErrInvalidJSON) = %v for %v", !tt.wantJSON, err)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q does not contain %q", err, tt.want)
			}
		})
	}
}

func TestParseNodeKeepsDataAndChildren(t *testing.T) {
	n := flowtest.MustNode(t, `{"module":"tts","data":{"text":"hi"},"children":{"_":{"module":"hangup"},"1":{"module":"hangup","data":null}}}`)
	if n.Module != "tts" || string(n.Data) != `{"text":"hi"}` || len(n.Children) != 2 || n.Children["1"].Module != "hangup" {
		t.Fatalf("parsed %+v", n)
	}
}

func FuzzParseNode(f *testing.F) {
	for _, seed := range []string{
		`{"module":"pivot","data":{"voice_url":"http://127.0.0.1/x","method":"post","req_timeout_ms":100},"children":{"_":{"module":"tts","data":{"text":"x"}}}}`,
		`{"module":"set_variables","data":{"custom_application_vars":{"a":1,"b":null}}}`,
		`{"module":"sleep","data":{"duration":1e30,"unit":"h"}}`,
		`{"module":"play","data":{"id":"https://h/a.mp3","loop_count":2.0,"terminators":["#"]}}`,
		`{"module":"response","data":{"code":486}}`,
		`[1,2]`, `null`, `{"module":null,"children":null}`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		n, err := flow.ParseNode(b, "flow")
		if err != nil {
			return
		}
		for _, e := range flow.ValidateNode(n, "flow") {
			if !strings.HasPrefix(e.Error(), "flow") {
				t.Fatalf("error without path: %v", e)
			}
		}
	})
}
