package flow

import (
	"context"
	"fmt"
	"math"
	"regexp"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/pivotua/pivotua/codec"
)

// languageTag is the shape of a BCP 47 tag as TwiML uses it (en-US, es, pt-BR, cmn-Hans-CN).
var languageTag = regexp.MustCompile(`^[A-Za-z]{2,3}(-[A-Za-z0-9]{2,8})*$`)

// sayVerb is <Say>: speak text, loop times (0 = until the call ends).
type sayVerb struct {
	speech      codec.SpeechRequest // Text is the whole text, for events; parts are what is spoken
	parts       []sayPart           // more than one when SSML put pauses in the text
	loop        int
	terminators string   // Kazoo extra: keys that stop the speech (none by default, as in Twilio)
	warnings    []string // what of the document is not done as Twilio would (SSML read as text)
}

func parseSayVerb(p *twimlParser, e *xmlElement, path string) twimlVerb {
	a := p.attrs(e, path, "voice", "language", "loop", "engine", "terminators")
	v := &sayVerb{}
	var voiceLanguage string
	v.speech.Voice, voiceLanguage = sayVoice(p, a, path)
	v.speech.Language = "en-US"
	if voiceLanguage != "" {
		v.speech.Language = voiceLanguage
	}
	if lang, ok := a["language"]; ok {
		switch lang = strings.TrimSpace(lang); {
		case strings.EqualFold(lang, "en"): // Kazoo: en means en-US
			v.speech.Language = "en-US"
		case languageTag.MatchString(lang):
			v.speech.Language = lang
		default:
			p.fail(path+"@language", "must be a language tag like en-US")
		}
	}
	v.speech.Engine = p.enumAttr(a, path, "engine", "", "flite", "espeak-ng")
	v.loop = p.intAttr(a, path, "loop", 1, 0, math.MaxInt32, "must be a non-negative integer")
	v.terminators = p.dtmfAttr(a, path, "terminators", "")
	parts, ignored := readSay(p, e, path)
	for _, tag := range ignored {
		v.warnings = append(v.warnings, fmt.Sprintf("%s: SSML <%s> is read as plain text", path, tag))
	}
	// Kazoo cuts Say text at tts_texts_size: the parts share the budget.
	budget := maxSpeechChars
	var words []string
	for _, part := range parts {
		if runes := []rune(part.text); len(runes) > budget {
			part.text = string(runes[:budget])
		}
		budget -= utf8.RuneCountInString(part.text)
		if part.text != "" {
			words = append(words, part.text)
		}
		v.parts = append(v.parts, part)
	}
	v.speech.Text = strings.Join(words, " ")
	if v.speech.Text == "" {
		p.fail(path, "text required")
	}
	return v
}

// sayVoice maps Twilio's voices onto the two our engines have (male and female) and, for a Polly
// or Google voice, the language it speaks, used when <Say> names none. Polly voices take their
// gender from pollyVoices; a Google or unknown Polly voice takes the engine's default.
func sayVoice(p *twimlParser, a map[string]string, path string) (voice, language string) {
	v, ok := a["voice"]
	if !ok {
		return "male", "" // Twilio's default is man
	}
	switch v = strings.TrimSpace(v); {
	case v == "man" || v == "male":
		return "male", ""
	case v == "woman" || v == "female" || v == "alice":
		return "female", ""
	case strings.HasPrefix(v, "Polly.") && len(v) > len("Polly."):
		name, _, _ := strings.Cut(strings.TrimPrefix(v, "Polly."), "-") // Polly.Joanna-Neural
		pv := pollyVoices[strings.ToLower(name)]
		return pv.gender, pv.language
	case strings.HasPrefix(v, "Google.") && len(v) > len("Google."):
		// Google.en-US-Standard-C, Google.fr-FR-Wavenet-A: the language leads the name.
		fields := strings.SplitN(strings.TrimPrefix(v, "Google."), "-", 3)
		if len(fields) >= 2 && languageTag.MatchString(fields[0]+"-"+fields[1]) {
			return "", fields[0] + "-" + fields[1]
		}
		return "", ""
	}
	p.fail(path+"@voice", "must be man, woman, male, female, alice, Polly.* or Google.*")
	return "", ""
}

