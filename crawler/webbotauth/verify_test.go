package webbotauth

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// testNow is the fixed clock of the signature tests.
var testNow = time.Unix(1_800_000_000, 0)

func fixedNow() time.Time { return testNow }

// signedRequest is a GET signed per -01 §5.2: @authority and the signer's
// Signature-Agent member, plus @method and @path.
type signedRequest struct {
	key              testKey
	agentHeader      string // whole Signature-Agent field; "" sends none
	agentComponent   component
	created, expires int64
	extraParams      string
	omit             string // a component id to leave out
}

func (s signedRequest) build(t *testing.T) *Request {
	t.Helper()
	r := &Request{Method: "GET", Scheme: "https", Authority: "shop.example", Path: "/p?q=1", Headers: map[string]string{}}
	if s.agentHeader != "" {
		r.Headers["signature-agent"] = s.agentHeader
	}
	comps := []component{
		{`"@authority"`, "shop.example"},
		s.agentComponent,
		{`"@method"`, "GET"},
		{`"@path"`, "/p"},
	}
	var kept []component
	for _, c := range comps {
		if c.id != "" && c.id != s.omit {
			kept = append(kept, c)
		}
	}
	created, expires := s.created, s.expires
	if created == 0 && expires == 0 {
		created, expires = testNow.Unix()-10, testNow.Unix()+290
	}
	params := wbaParams(s.key, created, expires)
	if s.extraParams != "" {
		params = s.extraParams
	}
	sign(t, s.key, r.Headers, goSignature{components: kept, params: params})
	return r
}

