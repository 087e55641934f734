package flow

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/pivotua/pivotua/media"
)

// This file is the registry of the call queues of this node: TwiML's <Enqueue> (twiml_enqueue.go) puts
// a caller at the back of the account's queue of that name, <Dial><Queue> (twiml_queue.go) takes the
// caller at its front, and the exported methods are Twilio's Queues and Members resources. A queue is
// a FIFO of waiting calls guarded by the registry's mutex, taken only by call goroutines and API
// requests, never on a media clock. Whoever takes a member out (an agent, the API) tells its call how
// it left through the member's one-slot channel, under the same mutex, so a member leaves exactly once.

// Queue limits.
const (
	// DefaultQueueMaxSize is the MaxSize of a queue <Enqueue> creates, as Twilio's.
	DefaultQueueMaxSize = 100
	// MaxQueueSize bounds a queue's MaxSize (the Queues API cannot raise it beyond).
	MaxQueueSize = 1000
	// maxQueuesPerAccount bounds the queues one account may have on the node: a hostile document that
	// names a new queue on every call cannot grow the registry without end.
	maxQueuesPerAccount = 1000
	// maxQueueName is Twilio's limit of a queue's name.
	maxQueueName = 64
)

// Queues is the registry of a node's call queues, by account and name. It is safe for concurrent use.
type Queues struct {
	mu     sync.Mutex
	queues map[queueKey]*queue
}

type queueKey struct{ account, name string }

// NewQueues is an empty registry.
func NewQueues() *Queues { return &Queues{queues: map[queueKey]*queue{}} }

// queue is one named queue; its fields below are guarded by Queues.mu.
type queue struct {
	sid, account, name string
	created            time.Time
	maxSize            int
	members            []*queueMember // the front first
	arrived            chan struct{}  // closed (and replaced) when a member joins: wakes waiting agents
}

// queueMember is one waiting call.
type queueMember struct {
	callSid  string
	sess     *media.Session
	leg      BridgeLeg
	enqueued time.Time
	gone     <-chan struct{} // closed when its call ends
	// out receives how the member was taken out by someone else (an agent, the API); sent once, under
	// Queues.mu, by whoever removed it from members.
	out chan queueExit
}

// queueExit is how a member was taken out of its queue by someone else: by an agent (claim), or by
// the Members API onto a new document (url, method).
type queueExit struct {
	claim       *queueClaim
	url, method string
}

// queueClaim is an agent's dequeue of a member. The member's call plays the claim's url document
// (whisper) to its caller, then says on ready whether it is still there; the agent bridges and closes
// done when the bridge ended.
type queueClaim struct {
	agentSid      string
	whisper       string
	whisperMethod string
	ready         chan bool // buffered 1: written by the member's call
	done          chan struct{}
	bridged       bool // written by the agent before it closes done, read by the member after

}

func newQueueSid() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return "QU" + hex.EncodeToString(b[:])
}

// enqueue puts m at the back of the account's queue name, creating the queue on first use with
// DefaultQueueMaxSize. A full queue gives ErrQueueFull (with the queue, for its sid).
func (qs *Queues) enqueue(account, name string, m *queueMember) (*queue, error) {
	qs.mu.Lock()
	defer qs.mu.Unlock()
	q := qs.queues[queueKey{account, name}]
	if q == nil {
		n := 0
		for k := range qs.queues {
			if k.account == account {
				n++
			}
		}
		if n >= maxQueuesPerAccount {
			return nil, fmt.Errorf("%w: the account has %d queues", ErrQueueLimit, n)
		}
		q = &queue{sid: newQueueSid(), account: account, name: name, created: time.Now(), maxSize: DefaultQueueMaxSize, arrived: make(chan struct{})}
		qs.queues[queueKey{account, name}] = q
	}
	if len(q.members) >= q.maxSize {
		return q, fmt.Errorf("%w: %d members", ErrQueueFull, q.maxSize)
	}
	q.members = append(q.members, m)
	close(q.arrived)
	q.arrived = make(chan struct{})
	return q, nil
}

// remove takes m out of q by itself (<Leave>, a hangup); false when someone else took it out first
// (its out channel then says how).
func (qs *Queues) remove(q *queue, m *queueMember) bool {
	qs.mu.Lock()
	defer qs.mu.Unlock()
	i := slices.Index(q.members, m)
	if i < 0 {
		return false
	}
	q.members = slices.Delete(q.members, i, i+1)
	return true
}

// dequeueFront takes the longest-waiting member of the account's queue name for claim. With the
// queue empty it returns no member and the channel closed when one joins; a queue that does not
// exist gives ErrQueueNotFound.
func (qs *Queues) dequeueFront(account, name string, claim *queueClaim) (*queue, *queueMember, <-chan struct{}, error) {
	qs.mu.Lock()
	defer qs.mu.Unlock()
	q := qs.queues[queueKey{account, name}]
	if q == nil {
		return nil, nil, nil, ErrQueueNotFound
	}
	if len(q.members) == 0 {
		return q, nil, q.arrived, nil
	}
	m := q.members[0]
	q.members = slices.Delete(q.members, 0, 1)
	m.out <- queueExit{claim: claim}
	return q, m, nil, nil
}

// stats are a queue's figures as the wait document's parameters give them: m's 1-based position
// (0 when it is no longer waiting), the size, the max and the average wait of the members, in seconds.
func (qs *Queues) stats(q *queue, m *queueMember) (position, size, maxSize, avgWait int) {
	qs.mu.Lock()
	defer qs.mu.Unlock()
	return slices.Index(q.members, m) + 1, len(q.members), q.maxSize, averageWait(q.members, time.Now())
}

