package debugapi

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strconv"
	"strings"
)

// The media API, in the shape of Kazoo's crossbar media endpoint (applications/crossbar/doc/media.md):
//
//	GET    /v2/accounts/{ACCOUNT_ID}/media                  the account's media documents
//	PUT    /v2/accounts/{ACCOUNT_ID}/media                  create one: {"data":{"name":...}}, 201 with its id
//	GET    /v2/accounts/{ACCOUNT_ID}/media/{MEDIA_ID}       its document (Accept: audio/*: its audio)
//	POST   /v2/accounts/{ACCOUNT_ID}/media/{MEDIA_ID}       replace its document (an audio body: upload)
//	DELETE /v2/accounts/{ACCOUNT_ID}/media/{MEDIA_ID}       remove it and its audio
//	GET    /v2/accounts/{ACCOUNT_ID}/media/{MEDIA_ID}/raw   its audio
//	POST   /v2/accounts/{ACCOUNT_ID}/media/{MEDIA_ID}/raw   upload its audio (audio/wav, audio/mpeg, ... or a
//	                                                        base64 data: URI), decoded before it is kept
//
// with crossbar's tokens (PUT /v2/api_auth) and envelope. An account reaches only its own media.

// maxMediaDocBody bounds the JSON body of PUT and POST on a media document.
const maxMediaDocBody = 64 << 10

// registerMedia adds the media routes when the API has a media store.
func (a *API) registerMedia(mux *http.ServeMux) {
	if a.cfg.Media == nil {
		return
	}
	mux.HandleFunc("/v2/accounts/{account_id}/media", a.mediaCollection)
	mux.HandleFunc("/v2/accounts/{account_id}/media/{media_id}", a.mediaItem)
	mux.HandleFunc("/v2/accounts/{account_id}/media/{media_id}/raw", a.mediaRaw)
}

// mediaRow is one media document in the list: Kazoo's fields, and what the upload set.
type mediaRow struct {
	ID          string `json:"id"`
	IsPrompt    bool   `json:"is_prompt"`
	Language    string `json:"language"`
	MediaSource string `json:"media_source"`
	Name        string `json:"name"`
	ContentType string `json:"content_type,omitempty"`
	DurationMS  int64  `json:"duration_ms,omitempty"`
}

func (a *API) mediaCollection(w http.ResponseWriter, r *http.Request) {
	rp := a.newReply(w, r)
	if r.Method != http.MethodGet && r.Method != http.MethodHead && r.Method != http.MethodPut {
		rp.methodNotAllowed(http.MethodGet, http.MethodPut)
		return
	}
	account, ok := a.authorize(rp, r)
	if !ok {
		return
	}
	if r.Method == http.MethodPut {
		in, ok := a.mediaInput(rp, w, r)
		if !ok {
			return
		}
		d, err := a.cfg.Media.Create(account, in)
		if err != nil {
			a.mediaFail(rp, account, "", err)
			return
		}
		a.log.Info("media created", "account_id", account, "media_id", d.ID, "name", d.Name)
		rp.ok(http.StatusCreated, d)
		return
	}
	docs, err := a.cfg.Media.List(account)
	if err != nil {
		a.mediaFail(rp, account, "", err)
		return
	}
	rows := make([]mediaRow, 0, len(docs))
	for _, d := range docs {
		rows = append(rows, mediaRow{ID: d.ID, Language: d.Language, MediaSource: d.MediaSource, Name: d.Name,
			ContentType: d.ContentType, DurationMS: d.DurationMS})
	}
	n := len(rows)
	rp.send(http.StatusOK, envelope{PageSize: &n}, rows)
}

func (a *API) mediaItem(w http.ResponseWriter, r *http.Request) {
	rp := a.newReply(w, r)
	switch r.Method {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodDelete:
	default:
		rp.methodNotAllowed(http.MethodGet, http.MethodPost, http.MethodDelete)
		return
	}
	account, id, ok := a.mediaTarget(rp, r)
	if !ok {
		return
	}
	switch {
	case r.Method == http.MethodDelete:
		d, err := a.cfg.Media.Delete(account, id)
		if err != nil {
			a.mediaFail(rp, account, id, err)
			return
		}
		a.log.Info("media deleted", "account_id", account, "media_id", id)
		rp.ok(http.StatusOK, d)
	case r.Method == http.MethodPost && isAudioUpload(r):
		a.uploadMedia(rp, w, r, account, id) // Kazoo's newer upload URL is the document's own
	case r.Method == http.MethodPost:
		in, ok := a.mediaInput(rp, w, r)
		if !ok {
			return
		}
		d, err := a.cfg.Media.Update(account, id, in)
		if err != nil {
			a.mediaFail(rp, account, id, err)
			return
		}
		rp.ok(http.StatusOK, d)
	case wantsAudio(r):
		a.serveMediaAudio(rp, w, r, account, id)
	default:
		d, err := a.cfg.Media.Get(account, id)
		if err != nil {
			a.mediaFail(rp, account, id, err)
			return
		}
		rp.ok(http.StatusOK, d)
	}
}

