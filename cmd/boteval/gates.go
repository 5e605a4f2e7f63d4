package main

import (
	"fmt"
	"strconv"

	"github.com/botauthz/botauthz/internal/corpus"
)

// percent is a percentage flag, 0–100, that may be left unset.
type percent struct {
	v   float64
	set bool
}

// String implements flag.Value.
func (p *percent) String() string {
	if p == nil || !p.set {
		return ""
	}
	return strconv.FormatFloat(p.v, 'f', -1, 64)
}

// Set implements flag.Value.
func (p *percent) Set(s string) error {
	v, err := strconv.ParseFloat(s, 64)
	if err != nil || v != v || v < 0 || v > 100 {
		return fmt.Errorf("%q is not a percentage from 0 to 100", s)
	}
	p.v, p.set = v, true
	return nil
}

// ratioLimit is a ratio flag, 0–1 (an AUC), that may be left unset.
type ratioLimit struct {
	v   float64
	set bool
}

// String implements flag.Value.
func (r *ratioLimit) String() string {
	if r == nil || !r.set {
		return ""
	}
	return strconv.FormatFloat(r.v, 'f', -1, 64)
}

// Set implements flag.Value.
func (r *ratioLimit) Set(s string) error {
	v, err := strconv.ParseFloat(s, 64)
	if err != nil || v != v || v < 0 || v > 1 {
		return fmt.Errorf("%q is not a ratio from 0 to 1", s)
	}
	r.v, r.set = v, true
	return nil
}

// gates are the thresholds a run must meet; unset ones are not checked.
type gates struct {
	// maxHumanStopped bounds the share of all human records stopped;
	// maxHumanClassStopped that of each human class (percent).
	maxHumanStopped, maxHumanClassStopped percent
	// minBotStopped is the least share of all bot records stopped;
	// gatedMinStopped that of each of corpus.Gated()'s classes (percent).
	minBotStopped, gatedMinStopped percent
	// minModelAUC is the least ROC AUC of the score over the records the
	// model decided (no certainty rule did): a constant model gets 0.5.
	minModelAUC ratioLimit
}

// The units a gate measures in.
const (
	unitPercent = "percent" // 0–100
	unitRatio   = "ratio"   // 0–1
)

// GateResult is one threshold checked against one measure.
type GateResult struct {
	// Gate is the flag that asked for it.
	Gate string `json:"gate"`
	// Subject is what was measured: "people", "automation", a class, or
	// "model-decided records".
	Subject string `json:"subject"`
	// Op is "<=" or ">=": the measure must be at most or at least Limit.
	Op string `json:"op"`
	// Unit is what Limit and Got are in: "percent" (0–100) or "ratio"
	// (0–1).
	Unit  string  `json:"unit"`
	Limit float64 `json:"limit"`
	// Got is the measure; nil when there were no records to measure, which
	// fails the gate.
	Got *float64 `json:"got"`
	// N is how many records the measure is over.
	N  int  `json:"n"`
	OK bool `json:"ok"`
}

// check measures r against the gates that are set.
func (g *gates) check(r *Report) []GateResult {
	var out []GateResult
	add := func(gate, subject, op, unit string, limit float64, got *float64, n int) {
		ok := got != nil && (op == "<=" && *got <= limit || op == ">=" && *got >= limit)
		out = append(out, GateResult{Gate: gate, Subject: subject, Op: op, Unit: unit, Limit: limit, Got: got, N: n, OK: ok})
	}
	if g.maxHumanStopped.set {
		add("max-human-stopped", "people", "<=", unitPercent, g.maxHumanStopped.v, r.Overall.PeopleStoppedPct, r.Overall.Humans)
	}
	if g.maxHumanClassStopped.set {
		for _, c := range r.Classes {
			if c.Label == corpus.Human {
				add("max-human-class-stopped", c.Class, "<=", unitPercent, g.maxHumanClassStopped.v, &c.StoppedPct, c.N)
			}
		}
	}
	if g.minBotStopped.set {
		add("min-bot-stopped", "automation", ">=", unitPercent, g.minBotStopped.v, r.Overall.AutomationStoppedPct, r.Overall.Bots)
	}
	if g.gatedMinStopped.set {
		for _, c := range r.Gated {
			add("gated-min-stopped", c.Class, ">=", unitPercent, g.gatedMinStopped.v, c.StoppedPct, c.N)
		}
	}
	if g.minModelAUC.set {
		m := &r.ModelDecided
		add("min-model-auc", "model-decided records", ">=", unitRatio, g.minModelAUC.v, m.AUC, m.Humans+m.Bots)
	}
	return out
}

// failed returns the gates that were not met.
func failed(results []GateResult) []GateResult {
	var out []GateResult
	for _, g := range results {
		if !g.OK {
			out = append(out, g)
		}
	}
	return out
}

// want is the condition as text, e.g. "<= 0.5%" or ">= 0.8".
func (g *GateResult) want() string {
	limit := strconv.FormatFloat(g.Limit, 'f', -1, 64)
	if g.Unit == unitPercent {
		limit += "%"
	}
	return g.Op + " " + limit
}

// got is the measure as text: "0.12%", "0.8123", or "n/a".
func (g *GateResult) got() string {
	if g.Unit == unitPercent {
		return pctText(g.Got)
	}
	return ratioText(g.Got)
}
