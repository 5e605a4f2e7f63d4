package admin

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

const (
	secretA = "aaaa-secret-0123456789"
	secretB = "bbbb:secret:0123456789"
)

func TestParseTokens(t *testing.T) {
	tests := []struct {
		name    string
		spec    string
		want    []Token
		wantErr string
	}{
		{name: "empty", spec: ""},
		{name: "one", spec: "alice:rw:" + secretA, want: []Token{{Name: "alice", Secret: secretA, Write: true}}},
		{
			name: "two with spaces and a colon in the secret",
			spec: " alice:rw:" + secretA + " , ci:ro:" + secretB + ",",
			want: []Token{{Name: "alice", Secret: secretA, Write: true}, {Name: "ci", Secret: secretB}},
		},
		{name: "no role", spec: "alice:" + secretA, wantErr: "entry 1: want name:rw|ro:secret"},
		{name: "bare secret", spec: secretA, wantErr: "entry 1: want name:rw|ro:secret"},
		{name: "bad role", spec: "alice:admin:" + secretA, wantErr: `entry 1 ("alice"): role must be rw or ro`},
		{name: "short secret", spec: "alice:rw:tiny-s3cr3t", wantErr: `entry 1 ("alice"): secret is shorter than 16`},
		{name: "secret with space", spec: "alice:rw:aaaa secret 0123456789", wantErr: "printable ASCII"},
		{name: "bad name", spec: "al ice:rw:" + secretA, wantErr: "entry 1: name must be"},
		{name: "empty name", spec: ":rw:" + secretA, wantErr: "entry 1: name must be"},
		{name: "duplicate name", spec: "alice:rw:" + secretA + ",alice:ro:" + secretB, wantErr: `duplicate name "alice"`},
		{name: "position counts empty entries", spec: "alice:rw:" + secretA + ",,bob:ro:tiny-s3cr3t", wantErr: `entry 3 ("bob"): secret is shorter`},
		{name: "shared secret", spec: "alice:rw:" + secretA + ",bob:ro:" + secretA, wantErr: "share a secret"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseTokens(tt.spec)
			checkTokens(t, got, err, tt.want, tt.wantErr)
		})
	}
}

func TestLoadTokens(t *testing.T) {
	tests := []struct {
		name    string
		file    string
		want    []Token
		wantErr string
	}{
		{
			name: "good",
			file: "tokens:\n  - {name: alice, role: rw, secret: \"" + secretA + "\"}\n  - name: dash\n    role: ro\n    secret: \"" + secretB + "\"\n",
			want: []Token{{Name: "alice", Secret: secretA, Write: true}, {Name: "dash", Secret: secretB}},
		},
		{name: "empty file", file: "", wantErr: "no tokens"},
		{name: "empty list", file: "tokens: []\n", wantErr: "no tokens"},
		{name: "unknown key", file: "tokens:\n  - {name: alice, role: rw, secret: \"" + secretA + "\", expires: never}\n", wantErr: "expires"},
		{name: "unknown top-level key", file: "tokenz: []\n", wantErr: "tokenz"},
		{name: "short secret", file: "tokens:\n  - {name: alice, role: rw, secret: tiny-s3cr3t}\n", wantErr: "shorter than 16"},
		{name: "missing secret", file: "tokens:\n  - {name: alice, role: rw}\n", wantErr: "shorter than 16"},
		{name: "bad role", file: "tokens:\n  - {name: alice, role: admin, secret: \"" + secretA + "\"}\n", wantErr: "role must be rw or ro"},
		{name: "duplicate name", file: "tokens:\n  - {name: a, role: rw, secret: \"" + secretA + "\"}\n  - {name: a, role: ro, secret: \"" + secretB + "\"}\n", wantErr: "duplicate name"},
		{name: "not YAML", file: "tokens: [\n", wantErr: "admin tokens"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "tokens.yaml")
			if err := os.WriteFile(path, []byte(tt.file), 0o600); err != nil {
				t.Fatal(err)
			}
			got, err := LoadTokens(path)
			checkTokens(t, got, err, tt.want, tt.wantErr)
		})
	}
	t.Run("missing file", func(t *testing.T) {
		if _, err := LoadTokens(filepath.Join(t.TempDir(), "nope.yaml")); err == nil {
			t.Error("no error for a missing file")
		}
	})
}

func checkTokens(t *testing.T, got []Token, err error, want []Token, wantErr string) {
	t.Helper()
	if wantErr != "" {
		if err == nil {
			t.Fatalf("no error, want one containing %q", wantErr)
		}
		if !strings.Contains(err.Error(), wantErr) {
			t.Errorf("error %q does not contain %q", err, wantErr)
		}
		for _, s := range []string{secretA, secretB, "tiny-s3cr3t", "aaaa secret"} {
			if strings.Contains(err.Error(), s) {
				t.Errorf("error %q prints a secret", err)
			}
		}
		return
	}
	if err != nil {
		t.Fatalf("error: %v", err)
	}
	if !slices.Equal(got, want) {
		t.Errorf("tokens = %+v, want %+v", got, want)
	}
}

func TestKeyring(t *testing.T) {
	k := newKeyring([]Token{{Name: "a", Secret: secretA, Write: true}, {Name: "b", Secret: secretB}})
	tests := []struct {
		name      string
		secret    string
		wantName  string
		wantWrite bool
		wantOK    bool
	}{
		{name: "first", secret: secretA, wantName: "a", wantWrite: true, wantOK: true},
		{name: "second", secret: secretB, wantName: "b", wantOK: true},
		{name: "prefix", secret: secretA[:10]},
		{name: "longer", secret: secretA + "x"},
		{name: "empty", secret: ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := k.lookup(tt.secret)
			if ok != tt.wantOK || got.name != tt.wantName || got.write != tt.wantWrite {
				t.Errorf("lookup = %q write %v ok %v, want %q write %v ok %v", got.name, got.write, ok, tt.wantName, tt.wantWrite, tt.wantOK)
			}
		})
	}
}
