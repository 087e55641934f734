package callapi

import (
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/pivotua/pivotua/flow"
)

// fakeQueues is the QueueService: one queue of the account with two waiting calls.
type fakeQueues struct {
	q        flow.QueueInfo
	members  []flow.MemberInfo
	dequeued []string
}

const queueSid = "QU0123456789abcdef0123456789abcdef"

func (f *fakeQueues) List(acct string) []flow.QueueInfo {
	if acct != account {
		return nil
	}
	return []flow.QueueInfo{f.q}
}

func (f *fakeQueues) Get(acct, sid string) (flow.QueueInfo, error) {
	if acct != account || sid != queueSid {
		return flow.QueueInfo{}, flow.ErrQueueNotFound
	}
	return f.q, nil
}

func (f *fakeQueues) SetMaxSize(acct, sid string, n int) (flow.QueueInfo, error) {
	f.q.MaxSize = n
	return f.q, nil
}

func (f *fakeQueues) Members(string, string) ([]flow.MemberInfo, error) { return f.members, nil }

func (f *fakeQueues) Member(_, _, callSid string) (flow.MemberInfo, error) {
	for _, m := range f.members {
		if m.CallSid == callSid || callSid == "Front" {
			return m, nil
		}
	}
	return flow.MemberInfo{}, flow.ErrMemberNotFound
}

func (f *fakeQueues) Dequeue(acct, sid, callSid, u, method string) (flow.MemberInfo, error) {
	m, err := f.Member(acct, sid, callSid)
	if err == nil {
		f.dequeued = append(f.dequeued, m.CallSid+" "+method+" "+u)
	}
	return m, err
}

func newQueuesAPI(t *testing.T) (*httptest.Server, *fakeQueues) {
	t.Helper()
	now := time.Date(2026, 12, 3, 9, 0, 0, 0, time.UTC)
	fq := &fakeQueues{q: flow.QueueInfo{Sid: queueSid, AccountID: account, FriendlyName: "support", CurrentSize: 2, MaxSize: 100, AverageWaitTime: 7, Created: now},
		members: []flow.MemberInfo{{CallSid: "call-a", QueueSid: queueSid, Position: 1, WaitTime: 9, DateEnqueued: now}, {CallSid: "call-b", QueueSid: queueSid, Position: 2, WaitTime: 5, DateEnqueued: now}}}
	mux := http.NewServeMux()
	New(&fakeCalls{}, map[string]string{account: apiKey, "other": "other-key"}, defaultConfig(t), slog.New(slog.DiscardHandler)).Queues(fq).Register(mux)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv, fq
}

const queueBase = "/2010-04-01/Accounts/AC" + account + "/Queues"

func TestQueuesListFetchMembersAndDequeueInTwiliosShape(t *testing.T) {
	srv, fq := newQueuesAPI(t)
	status, body := call(t, srv, "GET", queueBase+".json", account, apiKey, nil)
	list, _ := body["queues"].([]any)
	if status != 200 || len(list) != 1 {
		t.Fatalf("list: %d %v", status, body)
	}
	q := list[0].(map[string]any)
	if q["sid"] != queueSid || q["friendly_name"] != "support" || q["current_size"] != 2.0 || q["max_size"] != 100.0 || q["average_wait_time"] != 7.0 {
		t.Errorf("queue: %v", q)
	}
	if status, body := call(t, srv, "GET", queueBase+"/"+queueSid+".json", account, apiKey, nil); status != 200 || body["sid"] != queueSid {
		t.Errorf("fetch: %d %v", status, body)
	}
	status, body = call(t, srv, "GET", queueBase+"/"+queueSid+"/Members.json", account, apiKey, nil)
	members, _ := body["queue_members"].([]any)
	if status != 200 || len(members) != 2 || members[0].(map[string]any)["call_sid"] != "call-a" || members[1].(map[string]any)["position"] != 2.0 {
		t.Fatalf("members: %d %v", status, body)
	}
	if status, body := call(t, srv, "GET", queueBase+"/"+queueSid+"/Members/Front.json", account, apiKey, nil); status != 200 || body["call_sid"] != "call-a" || body["wait_time"] != 9.0 {
		t.Errorf("front: %d %v", status, body)
	}
	status, body = call(t, srv, "POST", queueBase+"/"+queueSid+"/Members/call-b.json", account, apiKey, url.Values{"Url": {"https://app.example.com/next"}})
	if status != 200 || body["call_sid"] != "call-b" || len(fq.dequeued) != 1 || fq.dequeued[0] != "call-b POST https://app.example.com/next" {
		t.Errorf("dequeue: %d %v %v", status, body, fq.dequeued)
	}
	if status, body := call(t, srv, "POST", queueBase+"/"+queueSid+".json", account, apiKey, url.Values{"MaxSize": {"5"}}); status != 200 || body["max_size"] != 5.0 {
		t.Errorf("MaxSize: %d %v", status, body)
	}
}

// Every bad request costs that request: 400, 401 or 404, and nothing is dequeued.
func TestQueuesRefuseBadRequests(t *testing.T) {
	srv, fq := newQueuesAPI(t)
	member := queueBase + "/" + queueSid + "/Members/call-a.json"
	for _, tc := range []struct {
		method, path, user, key string
		form                    url.Values
		want                    int
	}{
		{"GET", queueBase + ".json", account, "wrong", nil, 401},
		{"GET", queueBase + "/" + queueSid + ".json", "other", "other-key", nil, 401},
		{"GET", queueBase + "/QUnone.json", account, apiKey, nil, 404},
		{"GET", queueBase + "/" + queueSid, account, apiKey, nil, 404},
		{"GET", queueBase + "/" + strings.Repeat("Q", 100) + ".json", account, apiKey, nil, 404},
		{"GET", queueBase + "/" + queueSid + "/Members/nobody.json", account, apiKey, nil, 404},
		{"POST", member, account, apiKey, url.Values{}, 400},
		{"POST", member, account, apiKey, url.Values{"Url": {"/relative"}}, 400},
		{"POST", member, account, apiKey, url.Values{"Url": {"ftp://x/y"}}, 400},
		{"POST", member, account, apiKey, url.Values{"Url": {"https://x/y"}, "Method": {"PUT"}}, 400},
		{"POST", member, account, apiKey, url.Values{"Url": {"https://x/y\r\nX: y"}}, 400},
		{"POST", member, account, apiKey, url.Values{"Url": {"https://x/y"}, "Priority": {"1"}}, 400},
		{"POST", queueBase + "/" + queueSid + "/Members/nobody.json", account, apiKey, url.Values{"Url": {"https://x/y"}}, 404},
		{"POST", queueBase + "/" + queueSid + ".json", account, apiKey, url.Values{"MaxSize": {"0"}}, 400},
		{"POST", queueBase + "/" + queueSid + ".json", account, apiKey, url.Values{"MaxSize": {"1001"}}, 400},
		{"POST", queueBase + "/" + queueSid + ".json", account, apiKey, url.Values{"FriendlyName": {"x"}}, 400},
		{"GET", queueBase + ".json?PageSize=100000", account, apiKey, nil, 400},
	} {
		status, body := call(t, srv, tc.method, tc.path, tc.user, tc.key, tc.form)
		if status != tc.want {
			t.Errorf("%s %s %v: %d %v, want %d", tc.method, tc.path, tc.form, status, body, tc.want)
		}
	}
	if len(fq.dequeued) != 0 {
		t.Errorf("dequeued by bad requests: %v", fq.dequeued)
	}
}
