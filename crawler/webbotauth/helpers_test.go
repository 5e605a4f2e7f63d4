package webbotauth

import (
	"crypto/ed25519"
	"encoding/base64"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/botauthz/botauthz/internal/webbotauthtest"
)

// testKey is a bot's key (webbotauthtest.Key) under the short names these
// tests use.
type testKey struct {
	webbotauthtest.Key
	priv ed25519.PrivateKey
	pub  ed25519.PublicKey
	id   string // RFC 7638 thumbprint, computed independently of jwks.go
}

func newTestKey(t testing.TB) testKey {
	t.Helper()
	k := webbotauthtest.NewKey(t)
	return testKey{Key: k, priv: k.Private, pub: k.Public, id: k.ID}
}

func (k testKey) publicJWK() map[string]string  { return k.PublicJWK() }
func (k testKey) privateJWK() map[string]string { return k.PrivateJWK() }

// jwksBody is a JWK Set holding the keys' public halves.
func jwksBody(t testing.TB, keys ...testKey) []byte {
	t.Helper()
	ks := make([]webbotauthtest.Key, len(keys))
	for i, k := range keys {
		ks[i] = k.Key
	}
	return webbotauthtest.JWKS(t, ks...)
}

// dirServer serves a key directory at the well-known URI over TLS, the way
// -01 §5.5 describes: 200, application/http-message-signatures-directory+json,
// a JWK Set. Tests change what it serves while a verifier polls it.
type dirServer struct {
	srv  *httptest.Server
	hits atomic.Int64

	mu          sync.Mutex
	body        []byte
	status      int
	contentType string
	header      http.Header
}

func newDirServer(t testing.TB, keys ...testKey) *dirServer {
	t.Helper()
	s := &dirServer{body: jwksBody(t, keys...), status: http.StatusOK, contentType: DirectoryMediaType}
	s.srv = httptest.NewTLSServer(http.HandlerFunc(s.serve))
	t.Cleanup(s.srv.Close)
	return s
}

func (s *dirServer) serve(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != WellKnownPath {
		http.NotFound(w, r)
		return
	}
	s.hits.Add(1)
	s.mu.Lock()
	body, status, ct := s.body, s.status, s.contentType
	for k, vs := range s.header {
		w.Header()[k] = vs
	}
	s.mu.Unlock()
	w.Header().Set("Content-Type", ct)
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

func (s *dirServer) origin() string { return s.srv.URL }

func (s *dirServer) set(f func(s *dirServer)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	f(s)
}

func (s *dirServer) setKeys(t testing.TB, keys ...testKey) {
	body := jwksBody(t, keys...)
	s.set(func(s *dirServer) { s.body = body })
}

// quiet drops the verifier's fetch logs, which would outlive a test.
var quiet = slog.New(slog.DiscardHandler)

// startVerifier returns a started verifier trusting the servers' origins,
// after their first fetch succeeded.
func startVerifier(t *testing.T, opts Options, servers ...*dirServer) *Verifier {
	t.Helper()
	return startTuned(t, opts, nil, servers...)
}

// startTuned is startVerifier with a chance to shorten the verifier's
// schedule before Start.
func startTuned(t *testing.T, opts Options, tune func(v *Verifier), servers ...*dirServer) *Verifier {
	t.Helper()
	if opts.Directories == nil {
		opts.Directories = map[string]string{}
	}
	if opts.Logger == nil {
		opts.Logger = quiet
	}
	for _, s := range servers {
		opts.Directories[s.origin()] = ""
		opts.Client = s.srv.Client() // all httptest TLS servers share one certificate
	}
	v, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	if tune != nil {
		tune(v)
	}
	v.Start(t.Context())
	waitFor(t, "first fetch of every directory", func() bool {
		for _, d := range v.Directories() {
			if d.LastSuccess.IsZero() {
				return false
			}
		}
		return true
	})
	return v
}

// waitFor polls cond until it holds, failing the test after a deadline.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	tick := time.NewTicker(2 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		<-tick.C
	}
}

// component is one covered component as a test signer states it: the
// serialized identifier and its value, written out by hand so the signer
// shares no code with the verifier's signature base.
type component struct{ id, value string }

// goSignature describes a signature made in Go per
// draft-ietf-webbotauth-httpsig-protocol-01.
type goSignature struct {
	label      string // default sig1
	components []component
	params     string // serialized signature parameters, e.g. `;created=1;expires=2;keyid="…";tag="web-bot-auth"`
}

// sign adds Signature-Input and Signature for sig to headers, building the
// RFC 9421 §2.5 signature base by string concatenation.
func sign(t testing.TB, k testKey, headers map[string]string, sig goSignature) {
	t.Helper()
	label := sig.label
	if label == "" {
		label = "sig1"
	}
	var base strings.Builder
	ids := make([]string, len(sig.components))
	for i, c := range sig.components {
		ids[i] = c.id
		base.WriteString(c.id + ": " + c.value + "\n")
	}
	inner := "(" + strings.Join(ids, " ") + ")" + sig.params
	base.WriteString(`"@signature-params": ` + inner)
	s := ed25519.Sign(k.priv, []byte(base.String()))
	appendField(headers, "signature-input", label+"="+inner)
	appendField(headers, "signature", label+"=:"+base64.StdEncoding.EncodeToString(s)+":")
}

// appendField adds a member the way Envoy joins repeated headers.
func appendField(h map[string]string, name, value string) {
	if old, ok := h[name]; ok {
		h[name] = old + "," + value
		return
	}
	h[name] = value
}

// wbaParams are the usual web-bot-auth signature parameters.
func wbaParams(k testKey, created, expires int64) string {
	return fmt.Sprintf(`;created=%d;expires=%d;keyid="%s";alg="ed25519";tag="web-bot-auth"`, created, expires, k.id)
}