func averageWait(members []*queueMember, now time.Time) int {
	if len(members) == 0 {
		return 0
	}
	var total time.Duration
	for _, m := range members {
		total += now.Sub(m.enqueued)
	}
	return int(total / time.Duration(len(members)) / time.Second)
}

// QueueInfo is a queue as the Queues API shows it.
type QueueInfo struct {
	Sid             string // QU + 32 hex digits
	AccountID       string
	FriendlyName    string
	CurrentSize     int
	MaxSize         int
	AverageWaitTime int // seconds, over the members waiting now (Twilio's definition)
	Created         time.Time
}

// MemberInfo is one waiting call as the Members API shows it.
type MemberInfo struct {
	CallSid      string
	QueueSid     string
	Position     int // 1 = the front
	WaitTime     int // seconds
	DateEnqueued time.Time
}

func (q *queue) info(now time.Time) QueueInfo {
	return QueueInfo{Sid: q.sid, AccountID: q.account, FriendlyName: q.name, CurrentSize: len(q.members), MaxSize: q.maxSize,
		AverageWaitTime: averageWait(q.members, now), Created: q.created}
}

// List returns the account's queues, oldest first.
func (qs *Queues) List(accountID string) []QueueInfo {
	qs.mu.Lock()
	defer qs.mu.Unlock()
	now := time.Now()
	var out []QueueInfo
	for k, q := range qs.queues {
		if k.account == accountID {
			out = append(out, q.info(now))
		}
	}
	slices.SortFunc(out, func(a, b QueueInfo) int { return a.Created.Compare(b.Created) })
	return out
}

// Get returns the account's queue sid.
func (qs *Queues) Get(accountID, sid string) (QueueInfo, error) {
	qs.mu.Lock()
	defer qs.mu.Unlock()
	q := qs.find(accountID, sid)
	if q == nil {
		return QueueInfo{}, ErrQueueNotFound
	}
	return q.info(time.Now()), nil
}

// SetMaxSize changes the account's queue sid's MaxSize (1..MaxQueueSize); members beyond it stay.
func (qs *Queues) SetMaxSize(accountID, sid string, maxSize int) (QueueInfo, error) {
	if maxSize < 1 || maxSize > MaxQueueSize {
		return QueueInfo{}, fmt.Errorf("%w: MaxSize must be between 1 and %d", ErrInvalidQueueSize, MaxQueueSize)
	}
	qs.mu.Lock()
	defer qs.mu.Unlock()
	q := qs.find(accountID, sid)
	if q == nil {
		return QueueInfo{}, ErrQueueNotFound
	}
	q.maxSize = maxSize
	return q.info(time.Now()), nil
}

// Members returns the members of the account's queue sid, the front first.
func (qs *Queues) Members(accountID, sid string) ([]MemberInfo, error) {
	qs.mu.Lock()
	defer qs.mu.Unlock()
	q := qs.find(accountID, sid)
	if q == nil {
		return nil, ErrQueueNotFound
	}
	now := time.Now()
	out := make([]MemberInfo, 0, len(q.members))
	for i, m := range q.members {
		out = append(out, memberInfo(q, m, i, now))
	}
	return out, nil
}

// Member returns one member of the account's queue sid by CallSid, or its front for "Front".
func (qs *Queues) Member(accountID, sid, callSid string) (MemberInfo, error) {
	qs.mu.Lock()
	defer qs.mu.Unlock()
	q, i, err := qs.findMember(accountID, sid, callSid)
	if err != nil {
		return MemberInfo{}, err
	}
	return memberInfo(q, q.members[i], i, time.Now()), nil
}

// Dequeue takes a member of the account's queue sid (by CallSid, or "Front") out of the queue onto
// the document at url (fetched with method), as Twilio's Member update does; its <Enqueue> action,
// if any, is requested first with QueueResult=redirected.
func (qs *Queues) Dequeue(accountID, sid, callSid, url, method string) (MemberInfo, error) {
	qs.mu.Lock()
	defer qs.mu.Unlock()
	q, i, err := qs.findMember(accountID, sid, callSid)
	if err != nil {
		return MemberInfo{}, err
	}
	m := q.members[i]
	info := memberInfo(q, m, i, time.Now())
	q.members = slices.Delete(q.members, i, i+1)
	m.out <- queueExit{url: url, method: method}
	return info, nil
}

func (qs *Queues) find(accountID, sid string) *queue {
	for k, q := range qs.queues {
		if k.account == accountID && q.sid == sid {
			return q
		}
	}
	return nil
}

func (qs *Queues) findMember(accountID, sid, callSid string) (*queue, int, error) {
	q := qs.find(accountID, sid)
	if q == nil {
		return nil, 0, ErrQueueNotFound
	}
	i := slices.IndexFunc(q.members, func(m *queueMember) bool { return m.callSid == callSid })
	if callSid == "Front" && len(q.members) > 0 {
		i = 0
	}
	if i < 0 {
		return nil, 0, ErrMemberNotFound
	}
	return q, i, nil
}

func memberInfo(q *queue, m *queueMember, i int, now time.Time) MemberInfo {
	return MemberInfo{CallSid: m.callSid, QueueSid: q.sid, Position: i + 1, WaitTime: int(now.Sub(m.enqueued) / time.Second), DateEnqueued: m.enqueued}
}
