package main

import (
	"bytes"
	"context"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/botauthz/botauthz/internal/corpus"
	"github.com/botauthz/botauthz/policy"
)

func TestQuantile(t *testing.T) {
	scores := []int{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20}
	for _, c := range []struct {
		q    float64
		want int
	}{{0.05, 1}, {0.25, 5}, {0.5, 10}, {0.75, 15}, {0.95, 19}, {1, 20}} {
		if got := quantile(scores, c.q); got != c.want {
			t.Errorf("quantile(1..20, %v) = %d, want %d", c.q, got, c.want)
		}
	}
	if got := quantile([]int{42}, 0.05); got != 42 {
		t.Errorf("quantile of one score = %d, want it", got)
	}
}

func TestAUC(t *testing.T) {
	for _, c := range []struct {
		name        string
		bots, human []int
		want        float64
	}{
		{"perfect", []int{1, 2, 5}, []int{30, 99}, 1},
		{"inverted", []int{90, 99}, []int{1, 5}, 0},
		{"all tied", []int{50, 50}, []int{50, 50, 50}, 0.5},
		// Pairs (bot, human): (1,2) (1,4) (2,4) (3,4) win, (2,2) ties, (3,2) loses: 4.5 of 6.
		{"mixed with a tie", []int{3, 1, 2}, []int{4, 2}, 0.75},
	} {
		got := auc(c.bots, c.human)
		if got == nil || math.Abs(*got-c.want) > 1e-12 {
			t.Errorf("%s: auc = %v, want %v", c.name, deref(got), c.want)
		}
	}
	if got := auc(nil, []int{1}); got != nil {
		t.Errorf("auc without bots = %v, want nil", *got)
	}
}

func deref(v *float64) any {
	if v == nil {
		return nil
	}
	return *v
}

// TestPrecisionRecall decides by CIDR rules only, so the confusion matrix
// is known: 3 of 4 bots stopped, 1 of 4 people stopped.
func TestPrecisionRecall(t *testing.T) {
	recs := []corpus.Record{
		bot(corpus.Library, deniedNet), bot(corpus.Library, deniedNet), bot(corpus.Headless, deniedNet), bot(corpus.Headless, allowedNet),
		human(corpus.ChromeDesktop, deniedNet), human(corpus.ChromeDesktop, allowedNet), human(corpus.SafariIOS, allowedNet), human(corpus.SafariIOS, allowedNet),
	}
	p, err := policy.Parse([]byte(rulesPolicy))
	if err != nil {
		t.Fatal(err)
	}
	ins, outs := evalRecords(t, rulesPolicy, headerMap, recs...)
	r := summarize(PolicyInfo{Source: "test"}, p, ins, outs, []string{"x"}, headerMap)

	o := r.Overall
	if o.Humans != 4 || o.HumansStopped != 1 || o.Bots != 4 || o.BotsStopped != 3 {
		t.Fatalf("counts %+v, want 1 of 4 humans and 3 of 4 bots stopped", o)
	}
	checks := []struct {
		name      string
		got       *float64
		want      float64
		tolerance float64
	}{
		{"people stopped %", o.PeopleStoppedPct, 25, 1e-9},
		{"automation stopped %", o.AutomationStoppedPct, 75, 1e-9},
		{"precision", o.Precision, 0.75, 1e-12},
		{"recall", o.Recall, 0.75, 1e-12},
	}
	for _, c := range checks {
		if c.got == nil || math.Abs(*c.got-c.want) > c.tolerance {
			t.Errorf("%s = %v, want %v", c.name, deref(c.got), c.want)
		}
	}
	if o.AUC != nil {
		t.Errorf("AUC = %v over records a rule decided unscored; want none", *o.AUC)
	}

	lib := classOf(t, r, corpus.Bot, corpus.Library)
	if lib.N != 2 || lib.Stopped != 2 || lib.Denied != 2 || lib.StoppedPct != 100 || lib.Unscored != 2 || lib.Scores != nil {
		t.Errorf("library = %+v, want 2 of 2 denied by rule, unscored", lib)
	}
	if want := []ReasonCount{{"rule.deny_cidr", 2}}; !slices.Equal(lib.TopReasons, want) {
		t.Errorf("library reasons %v, want %v", lib.TopReasons, want)
	}
	if g := gatedOf(t, r, corpus.Headless); g.N != 2 || g.Stopped != 1 || g.StoppedPct == nil || *g.StoppedPct != 50 {
		t.Errorf("gated headless = %+v, want 1 of 2", g)
	}
	if g := gatedOf(t, r, corpus.EmptyUA); g.N != 0 || g.StoppedPct != nil {
		t.Errorf("gated empty-ua without records = %+v, want n 0 and no share", g)
	}
}

