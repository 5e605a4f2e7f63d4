package challenge

import (
	"bytes"
	"crypto/rand"
	"encoding/json"
	"net/http"
	"net/netip"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/botauthz/botauthz/clearance"
)

// person is a person's Chromium under Xvfb, as measured (cleanEvidence),
// as a map a case can change.
func person(proof string) map[string]any {
	return map[string]any{
		"v": 1, "proof": proof, "webdriver": false,
		"ua":     "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/156.0.0.0 Safari/537.36",
		"brands": []string{"Not:A-Brand", "Chromium"}, "globals": []string{}, "gl": "", "tz": "UTC",
		"screen": []int{1280, 1024}, "outer": []int{1050, 1004}, "inner": []int{1050, 861}, "pointer": "fine",
	}
}

func encode(t testing.TB, m map[string]any) string {
	t.Helper()
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestVerifyEvidence(t *testing.T) {
	var id [idLen]byte
	prog := proofProgramFor(testKey("k1").Secret, &id)
	proof := prog.proof()
	good := string(proof[:])
	with := func(k string, v any) string {
		m := person(good)
		if v == nil {
			delete(m, k)
		} else {
			m[k] = v
		}
		return encode(t, m)
	}
	// headlessChromium is chromedp's headless Chromium with Chrome's user
	// agent, as measured, but with navigator.webdriver hidden: only weak
	// reasons are left, three of them.
	headlessChromium := func() string {
		m := person(good)
		m["gl"] = "ANGLE (Google, Vulkan 1.3.0 (SwiftShader Device (Subzero) (0x0000C0DE)), SwiftShader driver)"
		m["screen"], m["outer"], m["inner"], m["pointer"] = []int{800, 600}, []int{780, 580}, []int{780, 437}, "none"
		return encode(t, m)
	}
	cases := []struct {
		name, field, acceptLanguage string
		want                        []string
		automated                   bool
	}{
		{"a person", encode(t, person(good)), "en-US,en;q=0.9", nil, false},
		{"no evidence", "", "", []string{ReasonMissing}, true},
		{"not JSON", "{", "", []string{ReasonMissing}, true},
		{"another version", with("v", 2), "", []string{ReasonMissing}, true},
		{"oversized", with("ua", strings.Repeat("a", maxEvidenceBytes)), "", []string{ReasonMissing}, true},
		{"no proof", with("proof", nil), "", []string{ReasonScript}, true},
		{"a wrong proof", with("proof", "0123456789abcdef"), "", []string{ReasonScript}, true},
		{"navigator.webdriver", with("webdriver", true), "", []string{ReasonWebdriver}, true},
		{"HeadlessChrome user agent", with("ua", "Mozilla/5.0 HeadlessChrome/156.0.0.0"), "", []string{ReasonHeadless}, true},
		{"HeadlessChrome brand", with("brands", []string{"HeadlessChrome", "Chromium"}), "", []string{ReasonHeadless}, true},
		{"ChromeDriver's global", with("globals", []string{"cdc_adoQpoasnfa76pfcZLmcfl_Array"}), "", []string{ReasonAutomationGlobals}, true},
		{"software WebGL alone", with("gl", "llvmpipe (LLVM 15.0.6, 256 bits)"), "", []string{ReasonSoftwareGL}, false},
		{"SwiftShader alone", with("gl", "ANGLE (Google, Vulkan 1.3.0 (SwiftShader Device (Subzero)), SwiftShader driver)"), "", []string{ReasonSoftwareGL}, false},
		{"a GPU", with("gl", "ANGLE (Intel, Mesa Intel(R) UHD Graphics 620 (KBL GT2), OpenGL 4.6)"), "", nil, false},
		{"a window of no size alone", with("outer", []int{0, 0}), "", []string{ReasonGeometry}, false},
		{"no pointer alone", with("pointer", "none"), "", []string{ReasonPointer}, false},
		{"a touch screen", with("pointer", "coarse"), "", nil, false},
		{"a time zone on another continent alone", with("tz", "Asia/Tokyo"), "de-DE,de;q=0.9", []string{ReasonTimezone}, false},
		{"a time zone on the same continent", with("tz", "Europe/Berlin"), "de-DE,de;q=0.9", nil, false},
		{"UTC is never a mismatch", encode(t, person(good)), "ja-JP", nil, false},
		{"a language without region is not judged", with("tz", "Asia/Tokyo"), "de", nil, false},
		{"three weak reasons together", headlessChromium(), "en-US", []string{ReasonSoftwareGL, ReasonGeometry, ReasonPointer}, true},
		{"unknown fields are ignored", with("extra", map[string]any{"a": []int{1, 2, 3}}), "", nil, false},
		{"long lists are cut, not refused", with("brands", slices.Repeat([]string{"Chromium"}, 100)), "", nil, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			v := verifyEvidence(c.field, proof, c.acceptLanguage)
			if !slices.Equal(v.Reasons, c.want) || v.Automated != c.automated {
				t.Errorf("verdict %q automated=%v, want %q automated=%v", v.Reasons, v.Automated, c.want, c.automated)
			}
		})
	}
}

