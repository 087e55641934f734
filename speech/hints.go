package speech

import (
	"bufio"
	"fmt"
	"os"
	"strings"
	"sync"
)

// Hints bound what a document can make the offline engine load.
const (
	maxHints      = 500 // Twilio's limit on hints entries
	maxHintWords  = 10  // words in one phrase
	maxHintsBytes = 16 << 10
)

// dictionary is the set of words the pronunciation dictionary knows, read once when hints are
// first used: the grammar may name no other word, or pocketsphinx refuses it.
type dictionary struct {
	path  string
	once  sync.Once
	words map[string]struct{}
	err   error
}

func (d *dictionary) load() (map[string]struct{}, error) {
	d.once.Do(func() {
		f, err := os.Open(d.path)
		if err != nil {
			d.err = err
			return
		}
		defer f.Close()
		d.words = make(map[string]struct{}, 140_000)
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			w, _, _ := strings.Cut(sc.Text(), " ")
			if i := strings.IndexByte(w, '('); i > 0 { // "read(2)": a second pronunciation
				w = w[:i]
			}
			d.words[w] = struct{}{}
		}
		d.err = sc.Err()
	})
	return d.words, d.err
}

// normaliseWords lower-cases text and keeps its words of letters, digits and apostrophes.
func normaliseWords(text string) []string {
	return strings.FieldsFunc(strings.ToLower(text), func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '\'')
	})
}

// hintsGrammar writes a JSGF grammar of one or more of the phrases of hints: with it the decoder
// listens for those phrases only, which on 8 kHz phone audio turns a word error rate over 100 % with
// the general model into about 30 % (speech/pocketsphinx_test.go), at the price that other words are
// heard as the nearest phrase. Phrases with a word the dictionary lacks are left out (they are returned, so the
// caller can warn). ok is false when no phrase is usable: recognise with the general model then.
func hintsGrammar(hints []string, dict map[string]struct{}) (grammar string, skipped []string, ok bool) {
	var phrases []string
	seen := map[string]bool{}
	total := 0
	for i, h := range hints {
		total += len(h)
		if i >= maxHints || total > maxHintsBytes {
			skipped = append(skipped, hints[i:]...)
			break
		}
		words := normaliseWords(h)
		if len(words) == 0 || len(words) > maxHintWords {
			skipped = append(skipped, h)
			continue
		}
		known := true
		for _, w := range words {
			if _, in := dict[w]; !in {
				known = false
			}
		}
		p := strings.Join(words, " ")
		switch {
		case !known:
			skipped = append(skipped, h)
		case !seen[p]:
			seen[p] = true
			phrases = append(phrases, p)
		}
	}
	if len(phrases) == 0 {
		return "", skipped, false
	}
	var b strings.Builder
	b.WriteString("#JSGF V1.0;\ngrammar hints;\n")
	fmt.Fprintf(&b, "<hint> = %s;\n", strings.Join(phrases, " | "))
	b.WriteString("public <utterance> = <hint>+;\n")
	return b.String(), skipped, true
}
