package main

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/pivotua/pivotua/internal/testkit/pgtest"
	"github.com/pivotua/pivotua/internal/testkit/sipptest"
)

// hostileWebhookBody is what a webhook that answers with a WAV or a gzip sends: NUL, bytes that are
// not UTF-8, and text. stored is how the debug API must show it: NUL and each invalid byte as \xHH.
const (
	hostileWebhookBody       = "\x00\x01RIFF\xff\xfe\x80binary\x00"
	hostileWebhookBodyStored = `\x00` + "\x01RIFF" + `\xff\xfe\x80` + "binary" + `\x00`
)

// sendRawInvite sends one INVITE for 3004 with callID as its Call-ID, as bytes, from a UDP socket of
// its own, and returns the final response's status code (after ACKing it).
func sendRawInvite(t *testing.T, p *pivotuaInstance, callID string) int {
	t.Helper()
	conn, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	local := conn.LocalAddr().String()
	to, err := net.ResolveUDPAddr("udp", p.sipAddr())
	if err != nil {
		t.Fatal(err)
	}
	branch := fmt.Sprintf("z9hG4bK-hostile-%d", time.Now().UnixNano())
	sdp := "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n" +
		"m=audio 40000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n"
	head := func(method, toHeader string) string {
		return method + " sip:3004@" + p.sipAddr() + " SIP/2.0\r\n" +
			"Via: SIP/2.0/UDP " + local + ";branch=" + branch + "\r\n" +
			"Max-Forwards: 70\r\nFrom: <sip:caller@127.0.0.1>;tag=hostile\r\nTo: " + toHeader + "\r\n" +
			"Call-ID: " + callID + "\r\nCSeq: 1 " + method + "\r\n"
	}
	invite := head("INVITE", "<sip:3004@127.0.0.1>") + "Contact: <sip:caller@" + local + ">\r\n" +
		"Content-Type: application/sdp\r\n" + fmt.Sprintf("Content-Length: %d\r\n\r\n", len(sdp)) + sdp
	if _, err := conn.WriteToUDP([]byte(invite), to); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 65535)
	deadline := time.Now().Add(15 * time.Second)
	for {
		_ = conn.SetReadDeadline(deadline)
		n, err := conn.Read(buf)
		if err != nil {
			t.Fatalf("Call-ID %q: no final response: %v\n%s", callID, err, sipptest.LastLines(p.logs(), 30))
		}
		var code int
		if _, err := fmt.Sscanf(string(buf[:n]), "SIP/2.0 %d", &code); err != nil || code < 200 {
			continue
		}
		// RFC 3261 §17.1.1.3: the ACK of a non-2xx final response takes its To (with the tag).
		toHeader := "<sip:3004@127.0.0.1>"
		sc := bufio.NewScanner(strings.NewReader(string(buf[:n])))
		for sc.Scan() {
			if name, value, ok := strings.Cut(sc.Text(), ":"); ok && (strings.EqualFold(name, "To") || name == "t") {
				toHeader = strings.TrimSpace(value)
			}
		}
		ack := head("ACK", toHeader) + "Content-Length: 0\r\n\r\n"
		if _, err := conn.WriteToUDP([]byte(ack), to); err != nil {
			t.Fatal(err)
		}
		return code
	}
}

// hostileWebhook answers every pivot request with a binary body and a header that is not UTF-8.
func hostileWebhook(t *testing.T) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/octet-stream")
		w.Header().Set("X-Hostile", "\xff\xfe")
		_, _ = io.WriteString(w, hostileWebhookBody)
	}))
	t.Cleanup(srv.Close)
	return srv
}

