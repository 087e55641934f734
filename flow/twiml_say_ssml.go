package flow

import (
	"fmt"
	"strings"
	"time"
	"unicode"
)

// SSML inside <Say>, as Twilio accepts it for Polly and Google voices
// (https://www.twilio.com/docs/voice/twiml/say/text-speech#ssml-tags). Our engines speak plain
// text, so the words are spoken and the markup is honoured where it changes what is heard:
// <break> is a pause, <p> and <s> end with one, <sub alias> speaks its alias, <say-as> spells out
// characters and digits. Every other tag (<prosody>, <emphasis>, <lang>, <phoneme>, <w>,
// <amazon:effect>, <mark>, ...) is read as its text, with a warning in the call's debug records.

// maxSSMLBreak is the longest <break> Polly honours.
const maxSSMLBreak = 10 * time.Second

// sayPart is a piece of a <Say>: words to speak, then a silence.
type sayPart struct {
	text  string
	pause time.Duration
}

// Pauses for <break strength> (medium is SSML's default) and after a <p> or <s>.
var (
	ssmlStrengths = map[string]time.Duration{
		"none": 0, "x-weak": 100 * time.Millisecond, "weak": 250 * time.Millisecond,
		"medium": 500 * time.Millisecond, "strong": 750 * time.Millisecond, "x-strong": time.Second,
	}
	ssmlParagraphPause = 750 * time.Millisecond
	ssmlSentencePause  = 400 * time.Millisecond
)

// ssmlReader turns a <Say>'s mixed content into parts, collecting validation problems on p and
// the tags it could only read as text in ignored.
type ssmlReader struct {
	p       *twimlParser
	parts   []sayPart
	words   strings.Builder // words since the last pause
	ignored []string        // tag names read as plain text, once each
}

func readSay(p *twimlParser, e *xmlElement, path string) (parts []sayPart, ignored []string) {
	r := &ssmlReader{p: p}
	r.content(e, path)
	r.flush(0)
	return r.parts, r.ignored
}

// content reads e's text and children in document order.
func (r *ssmlReader) content(e *xmlElement, path string) {
	done := 0
	for i, child := range e.children {
		r.words.WriteString(e.text[done:child.at])
		done = child.at
		r.element(child, fmt.Sprintf("%s/%s[%d]", path, child.name, i+1))
	}
	r.words.WriteString(e.text[done:])
}

func (r *ssmlReader) element(e *xmlElement, path string) {
	switch e.name {
	case "break":
		a := r.p.attrs(e, path, "time", "strength")
		pause := ssmlStrengths["medium"]
		if s, ok := a["strength"]; ok {
			if pause, ok = ssmlStrengths[strings.TrimSpace(s)]; !ok {
				r.p.fail(path+"@strength", "must be none, x-weak, weak, medium, strong or x-strong")
			}
		}
		if s, ok := a["time"]; ok {
			pause = r.breakTime(s, path+"@time")
		}
		r.p.noChildren(e, path)
		r.flush(pause)
	case "p", "s":
		r.flush(0)
		r.content(e, path)
		if e.name == "p" {
			r.flush(ssmlParagraphPause)
		} else {
			r.flush(ssmlSentencePause)
		}
	case "speak": // SSML's root, which some documents keep inside <Say>
		r.content(e, path)
	case "sub":
		a := r.p.attrs(e, path, "alias")
		if alias, ok := a["alias"]; ok {
			r.words.WriteString(" " + alias + " ")
			return
		}
		r.content(e, path)
	case "say-as":
		a := r.p.attrs(e, path, "interpret-as", "format", "role")
		switch strings.TrimSpace(a["interpret-as"]) {
		case "characters", "spell-out", "digits", "telephone":
			r.words.WriteString(" " + spellOut(e.text) + " ")
		default:
			r.ignore("say-as interpret-as=" + a["interpret-as"])
			r.content(e, path)
		}
	default:
		r.ignore(e.name)
		r.content(e, path)
	}
}

// breakTime reads a <break time>: "500ms" or "1s" (SSML's units), at most maxSSMLBreak.
func (r *ssmlReader) breakTime(s, path string) time.Duration {
	s = strings.TrimSpace(s)
	d, err := time.ParseDuration(s)
	if err != nil || d < 0 || !(strings.HasSuffix(s, "ms") || strings.HasSuffix(s, "s")) {
		r.p.fail(path, `must be a time such as "500ms" or "1s"`)
		return 0
	}
	if d > maxSSMLBreak {
		r.p.fail(path, fmt.Sprintf("must be at most %s", maxSSMLBreak))
		return 0
	}
	return d
}

// flush ends the words so far as a part followed by pause; a pause with no words before it
// lengthens the previous part's.
func (r *ssmlReader) flush(pause time.Duration) {
	text := strings.Join(strings.Fields(r.words.String()), " ")
	r.words.Reset()
	if text == "" {
		switch {
		case len(r.parts) > 0:
			r.parts[len(r.parts)-1].pause += pause
		case pause > 0:
			r.parts = append(r.parts, sayPart{pause: pause})
		}
		return
	}
	r.parts = append(r.parts, sayPart{text: text, pause: pause})
}

func (r *ssmlReader) ignore(tag string) {
	for _, t := range r.ignored {
		if t == tag {
			return
		}
	}
	r.ignored = append(r.ignored, tag)
}

// spellOut separates letters and digits so an engine reads "ABC12" as "A B C 1 2".
func spellOut(s string) string {
	var b strings.Builder
	for _, c := range s {
		if unicode.IsSpace(c) {
			continue
		}
		if b.Len() > 0 {
			b.WriteByte(' ')
		}
		b.WriteRune(c)
	}
	return b.String()
}
