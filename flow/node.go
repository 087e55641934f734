package flow

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"unicode/utf8"
)

const (
	// maxDocumentBytes bounds a Kazoo JSON or TwiML document (httpfetch caps the body too).
	maxDocumentBytes = 1 << 20
	// maxNodeDepth bounds how deeply callflow children may nest.
	maxNodeDepth = 32
	// maxModuleNameLen is Kazoo's callflows.action limit on "module".
	maxModuleNameLen = 64
)

// Node is one Kazoo callflow action: a module, its data, and the children it may continue with ("_" is
// the default branch). A pivot returns a bare Node, not wrapped in "flow".
type Node struct {
	Module   string           `json:"module"`
	Data     json.RawMessage  `json:"data,omitempty"`
	Children map[string]*Node `json:"children,omitempty"`

	// action is the node compiled, by compileFlow: set before anything else can see the node (a
	// route's flow in NewRouter, a pivot's document in its call's goroutine) and only read after, so
	// a route's calls share one (actions are read only once parsed) and a document's nodes are not
	// parsed again to run. nil: Call.compile compiles the node as it runs.
	action kazooAction
}

// ParseNode parses a Kazoo JSON callflow node. path names the node in errors ("" for a pivot response,
// "callflows[2].flow" for a config file). A document that is not JSON gives an error wrapping
// ErrInvalidJSON; a node whose module, data or children have the wrong JSON type gives *ValidationError
// values joined with errors.Join. ParseNode does not check module data: call ValidateNode for that.
func ParseNode(b []byte, path string) (*Node, error) {
	if len(bytes.TrimSpace(b)) == 0 {
		return nil, ErrEmptyDocument
	}
	if len(b) > maxDocumentBytes {
		return nil, fmt.Errorf("%w: document is over %d bytes", ErrInvalidJSON, maxDocumentBytes)
	}
	// Checked whole once; buildNode then decodes each node's object, each value a slice of b.
	if !json.Valid(b) {
		var top json.RawMessage
		err := json.Unmarshal(b, &top) // says what is wrong, and where
		return nil, fmt.Errorf("%w: %v%s", ErrInvalidJSON, err, jsonErrorPosition(b, err))
	}
	var errs []error
	n := buildNode(b, path, 0, &errs)
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return n, nil
}

func buildNode(raw json.RawMessage, path string, depth int, errs *[]error) *Node {
	obj, ok := jsonMembers(raw)
	if !ok {
		addError(errs, path, "must be an object")
		return nil
	}
	n := &Node{}
	if m, ok := lookup(obj, "module"); ok && !isJSONNull(m) {
		if s, ok := jsonString(m); ok {
			n.Module = s
		} else {
			addError(errs, joinPath(path, "module"), "must be a string")
		}
	}
	if d, ok := lookup(obj, "data"); ok && !isJSONNull(d) {
		if isJSONObject(d) {
			n.Data = bytes.Clone(d) // its own: the node does not keep the whole document alive
		} else {
			addError(errs, joinPath(path, "data"), "must be an object")
		}
	}
	c, ok := lookup(obj, "children")
	if !ok || isJSONNull(c) {
		return n
	}
	children, ok := jsonObject(c)
	switch {
	case !ok:
		addError(errs, joinPath(path, "children"), "must be an object")
	case depth >= maxNodeDepth && len(children) > 0:
		addError(errs, joinPath(path, "children"), fmt.Sprintf("nested deeper than %d levels", maxNodeDepth))
	default:
		for _, key := range sortedKeys(children) {
			child := buildNode(children[key], joinPath(path, "children."+key), depth+1, errs)
			if child == nil {
				continue
			}
			if n.Children == nil {
				n.Children = make(map[string]*Node, len(children))
			}
			n.Children[key] = child
		}
	}
	return n
}

// ValidateNode checks a node and all its children before anything runs: module names, each module's
// data schema, nesting. Every problem is a *ValidationError carrying its path below path.
func ValidateNode(n *Node, path string) []error {
	var errs []error
	validateNode(n, path, 0, &errs, false)
	return errs
}

// compileFlow is ValidateNode keeping each valid node's action in it for Call.compile. It writes to
// the nodes: only for a flow no other goroutine can see yet.
func compileFlow(n *Node, path string) []error {
	var errs []error
	validateNode(n, path, 0, &errs, true)
	return errs
}

