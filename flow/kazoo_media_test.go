package flow_test

import (
	"errors"
	"strings"
	"sync"
	"testing"

	"github.com/pivotua/pivotua/flow"
	"github.com/pivotua/pivotua/flow/flowtest"
	"github.com/pivotua/pivotua/internal/testkit"
)

const (
	mediaID      = "0123456789abcdef0123456789abcdef"
	otherAccount = "9f2b6c0e1a7d4e3f8b5a6c7d8e9f0a1b"
)

// fakeMediaStore is the media API's store as flow sees it: audio by account and id, with a version
// per upload and a count of reads.
type fakeMediaStore struct {
	mu      sync.Mutex
	audio   map[string][]byte // "account/id"
	version map[string]string
	reads   int
}

var errNoMedia = errors.New("media not found")

func newFakeMediaStore(t *testing.T) *fakeMediaStore {
	s := &fakeMediaStore{audio: map[string][]byte{}, version: map[string]string{}}
	s.upload(flowtest.AccountID, mediaID, flowtest.WAV(t), "v1")
	s.upload(otherAccount, mediaID, flowtest.WAV(t), "v1")
	return s
}

func (s *fakeMediaStore) upload(account, id string, wav []byte, version string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.audio[account+"/"+id], s.version[account+"/"+id] = wav, version
}

func (s *fakeMediaStore) MediaVersion(account, id string) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	v, ok := s.version[account+"/"+id]
	if !ok {
		return "", errNoMedia
	}
	return v, nil
}

func (s *fakeMediaStore) ReadMedia(account, id string) ([]byte, string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.reads++
	data, ok := s.audio[account+"/"+id]
	if !ok {
		return nil, "", errNoMedia
	}
	return data, "audio/wav", nil
}

func (s *fakeMediaStore) readCount() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.reads
}

func mediaCall(t *testing.T, ch *flowtest.Channel, store flow.MediaStore, log *eventLog) *flow.Call {
	deps := flowtest.Deps(t, func(flow.Exchange) {})
	deps.Stored = store
	if log != nil {
		deps.Events = log.add
	}
	return flow.NewCall(ch, flowtest.AccountID, flowtest.SigningKey, deps)
}

func TestPlayOfAMediaIDDecodesEachUploadOnce(t *testing.T) {
	store := newFakeMediaStore(t)
	ch := flowtest.NewChannel()
	flowtest.Run(t, mediaCall(t, ch, store, nil), flowtest.MustNode(t, `{"module":"play","data":{"id":"`+mediaID+`"},
		"children":{"_":{"module":"play","data":{"id":"/`+flowtest.AccountID+`/`+strings.ToUpper(mediaID)+`"}}}}`))
	flowtest.EqualEvents(t, ch.Events(), []string{"answer", "play 500ms", "play 500ms", "hangup"})
	if n := store.readCount(); n != 1 {
		t.Errorf("the store was read %d times for two plays of one upload, want 1", n)
	}

	store.upload(flowtest.AccountID, mediaID, flowtest.WAV(t), "v2") // a new upload is read again
	ch = flowtest.NewChannel()
	flowtest.Run(t, mediaCall(t, ch, store, nil), flowtest.MustNode(t, `{"module":"play","data":{"id":"`+mediaID+`"}}`))
	flowtest.EqualEvents(t, ch.Events(), []string{"answer", "play 500ms", "hangup"})
	if n := store.readCount(); n != 2 {
		t.Errorf("after a new upload the store was read %d times in all, want 2", n)
	}
}

func TestPlayOfAnotherAccountsMediaIsSkippedWithAWarning(t *testing.T) {
	store := newFakeMediaStore(t)
	app := testkit.NewWebhook(t, testkit.ServeDocs(map[string][2]string{
		"/ivr": {"application/json", `{"module":"play","data":{"id":"/` + otherAccount + `/` + mediaID + `"},
			"children":{"_":{"module":"play","data":{"id":"ffffffffffffffffffffffffffffffff"}}}}`},
	}))
	ch := flowtest.NewChannel()
	var log eventLog
	flowtest.Run(t, mediaCall(t, ch, store, &log), flowtest.MustNode(t, flowtest.PivotFlow(app.URL+"/ivr", `,"debug":true`, false)))
	flowtest.EqualEvents(t, ch.Events(), []string{"hangup"})
	if n := store.readCount(); n != 0 {
		t.Errorf("the store was read %d times", n)
	}
	var warnings []string
	for _, e := range log {
		if e.Name == flow.EventWarning {
			warnings = append(warnings, e.Data["message"].(string))
		}
	}
	if len(warnings) != 2 || !strings.Contains(warnings[0], "its own account's media only") || !strings.Contains(warnings[1], "media not found") {
		t.Errorf("warnings %q", warnings)
	}
}

func TestPlayIDMustBeAURLOrAMediaID(t *testing.T) {
	for _, id := range []string{"../../etc/passwd", "prompt.wav", mediaID + "0", "/" + flowtest.AccountID + "/../" + mediaID, "file:///etc/passwd", ""} {
		n, err := flow.ParseNode([]byte(`{"module":"play","data":{"id":"`+id+`"}}`), "flow")
		if err != nil {
			t.Fatal(err)
		}
		errs := flow.ValidateNode(n, "flow")
		if len(errs) != 1 || !strings.Contains(errs[0].Error(), "flow.data.id: must be an http or https URL, a media id") {
			t.Errorf("id %q: %v", id, errs)
		}
	}
}

func TestPlayIDOfTheWrongTypeIsOneError(t *testing.T) {
	n, _ := flow.ParseNode([]byte(`{"module":"response","data":{"media":5}}`), "flow")
	if errs := flow.ValidateNode(n, "flow"); len(errs) != 1 || !strings.Contains(errs[0].Error(), "flow.data.media: must be a string") {
		t.Errorf("media 5: %v", errs)
	}
}

func TestResponseMediaWithoutEarlyMediaStillResponds(t *testing.T) {
	// The fake channel has no RTP session: the media is skipped, the response still goes out.
	store := newFakeMediaStore(t)
	ch := flowtest.NewChannel()
	flowtest.Run(t, mediaCall(t, ch, store, nil), flowtest.MustNode(t, `{"module":"response","data":{"code":486,"media":"`+mediaID+`"}}`))
	flowtest.EqualEvents(t, ch.Events(), []string{"reject 486 Busy Here"})

	// Answered, the caller hears it before the hangup.
	ch = flowtest.NewChannel()
	flowtest.Run(t, mediaCall(t, ch, store, nil), flowtest.MustNode(t, `{"module":"tts","data":{"text":"hi"},"children":{"_":{"module":"response","data":{"code":486,"media":"`+mediaID+`"}}}}`))
	flowtest.EqualEvents(t, ch.Kinds(), []string{"answer", "play", "play", "hangup"})
}
