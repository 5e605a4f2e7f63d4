package scoring

import (
	"bytes"
	"fmt"

	"go.yaml.in/yaml/v3"
)

// tlsHashLen is the length of a JA4 cipher hash: the first 12 hex digits
// of a SHA-256.
const tlsHashLen = 12

// tlsFile is the shape of data/tls.yaml.
type tlsFile struct {
	Families map[string]tlsFamilyFile `yaml:"families"`
}

// tlsFamilyFile is one TLS client family of data/tls.yaml.
type tlsFamilyFile struct {
	// Browser is the browser family whose user agents this stack serves
	// ("chromium", "firefox", "webkit"), or "" for an HTTP library's or
	// tool's stack.
	Browser string `yaml:"browser"`
	// What says which clients use it.
	What string `yaml:"what"`
	// Through is, for a browser's stack, the newest version of that
	// browser whose stack the sources show ("156", "26.0"). A browser can
	// change its cipher list (curl_cffi's Firefox 155 profile offers
	// Chromium's), so a user agent newer than this is not held to its
	// family's known stacks: only a library's stack counts against it.
	Through string `yaml:"through"`
	// CipherHashes are the JA4 middle parts seen from it, each with its
	// source.
	CipherHashes []struct {
		Hash   string `yaml:"hash"`
		Source string `yaml:"source"`
	} `yaml:"cipher_hashes"`
}

// tlsFamily is what a cipher hash says about the client.
type tlsFamily struct {
	engine  engine // the browser engine it serves; engineOther for a library
	library bool
}

// tlsTable maps JA4 cipher hashes to families.
type tlsTable struct {
	byHash map[string]tlsFamily
	// through is, per browser engine, the newest version whose stack the
	// data knows: major, minor.
	through [engineWebKit + 1][2]int
}

// parseTLSFamilies reads data/tls.yaml. A hash may belong to one family
// only: a stack shared by a browser and a library (curl-impersonate's, by
// design) cannot tell them apart, and the file must not pretend it can.
func parseTLSFamilies(data []byte) (*tlsTable, error) {
	var f tlsFile
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&f); err != nil {
		return nil, fmt.Errorf("parse TLS families: %w", err)
	}
	t := &tlsTable{byHash: map[string]tlsFamily{}}
	owner := map[string]string{}
	for name, fam := range f.Families {
		tf := tlsFamily{engine: engineOther, library: fam.Browser == ""}
		if !tf.library {
			e, ok := familyNames[fam.Browser]
			if !ok {
				return nil, fmt.Errorf("parse TLS families: %s: unknown browser %q", name, fam.Browser)
			}
			tf.engine = e
			major, used := leadingUint(fam.Through)
			minor := 0
			if used < len(fam.Through) {
				if fam.Through[used] != '.' {
					return nil, fmt.Errorf("parse TLS families: %s: through %q is not a version", name, fam.Through)
				}
				minor, _ = leadingUint(fam.Through[used+1:])
			}
			if major == 0 {
				return nil, fmt.Errorf("parse TLS families: %s: a browser's stack needs through (the newest version the sources show)", name)
			}
			if v := t.through[e]; major > v[0] || major == v[0] && minor > v[1] {
				t.through[e] = [2]int{major, minor}
			}
		} else if fam.Through != "" {
			return nil, fmt.Errorf("parse TLS families: %s: through is for browsers' stacks", name)
		}
		if len(fam.CipherHashes) == 0 {
			return nil, fmt.Errorf("parse TLS families: %s: no cipher hashes", name)
		}
		for _, h := range fam.CipherHashes {
			if !isLowerHex(h.Hash, tlsHashLen) {
				return nil, fmt.Errorf("parse TLS families: %s: %q is not a JA4 cipher hash (%d lower-case hex digits)", name, h.Hash, tlsHashLen)
			}
			if h.Source == "" {
				return nil, fmt.Errorf("parse TLS families: %s: %s has no source", name, h.Hash)
			}
			if other, ok := owner[h.Hash]; ok {
				return nil, fmt.Errorf("parse TLS families: %s is both %s and %s", h.Hash, other, name)
			}
			owner[h.Hash] = name
			t.byHash[h.Hash] = tf
		}
	}
	return t, nil
}

// isLowerHex reports whether s is n lower-case hex digits.
func isLowerHex(s string, n int) bool {
	if len(s) != n {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}

// ja4CipherHash returns the middle part of a JA4 fingerprint
// ("t13d1516h2_8daaf6152771_02713d6af862" → "8daaf6152771"), or "" when ja4
// is not one. Only the cipher hash is read: it names the TLS library, while
// the first part moves with SNI and ALPN and the last with extensions a
// browser adds or drops between connections (session resumption).
func ja4CipherHash(ja4 string) string {
	// a part (10 bytes) _ b part (12) _ c part (12).
	const aLen = 10
	if len(ja4) != aLen+1+tlsHashLen+1+tlsHashLen || ja4[aLen] != '_' || ja4[aLen+1+tlsHashLen] != '_' {
		return ""
	}
	if c := ja4[0]; c != 't' && c != 'q' && c != 'd' {
		return ""
	}
	return ja4[aLen+1 : aLen+1+tlsHashLen]
}

// tlsSignals fires the TLS features: the stack is a library's
// (tls.library), or not the claimed browser's (tls.mismatch). An unknown
// fingerprint, or one not in the data, fires nothing.
func (m *Model) tlsSignals(req *Request, b *browser, fired *signals) {
	if req.TLS == "" {
		return
	}
	fam, ok := m.tls.byHash[ja4CipherHash(trimOWS(req.TLS))]
	if !ok {
		return
	}
	if fam.library {
		fired.fire(TLSLibrary)
	}
	if b.engine == engineOther || b.webview || fam.engine == b.engine {
		return
	}
	// A library's stack under a browser's name is a mismatch whatever the
	// version; another browser's only for versions whose own stack the data
	// knows.
	if fam.library || m.tls.known(b) {
		fired.fire(TLSMismatch)
	}
}

// known reports whether b's version is one whose stack the data shows.
func (t *tlsTable) known(b *browser) bool {
	v := t.through[b.engine]
	return b.major < v[0] || b.major == v[0] && b.minor <= v[1]
}
