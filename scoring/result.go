package scoring

// Reason is one fired signal and the points it cost.
type Reason struct {
	Code   Code
	Weight int
}

// Result is a score with its reasons. It holds its reasons in a fixed array
// so scoring does not allocate; reuse one Result per request.
type Result struct {
	// Score is 1–99 (low = automated) for a scored request, 0 when the
	// request was not scored.
	Score int
	// Band is BandOf(Score).
	Band Band
	// Certainty is the certainty rule that decided the score, if any; its
	// signals lead the reasons.
	Certainty Certainty
	// Features is the request's feature vector, as the model weighed it.
	Features Features

	reasons [numCodes - 1]Reason
	n       uint8
	// fired is every signal that fired and is not turned off: the rule's
	// and the features, weighted or not.
	fired signals
}

// Reasons returns the fired signals with a weight above 0, heaviest first,
// ties in Code order. The slice shares the Result's storage: it is valid
// until the Result is scored again.
func (r *Result) Reasons() []Reason { return r.reasons[:r.n] }

// AppendReasons appends the codes of the first max reasons, comma-separated
// without spaces ("ua.library,accept_language.missing"), to dst and returns
// the extended buffer. A negative max means all reasons. It allocates only
// if dst lacks capacity; every code fits in 24 bytes.
func (r *Result) AppendReasons(dst []byte, max int) []byte {
	for i, reason := range r.Reasons() {
		if max >= 0 && i >= max {
			break
		}
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = append(dst, codeNames[reason.Code]...)
	}
	return dst
}

// add records a fired signal, keeping reasons heaviest first and, within a
// weight, in Code order. Codes arrive in ascending order, so an insertion
// that stops at equal weights keeps ties in Code order.
func (r *Result) add(c Code, weight int) {
	i := int(r.n)
	if i == len(r.reasons) {
		return // each code fires once, so this cannot happen
	}
	for i > 0 && r.reasons[i-1].Weight < weight {
		r.reasons[i] = r.reasons[i-1]
		i--
	}
	r.reasons[i] = Reason{Code: c, Weight: weight}
	r.n++
}

// lead moves the reasons whose codes are in set to the front, keeping the
// order within each part: the rule that decided the score is named first.
func (r *Result) lead(set signals) {
	front := 0
	for i := 0; i < int(r.n); i++ {
		if !set.has(r.reasons[i].Code) {
			continue
		}
		x := r.reasons[i]
		copy(r.reasons[front+1:i+1], r.reasons[front:i])
		r.reasons[front] = x
		front++
	}
}
