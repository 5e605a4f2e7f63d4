package main

import (
	"math"
	"slices"
	"strings"
	"testing"

	"github.com/botauthz/botauthz/internal/corpus"
	"github.com/botauthz/botauthz/policy"
	"github.com/botauthz/botauthz/scoring"
)

// near reports whether got is set and within 1e-9 of want.
func near(got *float64, want float64) bool { return got != nil && math.Abs(*got-want) < 1e-9 }

func TestReliability(t *testing.T) {
	type bin struct {
		low, humans, bots           int
		weight, predicted, observed float64
	}
	for _, c := range []struct {
		name         string
		humans, bots []int
		want         []bin // the bands with records; every other band is empty
		ece          float64
	}{
		{
			name:   "calibrated: each band's share of people is its mean score",
			humans: []int{15, 95},
			bots:   []int{15, 95},
			// Each label carries half; within a band, one person and one bot weigh alike.
			want: []bin{{10, 1, 1, 0.5, 0.15, 0.5}, {90, 1, 1, 0.5, 0.95, 0.5}},
			ece:  0.5*0.35 + 0.5*0.45,
		},
		{
			name:   "perfect separation at the extremes",
			humans: []int{99, 99, 99},
			bots:   []int{1},
			want:   []bin{{1, 0, 1, 0.5, 0.01, 0}, {90, 3, 0, 0.5, 0.99, 1}},
			ece:    0.5*0.01 + 0.5*0.01,
		},
		{
			name:   "labels are balanced, not counted: 1 bot weighs as much as 3 people",
			humans: []int{50, 50, 50},
			bots:   []int{50},
			want:   []bin{{50, 3, 1, 1, 0.5, 0.5}},
			ece:    0,
		},
		{
			name:   "a constant model puts everything in one band",
			humans: []int{73, 73},
			bots:   []int{73, 73, 73, 73},
			want:   []bin{{70, 2, 4, 1, 0.73, 0.5}},
			ece:    0.23,
		},
		{
			name:   "one label alone carries all the weight",
			humans: []int{30, 40},
			want:   []bin{{30, 1, 0, 0.5, 0.3, 1}, {40, 1, 0, 0.5, 0.4, 1}},
			ece:    0.5*0.7 + 0.5*0.6,
		},
	} {
		t.Run(c.name, func(t *testing.T) {
			rel := reliability(c.humans, c.bots, 0.5)
			if !strings.Contains(rel.Weighting, "50% people") {
				t.Errorf("weighting %q, want the base rate named", rel.Weighting)
			}
			if len(rel.Bins) != reliabilityBins || rel.Bins[0].Low != 1 || rel.Bins[0].High != 9 || rel.Bins[9].Low != 90 || rel.Bins[9].High != 99 {
				t.Fatalf("bins %+v, want 1-9, 10-19, …, 90-99", rel.Bins)
			}
			for _, b := range rel.Bins {
				i := slices.IndexFunc(c.want, func(w bin) bool { return w.low == b.Low })
				if i < 0 {
					if b.Humans != 0 || b.Bots != 0 || b.Weight != 0 || b.Predicted != nil || b.Observed != nil {
						t.Errorf("band %d-%d = %+v, want empty", b.Low, b.High, b)
					}
					continue
				}
				w := c.want[i]
				if b.Humans != w.humans || b.Bots != w.bots || math.Abs(b.Weight-w.weight) > 1e-9 || !near(b.Predicted, w.predicted) || !near(b.Observed, w.observed) {
					t.Errorf("band %d-%d = %d people, %d bots, weight %v, predicted %v, observed %v; want %+v",
						b.Low, b.High, b.Humans, b.Bots, b.Weight, deref(b.Predicted), deref(b.Observed), w)
				}
			}
			if !near(rel.ECE, c.ece) {
				t.Errorf("ECE %v, want %v", deref(rel.ECE), c.ece)
			}
		})
	}
	if rel := reliability(nil, nil, 0.5); rel.ECE != nil {
		t.Errorf("ECE %v without records, want none", *rel.ECE)
	}
}

// decided is an outcome the model scored; certain one a certainty rule
// scored; ruled one a CIDR rule decided, unscored.
func decided(score int, stopped bool) outcome {
	return outcome{Observed: true, Score: score, Stopped: stopped, Action: actionOf(stopped), Model: "lr-test"}
}