// nodeProofHarness runs served per-challenge scripts under node with a
// stand-in window and prints their proofs.
const nodeProofHarness = `
const fs = require("fs");
const out = [];
for (const f of process.argv.slice(2)) {
  const window = {};
  new Function("window", fs.readFileSync(f, "utf8"))(window);
  out.push(window.botauthzProof());
}
process.stdout.write(JSON.stringify(out));
`

// TestProofScriptMatchesGo serves the per-challenge script for random
// challenges, runs each under node and checks that it derives the proof the
// verifier expects.
func TestProofScriptMatchesGo(t *testing.T) {
	node, err := exec.LookPath("node")
	if err != nil {
		if os.Getenv("BOTAUTHZ_TEST_REQUIRE") == "1" {
			t.Fatalf("node not found (BOTAUTHZ_TEST_REQUIRE=1 requires it): %v", err)
		}
		t.Skip("node not found on PATH; install Node.js to run this test")
	}
	e := newEnv(t, withKeys("k1", "k2"))
	dir := t.TempDir()
	harness := filepath.Join(dir, "harness.cjs")
	if err := os.WriteFile(harness, []byte(nodeProofHarness), 0o600); err != nil {
		t.Fatal(err)
	}
	args := []string{harness}
	var want []string
	ops := map[byte]bool{}
	for i := range 64 {
		var tok token
		rand.Read(tok.id[:])
		tok.kid = []string{"k1", "k2"}[i%2]
		rec := alice.do(e.h, http.MethodGet, ProofPath+"?c="+tok.idHex()+"&k="+tok.kid, nil)
		if rec.Code != http.StatusOK || rec.Header().Get("Cache-Control") != "no-store" {
			t.Fatalf("proof script: status %d, Cache-Control %q", rec.Code, rec.Header().Get("Cache-Control"))
		}
		f := filepath.Join(dir, tok.idHex()+".js")
		if err := os.WriteFile(f, rec.Body.Bytes(), 0o600); err != nil {
			t.Fatal(err)
		}
		args = append(args, f)
		p, ok := e.h.expectedProof(&tok)
		if !ok {
			t.Fatalf("no proof for key %s", tok.kid)
		}
		want = append(want, string(p[:]))
		prog := proofProgramFor(e.h.keys.byID[tok.kid], &tok.id)
		for _, op := range prog.ops {
			ops[op] = true
		}
	}
	if len(ops) != 6 {
		t.Fatalf("the programs used %d of the 6 operations; the test would not cover them all", len(ops))
	}
	cmd := exec.CommandContext(t.Context(), node, args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("node: %v\n%s", err, stderr.String())
	}
	var got []string
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatalf("node output %q: %v", out, err)
	}
	if !slices.Equal(got, want) {
		t.Errorf("node's proofs differ from Go's:\n got %q\nwant %q", got, want)
	}
	if want[0] == want[1] {
		t.Error("two challenges have the same proof")
	}
}

func TestProofScriptRefusesBadQueries(t *testing.T) {
	e := newEnv(t)
	id := strings.Repeat("ab", idLen)
	for _, q := range []string{"", "?c=" + id, "?c=" + id + "&k=nope", "?c=" + id[:30] + "&k=k1", "?c=" + strings.Repeat("zz", idLen) + "&k=k1"} {
		if rec := alice.do(e.h, http.MethodGet, ProofPath+q, nil); rec.Code != http.StatusNotFound {
			t.Errorf("%q: status %d, want 404", q, rec.Code)
		}
	}
	if rec := alice.do(e.h, http.MethodPost, ProofPath+"?c="+id+"&k=k1", url.Values{}); rec.Code != http.StatusMethodNotAllowed {
		t.Errorf("POST: status %d, want 405", rec.Code)
	}
}

// TestPageLinksItsProofScript: the proof-of-work page loads its own script,
// under the unchanged CSP (script-src 'self'), before the shared one.
func TestPageLinksItsProofScript(t *testing.T) {
	e := newEnv(t)
	p := alice.getPage(t, e.h, "login", "/")
	want := `<script src="` + strings.ReplaceAll(ProofPath+"?c="+p.challenge+"&k=k1", "&", "&amp;") + `" defer></script>`
	i, j := strings.Index(p.body, want), strings.Index(p.body, ScriptPath)
	if i < 0 || j < i {
		t.Errorf("page lacks %s before the shared script:\n%s", want, p.body)
	}
	if got, want := p.rec.Header().Get("Content-Security-Policy"), pageCSP(Pow, "", false); got != want {
		t.Errorf("CSP %q, want %q", got, want)
	}
	if !strings.Contains(p.body, `name="evidence"`) {
		t.Error("page has no evidence field")
	}
}