func TestVerify(t *testing.T) {
	k1, k2 := newTestKey(t), newTestKey(t)
	srv := newDirServer(t, k1)
	v := startVerifier(t, Options{Now: fixedNow}, srv)
	origin := srv.origin()
	dictAgent := component{`"signature-agent";key="sig1"`, `"` + origin + `"`}
	dict := `sig1="` + origin + `"`
	now := testNow.Unix()

	cases := []struct {
		name       string
		req        func(t *testing.T) *Request
		wantStatus Status
		wantReason string
		wantAgent  string
	}{
		{
			name: "dictionary member keyed to the label, -01",
			req: func(t *testing.T) *Request {
				return signedRequest{key: k1, agentHeader: dict, agentComponent: dictAgent}.build(t)
			},
			wantStatus: Verified, wantAgent: origin,
		},
		{
			name: "member naming the JWK Set URL, -01 §5.5",
			req: func(t *testing.T) *Request {
				url := `"` + origin + WellKnownPath + `"`
				return signedRequest{key: k1, agentHeader: "sig1=" + url,
					agentComponent: component{`"signature-agent";key="sig1"`, url}}.build(t)
			},
			wantStatus: Verified, wantAgent: origin,
		},
		{
			name: "bare string of the earlier drafts",
			req: func(t *testing.T) *Request {
				return signedRequest{key: k1, agentHeader: `"` + origin + `"`,
					agentComponent: component{`"signature-agent"`, `"` + origin + `"`}}.build(t)
			},
			wantStatus: Verified, wantAgent: origin,
		},
		{
			name: "whole dictionary covered, member keyed to the label",
			req: func(t *testing.T) *Request {
				return signedRequest{key: k1, agentHeader: dict,
					agentComponent: component{`"signature-agent"`, dict}}.build(t)
			},
			wantStatus: Verified, wantAgent: origin,
		},
		{
			name: "key not in the directory",
			req: func(t *testing.T) *Request {
				return signedRequest{key: k2, agentHeader: dict, agentComponent: dictAgent}.build(t)
			},
			wantStatus: Invalid, wantReason: ReasonUnknownKey, wantAgent: origin,
		},
		{
			name: "path changed after signing",
			req: func(t *testing.T) *Request {
				r := signedRequest{key: k1, agentHeader: dict, agentComponent: dictAgent}.build(t)
				r.Path = "/admin?q=1"
				return r
			},
			wantStatus: Invalid, wantReason: ReasonBadSignature, wantAgent: origin,
		},
		{
			name: "authority changed after signing",
			req: func(t *testing.T) *Request {
				r := signedRequest{key: k1, agentHeader: dict, agentComponent: dictAgent}.build(t)
				r.Authority = "bank.example"
				return r
			},
			wantStatus: Invalid, wantReason: ReasonBadSignature, wantAgent: origin,
		},
		{
			name: "key of the directory, signature by another",
			req: func(t *testing.T) *Request {
				r := signedRequest{key: k2, agentHeader: dict, agentComponent: dictAgent,
					extraParams: wbaParams(k1, now-10, now+290)}.build(t)
				return r
			},
			wantStatus: Invalid, wantReason: ReasonBadSignature, wantAgent: origin,
		},
		{
			name: "expired beyond the skew",
			req: func(t *testing.T) *Request {
				return signedRequest{key: k1, agentHeader: dict, agentComponent: dictAgent,
					created: now - 600, expires: now - 61}.build(t)
			},
			wantStatus: Invalid, wantReason: ReasonExpired,
		},
		{
			name: "expired within the skew",
			req: func(t *testing.T) *Request {
				return signedRequest{key: k1, agentHeader: dict, agentComponent: dictAgent,
					created: now - 600, expires: now - 59}.build(t)
			},
			wantStatus: Verified, wantAgent: origin,
		},
		{
			name: "created in the future beyond the skew",
			req: func(t *testing.T) *Request {
				return signedRequest{key: k1, agentHeader: dict, agentComponent: dictAgent,
					created: now + 61, expires: now + 600}.build(t)
			},
			wantStatus: Invalid, wantReason: ReasonNotYetValid,
		},
		{
			name: "created in the future within the skew",
			req: func(t *testing.T) *Request {
				return signedRequest{key: k1, agentHeader: dict, agentComponent: dictAgent,
					created: now + 59, expires: now + 600}.build(t)
			},
			wantStatus: Verified, wantAgent: origin,
		},
		{
			name: "@authority not covered",
			req: func(t *testing.T) *Request {
				return signedRequest{key: k1, agentHeader: dict, agentComponent: dictAgent, omit: `"@authority"`}.build(t)
			},
			wantStatus: Invalid, wantReason: ReasonAuthorityNotCovered,
		},
		{
			name: "signature-agent sent but not covered",
			req: func(t *testing.T) *Request {
				return signedRequest{key: k1, agentHeader: dict}.build(t)
			},
			wantStatus: Invalid, wantReason: ReasonAgentNotCovered,
		},
		{
			name: "agent not configured",
			req: func(t *testing.T) *Request {
				return signedRequest{key: k1, agentHeader: `sig1="https://Crawler.Example:443"`,
					agentComponent: component{`"signature-agent";key="sig1"`, `"https://Crawler.Example:443"`}}.build(t)
			},
			wantStatus: Untrusted, wantReason: ReasonUntrustedAgent, wantAgent: "https://crawler.example",
		},
		{
			name: "JWK Set URL other than the configured directory",
			req: func(t *testing.T) *Request {
				url := `"` + origin + `/keys.json"`
				return signedRequest{key: k1, agentHeader: "sig1=" + url,
					agentComponent: component{`"signature-agent";key="sig1"`, url}}.build(t)
			},
			wantStatus: Untrusted, wantReason: ReasonUntrustedAgent, wantAgent: origin + "/keys.json",
		},
		{
			name: "member with parameters is ignored, -01 §5.2.1",
			req: func(t *testing.T) *Request {
				return signedRequest{key: k1, agentHeader: dict + ";type=directory",
					agentComponent: component{`"signature-agent";key="sig1"`, `"` + origin + `";type=directory`}}.build(t)
			},
			wantStatus: Untrusted, wantReason: ReasonUntrustedAgent,
		},
		{
			name: "no Signature-Agent",
			req: func(t *testing.T) *Request {
				return signedRequest{key: k1}.build(t)
			},
			wantStatus: Untrusted, wantReason: ReasonNoAgent,
		},
		{
			name: "algorithm other than ed25519",
			req: func(t *testing.T) *Request {
				return signedRequest{key: k1, agentHeader: dict, agentComponent: dictAgent,
					extraParams: fmt.Sprintf(`;created=%d;expires=%d;keyid="%s";alg="rsa-pss-sha512";tag="web-bot-auth"`, now, now+60, k1.id)}.build(t)
			},
			wantStatus: Untrusted, wantReason: ReasonUnsupportedAlg, wantAgent: origin,
		},
		{
			name: "expires missing",
			req: func(t *testing.T) *Request {
				return signedRequest{key: k1, agentHeader: dict, agentComponent: dictAgent,
					extraParams: fmt.Sprintf(`;created=%d;keyid="%s";tag="web-bot-auth"`, now, k1.id)}.build(t)
			},
			wantStatus: Invalid, wantReason: ReasonMalformed,
		},
		{
			name: "default port in :authority",
			req: func(t *testing.T) *Request {
				r := signedRequest{key: k1, agentHeader: dict, agentComponent: dictAgent}.build(t)
				r.Authority = "Shop.Example:443"
				return r
			},
			wantStatus: Verified, wantAgent: origin,
		},
		{
			name: "no signature",
			req: func(t *testing.T) *Request {
				return &Request{Method: "GET", Scheme: "https", Authority: "shop.example", Path: "/",
					Headers: map[string]string{"signature-agent": dict}}
			},
			wantStatus: None,
		},
		{
			name: "signature for another application",
			req: func(t *testing.T) *Request {
				r := &Request{Method: "GET", Scheme: "https", Authority: "shop.example", Path: "/", Headers: map[string]string{}}
				sign(t, k1, r.Headers, goSignature{components: []component{{`"@authority"`, "shop.example"}},
					params: fmt.Sprintf(`;created=%d;keyid="%s";tag="other"`, now, k1.id)})
				return r
			},
			wantStatus: None,
		},
		{
			name: "Signature field missing",
			req: func(t *testing.T) *Request {
				r := signedRequest{key: k1, agentHeader: dict, agentComponent: dictAgent}.build(t)
				delete(r.Headers, "signature")
				return r
			},
			wantStatus: Invalid, wantReason: ReasonMalformed,
		},
		{
			name: "Signature-Input not a dictionary",
			req: func(t *testing.T) *Request {
				return &Request{Method: "GET", Scheme: "https", Authority: "shop.example", Path: "/",
					Headers: map[string]string{"signature-input": `sig1=("@authority";tag="web-bot-auth"`, "signature": "sig1=:AA==:"}}
			},
			wantStatus: Invalid, wantReason: ReasonMalformed,
		},
		{
			name: "oversized Signature-Input",
			req: func(t *testing.T) *Request {
				r := signedRequest{key: k1, agentHeader: dict, agentComponent: dictAgent}.build(t)
				r.Headers["signature-input"] += strings.Repeat(", x=1", maxFieldBytes/5)
				return r
			},
			wantStatus: Invalid, wantReason: ReasonMalformed,
		},
		{
			name: "two covered agents, none keyed to the label",
			req: func(t *testing.T) *Request {
				r := &Request{Method: "GET", Scheme: "https", Authority: "shop.example", Path: "/",
					Headers: map[string]string{"signature-agent": `a="` + origin + `", b="https://other.example"`}}
				sign(t, k1, r.Headers, goSignature{components: []component{{`"@authority"`, "shop.example"},
					{`"signature-agent";key="a"`, `"` + origin + `"`}, {`"signature-agent";key="b"`, `"https://other.example"`}},
					params: wbaParams(k1, now, now+60)})
				return r
			},
			wantStatus: Invalid, wantReason: ReasonMalformed,
		},
		{
			name: "covered header missing",
			req: func(t *testing.T) *Request {
				r := &Request{Method: "GET", Scheme: "https", Authority: "shop.example", Path: "/p", Headers: map[string]string{"signature-agent": dict}}
				sign(t, k1, r.Headers, goSignature{components: []component{{`"@authority"`, "shop.example"}, dictAgent, {`"x-intent"`, "crawl"}},
					params: wbaParams(k1, now, now+60)})
				return r
			},
			wantStatus: Invalid, wantReason: ReasonMalformed, wantAgent: origin,
		},
		{
			name: "several signatures, one valid",
			req: func(t *testing.T) *Request {
				r := signedRequest{key: k2, agentHeader: dict, agentComponent: dictAgent}.build(t)
				r.Headers["signature-agent"] = dict + `, sig2="` + origin + `"`
				sign(t, k1, r.Headers, goSignature{label: "sig2",
					components: []component{{`"@authority"`, "shop.example"}, {`"signature-agent";key="sig2"`, `"` + origin + `"`}},
					params:     wbaParams(k1, now, now+60)})
				return r
			},
			wantStatus: Verified, wantAgent: origin,
		},
		{
			name: "more derived components: @target-uri, @query, @query-param, @scheme",
			req: func(t *testing.T) *Request {
				r := &Request{Method: "POST", Scheme: "https", Authority: "shop.example", Path: "/s?q=a+b&n=%C3%A9",
					Headers: map[string]string{"signature-agent": dict}}
				sign(t, k1, r.Headers, goSignature{components: []component{
					{`"@target-uri"`, "https://shop.example/s?q=a+b&n=%C3%A9"},
					dictAgent,
					{`"@query"`, "?q=a+b&n=%C3%A9"},
					{`"@query-param";name="q"`, "a%20b"},
					{`"@scheme"`, "https"},
					{`"@request-target"`, "/s?q=a+b&n=%C3%A9"},
				}, params: wbaParams(k1, now, now+60)})
				return r
			},
			wantStatus: Verified, wantAgent: origin,
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := v.Verify(c.req(t))
			if got.Status != c.wantStatus || got.Reason != c.wantReason {
				t.Fatalf("Verify = %v/%q, want %v/%q", got.Status, got.Reason, c.wantStatus, c.wantReason)
			}
			if c.wantAgent != "" && got.Agent != c.wantAgent {
				t.Errorf("Agent = %q, want %q", got.Agent, c.wantAgent)
			}
			if got.Status == Verified && got.KeyID != k1.id {
				t.Errorf("KeyID = %q, want %q", got.KeyID, k1.id)
			}
		})
	}
}

