// Package webbotauthtest lets tests act as a Web Bot Auth bot: it signs
// requests with Cloudflare's npm package web-bot-auth (0.1.3), a maintained
// RFC 9421 implementation that shares nothing with botauthz's verifier,
// through sign.mjs and the system's node, and makes the Ed25519 keys and
// key directories such a bot publishes.
package webbotauthtest

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"testing"
)

// Signer runs sign.mjs.
type Signer struct {
	node, script, modules string
}

// NewSigner finds node and the npm package under <repo>/.tools/node, where
// `make test` installs it, or skips the test (fails it under
// BOTAUTHZ_TEST_REQUIRE=1, as `make test` sets).
func NewSigner(t testing.TB) *Signer {
	t.Helper()
	missing := func(format string, args ...any) {
		t.Helper()
		if os.Getenv("BOTAUTHZ_TEST_REQUIRE") == "1" {
			t.Fatalf(format+" (BOTAUTHZ_TEST_REQUIRE=1 requires it)", args...)
		}
		t.Skipf(format+": install it to sign as a Web Bot Auth bot", args...)
	}
	node, err := exec.LookPath("node")
	if err != nil {
		missing("node not found: %v", err)
	}
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		t.Fatal("webbotauthtest: cannot locate sign.mjs")
	}
	here := filepath.Dir(file)
	modules := filepath.Join(here, "..", "..", ".tools", "node", "node_modules")
	if _, err := os.Stat(filepath.Join(modules, "web-bot-auth", "package.json")); err != nil {
		missing("npm package web-bot-auth not in %s (make node-clients)", modules)
	}
	return &Signer{node: node, script: filepath.Join(here, "sign.mjs"), modules: modules}
}

// Job is sign.mjs's input; see the comment at the top of the script.
type Job struct {
	JWK            map[string]string `json:"jwk"`
	Method         string            `json:"method,omitempty"`
	URL            string            `json:"url"`
	SignatureAgent string            `json:"signatureAgent,omitempty"`
	Created        int64             `json:"created"`
	Expires        int64             `json:"expires"`
	Label          string            `json:"label,omitempty"`
	Components     []any             `json:"components,omitempty"`
}

// Signed is what sign.mjs made of a job: the key's id and the headers to
// send (signature, signature-input and, when the job had one,
// signature-agent), with lower-case names.
type Signed struct {
	KeyID   string            `json:"keyid"`
	Headers map[string]string `json:"headers"`
}

// Sign runs one job.
func (s *Signer) Sign(t testing.TB, job Job) Signed {
	t.Helper()
	in, err := json.Marshal(job)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.CommandContext(t.Context(), s.node, s.script)
	cmd.Env = append(os.Environ(), "NODE_PATH="+s.modules)
	cmd.Stdin = bytes.NewReader(in)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("sign.mjs: %v\n%s", err, stderr.String())
	}
	var res Signed
	if err := json.Unmarshal(out, &res); err != nil {
		t.Fatalf("sign.mjs output %q: %v", out, err)
	}
	return res
}

// Key is an Ed25519 key pair as a bot holds it.
type Key struct {
	Private ed25519.PrivateKey
	Public  ed25519.PublicKey
	// ID is the key's RFC 7638 JWK thumbprint (base64url, no padding),
	// computed here independently of the verifier.
	ID string
}

// NewKey makes a fresh key.
func NewKey(t testing.TB) Key {
	t.Helper()
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	x := base64.RawURLEncoding.EncodeToString(pub)
	// RFC 7638 §3.2: the required members in lexicographic order, no
	// white space.
	sum := sha256.Sum256([]byte(`{"crv":"Ed25519","kty":"OKP","x":"` + x + `"}`))
	return Key{Private: priv, Public: pub, ID: base64.RawURLEncoding.EncodeToString(sum[:])}
}

// PublicJWK is the key's public half as a JWK (RFC 8037).
func (k Key) PublicJWK() map[string]string {
	return map[string]string{"kty": "OKP", "crv": "Ed25519", "x": base64.RawURLEncoding.EncodeToString(k.Public)}
}

// PrivateJWK is the key as a private JWK, what sign.mjs signs with.
func (k Key) PrivateJWK() map[string]string {
	j := k.PublicJWK()
	j["d"] = base64.RawURLEncoding.EncodeToString(k.Private.Seed())
	return j
}

// JWKS is a key directory's body: a JWK Set of the keys' public halves.
func JWKS(t testing.TB, keys ...Key) []byte {
	t.Helper()
	set := struct {
		Keys []map[string]string `json:"keys"`
	}{Keys: []map[string]string{}}
	for _, k := range keys {
		set.Keys = append(set.Keys, k.PublicJWK())
	}
	b, err := json.Marshal(set)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
