package flow

import (
	"errors"
	"strings"
	"testing"
)

func TestEnqueueParsesTwilioDefaultsAndAttributes(t *testing.T) {
	doc, err := ParseTwiML([]byte(`<Response><Enqueue>support</Enqueue><Enqueue action="/a" method="GET" waitUrl="/w" waitUrlMethod="GET">q 2</Enqueue><Leave/></Response>`))
	if err != nil {
		t.Fatal(err)
	}
	v := doc.verbs[0].(*enqueueVerb)
	if v.name != "support" || v.action != "" || v.method != "POST" || v.waitURL != "" || v.waitMethod != "POST" {
		t.Errorf("defaults: %+v", v)
	}
	v = doc.verbs[1].(*enqueueVerb)
	if v.name != "q 2" || v.action != "/a" || v.method != "GET" || v.waitURL != "/w" || v.waitMethod != "GET" {
		t.Errorf("attributes: %+v", v)
	}
	if _, ok := doc.verbs[2].(leaveVerb); !ok {
		t.Errorf("<Leave/> parsed as %T", doc.verbs[2])
	}
	doc, err = ParseTwiML([]byte(`<Response><Dial action="/done" timeout="5"><Queue url="/whisper" method="GET">support</Queue></Dial></Response>`))
	if err != nil {
		t.Fatal(err)
	}
	d := doc.verbs[0].(*dialVerb)
	if d.queue == nil || d.queue.name != "support" || d.queue.url != "/whisper" || d.queue.method != "GET" || len(d.targets) != 0 {
		t.Errorf("<Dial><Queue>: %+v %+v", d, d.queue)
	}
}

// Hostile and unsupported input is a document error naming where it is, never a silent default.
func TestEnqueueAndQueueRefuseBadInputByPath(t *testing.T) {
	for _, tc := range []struct{ doc, want string }{
		{`<Enqueue></Enqueue>`, "Response/Enqueue[1]: a queue name is required"},
		{`<Enqueue>a&#x0a;b</Enqueue>`, "Response/Enqueue[1]: the queue name must not contain control characters"},
		{`<Enqueue>a&#x7f;b</Enqueue>`, "must not contain control characters"},
		{`<Enqueue>` + strings.Repeat("x", 65) + `</Enqueue>`, "the queue name must be at most 64 bytes, not 65"},
		{`<Enqueue>` + strings.Repeat("é", 33) + `</Enqueue>`, "at most 64 bytes, not 66"},
		{`<Enqueue workflowSid="WW1">q</Enqueue>`, "Response/Enqueue[1]@workflowSid: is not supported"},
		{`<Enqueue waitUrl="ftp://x/y">q</Enqueue>`, "Response/Enqueue[1]@waitUrl"},
		{`<Enqueue waitUrlMethod="PUT">q</Enqueue>`, "@waitUrlMethod"},
		{`<Enqueue><Task>{}</Task>q</Enqueue>`, "<Task> is not allowed in <Enqueue>"},
		{`<Leave>x</Leave>`, "<Leave> must not contain text"},
		{`<Dial><Queue></Queue></Dial>`, "Response/Dial[1]/Queue[1]: a queue name is required"},
		{`<Dial><Queue>` + strings.Repeat("q", 65) + `</Queue></Dial>`, "at most 64 bytes"},
		{`<Dial><Queue reservationSid="WR1">q</Queue></Dial>`, "Queue[1]@reservationSid: is not supported"},
		{`<Dial><Queue url="javascript:x">q</Queue></Dial>`, "Queue[1]@url"},
		{`<Dial><Queue>q</Queue><Number>+14155550100</Number></Dial>`, "<Queue> must be alone in its <Dial>"},
		{`<Dial><Queue>a</Queue><Queue>b</Queue></Dial>`, "<Queue> must be alone in its <Dial>"},
		{`<Dial record="record-from-answer"><Queue>q</Queue></Dial>`, "Response/Dial[1]@record: is not supported with <Queue>"},
	} {
		_, err := ParseTwiML([]byte("<Response>" + tc.doc + "</Response>"))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want it to contain %q", tc.doc, err, tc.want)
		}
	}
}

