package mediastream

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
)

// The wire format is Twilio's (twilio.com/docs/voice/media-streams/websocket-messages): JSON text
// messages, every number a string, audio as base64 8 kHz mono μ-law without a header.

const (
	// maxJSONDepth bounds the nesting of an application's message: Twilio's deepest is 2
	// ({"media":{"payload":...}}).
	maxJSONDepth = 8
	// maxMarkName bounds a mark's name, which comes back to the application as it was sent.
	maxMarkName = 256
)

// appMessage is a message from the application, as far as pivotua reads it.
type appMessage struct {
	Event     string `json:"event"`
	StreamSID string `json:"streamSid"`
	Media     *struct {
		Payload string `json:"payload"`
	} `json:"media"`
	Mark *struct {
		Name string `json:"name"`
	} `json:"mark"`
}

// parseAppMessage reads one text message from the application and checks it; for media, the
// decoded audio is appended to audio[:0] and returned. The error says what was wrong (without
// wrapping: the caller adds ErrBadMessage).
func parseAppMessage(b []byte, audio []byte) (appMessage, []byte, error) {
	var p appParser
	return p.parse(b, audio)
}

// appParser reads the application's messages: the common shapes by hand (fastAppMessage), anything
// else through encoding/json. It keeps the last streamSid it read, so a stream's messages, which
// all carry the same one, do not allocate it again; one per reader goroutine.
type appParser struct {
	sid string
	// media is the message's media object; m.Media points to it when one was read (not
	// allocated per message).
	media struct {
		Payload string `json:"payload"`
	}
}

func (p *appParser) parse(b []byte, audio []byte) (appMessage, []byte, error) {
	m, payload, ok := p.fast(b)
	if !ok {
		if depth := jsonDepth(b); depth > maxJSONDepth {
			return appMessage{}, audio, fmt.Errorf("JSON nested deeper than %d", maxJSONDepth)
		}
		var jm appMessage // on the heap (Unmarshal takes its address), only on this path
		if err := json.Unmarshal(b, &jm); err != nil {
			return jm, audio, fmt.Errorf("not a JSON object: %v", err)
		}
		m = jm
		if m.Media != nil {
			payload = []byte(m.Media.Payload)
		}
	}
	switch m.Event {
	case "media":
		if m.Media == nil || len(payload) == 0 {
			return m, audio, fmt.Errorf("media without media.payload")
		}
		n := base64.StdEncoding.DecodedLen(len(payload))
		if cap(audio) < n {
			return m, audio, fmt.Errorf("media.payload of %d bytes is too large", len(payload))
		}
		n, err := base64.StdEncoding.Decode(audio[:n], payload)
		if err != nil {
			return m, audio, fmt.Errorf("media.payload is not base64: %v", err)
		}
		return m, audio[:n], nil
	case "mark":
		if m.Mark == nil || m.Mark.Name == "" {
			return m, audio, fmt.Errorf("mark without mark.name")
		}
		if len(m.Mark.Name) > maxMarkName {
			return m, audio, fmt.Errorf("mark.name is over %d bytes", maxMarkName)
		}
	case "clear":
	case "":
		return m, audio, fmt.Errorf("no event")
	}
	return m, audio[:0], nil
}