func classOf(t *testing.T, r *Report, label, class string) ClassStats {
	t.Helper()
	for _, c := range r.Classes {
		if c.Label == label && c.Class == class {
			return c
		}
	}
	t.Fatalf("no class %s/%s in %+v", label, class, r.Classes)
	return ClassStats{}
}

func gatedOf(t *testing.T, r *Report, class string) GatedStats {
	t.Helper()
	for _, g := range r.Gated {
		if g.Class == class {
			return g
		}
	}
	t.Fatalf("no gated class %s", class)
	return GatedStats{}
}

// TestCertainOutcomes runs the real scoring on requests whose verdict no
// tuning may change — a full Chrome navigation is a person, a request with
// no user agent is not — under the embedded defaults, whose routes are in
// shadow: the evaluation enforces anyway. Both of Envoy's header encodings
// must decide alike.
func TestCertainOutcomes(t *testing.T) {
	recs := []corpus.Record{human(corpus.ChromeDesktop, ""), bot(corpus.EmptyUA, ""), human(corpus.ChromeDesktop, "2001:db8::1"), bot(corpus.EmptyUA, "192.0.2.9")}
	ins, raw := evalRecords(t, "", headerMap, recs...)
	_, plain := evalRecords(t, "", headersMap, recs...)
	for i, in := range ins {
		o := raw[i]
		if !o.Observed || o.Degraded {
			t.Errorf("%s: observed %t degraded %t", in.where(), o.Observed, o.Degraded)
		}
		if want := in.Label == corpus.Bot; o.Stopped != want {
			t.Errorf("%s (%s): stopped %t (action %s, score %d, reasons %v), want %t", in.where(), in.Class, o.Stopped, o.Action, o.Score, o.Reasons, want)
		}
		if o.Stopped && o.Status != 302 && o.Status != 403 && o.Status != 429 {
			t.Errorf("%s: stopped with HTTP status %d", in.where(), o.Status)
		}
		p := plain[i]
		if p.Stopped != o.Stopped || p.Action != o.Action || p.Score != o.Score || p.Status != o.Status || !slices.Equal(p.Reasons, o.Reasons) {
			t.Errorf("%s: header_map decided %+v, the headers map %+v", in.where(), o, p)
		}
	}
}

// TestEveryModeIsEnforced: a route that is off in the policy file is still
// evaluated in enforce.
func TestEveryModeIsEnforced(t *testing.T) {
	const offPolicy = `
rules:
  deny_cidrs: [203.0.113.0/24]
routes:
  default: {mode: "off"}
  login: {mode: canary, canary_percent: 0}
`
	r := bot(corpus.Library, deniedNet)
	login := r
	login.Route = "login"
	ins, outs := evalRecords(t, offPolicy, headerMap, r, login)
	for i, o := range outs {
		if !o.Stopped || o.Action != policy.ActionDeny || o.Status != 403 {
			t.Errorf("%s (route %q): %+v, want denied with 403", ins[i].where(), ins[i].Route, o)
		}
	}
	if outs[1].Route != "login" {
		t.Errorf("route %q, want the record's login", outs[1].Route)
	}
}

