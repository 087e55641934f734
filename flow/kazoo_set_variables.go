package flow

import "context"

// callVariables are the variables a call's documents set, sent with every later pivot request.
type callVariables struct {
	cavs  map[string]string // custom application vars (set_variables); nil until one is set
	twiml map[string]string // TwiML <Set> variables (twiml_set.go); nil until one is set
}

// setIn sets m[k] = v, making m for the call's first variable: most calls set none.
func setIn(m *map[string]string, k, v string) {
	if *m == nil {
		*m = map[string]string{}
	}
	(*m)[k] = v
}

// setVariablesAction sets custom application vars (module "set_variables"); they travel in every later
// pivot request as Custom-Application-Vars. A null value removes a variable.
type setVariablesAction struct {
	set   map[string]string
	unset []string
}

func parseSetVariables(d *dataReader) kazooAction {
	a := &setVariablesAction{}
	raw, ok := d.raw("custom_application_vars")
	if !ok {
		return a
	}
	vars, ok := jsonObject(raw)
	if !ok {
		d.fail("custom_application_vars", "must be an object")
		return a
	}
	for _, key := range sortedKeys(vars) {
		if isJSONNull(vars[key]) {
			a.unset = append(a.unset, key)
			continue
		}
		v, ok := jsonScalarString(vars[key])
		if !ok {
			d.fail("custom_application_vars."+key, "must be a string, number or boolean")
			continue
		}
		if a.set == nil {
			a.set = map[string]string{}
		}
		a.set[key] = v
	}
	return a
}

func (a *setVariablesAction) run(_ context.Context, c *Call, _ *Node) kazooOutcome {
	for k, v := range a.set {
		setIn(&c.vars.cavs, k, v)
	}
	for _, k := range a.unset {
		delete(c.vars.cavs, k)
	}
	return continueWith("_")
}
