package flow

import (
	"context"
	"math"
	"regexp"
	"strings"

	"github.com/pivotua/pivotua/codec"
)

// languageTag is the shape of a BCP 47 tag as TwiML uses it (en-US, es, pt-BR, cmn-Hans-CN).
var languageTag = regexp.MustCompile(`^[A-Za-z]{2,3}(-[A-Za-z0-9]{2,8})*$`)

// sayVerb is <Say>: speak text, loop times (0 = until the call ends).
type sayVerb struct {
	speech      codec.SpeechRequest
	loop        int
	terminators string // Kazoo extra: keys that stop the speech (none by default, as in Twilio)
}

func parseSayVerb(p *twimlParser, e *xmlElement, path string) twimlVerb {
	a := p.attrs(e, path, "voice", "language", "loop", "engine", "terminators")
	v := &sayVerb{}
	v.speech.Voice = sayVoice(p, a, path)
	v.speech.Language = "en-US"
	if lang, ok := a["language"]; ok {
		switch lang = strings.TrimSpace(lang); {
		case strings.EqualFold(lang, "en"): // Kazoo: en means en-US
		case languageTag.MatchString(lang):
			v.speech.Language = lang
		default:
			p.fail(path+"@language", "must be a language tag like en-US")
		}
	}
	v.speech.Engine = p.enumAttr(a, path, "engine", "", "flite", "espeak-ng")
	v.loop = p.intAttr(a, path, "loop", 1, 0, math.MaxInt32, "must be a non-negative integer")
	v.terminators = p.dtmfAttr(a, path, "terminators", "")
	p.eachChild(e, path, func(child *xmlElement, cpath string) {
		p.fail(cpath, "SSML elements are not supported in <Say>")
	})
	text := strings.TrimSpace(e.text)
	if text == "" {
		p.fail(path, "text required")
	}
	if runes := []rune(text); len(runes) > maxSpeechChars { // Kazoo cuts Say text at tts_texts_size
		text = string(runes[:maxSpeechChars])
	}
	v.speech.Text = text
	return v
}

// sayVoice maps Twilio's voices onto the two our engines have; Polly.* and Google.* voices take the
// engine's default voice.
func sayVoice(p *twimlParser, a map[string]string, path string) string {
	voice, ok := a["voice"]
	if !ok {
		return "male" // Twilio's default is man
	}
	switch v := strings.TrimSpace(voice); {
	case v == "man" || v == "male":
		return "male"
	case v == "woman" || v == "female" || v == "alice":
		return "female"
	case strings.HasPrefix(v, "Polly.") && len(v) > len("Polly."), strings.HasPrefix(v, "Google.") && len(v) > len("Google."):
		return ""
	}
	p.fail(path+"@voice", "must be man, woman, male, female, alice, Polly.* or Google.*")
	return ""
}

func (v *sayVerb) run(ctx context.Context, c *Call, _ int) twimlOutcome {
	if !v.say(ctx, c, v.terminators) {
		return twimlStop
	}
	return twimlOutcome{}
}

// prompt is <Say> nested in <Gather>: any key stops it.
func (v *sayVerb) prompt(ctx context.Context, c *Call) bool { return v.say(ctx, c, anyKey) }

// say answers and speaks; a key among terminators stops it. false when the call ended.
func (v *sayVerb) say(ctx context.Context, c *Call, terminators string) bool {
	if c.answer(ctx) != nil {
		return false
	}
	prompt, err := c.speak(ctx, v.speech)
	if err != nil {
		if ctx.Err() != nil {
			return false
		}
		c.log.Warn("<Say> failed, skipping", "err", err)
		return true
	}
	return c.playPrompt(ctx, prompt, v.loop, terminators)
}