// TestVelocityClock checks the clock and address choices: records' times
// are honoured, records without one are a second apart, and records
// without a client each have their own address.
func TestVelocityClock(t *testing.T) {
	// No score is low enough to challenge or deny (every score is >= 1), so
	// only the hard limit can stop a request: more than 2 a minute per IP.
	const limitPolicy = `
routes:
  default:
    challenge_below: 1
    deny_below: 1
    limits:
      - {key: ip, window: 60s, max: 2}
`
	t0 := time.Date(2026, 12, 2, 10, 0, 0, 0, time.UTC)
	r := human(corpus.ChromeDesktop, deniedNet)
	anon := human(corpus.ChromeDesktop, "")
	cases := []struct {
		name string
		recs []corpus.Record
		want []bool // stopped
	}{
		{"one client, one instant", []corpus.Record{at(r, t0), at(r, t0), at(r, t0), at(r, t0)}, []bool{false, false, true, true}},
		{"one client, two minutes apart", []corpus.Record{at(r, t0), at(r, t0.Add(2*time.Minute)), at(r, t0.Add(4*time.Minute)), at(r, t0.Add(6*time.Minute))}, []bool{false, false, false, false}},
		{"one client, no times (a second apart)", []corpus.Record{r, r, r, r}, []bool{false, false, true, true}},
		{"no client, one instant", []corpus.Record{at(anon, t0), at(anon, t0), at(anon, t0), at(anon, t0)}, []bool{false, false, false, false}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, outs := evalRecords(t, limitPolicy, headerMap, c.recs...)
			for i, o := range outs {
				if o.Stopped != c.want[i] {
					t.Errorf("record %d: stopped %t (%s, status %d), want %t", i+1, o.Stopped, o.Action, o.Status, c.want[i])
				}
				if o.Stopped && (o.Action != policy.ActionRateLimit || o.Status != 429) {
					t.Errorf("record %d: %s with %d, want ratelimit with 429", i+1, o.Action, o.Status)
				}
			}
		})
	}
}

func TestDefaultClientsDiffer(t *testing.T) {
	seen := map[string]bool{}
	nets := map[string]int{}
	for i := range 130048 {
		a := defaultClient(i)
		if seen[a.String()] {
			t.Fatalf("default address %s repeats at record %d", a, i)
		}
		seen[a.String()] = true
		if i < 512 {
			p, _ := a.Prefix(24)
			nets[p.String()]++
		}
	}
	if len(nets) != 512 {
		t.Errorf("the first 512 records share /24s: %d networks", len(nets))
	}
}