func certain(score int, c scoring.Certainty) outcome {
	return outcome{Observed: true, Score: score, Stopped: true, Action: policy.ActionDeny, Certainty: c, Model: "lr-test"}
}

func ruled() outcome {
	return outcome{Observed: true, Stopped: true, Action: policy.ActionDeny, Reasons: []string{"rule.deny_cidr"}}
}

func actionOf(stopped bool) policy.Action {
	if stopped {
		return policy.ActionChallenge
	}
	return policy.ActionAllow
}

// TestModelDecided: only the records the model scored count towards the
// model-decided numbers; the certainty rules' and CIDR rules' do not, while
// every scored record counts towards the per-class AUC.
func TestModelDecided(t *testing.T) {
	type rec struct {
		label, class string
		out          outcome
	}
	recs := []rec{
		{corpus.Human, corpus.ChromeDesktop, decided(90, false)},
		{corpus.Human, corpus.ChromeDesktop, decided(60, false)},
		{corpus.Human, corpus.SafariIOS, decided(40, false)},
		{corpus.Human, corpus.SafariIOS, certain(29, scoring.Contradiction)}, // a person a certainty rule stopped
		{corpus.Bot, corpus.CopiedBrowser, decided(50, false)},
		{corpus.Bot, corpus.CopiedBrowser, decided(20, true)},
		{corpus.Bot, corpus.Library, certain(1, scoring.Declared)},
		{corpus.Bot, corpus.Library, certain(1, scoring.Declared)},
		{corpus.Bot, corpus.Library, ruled()},
		{corpus.Bot, corpus.Crawler, outcome{Stopped: false}}, // a Check that panicked: not observed, not scored
	}
	ins := make([]input, len(recs))
	outs := make([]outcome, len(recs))
	for i, r := range recs {
		ins[i] = input{Record: corpus.Record{Label: r.label, Class: r.class}, File: "x", N: i + 1}
		outs[i] = r.out
	}
	r := summarize(PolicyInfo{Source: "test"}, policy.Default(), ins, outs, []string{"x"}, headerMap)

	m := r.ModelDecided
	if m.Humans != 3 || m.Bots != 2 || m.HumansStopped != 0 || m.BotsStopped != 1 {
		t.Errorf("model decided %+v, want 3 people (none stopped) and 2 bots (1 stopped)", m)
	}
	checks := []struct {
		name string
		got  *float64
		want float64
	}{
		{"share of people model-decided", m.HumansPct, 75},
		{"share of automation model-decided", m.BotsPct, 100 * 2.0 / 6},
		{"people the model stopped", m.HumansStoppedPct, 0},
		{"automation the model must judge, stopped", m.BotsStoppedPct, 50},
		// Bots 50 and 20 against people 90, 60, 40: 50 loses to 40, the rest win: 5 of 6.
		{"model-decided AUC", m.AUC, 5.0 / 6},
		// Every scored record: bots 50, 20, 1, 1 against people 90, 60, 40, 29: 50 loses to 40 and 29, 20 wins all: 14 of 16.
		{"overall AUC", r.Overall.AUC, 14.0 / 16},
	}
	for _, c := range checks {
		if !near(c.got, c.want) {
			t.Errorf("%s = %v, want %v", c.name, deref(c.got), c.want)
		}
	}
	if !slices.Equal(r.Models, []string{"lr-test"}) {
		t.Errorf("models %q, want the one the decisions named", r.Models)
	}

	classAUC := []struct {
		label, class string
		auc          *float64 // nil: none
		modelPct     float64
	}{
		// People of a class against every scored bot (50, 20, 1, 1).
		{corpus.Human, corpus.ChromeDesktop, ptr(1), 100},             // 90 and 60 above all
		{corpus.Human, corpus.SafariIOS, ptr((3.0 + 3.0) / 8), 50},    // 40 beats 3 of 4, 29 beats 3 of 4
		{corpus.Bot, corpus.CopiedBrowser, ptr((2.0 + 4.0) / 8), 100}, // 50 below 60 and 90; 20 below all four people
		{corpus.Bot, corpus.Library, ptr(1), 0},                       // ruled record unscored, left out
		{corpus.Bot, corpus.Crawler, nil, 0},                          // nothing scored: no AUC
	}
	for _, c := range classAUC {
		s := classOf(t, r, c.label, c.class)
		if c.auc == nil && s.AUC != nil || c.auc != nil && !near(s.AUC, *c.auc) {
			t.Errorf("%s AUC = %v, want %v", c.class, deref(s.AUC), deref(c.auc))
		}
		if math.Abs(s.ModelDecidedPct-c.modelPct) > 1e-9 {
			t.Errorf("%s model-decided %v%%, want %v%%", c.class, s.ModelDecidedPct, c.modelPct)
		}
	}
}

