package debugapi

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"
)

// AudioCheck decodes an uploaded file the way a call will play it and returns its duration, or why it
// cannot be played. cmd/pivotua passes codec's decoder (debugapi imports no project package).
type AudioCheck func(ctx context.Context, data []byte, contentType string) (time.Duration, error)

// MediaDoc is one media document of Kazoo's media API (applications/crossbar/doc/media.md): the
// metadata PUT creates and POST replaces, and what the upload of its audio set.
type MediaDoc struct {
	ID          string `json:"id"`
	Name        string `json:"name"`
	Description string `json:"description,omitempty"`
	MediaSource string `json:"media_source"` // "upload" or "recording"
	Language    string `json:"language"`
	Streamable  bool   `json:"streamable"`
	// Set by the upload: the format found in the bytes (not the one the client claimed).
	ContentType   string `json:"content_type,omitempty"`
	ContentLength int64  `json:"content_length,omitempty"`
	DurationMS    int64  `json:"duration_ms,omitempty"` // pivotua's: how long it plays
	// Version changes with every upload: calls cache the decoded audio under it.
	Version string `json:"-"`
}

// storedMedia is a media document as its file holds it: the doc and its audio's version.
type storedMedia struct {
	MediaDoc
	AudioVersion string `json:"audio_version,omitempty"`
}

// MediaStore keeps each account's media under its own folder of Dir: <id>.json (the document) and
// <id>.audio (the uploaded file). Ids are 32 hex characters the store generates, never a client's
// name, so no request can name a path outside its account's folder. Every file is written to a
// temporary file and renamed over the old one, so a reader or a crash sees the old file or the new,
// never half of one.
//
// Changes are serialised by mu (the per-account count cap needs that); reads take no lock.
type MediaStore struct {
	cfg     MediaStoreConfig
	check   AudioCheck
	mu      sync.Mutex
	uploads chan struct{} // a slot per upload being read and decoded (maxConcurrentUploads)
}

// maxConcurrentUploads bounds the uploads read and decoded at once: each holds up to
// media_store.max_file_bytes (a third more as base64) and its decoded audio in memory.
const maxConcurrentUploads = 4

// uploadSlot takes a slot for one upload, or returns false when every slot is taken; release gives
// it back.
func (s *MediaStore) uploadSlot() (release func(), ok bool) {
	select {
	case s.uploads <- struct{}{}:
		return func() { <-s.uploads }, true
	default:
		return nil, false
	}
}

const (
	mediaDocExt   = ".json"
	mediaAudioExt = ".audio"
	mediaTempPref = ".tmp-"
)

// NewMediaStore opens (creating) the folder of cfg; check validates every upload. Temporary files
// a crash left behind are removed.
func NewMediaStore(cfg MediaStoreConfig, check AudioCheck) (*MediaStore, error) {
	if check == nil {
		return nil, errors.New("media store: no audio check")
	}
	if err := os.MkdirAll(cfg.Dir, 0o750); err != nil {
		return nil, fmt.Errorf("media store: %w", err)
	}
	if len(cfg.Formats) == 0 {
		cfg.Formats = slices.Clone(mediaFormats)
	}
	if cfg.MaxFileBytes <= 0 {
		cfg.MaxFileBytes = DefaultMediaFileBytes
	}
	if cfg.MaxPerAccount <= 0 {
		cfg.MaxPerAccount = DefaultMediaPerAccount
	}
	leftovers, _ := filepath.Glob(filepath.Join(cfg.Dir, "*", mediaTempPref+"*"))
	for _, f := range leftovers {
		_ = os.Remove(f)
	}
	return &MediaStore{cfg: cfg, check: check, uploads: make(chan struct{}, maxConcurrentUploads)}, nil
}

// MaxFileBytes is the largest upload the store takes.
func (s *MediaStore) MaxFileBytes() int64 { return s.cfg.MaxFileBytes }

// Formats are the formats an upload may be in.
func (s *MediaStore) Formats() []string { return slices.Clone(s.cfg.Formats) }

// isHexID reports whether s is 32 lowercase hex characters: an account id, or a media id the store made.
func isHexID(s string) bool {
	if len(s) != 32 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}

