package crawler

import (
	"cmp"
	"slices"
	"strings"
)

// matcher finds the crawler of a directory a user agent names. Every
// request passes through it, so it neither allocates nor compares tokens at
// every byte: a 64 Ki-bit filter, keyed by a hash of three lower-cased
// bytes, says at which positions some token may start, and only there are
// the tokens that start with those three bytes compared. A browser's user
// agent passes the filter almost nowhere.
type matcher struct {
	filter [1 << 16 / 64]uint64
	// byPrefix holds the tokens by their first three bytes, lower-cased,
	// longest first.
	byPrefix map[uint32][]token
}

type token struct {
	lower string // the token, lower-cased
	entry int    // index into the directory's crawlers
}

// lower maps a byte to its ASCII lower case.
var lower = func() (t [256]byte) {
	for i := range t {
		t[i] = byte(i)
		if 'A' <= i && i <= 'Z' {
			t[i] = byte(i) + 'a' - 'A'
		}
	}
	return t
}()

// filterBit is the filter's bit for a three-byte window: a multiplicative
// hash, whose top bits mix all three bytes.
func filterBit(w uint32) uint32 { return (w * 0x9E3779B1) >> 16 }

// newMatcher indexes every token of entries. Tokens are at least five
// bytes (Parse refuses shorter ones); one shorter than three could never
// be found and is skipped.
func newMatcher(entries []Entry) *matcher {
	m := &matcher{byPrefix: map[uint32][]token{}}
	for i := range entries {
		for _, t := range entries[i].Tokens {
			low := strings.ToLower(t)
			if len(low) < 3 {
				continue
			}
			w := uint32(low[0])<<16 | uint32(low[1])<<8 | uint32(low[2])
			bit := filterBit(w)
			m.filter[bit/64] |= 1 << (bit % 64)
			m.byPrefix[w] = append(m.byPrefix[w], token{lower: low, entry: i})
		}
	}
	for w := range m.byPrefix {
		slices.SortStableFunc(m.byPrefix[w], func(a, b token) int { return cmp.Compare(len(b.lower), len(a.lower)) })
	}
	return m
}

// match returns the index of the crawler whose token ua contains, ignoring
// ASCII case, or -1. When several tokens match, the longest wins
// ("Googlebot-Image" over "Googlebot"), then the leftmost. A token right
// after "like " is a comparison, not a claim, as in "like Gecko": feed
// readers write "like FeedFetcher-Google" and must not be taken for
// Google's fetcher, and then for its impersonators.
func (m *matcher) match(ua string) int {
	if len(ua) < 3 {
		return -1
	}
	best, bestLen := -1, 0
	w := uint32(lower[ua[0]])<<8 | uint32(lower[ua[1]])
	for i := 2; i < len(ua); i++ {
		w = (w<<8 | uint32(lower[ua[i]])) & 0xffffff
		bit := filterBit(w)
		if m.filter[bit/64]&(1<<(bit%64)) == 0 {
			continue
		}
		for _, t := range m.byPrefix[w] {
			if len(t.lower) <= bestLen {
				break // the rest are no longer than the best so far
			}
			if hasFoldPrefix(ua[i-2:], t.lower) && !likeBefore(ua, i-2) {
				best, bestLen = t.entry, len(t.lower)
				break
			}
		}
	}
	return best
}

// hasFoldPrefix reports whether s starts with low, ignoring ASCII case in
// s.
func hasFoldPrefix(s, low string) bool {
	if len(s) < len(low) {
		return false
	}
	for j := 0; j < len(low); j++ {
		if lower[s[j]] != low[j] {
			return false
		}
	}
	return true
}

// likeBefore reports whether ua[:at] ends in "like ", ignoring ASCII case.
func likeBefore(ua string, at int) bool {
	return at >= 5 && hasFoldPrefix(ua[at-5:at], "like ")
}
