package scoring

import (
	"bytes"
	"fmt"
	"sort"
	"strings"

	"go.yaml.in/yaml/v3"
)

// userAgentLists is the shape of data/user_agents.yaml.
type userAgentLists struct {
	Library struct {
		Prefixes []string `yaml:"prefixes"`
		Tokens   []string `yaml:"tokens"`
	} `yaml:"library"`
	Headless []string `yaml:"headless"`
	Crawler  struct {
		Tokens     []string `yaml:"tokens"`
		Exceptions []string `yaml:"exceptions"`
	} `yaml:"crawler"`
}

// uaClass is what a user agent says about itself. One user agent has one
// class, so it fires at most one ua.* signal.
type uaClass uint8

const (
	classUnknown uaClass = iota // a browser, or nothing we recognise
	classMissing
	classHeadless
	classLibrary
	classCrawler
)

// tokenKind tags a substring token with the list it came from; kinds are
// bits so one scan can report several.
type tokenKind uint8

const (
	kindLibrary tokenKind = 1 << iota
	kindHeadless
	kindCrawler
)

// token is one substring to look for.
type token struct {
	text string // lower case, at least two bytes
	kind tokenKind
}

// agentMatcher finds the data file's tokens in a lower-cased header value in
// one pass. Tokens are bucketed by a hash of their first two bytes, so most
// positions of the input are compared with no token at all.
type agentMatcher struct {
	prefixes   []string // library prefixes, matched at offset 0
	tokens     []token  // sorted by bucket
	start      [numBuckets + 1]uint16
	exceptions []string // crawler exceptions
}

const numBuckets = 1024 // a power of two; ~100 tokens rarely share one

// bucket hashes the two bytes a token starts with.
func bucket(b0, b1 byte) int { return (int(b0)*31 + int(b1)) & (numBuckets - 1) }

// loadAgentMatcher parses data/user_agents.yaml into a matcher.
func loadAgentMatcher(data []byte) (*agentMatcher, error) {
	var lists userAgentLists
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&lists); err != nil {
		return nil, fmt.Errorf("parse user agents: %w", err)
	}
	m := &agentMatcher{}
	var err error
	if m.prefixes, err = cleanTokens("library.prefixes", lists.Library.Prefixes); err != nil {
		return nil, err
	}
	if m.exceptions, err = cleanTokens("crawler.exceptions", lists.Crawler.Exceptions); err != nil {
		return nil, err
	}
	for _, l := range []struct {
		name string
		list []string
		kind tokenKind
	}{
		{"library.tokens", lists.Library.Tokens, kindLibrary},
		{"headless", lists.Headless, kindHeadless},
		{"crawler.tokens", lists.Crawler.Tokens, kindCrawler},
	} {
		clean, err := cleanTokens(l.name, l.list)
		if err != nil {
			return nil, err
		}
		for _, t := range clean {
			m.tokens = append(m.tokens, token{text: t, kind: l.kind})
		}
	}
	if len(m.tokens) > 1<<16-1 {
		return nil, fmt.Errorf("parse user agents: %d tokens, at most %d", len(m.tokens), 1<<16-1)
	}
	key := func(t token) int { return bucket(t.text[0], t.text[1]) }
	sort.SliceStable(m.tokens, func(i, j int) bool { return key(m.tokens[i]) < key(m.tokens[j]) })
	// start[k]..start[k+1] is the run of tokens in bucket k.
	for _, t := range m.tokens {
		m.start[key(t)+1]++
	}
	for k := 1; k < len(m.start); k++ {
		m.start[k] += m.start[k-1]
	}
	return m, nil
}

// cleanTokens lower-cases a list's entries and rejects empty and one-byte
// ones, which would match nearly every user agent.
func cleanTokens(list string, in []string) ([]string, error) {
	out := make([]string, 0, len(in))
	for i, t := range in {
		if strings.TrimSpace(t) == "" {
			return nil, fmt.Errorf("parse user agents: %s[%d] is empty", list, i)
		}
		if len(t) < 2 {
			// The matcher also relies on this: it buckets tokens by two bytes.
			return nil, fmt.Errorf("parse user agents: %s[%d] %q is shorter than 2 bytes", list, i, t)
		}
		out = append(out, strings.ToLower(t))
	}
	return out, nil
}

// scan reports which kinds of token (limited to want) occur in b, a
// lower-cased header value. It stops early once every wanted kind is found.
func (m *agentMatcher) scan(b []byte, want tokenKind) tokenKind {
	var found tokenKind
	for i := 0; i+1 < len(b); i++ {
		k := bucket(b[i], b[i+1])
		for _, t := range m.tokens[m.start[k]:m.start[k+1]] {
			if t.kind&want == 0 || t.kind&found != 0 || !hasAt(b, i, t.text) {
				continue
			}
			if t.kind == kindCrawler && m.excepted(b, i, len(t.text)) {
				continue
			}
			found |= t.kind
			if found == want {
				return found
			}
		}
	}
	return found
}

// excepted reports whether the crawler token at b[i:i+n] lies inside one of
// the exceptions, such as "bot" inside "cubot".
func (m *agentMatcher) excepted(b []byte, i, n int) bool {
	for _, e := range m.exceptions {
		for j := max(0, i+n-len(e)); j <= i; j++ {
			if hasAt(b, j, e) {
				return true
			}
		}
	}
	return false
}

// classify returns the class of ua, a lower-cased, trimmed, non-empty user
// agent. A headless browser is the most specific claim and a crawler the
// least: tools that name a library and a home page ("Scrapy/2.11
// (+https://scrapy.org)") are libraries.
func (m *agentMatcher) classify(ua []byte) uaClass {
	found := m.scan(ua, kindLibrary|kindHeadless|kindCrawler)
	if found&kindLibrary == 0 {
		for _, p := range m.prefixes {
			if hasAt(ua, 0, p) {
				found |= kindLibrary
				break
			}
		}
	}
	switch {
	case found&kindHeadless != 0:
		return classHeadless
	case found&kindLibrary != 0:
		return classLibrary
	case found&kindCrawler != 0:
		return classCrawler
	}
	return classUnknown
}
