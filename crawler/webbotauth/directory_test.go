package webbotauth

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// fastSchedule makes a verifier re-fetch every few milliseconds.
func fastSchedule(v *Verifier) {
	v.refresh = 20 * time.Millisecond
	v.minMaxAge = 20 * time.Millisecond
	v.retryBase = 5 * time.Millisecond
	v.retryMax = 20 * time.Millisecond
}

// signedNow is a request signed by k for agent origin, valid by the real
// clock.
func signedNow(t *testing.T, k testKey, origin string) *Request {
	t.Helper()
	now := time.Now().Unix()
	return signedRequest{key: k, agentHeader: `sig1="` + origin + `"`,
		agentComponent: component{`"signature-agent";key="sig1"`, `"` + origin + `"`},
		created:        now - 5, expires: now + 300}.build(t)
}

func onlyDirectory(t *testing.T, v *Verifier) DirectoryState {
	t.Helper()
	ds := v.Directories()
	if len(ds) != 1 {
		t.Fatalf("%d directories, want 1", len(ds))
	}
	return ds[0]
}

func TestRefreshFailureKeepsLastGoodKeys(t *testing.T) {
	k := newTestKey(t)
	srv := newDirServer(t, k)
	v := startTuned(t, Options{}, fastSchedule, srv)
	r := signedNow(t, k, srv.origin())
	if got := v.Verify(r); got.Status != Verified {
		t.Fatalf("before the outage: %+v", got)
	}
	good := onlyDirectory(t, v).LastSuccess

	srv.set(func(s *dirServer) { s.status = http.StatusServiceUnavailable })
	waitFor(t, "a failed refresh", func() bool { return onlyDirectory(t, v).LastError != nil })
	d := onlyDirectory(t, v)
	if !strings.Contains(d.LastError.Error(), "status 503") {
		t.Errorf("LastError = %v, want the 503", d.LastError)
	}
	if d.Keys != 1 || !d.LastSuccess.Equal(good) {
		t.Errorf("during the outage: keys %d, last success %v; want the last good set (1 key, %v)", d.Keys, d.LastSuccess, good)
	}
	if got := v.Verify(r); got.Status != Verified {
		t.Errorf("during the outage: %+v, want Verified with the last good keys", got)
	}

	srv.set(func(s *dirServer) { s.status = http.StatusOK })
	waitFor(t, "recovery", func() bool {
		d := onlyDirectory(t, v)
		return d.LastError == nil && d.LastSuccess.After(good)
	})
}

func TestKeyRotation(t *testing.T) {
	k1, k2 := newTestKey(t), newTestKey(t)
	srv := newDirServer(t, k1)
	v := startTuned(t, Options{}, fastSchedule, srv)
	r1, r2 := signedNow(t, k1, srv.origin()), signedNow(t, k2, srv.origin())
	check := func(phase string, want1, want2 Status) {
		t.Helper()
		if got := v.Verify(r1).Status; got != want1 {
			t.Errorf("%s: old key %v, want %v", phase, got, want1)
		}
		if got := v.Verify(r2).Status; got != want2 {
			t.Errorf("%s: new key %v, want %v", phase, got, want2)
		}
	}
	keyIDs := func(ids ...string) func() bool {
		slices.Sort(ids)
		return func() bool { return slices.Equal(onlyDirectory(t, v).KeyIDs, ids) }
	}
	check("old key only", Verified, Invalid)

	srv.setKeys(t, k1, k2)
	waitFor(t, "both keys published", keyIDs(k1.id, k2.id))
	check("both keys", Verified, Verified)

	srv.setKeys(t, k2)
	waitFor(t, "old key removed", keyIDs(k2.id))
	check("new key only", Invalid, Verified)
	if got := v.Verify(r1); got.Reason != ReasonUnknownKey {
		t.Errorf("removed key: reason %q, want %q", got.Reason, ReasonUnknownKey)
	}
}

