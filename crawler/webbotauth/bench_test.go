package webbotauth

import "testing"

func BenchmarkVerifyUnsigned(b *testing.B) {
	v := preloadedVerifier(b, seedKey())
	r := &Request{Method: "GET", Scheme: "https", Authority: "shop.example", Path: "/products?page=2",
		Headers: map[string]string{
			"user-agent":      "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/142.0.0.0 Safari/537.36",
			"accept":          "text/html,application/xhtml+xml",
			"accept-language": "en-US,en;q=0.9",
		}}
	b.ReportAllocs()
	for b.Loop() {
		if v.Verify(r).Status != None {
			b.Fatal("want None")
		}
	}
}

func BenchmarkVerifySigned(b *testing.B) {
	k := seedKey()
	v := preloadedVerifier(b, k)
	now := testNow.Unix()
	r := &Request{Method: "GET", Scheme: "https", Authority: "shop.example", Path: "/products?page=2",
		Headers: map[string]string{"signature-agent": `sig1="` + fuzzAgent + `"`}}
	sign(b, k, r.Headers, goSignature{components: []component{
		{`"@authority"`, "shop.example"},
		{`"signature-agent";key="sig1"`, `"` + fuzzAgent + `"`},
		{`"@method"`, "GET"},
		{`"@path"`, "/products"},
	}, params: wbaParams(k, now-10, now+290) + `;nonce="3QLVhsGV9Gxq5Dq1ouYyiSpMwvnD4Ky2ZLAhgFTiKeclrzDrRKg7T0rpvKrCB7CmhhC0JfFVaGEO8DZ2Hs0jWA=="`})
	if got := v.Verify(r); got.Status != Verified {
		b.Fatalf("setup: %+v", got)
	}
	b.ReportAllocs()
	for b.Loop() {
		v.Verify(r)
	}
}
