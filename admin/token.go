package admin

import (
	"bytes"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"go.yaml.in/yaml/v3"
)

// MinSecretLen is the shortest token secret accepted.
const MinSecretLen = 16

// maxNameLen bounds a token name, which ends up in every audit entry.
const maxNameLen = 64

// Token is one admin API credential.
type Token struct {
	// Name identifies the holder in the audit trail and in logs.
	Name string
	// Secret is what the caller sends as "Authorization: Bearer <secret>".
	Secret string
	// Write allows changes; a token without it may only read.
	Write bool
}

// ParseTokens parses tokens from a spec such as
// "alice:rw:secret1,ci:ro:secret2", as found in an environment variable.
// Empty entries are skipped, so an empty spec yields no tokens. Errors name
// the bad entry by position (and name, once it is clear which part is the
// name) but never print a secret.
func ParseTokens(spec string) ([]Token, error) {
	var (
		tokens []Token
		pos    []int // each token's position in spec, for errors
	)
	for i, entry := range strings.Split(spec, ",") {
		entry = strings.TrimSpace(entry)
		if entry == "" {
			continue
		}
		// The secret comes last and may itself contain colons.
		parts := strings.SplitN(entry, ":", 3)
		if len(parts) != 3 {
			// Without three parts we cannot tell the name from the secret,
			// so the entry is named by position only.
			return nil, fmt.Errorf("admin tokens: entry %d: want name:rw|ro:secret", i+1)
		}
		write, err := parseRole(parts[1])
		if err != nil {
			return nil, fmt.Errorf("admin tokens: %s: %w", entryLabel(i+1, parts[0]), err)
		}
		tokens = append(tokens, Token{Name: parts[0], Write: write, Secret: parts[2]})
		pos = append(pos, i+1)
	}
	if err := validateTokens(tokens, pos); err != nil {
		return nil, fmt.Errorf("admin tokens: %w", err)
	}
	return tokens, nil
}

// tokenFile is the YAML layout LoadTokens reads.
type tokenFile struct {
	Tokens []tokenEntry `yaml:"tokens"`
}

type tokenEntry struct {
	Name   string `yaml:"name"`
	Role   string `yaml:"role"`
	Secret string `yaml:"secret"`
}

// LoadTokens reads tokens from a YAML file:
//
//	tokens:
//	  - {name: alice, role: rw, secret: "..."}
//	  - {name: dashboards, role: ro, secret: "..."}
//
// Unknown keys, duplicate names or secrets, secrets shorter than
// MinSecretLen and a file without tokens are errors. Errors never print a
// secret.
func LoadTokens(path string) ([]Token, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("admin tokens: %w", err)
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	var f tokenFile
	if err := dec.Decode(&f); err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("admin tokens %s: %w", path, err)
	}
	if len(f.Tokens) == 0 {
		// An empty file would silently leave reads open and writes
		// refused; whoever pointed us at it meant something else.
		return nil, fmt.Errorf("admin tokens %s: no tokens", path)
	}
	tokens := make([]Token, 0, len(f.Tokens))
	pos := make([]int, 0, len(f.Tokens))
	for i, e := range f.Tokens {
		write, err := parseRole(e.Role)
		if err != nil {
			return nil, fmt.Errorf("admin tokens %s: %s: %w", path, entryLabel(i+1, e.Name), err)
		}
		tokens = append(tokens, Token{Name: e.Name, Secret: e.Secret, Write: write})
		pos = append(pos, i+1)
	}
	if err := validateTokens(tokens, pos); err != nil {
		return nil, fmt.Errorf("admin tokens %s: %w", path, err)
	}
	return tokens, nil
}

func parseRole(role string) (write bool, err error) {
	switch role {
	case "rw":
		return true, nil
	case "ro":
		return false, nil
	}
	// The role is not echoed: in a garbled entry it may be part of a secret.
	return false, errors.New("role must be rw or ro")
}

// validateTokens checks names and secrets; errors identify tokens by
// their position in the input, pos[i] for tokens[i], and name only.
func validateTokens(tokens []Token, pos []int) error {
	names := make(map[string]int, len(tokens))
	secrets := make(map[[sha256.Size]byte]int, len(tokens))
	for i, t := range tokens {
		n := pos[i]
		if !validName(t.Name) {
			// An invalid name is not echoed: it may be a misplaced secret.
			return fmt.Errorf("entry %d: name must be 1-%d letters, digits, '.', '_', '-' or '@'", n, maxNameLen)
		}
		if j, dup := names[t.Name]; dup {
			return fmt.Errorf("entries %d and %d: duplicate name %q", j, n, t.Name)
		}
		names[t.Name] = n
		if len(t.Secret) < MinSecretLen {
			return fmt.Errorf("entry %d (%q): secret is shorter than %d characters", n, t.Name, MinSecretLen)
		}
		if !validSecret(t.Secret) {
			return fmt.Errorf("entry %d (%q): secret must be printable ASCII without spaces", n, t.Name)
		}
		// Two names sharing a secret would make the audit actor ambiguous.
		sum := sha256.Sum256([]byte(t.Secret))
		if j, dup := secrets[sum]; dup {
			return fmt.Errorf("entries %d (%q) and %d (%q) share a secret", pos[j], tokens[j].Name, n, t.Name)
		}
		secrets[sum] = i
	}
	return nil
}

func validName(s string) bool {
	if s == "" || len(s) > maxNameLen {
		return false
	}
	for i := range len(s) {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || strings.IndexByte("._-@", c) >= 0) {
			return false
		}
	}
	return true
}

// validSecret keeps secrets sendable in an Authorization header unchanged.
func validSecret(s string) bool {
	for i := range len(s) {
		if s[i] <= ' ' || s[i] >= 0x7f {
			return false
		}
	}
	return true
}

// entryLabel names entry n for an error message, with its name only when
// that is a valid name, since an invalid one may be a misplaced secret.
func entryLabel(n int, name string) string {
	if validName(name) {
		return fmt.Sprintf("entry %d (%q)", n, name)
	}
	return fmt.Sprintf("entry %d", n)
}

// keyring checks bearer secrets in constant time.
type keyring struct {
	tokens []hashedToken
}

type hashedToken struct {
	name  string
	write bool
	sum   [sha256.Size]byte
}

func newKeyring(tokens []Token) *keyring {
	k := &keyring{tokens: make([]hashedToken, len(tokens))}
	for i, t := range tokens {
		k.tokens[i] = hashedToken{name: t.Name, write: t.Write, sum: sha256.Sum256([]byte(t.Secret))}
	}
	return k
}

// lookup returns the token whose secret is secret. Hashing first makes
// every comparison the same length, and every token is compared, so
// neither the secret's length nor its position leaks through timing.
func (k *keyring) lookup(secret string) (hashedToken, bool) {
	sum := sha256.Sum256([]byte(secret))
	found := -1
	for i := range k.tokens {
		match := subtle.ConstantTimeCompare(sum[:], k.tokens[i].sum[:])
		found = subtle.ConstantTimeSelect(match, i, found)
	}
	if found < 0 {
		return hashedToken{}, false
	}
	return k.tokens[found], true
}
