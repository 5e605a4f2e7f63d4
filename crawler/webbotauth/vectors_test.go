package webbotauth

import (
	"crypto/ed25519"
	"crypto/x509"
	"encoding/pem"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// Published test vectors. Sources:
//   - RFC 9421 Appendix B.1.4 (test-key-ed25519), B.2 (test-request) and
//     B.2.6 (signing a request using ed25519), read from the RFC's source,
//     github.com/httpwg/http-extensions draft-ietf-httpbis-message-signatures.md
//     at commit 43b0ca0a (the text published as RFC 9421).
//   - draft-ietf-webbotauth-httpsig-protocol-01 Appendix E.2 (EdDSA test
//     vectors), github.com/webbotauth/draft-ietf-webbotauth-httpsig-protocol
//     draft-ietf-webbotauth-httpsig-protocol.md.
//   - RFC 8037 Appendix A.3 (an Ed25519 JWK thumbprint).

// rfc9421TestKeyPEM is test-key-ed25519's public key (RFC 9421 B.1.4).
const rfc9421TestKeyPEM = `-----BEGIN PUBLIC KEY-----
MCowBQYDK2VwAyEAJrQLj5P/89iXES9+vFgrIy29clF9CC/oPPsw3c5D0bs=
-----END PUBLIC KEY-----`

// rfc9421TestKeyID is test-key-ed25519's RFC 7638 thumbprint, the keyid the
// draft's vectors use.
const rfc9421TestKeyID = "poqkLGiymh_W0uP6PZFw-dvez3QJT5SolqXBCW38r0U"

func rfc9421TestKey(t *testing.T) ed25519.PublicKey {
	t.Helper()
	block, _ := pem.Decode([]byte(rfc9421TestKeyPEM))
	pub, err := x509.ParsePKIXPublicKey(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return pub.(ed25519.PublicKey)
}

func TestRFC9421B26Ed25519(t *testing.T) {
	r := &Request{
		Method: "POST", Scheme: "https", Authority: "example.com", Path: "/foo?param=Value&Pet=dog",
		Headers: map[string]string{
			"date":           "Tue, 20 Apr 2021 02:07:55 GMT",
			"content-type":   "application/json",
			"content-digest": "sha-512=:WZDPaVn/7XgHaAy8pmojAkGWoRx2UFChF41A2svX+TaPm+AbwAgBWnrIiYllu7BNNyealdVLvRwEmTHWXvJwew==:",
			"content-length": "18",
		},
	}
	const signatureInput = `sig-b26=("date" "@method" "@path" "@authority" "content-type" "content-length");created=1618884473;keyid="test-key-ed25519"`
	const signature = `sig-b26=:wqcAqbmYJ2ji2glfAMaRy4gruYYnx2nEFN2HN6jrnDnQCK1u02Gb04v9EDgwUPiu4A0w6vuQv5lIp5WPpBKRCw==:`
	const wantBase = `"date": Tue, 20 Apr 2021 02:07:55 GMT
"@method": POST
"@path": /foo
"@authority": example.com
"content-type": application/json
"content-length": 18
"@signature-params": ("date" "@method" "@path" "@authority" "content-type" "content-length");created=1618884473;keyid="test-key-ed25519"`

	inputs, err := parseDictionary(signatureInput)
	if err != nil || len(inputs) != 1 {
		t.Fatalf("parse Signature-Input: %v", err)
	}
	base, err := appendSignatureBase(nil, &inputs[0], requestResolver{r: r})
	if err != nil {
		t.Fatal(err)
	}
	if string(base) != wantBase {
		t.Fatalf("signature base:\n%s\nwant:\n%s", base, wantBase)
	}
	sigs, err := parseDictionary(signature)
	if err != nil {
		t.Fatal(err)
	}
	if !ed25519.Verify(rfc9421TestKey(t), base, sigs[0].item.value.bytes) {
		t.Fatal("RFC 9421 B.2.6 signature does not verify over our signature base")
	}
	// The base is what is signed: one byte off and the signature fails.
	base[len(base)-2] ^= 1
	if ed25519.Verify(rfc9421TestKey(t), base, sigs[0].item.value.bytes) {
		t.Fatal("a changed base verified")
	}
}

// draftVerifier trusts https://signature-agent.test with the RFC 9421 test
// key, read from a file as an air-gapped deployment would, at the time of
// the draft's vectors.
func draftVerifier(t *testing.T) *Verifier {
	t.Helper()
	path := filepath.Join(t.TempDir(), "jwks.json")
	body := `{"keys":[{"kty":"OKP","crv":"Ed25519","x":"` + rfc9421TestKeyX + `"}]}`
	if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return startTuned(t, Options{
		Directories: map[string]string{"https://signature-agent.test": "file://" + path},
		Now:         func() time.Time { return time.Unix(1735689700, 0) },
	}, func(v *Verifier) { v.allowTestKeys = true })
}

func TestDraftTestVectors(t *testing.T) {
	v := draftVerifier(t)
	cases := []struct {
		name    string
		headers map[string]string
	}{
		{"E.2.1 Signature-Agent dictionary member", map[string]string{
			"signature-agent": `agent2="https://signature-agent.test"`,
			"signature-input": `sig2=("@authority" "signature-agent";key="agent2");created=1735689600;keyid="poqkLGiymh_W0uP6PZFw-dvez3QJT5SolqXBCW38r0U";alg="ed25519";expires=4889289600;nonce="n9p433xm+NJ3ph3upfBIGmsuwHw387YV7Q/F+6BSpGCVjYCqQw6rznNA8PVVLySrAWsv0hQtFioQb6E1YsauiA==";tag="web-bot-auth"`,
			"signature":       `sig2=:RdNFx5Bj6au3YgAMQL/RzmUlZE8QZLIaXGRpw985hWnwPfMxT228NMk6ehRS1PSl4e8PhbNZACSanGdhEwYCCg==:`,
		}},
		{"E.2.2 legacy Signature-Agent string", map[string]string{
			"signature-agent": `"https://signature-agent.test"`,
			"signature-input": `sig2=("@authority" "signature-agent");created=1735689600;keyid="poqkLGiymh_W0uP6PZFw-dvez3QJT5SolqXBCW38r0U";alg="ed25519";expires=1735693200;nonce="e8N7S2MFd/qrd6T2R3tdfAuuANngKI7LFtKYI/vowzk4lAZYadIX6wW25MwG7DCT9RUKAJ0qVkU0mEeLElW1qg==";tag="web-bot-auth"`,
			"signature":       `sig2=:jdq0SqOwHdyHr9+r5jw3iYZH6aNGKijYp/EstF4RQTQdi5N5YYKrD+mCT1HA1nZDsi6nJKuHxUi/5Syp3rLWBA==:`,
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := &Request{Method: "GET", Scheme: "https", Authority: "example.com", Path: "/", Headers: c.headers}
			got := v.Verify(r)
			want := Result{Status: Verified, Agent: "https://signature-agent.test", KeyID: rfc9421TestKeyID}
			if got != want {
				t.Fatalf("Verify = %+v, want %+v", got, want)
			}
			r.Authority = "example.org"
			if got := v.Verify(r); got.Reason != ReasonBadSignature {
				t.Errorf("for another authority: %+v, want bad_signature", got)
			}
		})
	}
}

func TestDraftSignedDirectoryVector(t *testing.T) {
	// draft-ietf-webbotauth-httpsig-protocol-01 Appendix E.2.3.
	body := []byte(`{"keys":[{"kty":"OKP","crv":"Ed25519","kid":"poqkLGiymh_W0uP6PZFw-dvez3QJT5SolqXBCW38r0U","x":"JrQLj5P_89iXES9-vFgrIy29clF9CC_oPPsw3c5D0bs","use":"sig"}]}`)
	h := http.Header{}
	h.Set("Content-Digest", "sha-256=:CADMT2aBdV/rqQr/NIru64ERQkCobVvllA4V0fLFDu0=:")
	h.Set("Signature-Input", `binding=("@authority";req "content-digest");created=1735689600;expires=4889289600;keyid="poqkLGiymh_W0uP6PZFw-dvez3QJT5SolqXBCW38r0U";tag="http-message-signatures-directory"`)
	h.Set("Signature", "binding=:l6P8R67tm3kujAxbHWio7ll01qrEZ0dKD/WWlGhNYEmTnFZM8Wt0VQ9zqGfvo7T/UMkBxsigzChM1Gpz7gOVBg==:")
	ks, _, err := parseJWKS(body, true)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Unix(1735689700, 0)
	proven, err := verifyDirectoryProof(h, body, "signature-agent.test", ks, now, time.Minute)
	if err != nil || !proven {
		t.Fatalf("E.2.3: proven %v, err %v", proven, err)
	}
	if _, err := verifyDirectoryProof(h, body, "mirror.example", ks, now, time.Minute); err == nil {
		t.Error("the proof verified for another authority")
	}
	tampered := []byte(strings.Replace(string(body), `"use":"sig"`, `"use":"sig" `, 1))
	if _, err := verifyDirectoryProof(h, tampered, "signature-agent.test", ks, now, time.Minute); err == nil {
		t.Error("the proof verified over another body")
	}
}

func TestThumbprints(t *testing.T) {
	cases := []struct{ x, want string }{
		{"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo", "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k"}, // RFC 8037 A.3
		{rfc9421TestKeyX, rfc9421TestKeyID}, // draft -01 Appendix E.2
	}
	for _, c := range cases {
		id, _, err := edKey(&jwk{Kty: "OKP", Crv: "Ed25519", X: c.x}, true)
		if err != nil || id != c.want {
			t.Errorf("thumbprint of %s = %q (%v), want %q", c.x, id, err, c.want)
		}
	}
}

func TestJWKSKeySelection(t *testing.T) {
	k := newTestKey(t)
	x := k.publicJWK()["x"]
	body := `{"keys":[
		{"kty":"OKP","crv":"Ed25519","x":"` + x + `","kid":"operator-label","use":"sig","alg":"EdDSA","nbf":1700000000,"exp":1900000000},
		{"kty":"OKP","crv":"Ed25519","x":"` + rfc9421TestKeyX + `"},
		{"kty":"OKP","crv":"Ed25519","x":"` + x + `","d":"secret"},
		{"kty":"OKP","crv":"Ed25519","x":"AAAA"},
		{"kty":"OKP","crv":"Ed25519","x":"` + x + `","use":"enc"},
		{"kty":"RSA","n":"0vx7","e":"AQAB"},
		{"kty":"EC","crv":"P-256","x":"f83O","y":"x_FE"},
		{"kty":"oct","k":"c2VjcmV0"},
		{"kty":"OKP","crv":"Ed25519","x":5}
	]}`
	ks, skipped, err := parseJWKS([]byte(body), false)
	if err != nil {
		t.Fatal(err)
	}
	if len(ks.ed) != 1 {
		t.Fatalf("%d Ed25519 keys, want 1", len(ks.ed))
	}
	dk, ok := ks.ed[k.id]
	if !ok || dk.nbf != 1700000000 || dk.exp != 1900000000 {
		t.Errorf("key by thumbprint: %+v %v (kid must not be the index)", dk, ok)
	}
	if len(ks.other) != 2 {
		t.Errorf("%d unsupported keys recorded, want RSA and EC", len(ks.other))
	}
	for _, want := range []string{"test key refused", "private key", "not a base64url Ed25519", `use "enc"`, `kty "oct"`, "key 8"} {
		if !strings.Contains(strings.Join(skipped, "\n"), want) {
			t.Errorf("skipped %q lacks %q", skipped, want)
		}
	}
	if dk.activeAt(1699999000, 60) || !dk.activeAt(1800000000, 60) || dk.activeAt(1900001000, 60) {
		t.Error("the key's nbf/exp window is not honoured")
	}
}
