package flow

import (
	"bytes"
	"context"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net/url"
	"strconv"
	"strings"
	"unicode/utf8"
)

const (
	maxTwiMLDepth    = 8    // Response/Gather/Say is 3 deep; anything near the limit is hostile
	maxTwiMLElements = 2000 // elements in one document
)

// TwiML is a parsed and validated <Response> document, ready to run.
type TwiML struct {
	verbs     []twimlVerb
	summaries []map[string]any // of each verb, for its EventVerb
	warnings  []twimlWarning   // attributes ignored (twiml_attrs.go), reported when it runs
	source    string           // the document as parsed, for an update forwarded to another node (calls_cluster.go)
}

// twimlVerb is one validated verb. index is its position in the document (Pause behaves differently
// as the first verb).
type twimlVerb interface {
	run(ctx context.Context, c *Call, index int) twimlOutcome
}

// twimlOutcome says what happens after a verb: the next verb (zero value), a new document, or the end.
type twimlOutcome struct {
	redirect string // absolute URL of the next document
	method   string // GET or POST for redirect
	stop     bool   // the call is over, or the document asked to end it
	// final: the caller hung up, yet redirect is still requested (Twilio's <Record> action after a
	// hangup); the document that comes back is not run.
	final bool
}

var twimlStop = twimlOutcome{stop: true}

// runTwiML runs a document's verbs in order. Running off the end stops (Run then hangs up).
func (c *Call) runTwiML(ctx context.Context, doc *TwiML) twimlOutcome {
	c.reportWarnings(doc)
	for i, v := range doc.verbs {
		if ctx.Err() != nil || c.ended() {
			return twimlStop
		}
		c.event(EventVerb, doc.summaries[i])
		out := v.run(ctx, c, i)
		// Twilio hears keys only while a <Gather> (or <Record>) listens: others are not kept for later
		// verbs or sent as Digits.
		c.takeTypeAhead()
		if out.stop || out.redirect != "" {
			return out
		}
	}
	return twimlStop
}

// ParseTwiML parses and validates a whole TwiML document. A document that is not well-formed XML, or
// whose root is not <Response>, gives an error wrapping ErrInvalidXML; verbs, nesting and attributes
// that are wrong give *ValidationError values (path like "Response/Say[2]@loop") joined with
// errors.Join.
func ParseTwiML(b []byte) (*TwiML, error) {
	if len(bytes.TrimSpace(b)) == 0 {
		return nil, ErrEmptyDocument
	}
	if len(b) > maxDocumentBytes {
		return nil, fmt.Errorf("%w: document is over %d bytes", ErrInvalidXML, maxDocumentBytes)
	}
	root, err := parseXMLTree(b)
	if err != nil {
		return nil, err
	}
	if root.name != "Response" {
		return nil, fmt.Errorf("%w: root element is <%s>, not <Response>", ErrInvalidXML, root.name)
	}
	p := &twimlParser{}
	p.attrs(root, "Response")
	p.noText(root, "Response")
	doc := &TwiML{source: string(b)}
	p.eachChild(root, "Response", func(e *xmlElement, path string) {
		if v := p.verb(e, path); v != nil {
			doc.verbs = append(doc.verbs, v)
			doc.summaries = append(doc.summaries, verbSummary(e))
		}
	})
	if len(p.errs) > 0 {
		return nil, errors.Join(p.errs...)
	}
	doc.warnings = p.warnings
	return doc, nil
}

// verb parses one top-level verb; nil when it cannot run (its errors are recorded).
func (p *twimlParser) verb(e *xmlElement, path string) twimlVerb {
	switch e.name {
	case "Say":
		return parseSayVerb(p, e, path)
	case "Play":
		return parsePlayVerb(p, e, path)
	case "Pause":
		return parsePauseVerb(p, e, path)
	case "Hangup":
		return parseHangupVerb(p, e, path)
	case "Reject":
		return parseRejectVerb(p, e, path)
	case "Redirect":
		return parseRedirectVerb(p, e, path)
	case "Set":
		return parseSetVerb(p, e, path)
	case "Gather":
		return parseGatherVerb(p, e, path)
	case "Record":
		return parseRecordVerb(p, e, path)
	case "Dial":
		return parseDialVerb(p, e, path)
	case "Refer":
		return parseReferVerb(p, e, path)
	case "Connect":
		return parseConnectVerb(p, e, path)
	case "Start":
		return parseStartVerb(p, e, path)
	case "Stop":
		return parseStopVerb(p, e, path)
	default:
		p.fail(path, fmt.Sprintf("unknown verb <%s>", e.name))
		return nil
	}
}