// paths returns the account's folder and the id's document and audio files; ErrMediaNotFound for ids
// the store never makes (so nothing else ever reaches the file system).
func (s *MediaStore) paths(account, id string) (dir, doc, audio string, err error) {
	if !isHexID(account) || !isHexID(id) {
		return "", "", "", ErrMediaNotFound
	}
	dir = filepath.Join(s.cfg.Dir, account)
	return dir, filepath.Join(dir, id+mediaDocExt), filepath.Join(dir, id+mediaAudioExt), nil
}

func newHexID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// MediaInput is what a client sets in a media document; nil fields take their defaults.
type MediaInput struct {
	Name        *string `json:"name"`
	Description *string `json:"description"`
	MediaSource *string `json:"media_source"`
	Language    *string `json:"language"`
	Streamable  *bool   `json:"streamable"`
}

// fieldError is a media document field the schema refuses; errors.Is(err, ErrMediaInvalid).
type fieldError struct {
	Field   string
	Message string
}

func (e *fieldError) Error() string { return e.Field + ": " + e.Message }
func (e *fieldError) Unwrap() error { return ErrMediaInvalid }

// apply sets in's fields on d, checked against Kazoo's media schema (name and description
// 1..128 characters, media_source upload or recording).
func (in MediaInput) apply(d *MediaDoc) error {
	text := func(field string, v *string, min, max int, dst *string) error {
		if v == nil {
			return nil
		}
		n := utf8.RuneCountInString(*v)
		switch {
		case !utf8.ValidString(*v) || strings.ContainsFunc(*v, func(r rune) bool { return r < 0x20 || r == 0x7f }):
			return &fieldError{field, "must be text without control characters"}
		case n < min || n > max:
			return &fieldError{field, fmt.Sprintf("must be %d to %d characters, not %d", min, max, n)}
		}
		*dst = *v
		return nil
	}
	if in.Name == nil {
		return &fieldError{"name", "required"}
	}
	if err := text("name", in.Name, 1, 128, &d.Name); err != nil {
		return err
	}
	if err := text("description", in.Description, 0, 128, &d.Description); err != nil {
		return err
	}
	if err := text("language", in.Language, 1, 16, &d.Language); err != nil {
		return err
	}
	d.Language = strings.ToLower(d.Language)
	if in.MediaSource != nil {
		switch *in.MediaSource {
		case "upload", "recording":
			d.MediaSource = *in.MediaSource
		case "tts":
			return &fieldError{"media_source", "tts media documents are not supported here: upload audio, or speak with the tts module"}
		default:
			return &fieldError{"media_source", "must be upload or recording"}
		}
	}
	if in.Streamable != nil {
		d.Streamable = *in.Streamable
	}
	return nil
}

// Create stores a new media document for account and returns it with its id.
func (s *MediaStore) Create(account string, in MediaInput) (MediaDoc, error) {
	d := MediaDoc{MediaSource: "upload", Language: "en-us", Streamable: true}
	if err := in.apply(&d); err != nil {
		return MediaDoc{}, err
	}
	d.ID = newHexID()
	dir, docPath, _, err := s.paths(account, d.ID)
	if err != nil {
		return MediaDoc{}, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return MediaDoc{}, fmt.Errorf("media store: %w", err)
	}
	if n, err := countDocs(dir); err != nil {
		return MediaDoc{}, err
	} else if n >= s.cfg.MaxPerAccount {
		return MediaDoc{}, fmt.Errorf("%w: the account holds %d media (media_store.max_per_account); delete some first", ErrMediaLimit, n)
	}
	if err := writeDoc(docPath, storedMedia{MediaDoc: d}); err != nil {
		return MediaDoc{}, err
	}
	return d, nil
}

func countDocs(dir string) (int, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return 0, fmt.Errorf("media store: %w", err)
	}
	n := 0
	for _, e := range entries {
		if strings.HasSuffix(e.Name(), mediaDocExt) && !strings.HasPrefix(e.Name(), mediaTempPref) {
			n++
		}
	}
	return n, nil
}

// Get returns one media document of account.
func (s *MediaStore) Get(account, id string) (MediaDoc, error) {
	sm, err := s.load(account, id)
	return sm.MediaDoc, err
}

