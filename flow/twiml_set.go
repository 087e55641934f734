package flow

import "context"

// setVerb is Kazoo's <Set>: its <Variable key value/> pairs go with every later pivot request.
type setVerb struct {
	variables []twimlVariable
}

type twimlVariable struct{ key, value string }

func parseSetVerb(p *twimlParser, e *xmlElement, path string) twimlVerb {
	p.attrs(e, path)
	p.noText(e, path)
	return &setVerb{variables: parseVariables(p, e, path)}
}

// parseVariables reads e's children, which must all be <Variable key="" value=""/>.
func parseVariables(p *twimlParser, e *xmlElement, path string) []twimlVariable {
	var vars []twimlVariable
	p.eachChild(e, path, func(child *xmlElement, cpath string) {
		if child.name != "Variable" {
			p.fail(cpath, "<"+child.name+"> is not allowed in <"+e.name+">")
			return
		}
		a := p.attrs(child, cpath, "key", "value")
		p.noChildren(child, cpath)
		p.noText(child, cpath)
		if a["key"] == "" {
			p.fail(cpath+"@key", "required")
			return
		}
		vars = append(vars, twimlVariable{key: a["key"], value: a["value"]})
	})
	return vars
}

func setVariables(c *Call, vars []twimlVariable) {
	for _, v := range vars {
		setIn(&c.vars.twiml, v.key, v.value)
	}
}

func (v *setVerb) run(_ context.Context, c *Call, _ int) twimlOutcome {
	setVariables(c, v.variables)
	return twimlOutcome{}
}
