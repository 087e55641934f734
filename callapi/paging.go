package callapi

import (
	"net/http"
	"net/url"
	"strconv"
)

// pageFields are the paging fields of every Twilio list (calls, conferences, participants, queues,
// members), which the helper libraries follow.
type pageFields struct {
	End             int     `json:"end"`
	FirstPageURI    string  `json:"first_page_uri"`
	NextPageURI     *string `json:"next_page_uri"`
	Page            int     `json:"page"`
	PageSize        int     `json:"page_size"`
	PreviousPageURI *string `json:"previous_page_uri"`
	Start           int     `json:"start"`
	URI             string  `json:"uri"`
}

// paging reads Page and PageSize and returns the slice bounds of n items and the page's fields; it
// answers 400 itself.
func paging(w http.ResponseWriter, q url.Values, n int, base string) (start, end int, pf pageFields, ok bool) {
	size, page := defaultPageSize, 0
	if v := param(q, "PageSize"); v != "" {
		s, err := strconv.Atoi(v)
		if err != nil || s < 1 || s > maxPageSize {
			writeError(w, http.StatusBadRequest, 21200, "PageSize must be between 1 and %d", maxPageSize)
			return 0, 0, pf, false
		}
		size = s
	}
	if v := param(q, "Page"); v != "" {
		p, err := strconv.Atoi(v)
		if err != nil || p < 0 || p > maxPage {
			writeError(w, http.StatusBadRequest, 21200, "Page must be between 0 and %d", maxPage)
			return 0, 0, pf, false
		}
		page = p
	}
	start = min(page*size, n)
	end = min(start+size, n)
	pageURI := func(p int) string {
		v := url.Values{}
		for k, vs := range q {
			v[k] = vs
		}
		v.Set("PageSize", strconv.Itoa(size))
		v.Set("Page", strconv.Itoa(p))
		return base + "?" + v.Encode()
	}
	pf = pageFields{Page: page, PageSize: size, Start: start, End: max(end-1, start), URI: pageURI(page), FirstPageURI: pageURI(0)}
	if end < n {
		next := pageURI(page + 1)
		pf.NextPageURI = &next
	}
	if page > 0 {
		prev := pageURI(page - 1)
		pf.PreviousPageURI = &prev
	}
	return start, end, pf, true
}