func (a *API) mediaRaw(w http.ResponseWriter, r *http.Request) {
	rp := a.newReply(w, r)
	if r.Method != http.MethodGet && r.Method != http.MethodHead && r.Method != http.MethodPost {
		rp.methodNotAllowed(http.MethodGet, http.MethodPost)
		return
	}
	account, id, ok := a.mediaTarget(rp, r)
	if !ok {
		return
	}
	if r.Method == http.MethodPost {
		a.uploadMedia(rp, w, r, account, id)
		return
	}
	a.serveMediaAudio(rp, w, r, account, id)
}

// mediaTarget authorizes the request and reads its media id, answering the request itself when it
// returns false: an id that is not 32 hex characters (a file name, "../..") is refused by name.
func (a *API) mediaTarget(rp *reply, r *http.Request) (account, id string, ok bool) {
	account, ok = a.authorize(rp, r)
	if !ok {
		return "", "", false
	}
	id = r.PathValue("media_id")
	if !isHexID(id) {
		rp.badParam(&paramError{"media_id", "must be the 32 lowercase hex characters PUT /v2/accounts/{ACCOUNT_ID}/media returned"})
		return "", "", false
	}
	return account, id, true
}

// mediaInput reads {"data":{...}} of PUT or POST on a media document.
func (a *API) mediaInput(rp *reply, w http.ResponseWriter, r *http.Request) (MediaInput, bool) {
	var body struct {
		Data *MediaInput `json:"data"`
	}
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxMediaDocBody))
	if err := dec.Decode(&body); err != nil {
		var tooLarge *http.MaxBytesError
		var typeErr *json.UnmarshalTypeError
		switch {
		case errors.As(err, &tooLarge):
			rp.badParam(&paramError{"data", "the body is over 64 KiB"})
		case errors.As(err, &typeErr) && typeErr.Field != "":
			rp.badParam(&paramError{typeErr.Field, "must be a " + typeErr.Type.String()})
		default:
			rp.badParam(&paramError{"data", `the body must be JSON: {"data":{"name":"...","description":"..."}}`})
		}
		return MediaInput{}, false
	}
	if body.Data == nil {
		rp.badParam(&paramError{"data", `required: {"data":{"name":"..."}}`})
		return MediaInput{}, false
	}
	return *body.Data, true
}

// isAudioUpload says whether a POST on a media document carries audio rather than its JSON.
func isAudioUpload(r *http.Request) bool {
	mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	return strings.HasPrefix(mt, "audio/") || mt == "application/octet-stream" || mt == "application/base64"
}

// wantsAudio says whether a GET on a media document asks for its audio (Kazoo: Accept: audio/mp3).
func wantsAudio(r *http.Request) bool {
	for _, part := range strings.Split(r.Header.Get("Accept"), ",") {
		if mt, _, _ := mime.ParseMediaType(strings.TrimSpace(part)); strings.HasPrefix(mt, "audio/") {
			return true
		}
	}
	return false
}

// uploadContentTypes are the Content-Types an upload may declare; an audio type codec cannot play
// (audio/ogg, ...) is refused before the body is read.
var uploadContentTypes = map[string]string{
	"audio/wav": "wav", "audio/x-wav": "wav", "audio/wave": "wav", "audio/vnd.wave": "wav",
	"audio/mpeg": "mp3", "audio/mp3": "mp3", "audio/mpeg3": "mp3", "audio/x-mpeg": "mp3", "audio/x-mp3": "mp3",
	"application/octet-stream": "", "application/base64": "", "": "",
}

// dataURIPrefix starts a base64 data: URI body, which Kazoo accepts for an upload as well.
const dataURIPrefix = "data:"