// failingFetch starts a verifier on srv and returns the error of its
// first fetch, after checking that requests stay Pending.
func failingFetch(t *testing.T, srv *dirServer, k testKey) error {
	t.Helper()
	v, err := New(Options{Directories: map[string]string{srv.origin(): ""}, Client: srv.srv.Client(), Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	v.Start(t.Context())
	waitFor(t, "a failed fetch", func() bool { return onlyDirectory(t, v).LastError != nil })
	if got := v.Verify(signedNow(t, k, srv.origin())); got.Status != Pending {
		t.Errorf("after a failed first fetch: %+v, want Pending", got)
	}
	return onlyDirectory(t, v).LastError
}

func TestDirectoryRefused(t *testing.T) {
	k := newTestKey(t)
	tooMany := make([]testKey, maxKeys+1)
	for i := range tooMany {
		tooMany[i] = newTestKey(t)
	}
	cases := []struct {
		name    string
		serve   func(t *testing.T, s *dirServer)
		wantErr string
	}{
		{"oversized", func(t *testing.T, s *dirServer) {
			s.set(func(s *dirServer) {
				s.body = []byte(`{"keys":[],"pad":"` + strings.Repeat("a", maxDirectoryBytes) + `"}`)
			})
		}, "directory too large"},
		{"too many keys", func(t *testing.T, s *dirServer) { s.setKeys(t, tooMany...) }, "over the limit"},
		{"JSON media type at the well-known URI", func(t *testing.T, s *dirServer) {
			s.set(func(s *dirServer) { s.contentType = "application/json" })
		}, "content type"},
		{"HTML", func(t *testing.T, s *dirServer) {
			s.set(func(s *dirServer) { s.contentType = "text/html; charset=utf-8" })
		}, "content type"},
		{"redirect", func(t *testing.T, s *dirServer) {
			s.set(func(s *dirServer) {
				s.status = http.StatusFound
				s.header = http.Header{"Location": {s.srv.URL + "/keys.json"}}
			})
		}, "redirects are not followed"},
		{"not a JWK Set", func(t *testing.T, s *dirServer) {
			s.set(func(s *dirServer) { s.body = []byte(`{"key":[]}`) })
		}, `no "keys" member`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			srv := newDirServer(t, k)
			c.serve(t, srv)
			err := failingFetch(t, srv, k)
			if !strings.Contains(err.Error(), c.wantErr) {
				t.Errorf("error %q, want it to mention %q", err, c.wantErr)
			}
		})
	}
}

func TestDirectorySizeLimitIsInclusive(t *testing.T) {
	k := newTestKey(t)
	srv := newDirServer(t, k)
	body := jwksBody(t, k)
	pad := maxDirectoryBytes - len(body) - len(`,"pad":""`)
	full := string(body[:len(body)-1]) + `,"pad":"` + strings.Repeat("a", pad) + `"}`
	if len(full) != maxDirectoryBytes {
		t.Fatalf("test body is %d bytes", len(full))
	}
	srv.set(func(s *dirServer) { s.body = []byte(full) })
	v := startVerifier(t, Options{}, srv)
	if got := v.Verify(signedNow(t, k, srv.origin())); got.Status != Verified {
		t.Errorf("directory of exactly %d bytes: %+v", maxDirectoryBytes, got)
	}
}

func TestCacheControlShortensRefresh(t *testing.T) {
	cases := []struct {
		cacheControl string
		want         time.Duration
	}{
		{"max-age=7200", time.Hour}, // longer than Refresh: Refresh wins
		{"public, max-age=600", 10 * time.Minute},
		{"max-age=5", time.Minute}, // bounded below
		{"no-store", time.Minute},
		{"", time.Hour},
	}
	for _, c := range cases {
		t.Run(c.cacheControl, func(t *testing.T) {
			k := newTestKey(t)
			srv := newDirServer(t, k)
			srv.set(func(s *dirServer) { s.header = http.Header{"Cache-Control": {c.cacheControl}} })
			d := onlyDirectory(t, startVerifier(t, Options{}, srv))
			wait := d.NextFetch.Sub(d.LastAttempt)
			lo, hi := c.want-c.want/10, c.want+c.want/10
			if wait < lo || wait > hi {
				t.Errorf("next fetch in %v, want %v ±10%%", wait, c.want)
			}
		})
	}
}

func TestFileDirectory(t *testing.T) {
	k1, k2 := newTestKey(t), newTestKey(t)
	path := filepath.Join(t.TempDir(), "keys.json")
	if err := os.WriteFile(path, jwksBody(t, k1), 0o600); err != nil {
		t.Fatal(err)
	}
	const agent = "https://static.example"
	v := startTuned(t, Options{Directories: map[string]string{agent: "file://" + path}}, fastSchedule)
	if got := v.Verify(signedNow(t, k1, agent)); got.Status != Verified || got.Agent != agent {
		t.Fatalf("file directory: %+v", got)
	}
	// Rotating the file is picked up like a fetched directory.
	if err := os.WriteFile(path, jwksBody(t, k2), 0o600); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the rewritten file", func() bool { return v.Verify(signedNow(t, k2, agent)).Status == Verified })
	if got := v.Verify(signedNow(t, k1, agent)); got.Reason != ReasonUnknownKey {
		t.Errorf("removed key: %+v", got)
	}
}

// signDirectoryResponse makes the server sign its response with k per -01
// Appendix B.1, built by hand like the request signer.
func signDirectoryResponse(t *testing.T, s *dirServer, k testKey, signedBody []byte, created, expires int64) {
	t.Helper()
	u, err := url.Parse(s.srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(signedBody)
	digest := "sha-256=:" + base64.StdEncoding.EncodeToString(sum[:]) + ":"
	inner := fmt.Sprintf(`("@authority";req "content-digest");created=%d;expires=%d;keyid="%s";tag="http-message-signatures-directory"`, created, expires, k.id)
	base := `"@authority";req: ` + u.Host + "\n" + `"content-digest": ` + digest + "\n" + `"@signature-params": ` + inner
	sig := base64.StdEncoding.EncodeToString(ed25519.Sign(k.priv, []byte(base)))
	s.set(func(s *dirServer) {
		s.header = http.Header{
			"Content-Digest":  {digest},
			"Signature-Input": {"binding0=" + inner},
			"Signature":       {"binding0=:" + sig + ":"},
		}
	})
}

func TestSignedDirectoryResponse(t *testing.T) {
	k := newTestKey(t)
	now := time.Now().Unix()
	t.Run("valid proof", func(t *testing.T) {
		srv := newDirServer(t, k)
		signDirectoryResponse(t, srv, k, jwksBody(t, k), now-10, now+3600)
		d := onlyDirectory(t, startVerifier(t, Options{}, srv))
		if !d.Signed || d.Keys != 1 {
			t.Errorf("state %+v, want a signed key set of one key", d)
		}
	})
	t.Run("no proof is accepted", func(t *testing.T) {
		d := onlyDirectory(t, startVerifier(t, Options{}, newDirServer(t, k)))
		if d.Signed || d.Keys != 1 {
			t.Errorf("state %+v, want an unsigned key set of one key", d)
		}
	})
	refused := []struct {
		name             string
		body             []byte
		created, expires int64
		want             string
	}{
		{"digest of another body", jwksBody(t, k, newTestKey(t)), now - 10, now + 3600, "does not match the body"},
		{"created in the future", jwksBody(t, k), now + 3600, now + 7200, "future"},
		{"expired", jwksBody(t, k), now - 7200, now - 3600, "expired"},
	}
	for _, c := range refused {
		t.Run(c.name, func(t *testing.T) {
			srv := newDirServer(t, k)
			signDirectoryResponse(t, srv, k, c.body, c.created, c.expires)
			if c.name == "digest of another body" {
				// Sign the other body but serve ours: only the digest check
				// can notice.
				srv.set(func(s *dirServer) {
					sum := sha256.Sum256(c.body)
					s.header.Set("Content-Digest", "sha-256=:"+base64.StdEncoding.EncodeToString(sum[:])+":")
				})
			}
			err := failingFetch(t, srv, k)
			if !strings.Contains(err.Error(), c.want) {
				t.Errorf("error %q, want it to mention %q", err, c.want)
			}
		})
	}
}

func TestNewRejectsBadOptions(t *testing.T) {
	_, err := New(Options{
		Directories: map[string]string{
			"http://plain.example":      "",
			"https://path.example/bots": "",
			"https://ftp.example":       "ftp://ftp.example/keys",
			"https://rel.example":       "file:relative/keys.json",
			"https://Dup.example":       "",
			"https://dup.example:443":   "",
		},
		Refresh: time.Millisecond,
		MaxSkew: -time.Second,
	})
	if err == nil {
		t.Fatal("New accepted bad options")
	}
	for _, want := range []string{
		`"http://plain.example": not an https origin`,
		`"https://path.example/bots": not an https origin`,
		`scheme must be https or file`,
		`want file:///absolute/path`,
		`same agent as "https://dup.example"`,
		`refresh 1ms: below one second`,
		`max skew -1s: negative`,
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}

	v, err := New(Options{Directories: map[string]string{
		"https://chatgpt.com":    "",
		"https://keys.example/":  "https://cdn.example/keys.json",
		"https://static.example": "file:///etc/botauthz/static.json",
	}})
	if err != nil {
		t.Fatalf("valid options: %v", err)
	}
	var got []string
	for _, d := range v.Directories() {
		got = append(got, d.Agent+" "+d.URL)
	}
	want := []string{
		"https://chatgpt.com https://chatgpt.com" + WellKnownPath,
		"https://keys.example https://cdn.example/keys.json",
		"https://static.example file:///etc/botauthz/static.json",
	}
	if !slices.Equal(got, want) {
		t.Errorf("directories %q, want %q", got, want)
	}
}

func TestStartTwiceIsHarmless(t *testing.T) {
	k := newTestKey(t)
	srv := newDirServer(t, k)
	var logs syncBuffer
	v := startVerifier(t, Options{Logger: slog.New(slog.NewTextHandler(&logs, nil))}, srv)
	v.Start(t.Context())
	if !strings.Contains(logs.String(), "Start called twice") {
		t.Errorf("second Start not reported; log:\n%s", logs.String())
	}
	if got := v.Verify(signedNow(t, k, srv.origin())); got.Status != Verified {
		t.Errorf("after a second Start: %+v", got)
	}
}

// syncBuffer is a bytes.Buffer safe for the verifier's goroutines.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
