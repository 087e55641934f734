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
	var m appMessage
	if depth := jsonDepth(b); depth > maxJSONDepth {
		return m, audio, fmt.Errorf("JSON nested deeper than %d", maxJSONDepth)
	}
	if err := json.Unmarshal(b, &m); err != nil {
		return m, audio, fmt.Errorf("not a JSON object: %v", err)
	}
	switch m.Event {
	case "media":
		if m.Media == nil || m.Media.Payload == "" {
			return m, audio, fmt.Errorf("media without media.payload")
		}
		n := base64.StdEncoding.DecodedLen(len(m.Media.Payload))
		if cap(audio) < n {
			return m, audio, fmt.Errorf("media.payload of %d bytes is too large", len(m.Media.Payload))
		}
		n, err := base64.StdEncoding.Decode(audio[:n], []byte(m.Media.Payload))
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