func (a *API) uploadMedia(rp *reply, w http.ResponseWriter, r *http.Request, account, id string) {
	store := a.cfg.Media
	mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if _, known := uploadContentTypes[mt]; !known {
		rp.fail(http.StatusUnsupportedMediaType, fmt.Sprintf("Content-Type %q is not audio pivotua plays: send audio/wav (audio/x-wav) or audio/mpeg (audio/mp3)", mt))
		return
	}
	release, ok := store.uploadSlot()
	if !ok {
		rp.w.Header().Set("Retry-After", "1")
		rp.fail(http.StatusServiceUnavailable, fmt.Sprintf("%d uploads are being decoded already; retry in a second", maxConcurrentUploads))
		return
	}
	defer release()
	// A base64 body is a third larger than the file it holds.
	limit := store.MaxFileBytes()*4/3 + 1024
	data, err := io.ReadAll(http.MaxBytesReader(w, r.Body, limit+1))
	var tooLarge *http.MaxBytesError
	switch {
	case errors.As(err, &tooLarge):
		a.mediaFail(rp, account, id, fmt.Errorf("%w: over media_store.max_file_bytes (%d)", ErrMediaTooLarge, store.MaxFileBytes()))
		return
	case err != nil:
		rp.fail(http.StatusBadRequest, "the upload could not be read: "+err.Error())
		return
	}
	if bytes.HasPrefix(data, []byte(dataURIPrefix)) || mt == "application/base64" {
		if data, mt, err = decodeDataURI(data); err != nil {
			rp.badParam(&paramError{"body", err.Error()})
			return
		}
	}
	d, err := store.PutAudio(r.Context(), account, id, data, mt)
	if err != nil {
		a.mediaFail(rp, account, id, err)
		return
	}
	a.log.Info("media uploaded", "account_id", account, "media_id", id, "content_type", d.ContentType,
		"bytes", d.ContentLength, "duration_ms", d.DurationMS)
	rp.ok(http.StatusOK, d)
}

// decodeDataURI reads a body "data:audio/mpeg;base64,AAAA" (RFC 2397), or plain base64.
func decodeDataURI(body []byte) ([]byte, string, error) {
	mt := ""
	payload := bytes.TrimSpace(body)
	if rest, ok := bytes.CutPrefix(payload, []byte(dataURIPrefix)); ok {
		head, b64, found := bytes.Cut(rest, []byte(","))
		if !found || !bytes.HasSuffix(head, []byte(";base64")) {
			return nil, "", errors.New(`a data: URI must be data:audio/...;base64,<base64>`)
		}
		mt = string(bytes.TrimSuffix(head, []byte(";base64")))
		payload = b64
	}
	out := make([]byte, base64.StdEncoding.DecodedLen(len(payload)))
	n, err := base64.StdEncoding.Decode(out, payload)
	if err != nil {
		return nil, "", errors.New("the base64 of the upload is invalid: " + err.Error())
	}
	return out[:n], mt, nil
}

func (a *API) serveMediaAudio(rp *reply, w http.ResponseWriter, r *http.Request, account, id string) {
	data, contentType, _, err := a.cfg.Media.ReadAudio(account, id)
	if err != nil {
		a.mediaFail(rp, account, id, err)
		return
	}
	h := w.Header()
	h.Set("Content-Type", contentType)
	h.Set("Content-Length", strconv.Itoa(len(data)))
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Content-Disposition", `attachment; filename="`+id+extensionOf(contentType)+`"`)
	w.WriteHeader(http.StatusOK)
	if r.Method != http.MethodHead {
		_, _ = w.Write(data)
	}
}

func extensionOf(contentType string) string {
	if contentType == "audio/mpeg" {
		return ".mp3"
	}
	return ".wav"
}

// mediaFail answers a media store error with its status: what the client must fix named in it.
func (a *API) mediaFail(rp *reply, account, id string, err error) {
	var fe *fieldError
	switch {
	case errors.As(err, &fe):
		rp.badParam(&paramError{fe.Field, fe.Message})
	case errors.Is(err, ErrMediaNotFound):
		rp.fail(http.StatusNotFound, "no media "+id+" in this account")
	case errors.Is(err, ErrMediaNoAudio):
		rp.fail(http.StatusNotFound, "media "+id+" has no audio yet: POST it to /v2/accounts/"+account+"/media/"+id+"/raw")
	case errors.Is(err, ErrMediaLimit):
		rp.fail(http.StatusConflict, err.Error())
	case errors.Is(err, ErrMediaTooLarge):
		rp.fail(http.StatusRequestEntityTooLarge, err.Error())
	case errors.Is(err, ErrMediaFormat):
		rp.fail(http.StatusUnsupportedMediaType, err.Error())
	case errors.Is(err, ErrMediaUnplayable):
		rp.badParam(&paramError{"body", "not audio pivotua can play: " + strings.TrimPrefix(err.Error(), ErrMediaUnplayable.Error()+": ")})
	default:
		a.log.Error("media api: store failed", "account_id", account, "media_id", id, "error", err)
		rp.fail(http.StatusInternalServerError, "the media store failed; try again")
	}
}