// TestEvidenceModes: challenge.evidence decides what an automated browser
// with a right proof of work gets.
func TestEvidenceModes(t *testing.T) {
	automated := func(tokenText string) string {
		m := person(testProof(tokenText))
		m["webdriver"] = true
		return encode(t, m)
	}
	for _, c := range []struct {
		mode         string
		evidence     func(string) string
		wantStatus   int
		wantProvider string
		wantOutcomes []string
		wantReasons  string
	}{
		{"refuse", automated, http.StatusForbidden, "", []string{OutcomeAutomated}, "automated:false:evidence.webdriver"},
		{"refuse", cleanEvidence, http.StatusSeeOther, Pow, []string{OutcomePassed}, "passed:false:"},
		{"refuse", func(string) string { return "" }, http.StatusForbidden, "", []string{OutcomeAutomated}, "automated:false:evidence.missing"},
		{"mark", automated, http.StatusSeeOther, MarkedProvider, []string{OutcomePassed}, "passed:true:evidence.webdriver"},
		{"mark", cleanEvidence, http.StatusSeeOther, Pow, []string{OutcomePassed}, "passed:false:"},
		{"off", func(string) string { return "" }, http.StatusSeeOther, Pow, []string{OutcomePassed}, ""},
	} {
		e := newEnv(t, withPolicy(testPolicy(t, strings.Replace(testPolicyYAML, "  ttl: 5m\n", "  ttl: 5m\n  evidence: "+c.mode+"\n", 1))))
		p := alice.getPage(t, e.h, "login", "/account")
		form := answer(p.token, solve(t, p.challenge, p.difficulty))
		form.Set("evidence", c.evidence(p.token))
		rec := alice.verify(e.h, form)
		if rec.Code != c.wantStatus {
			t.Errorf("%s: status %d, want %d: %s", c.mode, rec.Code, c.wantStatus, rec.Body)
			continue
		}
		events := e.rec.take()
		var got []event
		for _, ev := range events {
			if ev.outcome != "" {
				got = append(got, ev)
			}
		}
		wantOutcomes(t, got, c.wantOutcomes...)
		if r := strings.Join(e.rec.evidence, ";"); r != c.wantReasons {
			t.Errorf("%s: evidence observed %q, want %q", c.mode, r, c.wantReasons)
		}
		if c.wantProvider == "" {
			if len(rec.Result().Cookies()) != 0 {
				t.Errorf("%s: a refused answer set %q", c.mode, rec.Header().Values("Set-Cookie"))
			}
			if !strings.Contains(rec.Body.String(), "automation") {
				t.Errorf("%s: the page does not say why:\n%s", c.mode, rec.Body)
			}
			// The challenge is spent: the same proof of work with a
			// person's evidence is a replay.
			form.Set("evidence", cleanEvidence(p.token))
			if rec := alice.verify(e.h, form); rec.Code != http.StatusForbidden {
				t.Errorf("%s: retry with the same challenge: status %d, want 403", c.mode, rec.Code)
			}
			wantOutcomes(t, e.rec.take(), OutcomeReplayed)
			continue
		}
		ck := clearanceCookie(t, rec, "botauthz_clearance")
		claims, st := e.signer.Verify(ck.Value, clearance.BindingFor(netip.MustParseAddr(ipClient), uaFirefox), e.clock.Now())
		if st != clearance.Valid || claims.Provider != c.wantProvider {
			t.Errorf("%s: clearance %v for provider %q, want valid for %q", c.mode, st, claims.Provider, c.wantProvider)
		}
	}
}

func FuzzEvidence(f *testing.F) {
	var id [idLen]byte
	prog := proofProgramFor(testKey("k1").Secret, &id)
	proof := prog.proof()
	f.Add(encode(f, person(string(proof[:]))), "en-US,en;q=0.9")
	f.Add(`{"v":1,"screen":[1e99,-1],"brands":[1,2],"tz":"Asia/"}`, "zh-Hant-TW")
	f.Add(`{"v":1,"outer":[0],"inner":null,"webdriver":"yes"}`, "-,;")
	f.Fuzz(func(t *testing.T, field, acceptLanguage string) {
		v := verifyEvidence(field, proof, acceptLanguage)
		if len(v.Reasons) == 0 && v.Automated {
			t.Fatal("automated without a reason")
		}
		for _, r := range v.Reasons {
			if !slices.Contains(EvidenceReasons, r) {
				t.Fatalf("reason %q is not one of EvidenceReasons", r)
			}
		}
		if v.Automated != (slices.ContainsFunc(v.Reasons, func(r string) bool { return slices.Index(EvidenceReasons, r) < 5 }) || len(v.Reasons) >= weakCombined) {
			t.Fatalf("verdict %+v does not follow the rule", v)
		}
	})
}

// BenchmarkVerifyEvidence: a person's evidence, parsed and scored, with
// the script proof derived from the key (what serveVerify does per answer).
func BenchmarkVerifyEvidence(b *testing.B) {
	key := testKey("k1")
	var tok token
	rand.Read(tok.id[:])
	prog := proofProgramFor(key.Secret, &tok.id)
	proof := prog.proof()
	field := encode(b, person(string(proof[:])))
	b.ReportAllocs()
	for b.Loop() {
		p := proofProgramFor(key.Secret, &tok.id)
		if v := verifyEvidence(field, p.proof(), "en-US,en;q=0.9"); v.Automated {
			b.Fatal(v)
		}
	}
}
