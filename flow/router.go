package flow

import "regexp"

// Route is one configured callflow: the numbers and patterns it answers and the flow it runs.
type Route struct {
	AccountID string
	Numbers   []string         // exact matches on the user part
	Patterns  []*regexp.Regexp // tried in order after every route's numbers
	Flow      *Node

	checked bool // Flow is valid (ValidateNode, once in NewRouter): its calls need not validate it again
}

// Router maps a dialled user to a callflow. It is immutable and safe for concurrent use.
type Router struct {
	routes   []Route
	byNumber map[string]int // index into routes; the first route listing a number wins
}

// NewRouter indexes routes in order (config file order decides ties).
func NewRouter(routes []Route) *Router {
	r := &Router{routes: append([]Route(nil), routes...), byNumber: map[string]int{}}
	for i, rt := range r.routes {
		// The config validated every flow as it was read; a flow that fails here is still run, and
		// each of its calls ends with the errors logged (Call.run). Compiled here, before any call
		// can see it, its nodes are not parsed again for each call.
		r.routes[i].checked = rt.Flow != nil && len(compileFlow(rt.Flow, "flow")) == 0
		for _, num := range rt.Numbers {
			if _, taken := r.byNumber[num]; !taken {
				r.byNumber[num] = i
			}
		}
	}
	return r
}

// Match finds the callflow for a call: the Request-URI user against every route's numbers, then the
// patterns in order. Only a Request-URI without a user part (INVITE sip:host, as some devices send)
// is routed by the To user instead. false means no callflow (the caller answers 404).
func (r *Router) Match(requestUser, toUser string) (*Route, bool) {
	user := requestUser
	if user == "" {
		user = toUser
	}
	if user == "" {
		return nil, false
	}
	if i, ok := r.byNumber[user]; ok {
		return &r.routes[i], true
	}
	for i := range r.routes {
		for _, p := range r.routes[i].Patterns {
			if p.MatchString(user) {
				return &r.routes[i], true
			}
		}
	}
	return nil, false
}
