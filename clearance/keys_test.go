package clearance

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// secret returns the 32-byte test secret named name.
func secret(name string) []byte {
	sum := sha256.Sum256([]byte(name))
	return sum[:]
}

// Spellings of the test secrets, in every alphabet and padding ParseKeys
// accepts; errors must contain none of them.
var (
	oneStd    = base64.StdEncoding.EncodeToString(secret("one"))
	oneRawStd = base64.RawStdEncoding.EncodeToString(secret("one"))
	twoURL    = base64.URLEncoding.EncodeToString(secret("two"))
	twoRawURL = base64.RawURLEncoding.EncodeToString(secret("two"))
	shortStd  = base64.StdEncoding.EncodeToString(secret("short")[:16])
)

// checkNoSecret fails if err's text contains any 8-character run of a test
// secret: even a partial echo is a leak.
func checkNoSecret(t *testing.T, err error) {
	t.Helper()
	msg := err.Error()
	for _, s := range []string{oneStd, oneRawStd, twoURL, twoRawURL, shortStd} {
		for i := 0; i+8 <= len(s); i++ {
			if strings.Contains(msg, s[i:i+8]) {
				t.Fatalf("error %q contains part of a secret (%q)", msg, s[i:i+8])
			}
		}
	}
}

func checkKeysEqual(t *testing.T, got []Key, want []Key) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("got %d keys, want %d: %v", len(got), len(want), got)
	}
	for i := range want {
		if got[i].ID != want[i].ID || !bytes.Equal(got[i].Secret, want[i].Secret) {
			t.Errorf("key %d = %v (secret %x), want %v (secret %x)", i, got[i], got[i].Secret, want[i], want[i].Secret)
		}
	}
}

func TestParseKeys(t *testing.T) {
	one := Key{ID: "2026-11", Secret: secret("one")}
	two := Key{ID: "2026-10", Secret: secret("two")}
	tests := []struct {
		name string
		spec string
		want []Key
	}{
		{"standard padded", "2026-11:" + oneStd, []Key{one}},
		{"standard unpadded", "2026-11:" + oneRawStd, []Key{one}},
		{"url padded", "2026-10:" + twoURL, []Key{two}},
		{"url unpadded", "2026-10:" + twoRawURL, []Key{two}},
		{"first signs, order kept", "2026-11:" + oneStd + ",2026-10:" + twoRawURL, []Key{one, two}},
		{"spaces and newline around entries", " 2026-11 : " + oneStd + " ,\n 2026-10:" + twoURL + "\n", []Key{one, two}},
		{"dotted id", "a.b_c-D:" + oneStd, []Key{{ID: "a.b_c-D", Secret: secret("one")}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseKeys(tt.spec)
			if err != nil {
				t.Fatalf("ParseKeys: %v", err)
			}
			checkKeysEqual(t, got, tt.want)
		})
	}
}

func TestParseKeysErrors(t *testing.T) {
	tests := []struct {
		name, spec, want string
	}{
		{"empty", "", "parse clearance keys: no keys"},
		{"blank", "  \n", "no keys"},
		{"trailing comma", "k1:" + oneStd + ",", "entry 2 is empty"},
		{"empty middle entry", "k1:" + oneStd + ",,k2:" + twoURL, "entry 2 is empty"},
		{"bare secret", oneStd, "entry 1: want id:base64secret"},
		{"missing id", ":" + oneStd, "entry 1: key id must be 1–32 characters"},
		{"secret and id swapped", oneStd + ":k1", "entry 1: key id must be"},
		{"id too long", strings.Repeat("k", 33) + ":" + oneStd, "entry 1: key id must be"},
		{"id with a slash", "k/1:" + oneStd, "entry 1: key id must be"},
		{"empty secret", "k1:", `entry 1 (id "k1"): secret is empty`},
		{"not base64", "k1:" + strings.Repeat("!", 44), `entry 1 (id "k1"): secret is not base64`},
		{"mixed alphabets", "k1:" + strings.Repeat("A", 21) + "-+" + strings.Repeat("A", 21), "secret is not base64"},
		{"short secret", "k1:" + oneStd + ",k2:" + shortStd, `entry 2 (id "k2"): secret is 16 bytes, want at least 32`},
		{"duplicate id", "k1:" + oneStd + ",k2:" + twoURL + ",k1:" + twoURL, `entry 3 (id "k1"): duplicate key id (first at entry 1)`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			keys, err := ParseKeys(tt.spec)
			if err == nil {
				t.Fatalf("ParseKeys = %v, want an error", keys)
			}
			t.Log(err)
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q does not contain %q", err, tt.want)
			}
			checkNoSecret(t, err)
		})
	}
}

func TestLoadKeys(t *testing.T) {
	got, err := LoadKeys(filepath.Join("testdata", "keys", "good.yaml"))
	if err != nil {
		t.Fatalf("LoadKeys: %v", err)
	}
	checkKeysEqual(t, got, []Key{{ID: "2026-11", Secret: secret("one")}, {ID: "2026-10.b", Secret: secret("two")}})
	if _, err := NewSigner(Options{Keys: got}); err != nil {
		t.Errorf("NewSigner with the loaded keys: %v", err)
	}
}