func TestQueueIsFIFOAndBounded(t *testing.T) {
	qs := NewQueues()
	member := func(sid string) *queueMember { return &queueMember{callSid: sid, out: make(chan queueExit, 1)} }
	var sid string
	for i := range 5000 { // a flood of callers: the queue holds its MaxSize, the rest are refused
		q, err := qs.enqueue("acct", "q", member("CA"+strings.Repeat("0", i%3)+string(rune('a'+i%26))))
		switch {
		case i < DefaultQueueMaxSize && err != nil:
			t.Fatalf("member %d: %v", i, err)
		case i >= DefaultQueueMaxSize && !errors.Is(err, ErrQueueFull):
			t.Fatalf("member %d of a queue of %d: %v, want ErrQueueFull", i, DefaultQueueMaxSize, err)
		}
		sid = q.sid
	}
	if _, err := qs.SetMaxSize("acct", sid, MaxQueueSize+1); !errors.Is(err, ErrInvalidQueueSize) {
		t.Errorf("MaxSize beyond %d: %v", MaxQueueSize, err)
	}
	if _, err := qs.Get("other", sid); !errors.Is(err, ErrQueueNotFound) {
		t.Errorf("another account's queue: %v, want ErrQueueNotFound", err)
	}
	qi, _ := qs.Get("acct", sid)
	if qi.CurrentSize != DefaultQueueMaxSize || qi.MaxSize != DefaultQueueMaxSize || qi.FriendlyName != "q" {
		t.Errorf("queue: %+v", qi)
	}

	qs = NewQueues()
	a, b, c := member("CA1"), member("CA2"), member("CA3")
	q, _ := qs.enqueue("acct", "q", a)
	qs.enqueue("acct", "q", b)
	qs.enqueue("acct", "q", c)
	if !qs.remove(q, b) || qs.remove(q, b) {
		t.Fatal("a member leaves once")
	}
	cl := &queueClaim{}
	if _, m, _, err := qs.dequeueFront("acct", "q", cl); err != nil || m != a || (<-a.out).claim != cl {
		t.Fatalf("the front is the longest-waiting: %v %v", m, err)
	}
	if qs.remove(q, a) {
		t.Error("a dequeued member was removed again")
	}
	if info, err := qs.Dequeue("acct", q.sid, "Front", "http://x/y", "GET"); err != nil || info.CallSid != "CA3" || (<-c.out).url != "http://x/y" {
		t.Fatalf("Members API dequeue of the front: %+v %v", info, err)
	}
	_, m, arrived, err := qs.dequeueFront("acct", "q", cl)
	if err != nil || m != nil || arrived == nil {
		t.Fatalf("an empty queue: %v %v", m, err)
	}
	qs.enqueue("acct", "q", member("CA4"))
	select {
	case <-arrived:
	default:
		t.Error("a waiting agent is not woken by a new member")
	}
	if _, _, _, err := qs.dequeueFront("acct", "nosuch", cl); !errors.Is(err, ErrQueueNotFound) {
		t.Errorf("a queue never created: %v", err)
	}
	if _, err := qs.Dequeue("acct", q.sid, "CAnone", "http://x/y", "GET"); !errors.Is(err, ErrMemberNotFound) {
		t.Errorf("a call not in the queue: %v", err)
	}
}

func TestQueuesPerAccountAreBounded(t *testing.T) {
	qs := NewQueues()
	for i := range maxQueuesPerAccount {
		if _, err := qs.enqueue("acct", "q"+strings.Repeat("x", i%60)+string(rune(i)), &queueMember{out: make(chan queueExit, 1)}); err != nil {
			t.Fatalf("queue %d: %v", i, err)
		}
	}
	if _, err := qs.enqueue("acct", "one more", &queueMember{}); !errors.Is(err, ErrQueueLimit) {
		t.Errorf("queue %d of an account: %v, want ErrQueueLimit", maxQueuesPerAccount+1, err)
	}
	if _, err := qs.enqueue("another", "q", &queueMember{out: make(chan queueExit, 1)}); err != nil {
		t.Errorf("another account's first queue: %v", err)
	}
}