// looksLikeTwiML reports whether body's first element is <Response>.
func looksLikeTwiML(body []byte) bool {
	d := xml.NewDecoder(bytes.NewReader(body))
	for range 32 {
		tok, err := d.Token()
		if err != nil {
			return false
		}
		switch t := tok.(type) {
		case xml.StartElement:
			return t.Name.Local == "Response"
		case xml.CharData:
			if len(bytes.TrimSpace(t)) > 0 {
				return false
			}
		}
	}
	return false
}

// xmlElement is one element of a parsed document: its own text (outside child elements) and children.
type xmlElement struct {
	name     string
	attrs    []xml.Attr
	text     string // every piece of character data directly inside, joined
	children []*xmlElement
	// at is how much of the parent's text came before this element: mixed content (SSML inside
	// <Say>) is read back in document order from it.
	at int
}

// parseXMLTree reads a whole document with the strict decoder, bounding depth and element count. Only
// UTF-8 is accepted; DOCTYPE declarations are refused.
func parseXMLTree(b []byte) (*xmlElement, error) {
	d := xml.NewDecoder(bytes.NewReader(b))
	var (
		root     *xmlElement
		stack    []*xmlElement
		elements int
	)
	invalid := func(format string, args ...any) error {
		return fmt.Errorf("%w: %s (line %d)", ErrInvalidXML, fmt.Sprintf(format, args...), lineOf(b, d.InputOffset()))
	}
	for {
		tok, err := d.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("%w: %v", ErrInvalidXML, err)
		}
		switch t := tok.(type) {
		case xml.StartElement:
			if elements++; elements > maxTwiMLElements {
				return nil, invalid("more than %d elements", maxTwiMLElements)
			}
			if len(stack) >= maxTwiMLDepth {
				return nil, invalid("elements nested deeper than %d", maxTwiMLDepth)
			}
			e := &xmlElement{name: t.Name.Local, attrs: t.Attr}
			switch {
			case len(stack) > 0:
				parent := stack[len(stack)-1]
				e.at = len(parent.text)
				parent.children = append(parent.children, e)
			case root != nil:
				return nil, invalid("content after the root element")
			default:
				root = e
			}
			stack = append(stack, e)
		case xml.EndElement:
			stack = stack[:len(stack)-1]
		case xml.CharData:
			if len(stack) > 0 {
				stack[len(stack)-1].text += string(t)
			} else if len(bytes.TrimSpace(t)) > 0 {
				return nil, invalid("text outside the root element")
			}
		case xml.Directive:
			return nil, invalid("declarations (<!...>) are not allowed")
		}
	}
	if root == nil {
		return nil, fmt.Errorf("%w: no root element", ErrInvalidXML)
	}
	return root, nil
}

func lineOf(b []byte, offset int64) int {
	offset = min(max(offset, 0), int64(len(b)))
	return bytes.Count(b[:offset], []byte("\n")) + 1
}

// twimlParser collects every validation problem of a document, and what of it is ignored.
type twimlParser struct {
	errs     []error
	warnings []twimlWarning
}

func (p *twimlParser) fail(path, msg string) {
	p.errs = append(p.errs, &ValidationError{Path: path, Message: msg})
}

// eachChild visits e's child elements with their paths ("Response/Say[2]": 1-based among siblings of
// the same name, as in XPath).
func (p *twimlParser) eachChild(e *xmlElement, path string, visit func(child *xmlElement, path string)) {
	seen := map[string]int{}
	for _, child := range e.children {
		seen[child.name]++
		visit(child, fmt.Sprintf("%s/%s[%d]", path, child.name, seen[child.name]))
	}
}