func TestVerifyPendingUntilFetched(t *testing.T) {
	k := newTestKey(t)
	srv := newDirServer(t, k)
	v, err := New(Options{Directories: map[string]string{srv.origin(): ""}, Client: srv.srv.Client(), Now: fixedNow, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	r := signedRequest{key: k, agentHeader: `sig1="` + srv.origin() + `"`,
		agentComponent: component{`"signature-agent";key="sig1"`, `"` + srv.origin() + `"`}}.build(t)
	if got := v.Verify(r); got.Status != Pending || got.Reason != ReasonNoDirectory || got.Agent != srv.origin() {
		t.Fatalf("before Start: %+v, want Pending/no_directory", got)
	}
	if n := srv.hits.Load(); n != 0 {
		t.Fatalf("Verify fetched the directory (%d hits): it must never do I/O", n)
	}
	v.Start(t.Context())
	waitFor(t, "Verified after the first fetch", func() bool { return v.Verify(r).Status == Verified })
}

func TestStatusString(t *testing.T) {
	want := map[Status]string{None: "none", Verified: "verified", Pending: "pending", Untrusted: "untrusted", Invalid: "invalid", 99: "unknown"}
	for s, w := range want {
		if s.String() != w {
			t.Errorf("Status(%d).String() = %q, want %q", s, s.String(), w)
		}
	}
}

func TestVerifyUnsignedAllocatesNothing(t *testing.T) {
	v, err := New(Options{})
	if err != nil {
		t.Fatal(err)
	}
	r := &Request{Method: "GET", Scheme: "https", Authority: "shop.example", Path: "/",
		Headers: map[string]string{"user-agent": "Mozilla/5.0", "accept": "text/html"}}
	other := &Request{Method: "GET", Scheme: "https", Authority: "shop.example", Path: "/",
		Headers: map[string]string{"signature-input": `sig=("@method");keyid="k";tag="other"`}}
	for _, req := range []*Request{r, other} {
		if n := testing.AllocsPerRun(100, func() {
			if v.Verify(req).Status != None {
				t.Fatal("want None")
			}
		}); n != 0 {
			t.Errorf("Verify of a request without a web-bot-auth signature allocates %v times", n)
		}
	}
}
