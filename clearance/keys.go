package clearance

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

const (
	// maxKeyIDLen bounds the key id, which travels in every cookie.
	maxKeyIDLen = 32
	// minSecretLen is the HMAC-SHA256 output size: a shorter key would be the
	// weakest link of the MAC.
	minSecretLen = 32
)

// Key is one HMAC-SHA256 key with the id that names it in cookies.
//
// Key's String and GoString methods redact the secret, so a Key that ends up
// in a log line or an error does not leak it.
type Key struct {
	// ID names the key in cookies: 1–32 characters of A-Z a-z 0-9 . _ -.
	ID string
	// Secret is the HMAC key: at least 32 bytes.
	Secret []byte
}

// String returns the key's id with the secret redacted.
func (k Key) String() string {
	return "Key{ID:" + strconv.Quote(k.ID) + ", Secret:REDACTED}"
}

// GoString is String, so %#v redacts the secret too.
func (k Key) GoString() string { return k.String() }

// GenerateKey returns a fresh Key with the given id and a random 32-byte
// secret.
func GenerateKey(id string) (Key, error) {
	if !validKeyID(id) {
		return Key{}, fmt.Errorf("generate clearance key: %w", errKeyID)
	}
	secret := make([]byte, minSecretLen)
	// crypto/rand.Read never fails (it crashes the program instead), but the
	// error is still part of its signature.
	if _, err := rand.Read(secret); err != nil {
		return Key{}, fmt.Errorf("generate clearance key %q: %w", id, err)
	}
	return Key{ID: id, Secret: secret}, nil
}

// ParseKeys reads a key list of the form "id:base64secret,id2:base64secret2",
// as found in an environment variable. The first key signs; all keys verify.
// Spaces around entries are ignored. Secrets may use the standard or the
// URL-safe base64 alphabet, padded or not.
//
// Errors name the entry by position (from 1) and, once it is known to be a
// valid id, by id; they never contain a secret.
func ParseKeys(spec string) ([]Key, error) {
	if strings.TrimSpace(spec) == "" {
		return nil, errors.New("parse clearance keys: no keys")
	}
	entries := strings.Split(spec, ",")
	keys := make([]Key, 0, len(entries))
	for i, entry := range entries {
		pos := "entry " + strconv.Itoa(i+1)
		entry = strings.TrimSpace(entry)
		if entry == "" {
			return nil, fmt.Errorf("parse clearance keys: %s is empty", pos)
		}
		id, secret, ok := strings.Cut(entry, ":")
		if !ok {
			// Do not echo the entry: it may well be a bare secret.
			return nil, fmt.Errorf("parse clearance keys: %s: want id:base64secret", pos)
		}
		id = strings.TrimSpace(id)
		k, err := newKey(id, strings.TrimSpace(secret))
		if err != nil {
			return nil, fmt.Errorf("parse clearance keys: %s: %w", describe(pos, id), err)
		}
		keys = append(keys, k)
	}
	if err := checkKeys(keys, entryPos); err != nil {
		return nil, fmt.Errorf("parse clearance keys: %w", err)
	}
	return keys, nil
}

// LoadKeys reads a YAML key file:
//
//	keys:
//	  - id: "2026-11"
//	    secret: "<base64>"
//	  - id: "2026-10"
//	    secret: "<base64>"
//
// The first key signs; all keys verify. Unknown fields are errors. Errors name
// the file, the line and the entry (keys[0] is the first); they never contain
// a secret.
func LoadKeys(path string) ([]Key, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("load clearance keys: %w", err)
	}
	keys, err := decodeKeyFile(data)
	if err != nil {
		return nil, fmt.Errorf("load clearance keys %s: %w", path, err)
	}
	return keys, nil
}

// decodeKeyFile walks the YAML tree by hand rather than decoding into a
// struct: yaml's type errors quote the offending value, and that value could
// be a secret typed in the wrong place.
func decodeKeyFile(data []byte) ([]Key, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, err
	}
	if len(doc.Content) == 0 {
		return nil, errors.New("no keys")
	}
	root := doc.Content[0]
	if root.Kind != yaml.MappingNode {
		return nil, fmt.Errorf("line %d: want a mapping with a keys list", root.Line)
	}
	var list *yaml.Node
	for i := 0; i+1 < len(root.Content); i += 2 {
		name, value := root.Content[i], root.Content[i+1]
		if name.Value != "keys" {
			return nil, fmt.Errorf("line %d: %s", name.Line, unknownField(name.Value))
		}
		if list != nil {
			return nil, fmt.Errorf("line %d: keys: duplicate field", name.Line)
		}
		list = value
	}
	if list == nil {
		return nil, errors.New("no keys field")
	}
	if list.Kind != yaml.SequenceNode {
		return nil, fmt.Errorf("line %d: keys: want a list of {id, secret}", list.Line)
	}
	if len(list.Content) == 0 {
		return nil, fmt.Errorf("line %d: keys: no keys", list.Line)
	}
	lines := make([]int, len(list.Content))
	keys := make([]Key, 0, len(list.Content))
	for i, item := range list.Content {
		lines[i] = item.Line
		pos := fmt.Sprintf("line %d: keys[%d]", item.Line, i)
		id, secret, err := keyFields(item)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", pos, err)
		}
		k, err := newKey(id, secret)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", describe(pos, id), err)
		}
		keys = append(keys, k)
	}
	err := checkKeys(keys, func(i int) string {
		return fmt.Sprintf("line %d: keys[%d]", lines[i], i)
	})
	if err != nil {
		return nil, err
	}
	return keys, nil
}