// TestCheckRequest pins what the Check is given for a record, in both
// encodings.
func TestCheckRequest(t *testing.T) {
	rec := corpus.Record{Label: corpus.Bot, Class: corpus.Library, Method: "POST", Scheme: "https", Host: "shop.example",
		Path: "/login?next=%2F", Protocol: "HTTP/1.1", Route: "login",
		Headers: []corpus.Header{
			{"Host", "shop.example"},
			{"User-Agent", "python-requests/2.32.3"},
			{"x-forwarded-for", "10.1.1.1"},
			{"connection", "keep-alive"},
			{"cookie", "a=1"},
			{"user-agent", "again"},
			{"x-request-id", "client-chosen"},
			{"cookie", "b=2"},
			{":path", "/ignored"},
		}}
	at := time.Date(2026, 12, 2, 10, 0, 0, 0, time.UTC)
	client, err := clientOf(&rec, 0)
	if err != nil {
		t.Fatal(err)
	}
	// A record without a client gets the default address.
	if client.String() != defaultClient(0).String() {
		t.Fatalf("client %s, want the default %s", client, defaultClient(0))
	}
	req := checkRequest(&rec, 6, client, at, headerMap)
	a := req.GetAttributes()
	h := a.GetRequest().GetHttp()
	if h.GetMethod() != "POST" || h.GetPath() != "/login?next=%2F" || h.GetHost() != "shop.example" || h.GetScheme() != "https" ||
		h.GetProtocol() != "HTTP/1.1" || h.GetId() != "7" || len(h.GetHeaders()) != 0 {
		t.Errorf("http attributes %v", h)
	}
	if got := a.GetContextExtensions()["route"]; got != "login" {
		t.Errorf("route %q, want login", got)
	}
	if got := a.GetSource().GetAddress().GetSocketAddress().GetAddress(); got != client.String() {
		t.Errorf("source %q, want %s", got, client)
	}
	if !a.GetRequest().GetTime().AsTime().Equal(at) {
		t.Errorf("request time %v, want %v", a.GetRequest().GetTime().AsTime(), at)
	}
	var got []string
	for _, hv := range h.GetHeaderMap().GetHeaders() {
		got = append(got, hv.GetKey()+": "+string(hv.GetRawValue()))
	}
	ip := client.String()
	want := []string{
		":authority: shop.example", ":path: /login?next=%2F", ":method: POST", ":scheme: https",
		"user-agent: python-requests/2.32.3,again",
		"x-forwarded-for: 10.1.1.1, " + ip,
		"cookie: a=1",
		"x-request-id: " + requestID(6),
		"cookie: b=2",
		"x-forwarded-proto: https",
		"x-envoy-external-address: " + ip,
	}
	if !slices.Equal(got, want) {
		t.Errorf("header_map:\n got  %q\n want %q", got, want)
	}

	plain := checkRequest(&rec, 6, client, at, headersMap).GetAttributes().GetRequest().GetHttp()
	if plain.GetHeaderMap() != nil {
		t.Error("the headers map form also sent header_map")
	}
	m := plain.GetHeaders()
	if m["cookie"] != "a=1; b=2" || m["user-agent"] != "python-requests/2.32.3,again" || m[":authority"] != "shop.example" || len(m) != len(want)-1 {
		t.Errorf("headers map %v", m)
	}

	// Without a route the Check's default applies.
	rec.Route = ""
	if ext := checkRequest(&rec, 0, client, at, headerMap).GetAttributes().GetContextExtensions(); len(ext) != 0 {
		t.Errorf("context_extensions %v for a record without a route", ext)
	}
}

// TestCompare: B denies a network A allows; exactly its records change.
func TestCompare(t *testing.T) {
	const a = "rules:\n  allow_cidrs: [203.0.113.0/24]\n"
	const b = "rules:\n  deny_cidrs: [203.0.113.0/24]\n"
	recs := []corpus.Record{
		human(corpus.ChromeDesktop, "192.0.2.1"), human(corpus.ChromeDesktop, deniedNet),
		bot(corpus.Library, "192.0.2.2"), bot(corpus.Library, "203.0.113.8"),
	}
	pa, pb := writePolicy(t, a), writePolicy(t, b)
	file := writeRecords(t, recs...)

	var out, errOut bytes.Buffer
	if code := run(context.Background(), []string{"-policy", pa, "-compare", pb, "-o", "json", file}, &out, &errOut); code != exitOK {
		t.Fatalf("exit %d: %s", code, errOut.String())
	}
	var res struct {
		Compare Comparison `json:"compare"`
	}
	if err := json.Unmarshal(out.Bytes(), &res); err != nil {
		t.Fatal(err)
	}
	c := res.Compare
	if c.Policy.Source != pb || c.Changed != 2 || len(c.Changes) != 2 {
		t.Fatalf("comparison %+v, want 2 changes under %s", c, pb)
	}
	for i, wantIndex := range []int{2, 4} {
		ch := c.Changes[i]
		if ch.Index != wantIndex || ch.N != wantIndex || ch.File != file || ch.ActionA != "allow" || ch.ActionB != "deny" || ch.ScoreB != 0 {
			t.Errorf("change %d = %+v, want record %d allow -> deny", i, ch, wantIndex)
		}
	}
	if c.Changes[1].UserAgent != "" || c.Changes[0].UserAgent != chromeHeaders[4][1] {
		t.Errorf("user agents %q, %q", c.Changes[0].UserAgent, c.Changes[1].UserAgent)
	}
	want := []ClassChange{
		{Label: corpus.Human, Class: corpus.ChromeDesktop, N: 2, Changed: 1, NewlyStopped: 1},
		{Label: corpus.Bot, Class: corpus.Library, N: 2, Changed: 1, NewlyStopped: 1},
	}
	if !slices.Equal(c.ByClass, want) {
		t.Errorf("by class %+v, want %+v", c.ByClass, want)
	}

	// The text lists the same, bounded by -list.
	out.Reset()
	if code := run(context.Background(), []string{"-policy", pa, "-compare", pb, "-list", "1", file}, &out, &errOut); code != exitOK {
		t.Fatalf("exit %d: %s", code, errOut.String())
	}
	text := out.String()
	for _, s := range []string{"decision changes A -> B: 2 of 4 records", "allow -> deny", file + "#2", "1 more"} {
		if !strings.Contains(text, s) {
			t.Errorf("text output lacks %q:\n%s", s, text)
		}
	}
	if strings.Contains(text, file+"#4") {
		t.Errorf("-list 1 listed the second change:\n%s", text)
	}
}