// fast reads the shapes applications send (Twilio's: an object of "event", "streamSid" and one
// "media" or "mark" object of string members, every string plain printable ASCII) without
// encoding/json, which was a third of a stream's reading. It is strict: anything else (another
// key, a duplicate, an escape, a number, null, a byte outside printable ASCII, trailing data) is
// not ok, and encoding/json decides, so both always agree (FuzzFastAppMessageAgreesWithJSON).
// It reads b once and is bounded by len(b); the payload returned is a slice of b.
func (p *appParser) fast(b []byte) (m appMessage, payload []byte, ok bool) {
	r := jsonReader{b: b}
	if !r.byte('{') {
		return m, nil, false
	}
	var seen [4]bool // event, streamSid, media, mark
	for first := true; ; first = false {
		if r.byte('}') {
			if first {
				return m, nil, false // {} : let encoding/json say what is missing
			}
			break
		}
		if !first && !r.byte(',') {
			return m, nil, false
		}
		key, okKey := r.str()
		if !okKey || !r.byte(':') {
			return m, nil, false
		}
		var k int
		switch string(key) {
		case "event":
			v, okV := r.str()
			if !okV {
				return m, nil, false
			}
			switch string(v) {
			case "media":
				m.Event = "media"
			case "mark":
				m.Event = "mark"
			case "clear":
				m.Event = "clear"
			default:
				return m, nil, false
			}
			k = 0
		case "streamSid":
			v, okV := r.str()
			if !okV {
				return m, nil, false
			}
			if string(v) != p.sid {
				p.sid = string(v)
			}
			m.StreamSID, k = p.sid, 1
		case "media":
			v, okV := r.member("payload")
			if !okV {
				return m, nil, false
			}
			payload, k = v, 2
			p.media.Payload = ""
			m.Media = &p.media
		case "mark":
			v, okV := r.member("name")
			if !okV {
				return m, nil, false
			}
			m.Mark, k = &struct {
				Name string `json:"name"`
			}{Name: string(v)}, 3
		default:
			return m, nil, false
		}
		if seen[k] {
			return m, nil, false
		}
		seen[k] = true
	}
	r.space()
	if r.i != len(b) {
		return m, nil, false
	}
	return m, payload, true
}

// jsonReader is fast's cursor over a message.
type jsonReader struct {
	b []byte
	i int
}

// space skips JSON whitespace (RFC 8259 §2).
func (r *jsonReader) space() {
	for r.i < len(r.b) {
		switch r.b[r.i] {
		case ' ', '\t', '\n', '\r':
			r.i++
		default:
			return
		}
	}
}

// byte consumes c after whitespace, if it is next.
func (r *jsonReader) byte(c byte) bool {
	r.space()
	if r.i < len(r.b) && r.b[r.i] == c {
		r.i++
		return true
	}
	return false
}

// str reads a string of printable ASCII without escapes; its content is returned as a slice of b.
func (r *jsonReader) str() ([]byte, bool) {
	if !r.byte('"') {
		return nil, false
	}
	start := r.i
	for r.i < len(r.b) {
		c := r.b[r.i]
		switch {
		case c == '"':
			r.i++
			return r.b[start : r.i-1], true
		case c < 0x20 || c > 0x7e || c == '\\':
			return nil, false
		}
		r.i++
	}
	return nil, false
}

// member reads an object whose only member is name, with a string value.
func (r *jsonReader) member(name string) ([]byte, bool) {
	if !r.byte('{') {
		return nil, false
	}
	key, ok := r.str()
	if !ok || string(key) != name || !r.byte(':') {
		return nil, false
	}
	v, ok := r.str()
	if !ok || !r.byte('}') {
		return nil, false
	}
	return v, true
}

// jsonDepth is the deepest nesting of objects and arrays in b, strings skipped; it reads b once
// and allocates nothing, so a hostile nesting costs nothing before it is refused.
func jsonDepth(b []byte) int {
	depth, deepest := 0, 0
	inString, escaped := false, false
	for _, c := range b {
		switch {
		case inString:
			switch {
			case escaped:
				escaped = false
			case c == '\\':
				escaped = true
			case c == '"':
				inString = false
			}
		case c == '"':
			inString = true
		case c == '{' || c == '[':
			depth++
			deepest = max(deepest, depth)
		case c == '}' || c == ']':
			depth--
		}
	}
	return deepest
}

// encoder builds pivotua's messages into one reused buffer (the writer goroutine's).
type encoder struct {
	buf       []byte
	seq       uint64
	streamSID string
	sidJSON   []byte // streamSID as a JSON string, quoted once: every message ends with it
}

func (e *encoder) begin(event string) {
	e.seq++
	e.buf = append(e.buf[:0], `{"event":"`...)
	e.buf = append(e.buf, event...)
	e.buf = append(e.buf, `","sequenceNumber":"`...)
	e.buf = strconv.AppendUint(e.buf, e.seq, 10)
	e.buf = append(e.buf, `",`...)
}

