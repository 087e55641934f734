package flow

import "context"

// kazooAction is one validated callflow node ready to run.
type kazooAction interface {
	run(ctx context.Context, c *Call, n *Node) kazooOutcome
}

// kazooOutcome says where the flow goes after a node.
type kazooOutcome struct {
	child string // key of the child to continue with; a missing key falls back to "_"
	next  *Node  // when set, replaces the running flow (a pivot's returned document)
	stop  bool   // the call is over: hung up, rejected or ended by the far end
}

func continueWith(child string) kazooOutcome { return kazooOutcome{child: child} }
func replaceFlow(n *Node) kazooOutcome       { return kazooOutcome{next: n} }
func stopFlow() kazooOutcome                 { return kazooOutcome{stop: true} }

// kazooModule returns the data parser of a module. known is false for a name that is no module; parse is
// nil for a module that later work adds.
func kazooModule(name string) (parse func(*dataReader) kazooAction, known bool) {
	switch name {
	case "tts", "say": // "say" appears in Kazoo's pivot docs; we accept it as tts
		return parseTTS, true
	case "play":
		return parsePlay, true
	case "sleep":
		return parseSleep, true
	case "hangup":
		return parseHangup, true
	case "response":
		return parseResponse, true
	case "set_variables":
		return parseSetVariables, true
	case "pivot":
		return parsePivot, true
	case "collect_dtmf":
		return parseCollectDTMF, true
	case "record_caller":
		return parseRecordCaller, true
	case "record_call":
		return parseRecordCall, true
	case "send_dtmf":
		return parseSendDTMF, true
	case "resources":
		return parseResources, true
	case "sip_uri":
		return parseSIPURI, true
	case "stream": // pivotua's own: media streams (kazoo_stream.go)
		return parseStream, true
	case "conference":
		return parseConference, true
	}
	return nil, false
}

// skipAction runs a node whose data says skip_module: true (a Kazoo generic): straight on to "_".
type skipAction struct{}

func (skipAction) run(context.Context, *Call, *Node) kazooOutcome { return continueWith("_") }

// nextNode picks the child to continue with: the named one, else "_", else nil (the call hangs up).
func nextNode(n *Node, key string) *Node {
	if child := n.Children[key]; child != nil {
		return child
	}
	return n.Children["_"]
}
