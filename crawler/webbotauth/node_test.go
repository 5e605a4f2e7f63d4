package webbotauth

import (
	"net/url"
	"testing"
	"time"

	"github.com/botauthz/botauthz/internal/webbotauthtest"
)

// nodeJob is the npm bot's job.
type nodeJob = webbotauthtest.Job

// signWith signs job with the npm package and returns the request it
// signed and the key id the package computed.
func signWith(t *testing.T, signer *webbotauthtest.Signer, job nodeJob) (*Request, string) {
	t.Helper()
	res := signer.Sign(t, job)
	u, err := url.Parse(job.URL)
	if err != nil {
		t.Fatal(err)
	}
	method := job.Method
	if method == "" {
		method = "GET"
	}
	return &Request{Method: method, Scheme: u.Scheme, Authority: u.Host, Path: u.RequestURI(), Headers: res.Headers}, res.KeyID
}

func TestVerifyWebBotAuthNPM(t *testing.T) {
	signer := webbotauthtest.NewSigner(t)
	k, stranger := newTestKey(t), newTestKey(t)
	srv := newDirServer(t, k)
	v := startVerifier(t, Options{}, srv)
	origin := srv.origin()
	now := time.Now().Unix()

	cases := []struct {
		name       string
		job        nodeJob
		tamper     func(r *Request)
		wantStatus Status
		wantReason string
	}{
		{
			// What 0.1.3 does by default: the bare-string Signature-Agent
			// of draft-meunier-web-bot-auth-architecture.
			name:       "bare-string Signature-Agent, default components",
			job:        nodeJob{JWK: k.privateJWK(), URL: "https://shop.example/", SignatureAgent: `"` + origin + `"`},
			wantStatus: Verified,
		},
		{
			// 0.1.3 covers the whole field as "signature-agent": with a
			// dictionary field, the member keyed to the label names the
			// agent.
			name:       "dictionary Signature-Agent covered whole",
			job:        nodeJob{JWK: k.privateJWK(), URL: "https://shop.example/", SignatureAgent: `sig1="` + origin + `"`},
			wantStatus: Verified,
		},
		{
			name: "@target-uri instead of @authority, with method, path and query",
			job: nodeJob{JWK: k.privateJWK(), Method: "POST", URL: "https://Shop.Example/search?q=bots&page=2",
				SignatureAgent: `"` + origin + `"`,
				Components:     []any{"@target-uri", "signature-agent", "@method", "@path", "@query"}},
			wantStatus: Verified,
		},
		{
			name: "query changed after signing",
			job: nodeJob{JWK: k.privateJWK(), URL: "https://shop.example/search?q=bots",
				SignatureAgent: `"` + origin + `"`,
				Components:     []any{"@authority", "signature-agent", "@path", "@query"}},
			tamper:     func(r *Request) { r.Path = "/search?q=admin" },
			wantStatus: Invalid, wantReason: ReasonBadSignature,
		},
		{
			name: "non-default port and own label",
			job: nodeJob{JWK: k.privateJWK(), URL: "https://shop.example:8443/a", Label: "bot",
				SignatureAgent: `bot="` + origin + `"`},
			wantStatus: Verified,
		},
		{
			name:       "expired",
			job:        nodeJob{JWK: k.privateJWK(), URL: "https://shop.example/", SignatureAgent: `"` + origin + `"`, Created: now - 900, Expires: now - 600},
			wantStatus: Invalid, wantReason: ReasonExpired,
		},
		{
			name:       "key not in the directory",
			job:        nodeJob{JWK: stranger.privateJWK(), URL: "https://shop.example/", SignatureAgent: `"` + origin + `"`},
			wantStatus: Invalid, wantReason: ReasonUnknownKey,
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if c.job.Created == 0 {
				c.job.Created, c.job.Expires = now-5, now+300
			}
			r, keyid := signWith(t, signer, c.job)
			if want := thumbprintOf(c.job.JWK); keyid != want {
				t.Errorf("web-bot-auth keyid %q, our RFC 7638 thumbprint %q", keyid, want)
			}
			if c.tamper != nil {
				c.tamper(r)
			}
			got := v.Verify(r)
			if got.Status != c.wantStatus || got.Reason != c.wantReason {
				t.Fatalf("Verify = %+v, want %v/%q\nheaders: %q", got, c.wantStatus, c.wantReason, r.Headers)
			}
			if got.Status == Verified && (got.Agent != origin || got.KeyID != k.id) {
				t.Errorf("Verified as %q/%q, want %q/%q", got.Agent, got.KeyID, origin, k.id)
			}
		})
	}
}

func thumbprintOf(j map[string]string) string {
	id, _, _ := edKey(&jwk{Kty: j["kty"], Crv: j["crv"], X: j["x"]}, true)
	return id
}
