package flow

import (
	"fmt"
	"strings"
)

// Every attribute a TwiML document writes either works, is refused, or is ignored with a warning:
//
//   - An attribute a verb's parser takes (the names it passes to twimlParser.attrs) works: it does
//     what Twilio documents (or, for pivotua's and Kazoo's extras, what README says).
//   - An attribute Twilio's reference defines that pivotua does not honour is refused: the document
//     is a schema error naming the verb and the attribute, and the call takes the pivot's failover,
//     as for any invalid document. Running it would behave differently from Twilio without a word.
//     Where Twilio's default value asks for what pivotua does anyway (sequential="false"), that value
//     is accepted.
//   - Any other attribute is not TwiML, and Twilio ignores it: so does pivotua, with a warning event in
//     the call's debug records (and a log line) naming it, so a misspelt attribute is found.
//
// README's "TwiML attributes" table lists them all; keep the two in step.

// refusedAttr is a Twilio attribute pivotua does not honour.
type refusedAttr struct {
	why string
	// accept is the value (Twilio's default) that asks for what pivotua does anyway; "" = none.
	accept string
}

// amdAttrs are Twilio's answering machine detection attributes of <Number> and <Sip>.
var amdAttrs = map[string]refusedAttr{
	"machineDetection":                   {why: "answering machine detection is not supported"},
	"machineDetectionTimeout":            {why: "answering machine detection is not supported"},
	"machineDetectionSpeechThreshold":    {why: "answering machine detection is not supported"},
	"machineDetectionSpeechEndThreshold": {why: "answering machine detection is not supported"},
	"machineDetectionSilenceTimeout":     {why: "answering machine detection is not supported"},
	"amdStatusCallback":                  {why: "answering machine detection is not supported"},
	"amdStatusCallbackMethod":            {why: "answering machine detection is not supported"},
}

// refusedTwiMLAttrs lists, by element, the attributes of Twilio's TwiML reference that pivotua does not
// honour. <Gather>'s speech attributes and <Conference>'s belong to their own work and are not here.
var refusedTwiMLAttrs = map[string]map[string]refusedAttr{
	"Record": {
		"storageUrl":       {why: "use recordingUrl (an upload that is retried until it is taken) or the served RecordingUrl"},
		"storageUrlMethod": {why: "use recordingUrl (an upload that is retried until it is taken) or the served RecordingUrl"},
	},
	"Dial": {
		"sequential":     {why: "every target rings at once", accept: "false"},
		"recordingTrack": {why: "the recording holds both parties", accept: "both"},
		"callReason":     {why: "there is no branded calling"},
		"events":         {why: "there are no Voice SDK call events"},
		"referUrl":       {why: "a callee's REFER is handled by sip.accept_refer, not by a document"},
		"referMethod":    {why: "a callee's REFER is handled by sip.accept_refer, not by a document"},
	},
	"Number": withAMD(map[string]refusedAttr{
		"byoc": {why: "numbers go through the trunks of the config (Dial's trunk attribute picks one)"},
	}),
	"Sip": withAMD(nil),
	"Stream": {
		"connectorName": {why: "there are no stream connectors: give the stream's url"},
	},
	"Start": {
		"action": {why: "the verbs after <Start> run at once; the stream's events go to its statusCallback"},
		"method": {why: "the verbs after <Start> run at once; the stream's events go to its statusCallback"},
	},
}

// ignoredTwiMLAttrs are attributes that are not Twilio's but that documents written for Kazoo use;
// they are ignored like any other attribute that is not Twilio's, with a warning that says why.
var ignoredTwiMLAttrs = map[string]map[string]string{
	"Dial": {
		"continueOnFail": "Kazoo's: numbers always go to a trunk",
		"hangupOn":       "Kazoo's: use hangupOnStar",
	},
}

func withAMD(m map[string]refusedAttr) map[string]refusedAttr {
	out := map[string]refusedAttr{}
	for k, v := range amdAttrs {
		out[k] = v
	}
	for k, v := range m {
		out[k] = v
	}
	return out
}

// otherAttr handles an attribute of e that its parser does not take: it refuses a Twilio attribute
// pivotua does not honour and warns about anything else.
func (p *twimlParser) otherAttr(e *xmlElement, path, name, value string) {
	if rule, ok := refusedTwiMLAttrs[e.name][name]; ok {
		if rule.accept != "" && strings.EqualFold(strings.TrimSpace(value), rule.accept) {
			return
		}
		msg := fmt.Sprintf("<%s %s> is not supported by pivotua: %s", e.name, name, rule.why)
		if rule.accept != "" {
			msg += fmt.Sprintf(" (%s=%q is accepted)", name, rule.accept)
		}
		p.fail(path+"@"+name, msg)
		return
	}
	why := "not a TwiML attribute"
	if note, ok := ignoredTwiMLAttrs[e.name][name]; ok {
		why = note
	}
	p.warn(path+"@"+name, fmt.Sprintf("<%s %s> is ignored: %s", e.name, name, why))
}

// twimlWarning is something of a document that is not done, reported as a warning event when it runs.
type twimlWarning struct {
	path, message string
}

func (p *twimlParser) warn(path, msg string) {
	p.warnings = append(p.warnings, twimlWarning{path: path, message: msg})
}

// reportWarnings reports each of doc's warnings as a warning event and a log line; on the call's
// goroutine, before the document runs.
func (c *Call) reportWarnings(doc *TwiML) {
	for _, w := range doc.warnings {
		c.log.Warn("TwiML: "+w.message, "path", w.path)
		verb, _, _ := strings.Cut(strings.TrimPrefix(w.message, "<"), " ")
		c.event(EventWarning, map[string]any{"verb": verb, "path": w.path, "message": w.message})
	}
}