func (s *MediaStore) load(account, id string) (storedMedia, error) {
	_, docPath, _, err := s.paths(account, id)
	if err != nil {
		return storedMedia{}, err
	}
	raw, err := os.ReadFile(docPath)
	if errors.Is(err, fs.ErrNotExist) {
		return storedMedia{}, ErrMediaNotFound
	}
	if err != nil {
		return storedMedia{}, fmt.Errorf("media store: %w", err)
	}
	var sm storedMedia
	if err := json.Unmarshal(raw, &sm); err != nil || sm.ID != id {
		return storedMedia{}, fmt.Errorf("media store: %s is damaged", docPath)
	}
	sm.Version = sm.AudioVersion
	return sm, nil
}

// List returns account's media documents by name, then id.
func (s *MediaStore) List(account string) ([]MediaDoc, error) {
	if !isHexID(account) {
		return nil, ErrMediaNotFound
	}
	entries, err := os.ReadDir(filepath.Join(s.cfg.Dir, account))
	if errors.Is(err, fs.ErrNotExist) {
		return []MediaDoc{}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("media store: %w", err)
	}
	docs := []MediaDoc{}
	for _, e := range entries {
		id, ok := strings.CutSuffix(e.Name(), mediaDocExt)
		if !ok || !isHexID(id) {
			continue
		}
		d, err := s.Get(account, id)
		if errors.Is(err, ErrMediaNotFound) { // deleted meanwhile
			continue
		}
		if err != nil {
			return nil, err
		}
		docs = append(docs, d)
	}
	slices.SortFunc(docs, func(a, b MediaDoc) int {
		if c := strings.Compare(a.Name, b.Name); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})
	return docs, nil
}