func TestExitCodes(t *testing.T) {
	good := writeRecords(t, human(corpus.ChromeDesktop, allowedNet), bot(corpus.Library, deniedNet), bot(corpus.EmptyUA, deniedNet))
	rules := writePolicy(t, rulesPolicy)
	dir := t.TempDir()
	badJSON := filepath.Join(dir, "bad.jsonl")
	os.WriteFile(badJSON, []byte("{\"label\":\"bot\"}\nnot json\n"), 0o600)
	badLabel := filepath.Join(dir, "label.jsonl")
	os.WriteFile(badLabel, []byte("{\"label\":\"robot\"}\n"), 0o600)
	badClient := writeRecords(t, human(corpus.ChromeDesktop, "not-an-ip"))
	badPolicy := writePolicy(t, "routes:\n  default:\n    challenge_below: 200\n")
	denyAll := writePolicy(t, "rules:\n  deny_cidrs: [0.0.0.0/0]\n")
	// A person and a script sending that person's exact request: the model
	// sees the same features, so whatever its weights it scores them alike
	// and the model-decided AUC is exactly 0.5.
	copied := writeRecords(t, human(corpus.ChromeDesktop, ""), copiedBrowser(""))

	for _, c := range []struct {
		name string
		args []string
		want int
		// stderr must mention this.
		says string
	}{
		{"no gates", []string{"-policy", rules, good}, exitOK, ""},
		{"help", []string{"-h"}, exitOK, "usage"},
		{"gates met, flags after the file", []string{good, "-policy", rules, "-max-human-stopped", "0", "-class-max-human-stopped", "0", "-min-bot-stopped", "100"}, exitOK, ""},
		{"people gate not met", []string{"-policy", writePolicy(t, "rules:\n  deny_cidrs: [0.0.0.0/0]\n"), "-max-human-stopped", "50", good}, exitGates, "gates not met"},
		{"bot gate not met", []string{"-policy", writePolicy(t, "rules:\n  allow_cidrs: [0.0.0.0/0]\n"), "-min-bot-stopped", "1", good}, exitGates, "gates not met"},
		{"gated class without records", []string{"-policy", rules, "-gated-min-stopped", "97", good}, exitGates, "gates not met"},
		{"human class gate not met", []string{"-policy", denyAll, "-max-human-class-stopped", "1", good}, exitGates, "1 of 1 gates not met"},
		{"human class gate not met, under its former name", []string{"-policy", denyAll, "-class-max-human-stopped", "1", good}, exitGates, "1 of 1 gates not met"},
		{"model AUC gate met by a tie", []string{"-min-model-auc", "0.5", copied}, exitOK, ""},
		{"model AUC gate not met by a tie", []string{"-min-model-auc", "0.51", copied}, exitGates, "1 of 1 gates not met"},
		{"model AUC gate without model-decided records", []string{"-policy", rules, "-min-model-auc", "0", good}, exitGates, "1 of 1 gates not met"},
		{"AUC out of range", []string{"-min-model-auc", "1.5", good}, exitUsage, "ratio"},
		{"no file", []string{"-policy", rules}, exitUsage, "no JSONL file"},
		{"unknown flag", []string{"-nope", good}, exitUsage, "not defined"},
		{"bad output", []string{"-o", "xml", good}, exitUsage, "text or json"},
		{"percent out of range", []string{"-max-human-stopped", "101", good}, exitUsage, "percentage"},
		{"missing file", []string{filepath.Join(dir, "missing.jsonl")}, exitUsage, "no such file"},
		{"bad json", []string{badJSON}, exitUsage, "line 2"},
		{"bad label", []string{badLabel}, exitUsage, "robot"},
		{"bad client", []string{badClient}, exitUsage, "not-an-ip"},
		{"bad policy", []string{"-policy", badPolicy, good}, exitUsage, "challenge_below"},
		{"bad compared policy", []string{"-compare", badPolicy, good}, exitUsage, "-compare"},
	} {
		t.Run(c.name, func(t *testing.T) {
			var out, errOut bytes.Buffer
			if got := run(context.Background(), c.args, &out, &errOut); got != c.want {
				t.Fatalf("exit %d, want %d\nstdout: %s\nstderr: %s", got, c.want, out.String(), errOut.String())
			}
			if !strings.Contains(errOut.String(), c.says) {
				t.Errorf("stderr %q does not say %q", errOut.String(), c.says)
			}
		})
	}
}