func ptr(v float64) *float64 { return &v }

func TestGateCheck(t *testing.T) {
	report := func(modelAUC *float64, humans, bots int) *Report {
		return &Report{
			Overall: Overall{Humans: 200, PeopleStoppedPct: ptr(0.5), Bots: 100, AutomationStoppedPct: ptr(90)},
			Classes: []ClassStats{
				{Label: corpus.Human, Class: corpus.ChromeDesktop, N: 100, StoppedPct: 0},
				{Label: corpus.Human, Class: corpus.SafariIOS, N: 100, StoppedPct: 1},
				{Label: corpus.Bot, Class: corpus.Library, N: 100, StoppedPct: 90},
			},
			ModelDecided: ModelDecided{Humans: humans, Bots: bots, AUC: modelAUC},
		}
	}
	for _, c := range []struct {
		name   string
		gates  gates
		report *Report
		// want is, per gate checked, gate and subject and whether it is met.
		want []string
	}{
		{"people at the limit pass", gates{maxHumanStopped: percent{0.5, true}}, report(nil, 0, 0),
			[]string{"max-human-stopped people ok"}},
		{"people above the limit fail", gates{maxHumanStopped: percent{0.4, true}}, report(nil, 0, 0),
			[]string{"max-human-stopped people FAIL"}},
		{"every human class is held, no bot class", gates{maxHumanClassStopped: percent{0.5, true}}, report(nil, 0, 0),
			[]string{"max-human-class-stopped chrome-desktop ok", "max-human-class-stopped safari-ios FAIL"}},
		{"model AUC above the limit passes", gates{minModelAUC: ratioLimit{0.8, true}}, report(ptr(0.81), 10, 10),
			[]string{"min-model-auc model-decided records ok"}},
		{"model AUC at the limit passes", gates{minModelAUC: ratioLimit{0.8, true}}, report(ptr(0.8), 10, 10),
			[]string{"min-model-auc model-decided records ok"}},
		{"a constant model's AUC fails", gates{minModelAUC: ratioLimit{0.8, true}}, report(ptr(0.5), 10, 10),
			[]string{"min-model-auc model-decided records FAIL"}},
		{"no model-decided records fail", gates{minModelAUC: ratioLimit{0, true}}, report(nil, 10, 0),
			[]string{"min-model-auc model-decided records FAIL"}},
		{"unset gates are not checked", gates{}, report(ptr(0.1), 10, 10), nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			var got []string
			for _, g := range c.gates.check(c.report) {
				verdict := "ok"
				if !g.OK {
					verdict = "FAIL"
				}
				got = append(got, g.Gate+" "+g.Subject+" "+verdict)
			}
			if !slices.Equal(got, c.want) {
				t.Errorf("gates %q, want %q", got, c.want)
			}
		})
	}
}

func TestGateText(t *testing.T) {
	for _, c := range []struct {
		name      string
		g         GateResult
		want, got string
	}{
		{"percent", GateResult{Op: "<=", Unit: unitPercent, Limit: 0.5, Got: ptr(0.126)}, "<= 0.5%", "0.13%"},
		{"ratio", GateResult{Op: ">=", Unit: unitRatio, Limit: 0.75, Got: ptr(0.5)}, ">= 0.75", "0.5000"},
		{"nothing measured", GateResult{Op: ">=", Unit: unitRatio, Limit: 0.75}, ">= 0.75", "n/a"},
	} {
		if w, g := c.g.want(), c.g.got(); w != c.want || g != c.got {
			t.Errorf("%s: want() %q, got() %q; want %q and %q", c.name, w, g, c.want, c.got)
		}
	}
}