func (e *encoder) end() []byte {
	if e.sidJSON == nil {
		e.sidJSON = appendJSONString(nil, e.streamSID)
	}
	e.buf = append(e.buf, `,"streamSid":`...)
	e.buf = append(e.buf, e.sidJSON...)
	e.buf = append(e.buf, '}')
	return e.buf
}

// connected is the first message; it alone has no sequence number or streamSid.
func (e *encoder) connected() []byte {
	e.buf = append(e.buf[:0], `{"event":"connected","protocol":"Call","version":"1.0.0"}`...)
	return e.buf
}

// start describes the stream.
func (e *encoder) start(o *Options) []byte {
	e.begin("start")
	e.buf = append(e.buf, `"start":{"streamSid":`...)
	e.buf = appendJSONString(e.buf, e.streamSID)
	e.buf = append(e.buf, `,"accountSid":`...)
	e.buf = appendJSONString(e.buf, o.AccountSID)
	e.buf = append(e.buf, `,"callSid":`...)
	e.buf = appendJSONString(e.buf, o.CallSID)
	e.buf = append(e.buf, `,"tracks":[`...)
	for i, t := range o.tracks() {
		if i > 0 {
			e.buf = append(e.buf, ',')
		}
		e.buf = appendJSONString(e.buf, t)
	}
	e.buf = append(e.buf, `],"customParameters":{`...)
	for i, p := range o.Parameters {
		if i > 0 {
			e.buf = append(e.buf, ',')
		}
		e.buf = appendJSONString(e.buf, p.Name)
		e.buf = append(e.buf, ':')
		e.buf = appendJSONString(e.buf, p.Value)
	}
	e.buf = append(e.buf, `},"mediaFormat":{"encoding":"audio/x-mulaw","sampleRate":8000,"channels":1}}`...)
	return e.end()
}

// media carries one 20 ms frame of a track ("inbound" or "outbound").
func (e *encoder) media(track string, chunk uint64, timestamp int64, payload []byte) []byte {
	e.begin("media")
	e.buf = append(e.buf, `"media":{"track":"`...)
	e.buf = append(e.buf, track...)
	e.buf = append(e.buf, `","chunk":"`...)
	e.buf = strconv.AppendUint(e.buf, chunk, 10)
	e.buf = append(e.buf, `","timestamp":"`...)
	e.buf = strconv.AppendInt(e.buf, timestamp, 10)
	e.buf = append(e.buf, `","payload":"`...)
	n := base64.StdEncoding.EncodedLen(len(payload))
	at := len(e.buf)
	e.buf = slices.Grow(e.buf, n)[:at+n] // grows once; later frames reuse the room
	base64.StdEncoding.Encode(e.buf[at:], payload)
	e.buf = append(e.buf, `"}`...)
	return e.end()
}

// dtmf reports a key the caller pressed.
func (e *encoder) dtmf(key byte) []byte {
	e.begin("dtmf")
	e.buf = append(e.buf, `"dtmf":{"track":"inbound_track","digit":"`...)
	e.buf = append(e.buf, key)
	e.buf = append(e.buf, `"}`...)
	return e.end()
}

// mark says the audio before the application's mark name has been played (or cleared).
func (e *encoder) mark(name string) []byte {
	e.begin("mark")
	e.buf = append(e.buf, `"mark":{"name":`...)
	e.buf = appendJSONString(e.buf, name)
	e.buf = append(e.buf, '}')
	return e.end()
}

// stop is the last message.
func (e *encoder) stop(o *Options) []byte {
	e.begin("stop")
	e.buf = append(e.buf, `"stop":{"accountSid":`...)
	e.buf = appendJSONString(e.buf, o.AccountSID)
	e.buf = append(e.buf, `,"callSid":`...)
	e.buf = appendJSONString(e.buf, o.CallSID)
	e.buf = append(e.buf, '}')
	return e.end()
}

// appendJSONString appends s as a JSON string; json.Marshal of a string cannot fail.
func appendJSONString(b []byte, s string) []byte {
	q, _ := json.Marshal(s)
	return append(b, q...)
}