func TestJSONOutput(t *testing.T) {
	file := writeRecords(t, human(corpus.ChromeDesktop, ""), bot(corpus.EmptyUA, ""))
	var out, errOut bytes.Buffer
	if code := run(context.Background(), []string{"-o", "json", "-min-bot-stopped", "100", file}, &out, &errOut); code != exitOK {
		t.Fatalf("exit %d: %s", code, errOut.String())
	}
	var r Report
	if err := json.Unmarshal(out.Bytes(), &r); err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	if r.Records != 2 || r.Mode != "enforce" || r.Policy.Source != "embedded defaults" || len(r.Classes) != 2 || len(r.Gated) != len(corpus.Gated()) {
		t.Errorf("report %+v", r)
	}
	if len(r.Gates) != 1 || !r.Gates[0].OK || r.Gates[0].Gate != "min-bot-stopped" {
		t.Errorf("gates %+v", r.Gates)
	}
	if len(r.Routes) != 1 || r.Routes[0].Name != policy.DefaultRoute || r.Routes[0].Records != 2 {
		t.Errorf("routes %+v", r.Routes)
	}
	if r.Overall.AUC == nil || *r.Overall.AUC != 1 {
		t.Errorf("AUC %v, want 1 for a person and a request without a user agent", deref(r.Overall.AUC))
	}
	for _, c := range r.Classes {
		if c.AUC == nil || *c.AUC != 1 {
			t.Errorf("%s: AUC %v, want 1 against the other label", c.Class, deref(c.AUC))
		}
	}
	// The person is the model's to judge; the missing user agent is
	// declared automation, decided by a certainty rule.
	if m := r.ModelDecided; m.Humans != 1 || m.Bots != 0 || m.AUC != nil || !near(m.HumansPct, 100) || !near(m.BotsPct, 0) {
		t.Errorf("model-decided %+v, want the person alone and no AUC", m)
	}
	if !strings.Contains(r.Reliability.Weighting, "base rate") || len(r.Reliability.Bins) != reliabilityBins {
		t.Errorf("reliability %+v", r.Reliability)
	}
	if len(r.Models) != 1 || r.Models[0] == "" {
		t.Errorf("models %q, want the version the decisions name", r.Models)
	}
	if g := r.Gates[0]; g.Unit != unitPercent || g.Limit != 100 || !near(g.Got, 100) || g.N != 1 {
		t.Errorf("gate %+v, want 100 of 100 percent over 1 record", g)
	}
	if strings.Contains(out.String(), "compare") {
		t.Error("json has a comparison nobody asked for")
	}
}