// pollyVoices are Amazon Polly's voices that Twilio offers, by lower-case name: each one's gender
// and language, so a document written for Polly is spoken by a local voice of the same kind.
var pollyVoices = map[string]struct{ gender, language string }{
	"joanna": {"female", "en-US"}, "ivy": {"female", "en-US"}, "kendra": {"female", "en-US"},
	"kimberly": {"female", "en-US"}, "salli": {"female", "en-US"}, "ruth": {"female", "en-US"},
	"danielle": {"female", "en-US"}, "joey": {"male", "en-US"}, "justin": {"male", "en-US"},
	"kevin": {"male", "en-US"}, "matthew": {"male", "en-US"}, "stephen": {"male", "en-US"},
	"gregory": {"male", "en-US"},
	"amy":     {"female", "en-GB"}, "emma": {"female", "en-GB"}, "brian": {"male", "en-GB"},
	"arthur": {"male", "en-GB"},
	"nicole": {"female", "en-AU"}, "olivia": {"female", "en-AU"}, "russell": {"male", "en-AU"},
	"raveena": {"female", "en-IN"}, "aditi": {"female", "en-IN"}, "kajal": {"female", "en-IN"},
	"geraint": {"male", "en-GB-WLS"}, "aria": {"female", "en-NZ"}, "ayanda": {"female", "en-ZA"},
	"lupe": {"female", "es-US"}, "penelope": {"female", "es-US"}, "miguel": {"male", "es-US"},
	"pedro":    {"male", "es-US"},
	"conchita": {"female", "es-ES"}, "lucia": {"female", "es-ES"}, "enrique": {"male", "es-ES"},
	"sergio": {"male", "es-ES"}, "mia": {"female", "es-MX"}, "andres": {"male", "es-MX"},
	"celine": {"female", "fr-FR"}, "céline": {"female", "fr-FR"}, "lea": {"female", "fr-FR"},
	"léa": {"female", "fr-FR"}, "mathieu": {"male", "fr-FR"}, "remi": {"male", "fr-FR"},
	"rémi": {"male", "fr-FR"}, "chantal": {"female", "fr-CA"}, "gabrielle": {"female", "fr-CA"},
	"liam":    {"male", "fr-CA"},
	"marlene": {"female", "de-DE"}, "vicki": {"female", "de-DE"}, "hans": {"male", "de-DE"},
	"daniel": {"male", "de-DE"},
	"carla":  {"female", "it-IT"}, "bianca": {"female", "it-IT"}, "giorgio": {"male", "it-IT"},
	"adriano": {"male", "it-IT"},
	"vitoria": {"female", "pt-BR"}, "vitória": {"female", "pt-BR"}, "camila": {"female", "pt-BR"},
	"ricardo": {"male", "pt-BR"}, "thiago": {"male", "pt-BR"}, "ines": {"female", "pt-PT"},
	"inês": {"female", "pt-PT"}, "cristiano": {"male", "pt-PT"},
	"lotte": {"female", "nl-NL"}, "laura": {"female", "nl-NL"}, "ruben": {"male", "nl-NL"},
	"mizuki": {"female", "ja-JP"}, "takumi": {"male", "ja-JP"}, "seoyeon": {"female", "ko-KR"},
	"zhiyu": {"female", "cmn-CN"}, "tatyana": {"female", "ru-RU"}, "maxim": {"male", "ru-RU"},
	"ewa": {"female", "pl-PL"}, "maja": {"female", "pl-PL"}, "jacek": {"male", "pl-PL"},
	"jan": {"male", "pl-PL"}, "astrid": {"female", "sv-SE"}, "elin": {"female", "sv-SE"},
	"liv": {"female", "nb-NO"}, "naja": {"female", "da-DK"}, "mads": {"male", "da-DK"},
	"filiz": {"female", "tr-TR"}, "carmen": {"female", "ro-RO"}, "dora": {"female", "is-IS"},
	"karl": {"male", "is-IS"}, "gwyneth": {"female", "cy-GB"}, "zeina": {"female", "arb"},
	"hala": {"female", "ar-AE"},
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
	for _, w := range v.warnings {
		c.log.Debug("<Say>: " + w)
		c.event(EventWarning, map[string]any{"verb": "Say", "message": w})
	}
	prompt, err := v.render(ctx, c)
	if err != nil {
		if ctx.Err() != nil {
			return false
		}
		c.log.Warn("<Say> failed, skipping", "err", err)
		return true
	}
	return c.playPrompt(ctx, prompt, v.loop, terminators)
}

// render speaks the parts: one rendering when there is no pause in the text, else each part's
// speech and silence joined into one prompt, so terminators and loop act on the whole <Say>.
func (v *sayVerb) render(ctx context.Context, c *Call) (*codec.Prompt, error) {
	if len(v.parts) == 1 && v.parts[0].pause == 0 {
		return c.speak(ctx, v.speech)
	}
	var pcm []int16
	for _, part := range v.parts {
		if part.text != "" {
			r := v.speech
			r.Text = part.text
			p, err := c.speak(ctx, r)
			if err != nil {
				return nil, err
			}
			pcm = append(pcm, p.PCM()...)
		}
		pcm = append(pcm, make([]int16, int(part.pause*codec.SampleRate/time.Second))...)
	}
	return codec.NewPrompt(pcm), nil
}