// attrs returns e's attributes among known (those its parser honours) by name. Any other is refused
// when Twilio defines it and pivotua does not honour it, else ignored with a warning (twiml_attrs.go).
// Namespace declarations and namespaced attributes (xml:lang) are ignored.
func (p *twimlParser) attrs(e *xmlElement, path string, known ...string) map[string]string {
	out := map[string]string{}
	for _, a := range e.attrs {
		if a.Name.Space != "" || a.Name.Local == "xmlns" {
			continue
		}
		name := a.Name.Local
		switch {
		case !contains(known, name):
			p.otherAttr(e, path, name, a.Value)
		default:
			out[name] = a.Value
		}
	}
	return out
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// intAttr reads an integer attribute within [lo, hi]; msg describes the rule when it is not.
func (p *twimlParser) intAttr(attrs map[string]string, path, name string, def, lo, hi int, msg string) int {
	s, ok := attrs[name]
	if !ok {
		return def
	}
	n, err := strconv.Atoi(strings.TrimSpace(s))
	if err != nil || n < lo || n > hi {
		p.fail(path+"@"+name, msg)
		return def
	}
	return n
}

// enumAttr reads an attribute that must be one of allowed (case-insensitively) and returns the allowed
// spelling.
func (p *twimlParser) enumAttr(attrs map[string]string, path, name, def string, allowed ...string) string {
	s, ok := attrs[name]
	if !ok {
		return def
	}
	for _, a := range allowed {
		if strings.EqualFold(strings.TrimSpace(s), a) {
			return a
		}
	}
	p.fail(path+"@"+name, "must be one of "+strings.Join(allowed, ", "))
	return def
}

func (p *twimlParser) boolAttr(attrs map[string]string, path, name string, def bool) bool {
	switch v := p.enumAttr(attrs, path, name, "", "true", "false"); v {
	case "true":
		return true
	case "false":
		return false
	}
	return def
}

// dtmfAttr reads a string of DTMF keys.
func (p *twimlParser) dtmfAttr(attrs map[string]string, path, name, def string) string {
	s, ok := attrs[name]
	if !ok {
		return def
	}
	for i := 0; i < len(s); i++ {
		if !isDTMFKey(s[i]) {
			p.fail(path+"@"+name, "must be DTMF keys (0-9, *, #)")
			return def
		}
	}
	return s
}

// urlAttr reads an attribute holding a URL, absolute (http/https) or relative to the document.
func (p *twimlParser) urlAttr(attrs map[string]string, path, name string) string {
	s, ok := attrs[name]
	if !ok {
		return ""
	}
	if msg := checkTwiMLURL(s); msg != "" {
		p.fail(path+"@"+name, msg)
		return ""
	}
	return strings.TrimSpace(s)
}

func (p *twimlParser) methodAttr(attrs map[string]string, path string) string {
	return p.enumAttr(attrs, path, "method", "POST", "GET", "POST")
}

// noText records an error when e has text other than whitespace.
func (p *twimlParser) noText(e *xmlElement, path string) {
	if strings.TrimSpace(e.text) != "" {
		p.fail(path, fmt.Sprintf("<%s> must not contain text", e.name))
	}
}

// noChildren records an error for every child element of e.
func (p *twimlParser) noChildren(e *xmlElement, path string) {
	p.eachChild(e, path, func(child *xmlElement, cpath string) {
		p.fail(cpath, fmt.Sprintf("<%s> is not allowed in <%s>", child.name, e.name))
	})
}

// checkTwiMLURL returns why s is not a usable document or media URL, or "".
func checkTwiMLURL(s string) string {
	s = strings.TrimSpace(s)
	if s == "" {
		return "URL required"
	}
	if !utf8.ValidString(s) {
		return "must be a URL"
	}
	u, err := url.Parse(s)
	if err != nil {
		return "must be a URL"
	}
	if u.Scheme != "" && !isHTTPURL(s) {
		return "must be an http or https URL"
	}
	return ""
}

// resolveURL resolves a URL from the running document per RFC 3986 §5.2 against the document's URL.
func (c *Call) resolveURL(ref string) (string, error) {
	base, err := url.Parse(c.pivot.documentURL)
	if err != nil {
		return "", err
	}
	r, err := url.Parse(strings.TrimSpace(ref))
	if err != nil {
		return "", err
	}
	abs := base.ResolveReference(r).String()
	if !isHTTPURL(abs) {
		return "", fmt.Errorf("%q is not an http or https URL", abs)
	}
	return abs, nil
}