// validateNode checks n and its children; keep stores each valid node's action in it.
func validateNode(n *Node, path string, depth int, errs *[]error, keep bool) {
	if n == nil {
		addError(errs, path, "must be an object")
		return
	}
	if depth > maxNodeDepth {
		addError(errs, path, fmt.Sprintf("nested deeper than %d levels", maxNodeDepth))
		return
	}
	action, derrs := compileNode(n, path)
	if len(derrs) > 0 {
		*errs = append(*errs, derrs...)
	} else if keep {
		n.action = action
	}
	for _, key := range sortedKeys(n.Children) {
		validateNode(n.Children[key], joinPath(path, "children."+key), depth+1, errs, keep)
	}
}

// UnknownDataFields reports, for n and every node below it, the data fields its module never reads.
// Kazoo ignores them, and so does a pivot response; in a config file they are typos
// (req_fromat: twiml sends Kazoo's names, silently), so check-config and serve refuse them. Nodes
// whose module is unknown are left to ValidateNode.
func UnknownDataFields(n *Node, path string) []error {
	var errs []error
	walkNodes(n, path, 0, func(n *Node, path string) {
		parse, known := kazooModule(n.Module)
		if !known || parse == nil {
			return
		}
		d := newDataReader(n.Data, joinPath(path, "data"))
		d.asked = map[string]bool{}
		d.boolean("skip_module", false)
		parse(d)
		var unknown []string
		for _, m := range d.fields {
			if !d.asked[m.key] {
				unknown = append(unknown, m.key)
			}
		}
		slices.Sort(unknown)
		unknown = slices.Compact(unknown) // a key repeated is one mistake
		read := slices.Sorted(maps.Keys(d.asked))
		for _, field := range unknown {
			addError(&errs, joinPath(d.path, field), fmt.Sprintf("unknown field of module %q; it reads %s", n.Module, strings.Join(read, ", ")))
		}
	})
	return errs
}

// walkNodes visits n and its children, depth first in key order.
func walkNodes(n *Node, path string, depth int, visit func(*Node, string)) {
	if n == nil || depth > maxNodeDepth {
		return
	}
	visit(n, path)
	for _, key := range sortedKeys(n.Children) {
		walkNodes(n.Children[key], joinPath(path, "children."+key), depth+1, visit)
	}
}

// compiled is n's action: the one compileFlow kept, else n compiled now.
func (n *Node) compiled() (kazooAction, []error) {
	if n.action != nil {
		return n.action, nil
	}
	return compileNode(n, "")
}

// compileNode checks a node's module and data (not its children) and returns the action that runs it.
func compileNode(n *Node, path string) (kazooAction, []error) {
	modulePath := joinPath(path, "module")
	switch {
	case n.Module == "":
		return nil, []error{&ValidationError{Path: modulePath, Message: "required"}}
	case len(n.Module) > maxModuleNameLen || !utf8.ValidString(n.Module):
		return nil, []error{&ValidationError{Path: modulePath, Message: fmt.Sprintf("must be at most %d characters", maxModuleNameLen)}}
	}
	parse, known := kazooModule(n.Module)
	switch {
	case !known:
		return nil, []error{&ValidationError{Path: modulePath, Message: fmt.Sprintf("unknown module %q", n.Module)}}
	case parse == nil:
		return nil, []error{&ValidationError{Path: modulePath, Message: fmt.Sprintf("module %q is not supported yet", n.Module)}}
	}
	d := newDataReader(n.Data, joinPath(path, "data"))
	skip := d.boolean("skip_module", false)
	action := parse(d)
	if len(d.errs) > 0 {
		return nil, d.errs
	}
	if skip {
		return skipAction{}, nil
	}
	return action, nil
}

// isJSONObject reports whether raw, a value of a document already checked to be JSON (ParseNode),
// is an object: its first byte says so, without decoding it once more.
func isJSONObject(raw json.RawMessage) bool {
	t := bytes.TrimSpace(raw)
	return len(t) > 0 && t[0] == '{'
}

func addError(errs *[]error, path, msg string) {
	*errs = append(*errs, &ValidationError{Path: path, Message: msg})
}

func joinPath(path, elem string) string {
	if path == "" {
		return elem
	}
	return path + "." + elem
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// jsonErrorPosition says where in b a syntax error is, as " (line L, column C)", so the developer
// can find it in the document; "" when err carries no offset.
func jsonErrorPosition(b []byte, err error) string {
	var syntax *json.SyntaxError
	if !errors.As(err, &syntax) {
		return ""
	}
	offset := min(max(syntax.Offset, 0), int64(len(b)))
	before := b[:offset]
	line := bytes.Count(before, []byte("\n")) + 1
	column := utf8.RuneCount(before[bytes.LastIndexByte(before, '\n')+1:])
	return fmt.Sprintf(" (line %d, column %d)", line, max(column, 1))
}