// Update replaces the client's fields of a media document (Kazoo's POST); its audio stays.
func (s *MediaStore) Update(account, id string, in MediaInput) (MediaDoc, error) {
	_, docPath, _, err := s.paths(account, id)
	if err != nil {
		return MediaDoc{}, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	sm, err := s.load(account, id)
	if err != nil {
		return MediaDoc{}, err
	}
	d := sm.MediaDoc
	d.Description, d.MediaSource, d.Language, d.Streamable = "", "upload", "en-us", true
	if err := in.apply(&d); err != nil {
		return MediaDoc{}, err
	}
	sm.MediaDoc = d
	if err := writeDoc(docPath, sm); err != nil {
		return MediaDoc{}, err
	}
	return d, nil
}

// Delete removes a media document and its audio; it returns the document as it was.
func (s *MediaStore) Delete(account, id string) (MediaDoc, error) {
	_, docPath, audioPath, err := s.paths(account, id)
	if err != nil {
		return MediaDoc{}, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	sm, err := s.load(account, id)
	if err != nil {
		return MediaDoc{}, err
	}
	// The document first: once it is gone the id is unknown, whatever happens to the audio.
	if err := os.Remove(docPath); err != nil {
		return MediaDoc{}, fmt.Errorf("media store: %w", err)
	}
	if err := os.Remove(audioPath); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return sm.MediaDoc, fmt.Errorf("media store: audio of deleted media left behind: %w", err)
	}
	return sm.MediaDoc, nil
}

// SniffFormat names the format of an audio file by its first bytes: "wav" (RIFF/RF64 WAVE), else "mp3"
// (what codec decodes besides WAV), or "" for something that is plainly neither (text, JSON, HTML).
func SniffFormat(data []byte) string {
	switch {
	case len(data) >= 12 && (string(data[:4]) == "RIFF" || string(data[:4]) == "RF64") && string(data[8:12]) == "WAVE":
		return "wav"
	case bytes.HasPrefix(data, []byte("ID3")) || len(data) >= 2 && data[0] == 0xff && data[1]&0xe0 == 0xe0:
		return "mp3"
	}
	return ""
}

// formatContentType is the Content-Type an upload of each format is stored and served with.
var formatContentType = map[string]string{"wav": "audio/wav", "mp3": "audio/mpeg"}

// PutAudio stores data as the audio of a media document, once it decodes as audio a call can play
// and its format is one media_store.formats allows; it returns the updated document.
func (s *MediaStore) PutAudio(ctx context.Context, account, id string, data []byte, contentType string) (MediaDoc, error) {
	dir, docPath, audioPath, err := s.paths(account, id)
	if err != nil {
		return MediaDoc{}, err
	}
	if int64(len(data)) > s.cfg.MaxFileBytes {
		return MediaDoc{}, fmt.Errorf("%w: %d bytes, over media_store.max_file_bytes (%d)", ErrMediaTooLarge, len(data), s.cfg.MaxFileBytes)
	}
	if len(data) == 0 {
		return MediaDoc{}, fmt.Errorf("%w: the body is empty", ErrMediaUnplayable)
	}
	if _, err := s.Get(account, id); err != nil { // before the decode: an unknown id costs nothing
		return MediaDoc{}, err
	}
	format := SniffFormat(data)
	if format != "" && !slices.Contains(s.cfg.Formats, format) {
		return MediaDoc{}, fmt.Errorf("%w: the file is %s; media_store.formats allows %s", ErrMediaFormat, format, strings.Join(s.cfg.Formats, ", "))
	}
	dur, err := s.check(ctx, data, contentType)
	if err != nil {
		return MediaDoc{}, fmt.Errorf("%w: %v", ErrMediaUnplayable, err)
	}
	if format == "" { // decoded all the same: an MP3 stream after some leading bytes
		format = "mp3"
		if !slices.Contains(s.cfg.Formats, format) {
			return MediaDoc{}, fmt.Errorf("%w: the file is mp3; media_store.formats allows %s", ErrMediaFormat, strings.Join(s.cfg.Formats, ", "))
		}
	}
	if dur <= 0 {
		return MediaDoc{}, fmt.Errorf("%w: the file holds no audio", ErrMediaUnplayable)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	sm, err := s.load(account, id) // again, under the lock: it may have been deleted meanwhile
	if err != nil {
		return MediaDoc{}, err
	}
	if err := writeAtomic(dir, audioPath, data); err != nil {
		return MediaDoc{}, err
	}
	sm.ContentType, sm.ContentLength, sm.DurationMS = formatContentType[format], int64(len(data)), dur.Milliseconds()
	sm.AudioVersion = strconv.FormatInt(time.Now().UnixNano(), 36) + "-" + newHexID()[:8]
	if err := writeDoc(docPath, sm); err != nil {
		return MediaDoc{}, err
	}
	sm.Version = sm.AudioVersion
	return sm.MediaDoc, nil
}

// ReadAudio returns the uploaded audio of a media document, its content type and version.
func (s *MediaStore) ReadAudio(account, id string) (data []byte, contentType, version string, err error) {
	sm, err := s.load(account, id)
	if err != nil {
		return nil, "", "", err
	}
	if sm.AudioVersion == "" {
		return nil, "", "", ErrMediaNoAudio
	}
	_, _, audioPath, _ := s.paths(account, id)
	data, err = os.ReadFile(audioPath)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, "", "", ErrMediaNoAudio
	}
	if err != nil {
		return nil, "", "", fmt.Errorf("media store: %w", err)
	}
	return data, sm.ContentType, sm.AudioVersion, nil
}

// MediaVersion names the audio stored now for a media document; it changes with every upload, so
// a call that decoded it once can keep the decode under it (flow.MediaStore).
func (s *MediaStore) MediaVersion(account, id string) (string, error) {
	sm, err := s.load(account, id)
	if err != nil {
		return "", err
	}
	if sm.AudioVersion == "" {
		return "", ErrMediaNoAudio
	}
	return sm.AudioVersion, nil
}

// ReadMedia returns the audio of a media document and its content type (flow.MediaStore).
func (s *MediaStore) ReadMedia(account, id string) ([]byte, string, error) {
	data, ct, _, err := s.ReadAudio(account, id)
	return data, ct, err
}

func writeDoc(path string, sm storedMedia) error {
	raw, err := json.Marshal(sm)
	if err != nil {
		return fmt.Errorf("media store: %w", err)
	}
	return writeAtomic(filepath.Dir(path), path, raw)
}

// writeAtomic writes data to a temporary file in dir, syncs it and renames it to path.
func writeAtomic(dir, path string, data []byte) error {
	f, err := os.CreateTemp(dir, mediaTempPref+"*")
	if err != nil {
		return fmt.Errorf("media store: %w", err)
	}
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(f.Name(), path)
	}
	if err != nil {
		_ = os.Remove(f.Name())
		return fmt.Errorf("media store: writing %s: %w", filepath.Base(path), err)
	}
	return nil
}