// TestE2EHostileStoreCallIDReadsBackThroughTheAPI: INVITEs whose Call-ID holds bytes that are not
// UTF-8, or a NUL, reach a debug: true pivot on a node with the PostgreSQL store; the webhook answers
// with a binary body. The records must be stored (PostgreSQL refused them and the recorder retried
// the batch forever) and read back through the API under the escaped Call-ID, and by the raw bytes.
func TestE2EHostileStoreCallIDReadsBackThroughTheAPI(t *testing.T) {
	needE2E(t)
	dsn := pgtest.DSN(t)
	hook := hostileWebhook(t)
	flow := pivotFlow(hook.URL+"/voice", nil)
	flow["data"].(map[string]any)["debug"] = true
	p := startPivotua(t, flow, func(c *Config) { c.Store.Driver, c.Store.DSN = "postgres", dsn })

	code, env := crossbar(t, "PUT", p.httpURL+"/v2/api_auth", "", map[string]any{"data": map[string]any{"api_key": "e2e-key"}})
	token, _ := env["auth_token"].(string)
	if code != 201 || token == "" {
		t.Fatalf("api_auth: %d %v", code, env)
	}
	base := fmt.Sprintf("%s/v2/accounts/%s/pivot/debug", p.httpURL, e2eAccount)

	for _, tc := range []struct{ name, callID, stored string }{
		{"invalid UTF-8", "e2e-\xff\xfe\x80-hostile@127.0.0.1", `e2e-\xff\xfe\x80-hostile@127.0.0.1`},
		{"NUL", "e2e-nul\x00-hostile@127.0.0.1", `e2e-nul\x00-hostile@127.0.0.1`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// No `_` child: the unparsable document fails the call, unanswered.
			if code := sendRawInvite(t, p, tc.callID); code != 503 && code != 480 {
				t.Fatalf("INVITE: final response %d, want 503 or 480 (the pivot ran and failed)\n%s", code, sipptest.LastLines(p.logs(), 30))
			}
			// Records are written asynchronously: the call ended a moment ago.
			var docs []any
			for deadline := time.Now().Add(15 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
				code, env = crossbar(t, "GET", base+"/"+url.PathEscape(tc.stored), token, nil)
				if docs, _ = env["data"].([]any); code == 200 && len(docs) >= 3 {
					break
				}
			}
			if len(docs) < 3 {
				t.Fatalf("GET detail by the escaped Call-ID: %d %v; want the request, response and json_errors records\n%s",
					code, env, sipptest.LastLines(p.logs(), 30))
			}
			kinds := map[string]map[string]any{}
			for _, d := range docs {
				doc := d.(map[string]any)
				if doc["call_id"] != tc.stored {
					t.Errorf("call_id %q, want %q", doc["call_id"], tc.stored)
				}
				switch {
				case doc["method"] != nil:
					kinds["request"] = doc
				case doc["resp_status_code"] != nil:
					kinds["response"] = doc
				case doc["json_errors"] != nil:
					kinds["json_errors"] = doc
				}
			}
			resp, errDoc := kinds["response"], kinds["json_errors"]
			if kinds["request"] == nil || resp == nil || errDoc == nil {
				t.Fatalf("documents %v: want a request, a response and a json_errors record", docs)
			}
			if resp["resp_body"] != hostileWebhookBodyStored || errDoc["resp_body"] != hostileWebhookBodyStored {
				t.Errorf("resp_body %q and %q, want %q", resp["resp_body"], errDoc["resp_body"], hostileWebhookBodyStored)
			}
			if h, _ := resp["resp_headers"].(map[string]any); h["x-hostile"] != `\xff\xfe` {
				t.Errorf("resp_headers %v: want x-hostile as \\xff\\xfe", h)
			}
			// By the bytes the caller sent, URL-encoded (%FF, %00): the same call.
			code, env = crossbar(t, "GET", base+"/"+url.PathEscape(tc.callID), token, nil)
			if again, _ := env["data"].([]any); code != 200 || len(again) != len(docs) {
				t.Errorf("GET detail by the raw Call-ID: %d, %d documents; want 200 and %d", code, len(again), len(docs))
			}
			// The list shows the call under the same key.
			code, env = crossbar(t, "GET", base, token, nil)
			found := false
			rows, _ := env["data"].([]any)
			for _, r := range rows {
				found = found || r.(map[string]any)["call_id"] == tc.stored
			}
			if code != 200 || !found {
				t.Errorf("list: %d, no row for %q in %v", code, tc.stored, rows)
			}
		})
	}

	res, err := http.Get(p.httpURL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	for _, want := range []string{
		`pivotua_debug_records_dropped_total{reason="queue_full"} 0`,
		`pivotua_debug_records_dropped_total{reason="rejected"} 0`,
		`pivotua_debug_records_dropped_total{reason="invalid"} 0`,
		"pivotua_debug_queue_bytes 0",
	} {
		if !strings.Contains(string(body), want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
}