// keyFields reads one {id, secret} entry of a key file.
func keyFields(item *yaml.Node) (id, secret string, err error) {
	if item.Kind != yaml.MappingNode {
		return "", "", errors.New("want a mapping {id, secret}")
	}
	var haveID, haveSecret bool
	for i := 0; i+1 < len(item.Content); i += 2 {
		name, value := item.Content[i], item.Content[i+1]
		var dst *string
		var seen *bool
		switch name.Value {
		case "id":
			dst, seen = &id, &haveID
		case "secret":
			dst, seen = &secret, &haveSecret
		default:
			return "", "", unknownField(name.Value)
		}
		if *seen {
			return "", "", fmt.Errorf("%s: duplicate field", name.Value)
		}
		if value.Kind != yaml.ScalarNode {
			return "", "", fmt.Errorf("%s: want a string", name.Value)
		}
		*dst, *seen = value.Value, true
	}
	switch {
	case !haveID:
		return "", "", errors.New("missing id")
	case !haveSecret:
		return "", "", errors.New("missing secret")
	}
	return id, secret, nil
}

// unknownField names an unknown field only when the name looks like a name: a
// secret pasted as a mapping key must not be echoed.
func unknownField(name string) error {
	if validKeyID(name) {
		return fmt.Errorf("%q: unknown field", name)
	}
	return errors.New("unknown field (name not shown)")
}

var (
	errKeyID = errors.New("key id must be 1–32 characters of A-Z a-z 0-9 . _ -")
	// errSecretEncoding deliberately drops base64's own error: its offset
	// would say where in the secret the typo is, which is harmless, but
	// keeping every secret-related message fixed text is easier to audit.
	errSecretEncoding = errors.New("secret is not base64 (standard or URL-safe alphabet, padded or not)")
)

// newKey checks one id and decodes its secret.
func newKey(id, secret string) (Key, error) {
	if !validKeyID(id) {
		return Key{}, errKeyID
	}
	raw, err := decodeSecret(secret)
	if err != nil {
		return Key{}, err
	}
	k := Key{ID: id, Secret: raw}
	if err := checkKey(k); err != nil {
		return Key{}, err
	}
	return k, nil
}

// decodeSecret accepts both base64 alphabets, padded or not, because secrets
// come from many tools (openssl, Kubernetes, password managers).
func decodeSecret(s string) ([]byte, error) {
	if s == "" {
		return nil, errors.New("secret is empty")
	}
	enc := base64.RawStdEncoding
	if strings.ContainsAny(s, "-_") {
		enc = base64.RawURLEncoding
	}
	if strings.HasSuffix(s, "=") {
		enc = enc.WithPadding(base64.StdPadding)
	}
	raw, err := enc.DecodeString(s)
	if err != nil {
		return nil, errSecretEncoding
	}
	return raw, nil
}

// checkKey checks the rules every key obeys, however it was made.
func checkKey(k Key) error {
	if !validKeyID(k.ID) {
		return errKeyID
	}
	if len(k.Secret) < minSecretLen {
		return fmt.Errorf("secret is %d bytes, want at least %d", len(k.Secret), minSecretLen)
	}
	return nil
}

// checkKeys checks a whole key set: at least one key, each valid, ids unique.
// pos names the i-th key in errors.
func checkKeys(keys []Key, pos func(i int) string) error {
	if len(keys) == 0 {
		return errors.New("no keys")
	}
	first := make(map[string]int, len(keys))
	for i, k := range keys {
		if err := checkKey(k); err != nil {
			return fmt.Errorf("%s: %w", describe(pos(i), k.ID), err)
		}
		if j, dup := first[k.ID]; dup {
			return fmt.Errorf("%s: duplicate key id (first at %s)", describe(pos(i), k.ID), pos(j))
		}
		first[k.ID] = i
	}
	return nil
}

// entryPos names the i-th key of a ParseKeys spec or an Options.Keys slice.
func entryPos(i int) string { return "entry " + strconv.Itoa(i+1) }

// describe appends the id to a position once the id is known to be valid: an
// invalid "id" may be a secret put in the wrong place.
func describe(pos, id string) string {
	if validKeyID(id) {
		return pos + " (id " + strconv.Quote(id) + ")"
	}
	return pos
}

// validKeyID reports whether s is 1–32 characters of A-Z a-z 0-9 . _ -.
func validKeyID(s string) bool {
	if len(s) == 0 || len(s) > maxKeyIDLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !idChar(s[i]) {
			return false
		}
	}
	return true
}

// idChar reports whether c may be part of a key id.
func idChar(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '.' || c == '_' || c == '-'
}
