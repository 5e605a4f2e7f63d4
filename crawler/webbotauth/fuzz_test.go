package webbotauth

import (
	"crypto/ed25519"
	"fmt"
	"testing"
)

// fuzzAgent is the trusted agent of the fuzz and benchmark verifiers.
const fuzzAgent = "https://agent.example"

// preloadedVerifier trusts fuzzAgent with k, its key set installed
// directly: no network, no goroutines.
func preloadedVerifier(tb testing.TB, k testKey) *Verifier {
	tb.Helper()
	v, err := New(Options{Directories: map[string]string{fuzzAgent: "file:///nonexistent/keys.json"}, Now: fixedNow, Logger: quiet})
	if err != nil {
		tb.Fatal(err)
	}
	v.byOrigin[fuzzAgent].keys.Store(&keySet{
		ed:    map[string]directoryKey{k.id: {pub: k.pub}},
		other: map[string]struct{}{},
	})
	return v
}

// seedKey is a fixed key so the fuzz corpus stays valid across runs.
func seedKey() testKey {
	priv := ed25519.NewKeyFromSeed(make([]byte, ed25519.SeedSize))
	pub := priv.Public().(ed25519.PublicKey)
	id, _, _ := edKey(&jwk{Kty: "OKP", Crv: "Ed25519", X: testKey{pub: pub}.publicJWK()["x"]}, true)
	return testKey{priv: priv, pub: pub, id: id}
}

func FuzzVerify(f *testing.F) {
	k := seedKey()
	now := testNow.Unix()
	dict := `sig1="` + fuzzAgent + `"`
	h := map[string]string{"signature-agent": dict}
	sign(f, k, h, goSignature{components: []component{
		{`"@authority"`, "shop.example"},
		{`"signature-agent";key="sig1"`, `"` + fuzzAgent + `"`},
		{`"@path"`, "/p"},
		{`"@query-param";name="q"`, "1"},
	}, params: wbaParams(k, now, now+60)})
	f.Add(h["signature-input"], h["signature"], h["signature-agent"], "/p?q=1")
	f.Add(`sig2=("@authority" "signature-agent");created=1735689600;keyid="poqkLGiymh_W0uP6PZFw-dvez3QJT5SolqXBCW38r0U";alg="ed25519";expires=1735693200;tag="web-bot-auth"`,
		`sig2=:jdq0SqOwHdyHr9+r5jw3iYZH6aNGKijYp/EstF4RQTQdi5N5YYKrD+mCT1HA1nZDsi6nJKuHxUi/5Syp3rLWBA==:`,
		`"https://signature-agent.test"`, "/")
	f.Add(`a=("signature-agent";key="a" "signature-agent";sf "@target-uri" "x";key="y");created=1;expires=2;keyid="k";tag="web-bot-auth", b=();tag="web-bot-auth"`,
		`a=:AAAA:, b=?1`, `a="https://agent.example/.well-known/http-message-signatures-directory";x, b=(1 2)`, "/?a=%zz&a")
	f.Add(`s=("@query-param";name="%C3%A9");tag="web-bot-auth";created=@1;expires=1.5;keyid=%"k"`, `s=:=:`, `"`, "/?%C3%A9=%ff")
	f.Fuzz(func(t *testing.T, sigInput, sig, agent, path string) {
		v := preloadedVerifier(t, k)
		r := &Request{Method: "GET", Scheme: "https", Authority: "shop.example", Path: path,
			Headers: map[string]string{"signature-input": sigInput, "signature": sig, "signature-agent": agent, "x": agent}}
		got := v.Verify(r)
		if got.Status > Invalid {
			t.Fatalf("status %d", got.Status)
		}
		if (got.Status == Verified || got.Status == None) != (got.Reason == "") {
			t.Fatalf("status %v with reason %q", got.Status, got.Reason)
		}
		if again := v.Verify(r); again != got {
			t.Fatalf("Verify is not deterministic: %+v then %+v", got, again)
		}
	})
}

func FuzzStructuredField(f *testing.F) {
	for _, s := range []string{
		`sig1=("@authority" "signature-agent";key="sig1");created=1735689600;keyid="poqk";alg="ed25519";expires=1735693200;nonce="n+/=";tag="web-bot-auth"`,
		`a=1.5, b=?0, c=:YQ==:, d=@-1, e=%"%c3%a9", f=tok/en:x, g`,
		`"https://agent.example";type=directory`,
		`(a "b";c=1);d, e`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		checks := []struct {
			kind  string
			parse func(string) (string, error)
		}{{"dictionary", dict}, {"list", list}, {"item", itemField}}
		for _, c := range checks {
			out, err := c.parse(s)
			if err != nil {
				continue
			}
			// What parses serializes to a canonical form that parses back
			// to itself: the property RFC 9421 relies on when it rebuilds
			// @signature-params.
			again, err := c.parse(out)
			if err != nil || again != out {
				t.Fatal(fmt.Sprintf("%s %q → %q → %q (%v)", c.kind, s, out, again, err))
			}
		}
	})
}
