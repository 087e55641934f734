package flow

import (
	"context"
	"strings"
)

// redirectVerb is <Redirect>: fetch the next document (iteration + 1). Kazoo lets it carry <Variable>
// children, set like <Set> before the request.
type redirectVerb struct {
	url       string // absolute, or relative to the document
	method    string
	variables []twimlVariable
}

func parseRedirectVerb(p *twimlParser, e *xmlElement, path string) twimlVerb {
	a := p.attrs(e, path, "method")
	v := &redirectVerb{method: p.methodAttr(a, path)}
	v.variables = parseVariables(p, e, path)
	if msg := checkTwiMLURL(e.text); msg != "" {
		p.fail(path, msg)
	}
	v.url = strings.TrimSpace(e.text)
	return v
}

func (v *redirectVerb) run(_ context.Context, c *Call, _ int) twimlOutcome {
	setVariables(c, v.variables)
	target, err := c.resolveURL(v.url)
	if err != nil {
		c.log.Warn("<Redirect> URL unusable, ending the document", "url", v.url, "err", err)
		return twimlStop
	}
	return twimlOutcome{redirect: target, method: v.method}
}