func TestLoadKeysErrors(t *testing.T) {
	tests := []struct {
		name, yaml, want string
	}{
		{"empty file", "", "no keys"},
		{"comment only", "# nothing\n", "no keys"},
		{"not a mapping", "- id: k1\n", "line 1: want a mapping with a keys list"},
		{"unknown top-level field", "kyes: []\n", `line 1: "kyes": unknown field`},
		{"no keys field", "{}\n", "no keys field"},
		{"keys is a string", "keys: " + oneStd + "\n", "line 1: keys: want a list of {id, secret}"},
		{"keys is a map", "keys:\n  k1: " + oneStd + "\n", "line 2: keys: want a list"},
		{"empty list", "keys: []\n", "line 1: keys: no keys"},
		{"duplicate keys field", "keys: []\nkeys: []\n", "duplicate"},
		{"entry is a string", "keys:\n  - " + oneStd + "\n", "line 2: keys[0]: want a mapping {id, secret}"},
		{"unknown entry field", "keys:\n  - id: k1\n    secret: " + oneStd + "\n    created: 2026-11-01\n", `line 2: keys[0]: "created": unknown field`},
		{"secret pasted as a field name", "keys:\n  - id: k1\n    " + twoRawURL + ": x\n", "line 2: keys[0]: unknown field (name not shown)"},
		{"missing id", "keys:\n  - secret: " + oneStd + "\n", "line 2: keys[0]: missing id"},
		{"missing secret", "keys:\n  - id: k1\n", "line 2: keys[0]: missing secret"},
		{"duplicate secret field", "keys:\n  - id: k1\n    secret: " + oneStd + "\n    secret: " + twoURL + "\n", "secret: duplicate field"},
		{"secret is a list", "keys:\n  - id: k1\n    secret: [" + oneStd + "]\n", "line 2: keys[0]: secret: want a string"},
		{"id is a secret", "keys:\n  - id: " + oneStd + "\n    secret: " + oneStd + "\n", "line 2: keys[0]: key id must be"},
		{"not base64", "keys:\n  - id: k1\n    secret: not-base64!\n", `line 2: keys[0] (id "k1"): secret is not base64`},
		{"short secret", "keys:\n  - id: k1\n    secret: " + oneStd + "\n  - id: k2\n    secret: " + shortStd + "\n", `line 4: keys[1] (id "k2"): secret is 16 bytes`},
		{"duplicate id", "keys:\n  - id: k1\n    secret: " + oneStd + "\n  - id: k1\n    secret: " + twoURL + "\n", `line 4: keys[1] (id "k1"): duplicate key id (first at line 2: keys[0])`},
		{"syntax error", "keys:\n  - id: k1\n   secret: [\n", "yaml:"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "keys.yaml")
			if err := os.WriteFile(path, []byte(tt.yaml), 0o600); err != nil {
				t.Fatal(err)
			}
			keys, err := LoadKeys(path)
			if err == nil {
				t.Fatalf("LoadKeys = %v, want an error", keys)
			}
			t.Log(err)
			if !strings.HasPrefix(err.Error(), "load clearance keys "+path+": ") || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q does not name the file and contain %q", err, tt.want)
			}
			checkNoSecret(t, err)
		})
	}
	t.Run("missing file", func(t *testing.T) {
		_, err := LoadKeys(filepath.Join(t.TempDir(), "absent.yaml"))
		if !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("LoadKeys(absent) error = %v, want a wrapped not-exist error", err)
		}
	})
}

func TestKeyRedactsSecret(t *testing.T) {
	k := Key{ID: "k1", Secret: secret("one")}
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x"} {
		out := fmt.Sprintf(verb, k) + fmt.Sprintf(verb, []Key{k})
		if strings.Contains(out, fmt.Sprint(k.Secret)) || strings.Contains(out, fmt.Sprintf("%x", k.Secret)) {
			t.Errorf("Sprintf(%s) = %q: shows the secret", verb, out)
		}
	}
	if got, want := k.String(), `Key{ID:"k1", Secret:REDACTED}`; got != want {
		t.Errorf("String() = %q, want %q", got, want)
	}
}

func TestGenerateKey(t *testing.T) {
	a, err := GenerateKey("2026-12")
	if err != nil {
		t.Fatalf("GenerateKey: %v", err)
	}
	b, err := GenerateKey("2026-12")
	if err != nil {
		t.Fatalf("GenerateKey: %v", err)
	}
	if a.ID != "2026-12" || len(a.Secret) != 32 || bytes.Equal(a.Secret, b.Secret) {
		t.Errorf("GenerateKey = %v with %d-byte secret; two calls equal: %v", a, len(a.Secret), bytes.Equal(a.Secret, b.Secret))
	}
	// A generated key round-trips through the env form and signs.
	spec := a.ID + ":" + base64.StdEncoding.EncodeToString(a.Secret)
	keys, err := ParseKeys(spec)
	if err != nil {
		t.Fatalf("ParseKeys(generated): %v", err)
	}
	checkKeysEqual(t, keys, []Key{a})
	if _, err := NewSigner(Options{Keys: keys}); err != nil {
		t.Errorf("NewSigner(generated): %v", err)
	}
	if _, err := GenerateKey("bad id"); err == nil || !strings.Contains(err.Error(), "key id must be") {
		t.Errorf("GenerateKey(bad id) error = %v", err)
	}
}
