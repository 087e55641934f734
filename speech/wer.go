package speech

// WordErrorRate is the word error rate of hypothesis against reference: (substitutions + deletions +
// insertions) / reference words, after lower-casing and dropping punctuation. Tests and the
// benchmark report it; 0 is perfect.
func WordErrorRate(reference, hypothesis string) float64 {
	ref, hyp := normaliseWords(reference), normaliseWords(hypothesis)
	if len(ref) == 0 {
		if len(hyp) == 0 {
			return 0
		}
		return 1
	}
	prev := make([]int, len(hyp)+1)
	cur := make([]int, len(hyp)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(ref); i++ {
		cur[0] = i
		for j := 1; j <= len(hyp); j++ {
			sub := prev[j-1]
			if ref[i-1] != hyp[j-1] {
				sub++
			}
			cur[j] = min(sub, prev[j]+1, cur[j-1]+1)
		}
		prev, cur = cur, prev
	}
	return float64(prev[len(hyp)]) / float64(len(ref))
}
