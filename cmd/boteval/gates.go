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

// gates are the thresholds a run must meet, in percent; unset ones are not
// checked.
type gates struct {
	// maxHumanStopped bounds the share of all human records stopped;
	// classMaxHumanStopped that of each human class.
	maxHumanStopped, classMaxHumanStopped percent
	// minBotStopped is the least share of all bot records stopped;
	// gatedMinStopped that of each of corpus.Gated()'s classes.
	minBotStopped, gatedMinStopped percent
}

// GateResult is one threshold checked against one measure.
type GateResult struct {
	// Gate is the flag that asked for it.
	Gate string `json:"gate"`
	// Subject is what was measured: "people", "automation", or a class.
	Subject string `json:"subject"`
	// Op is "<=" or ">=": the measure must be at most or at least LimitPct.
	Op       string  `json:"op"`
	LimitPct float64 `json:"limit_pct"`
	// GotPct is the measured share in percent; nil when there were no
	// records to measure, which fails the gate.
	GotPct *float64 `json:"got_pct"`
	N      int      `json:"n"`
	OK     bool     `json:"ok"`
}

// check measures r against the gates that are set.
func (g *gates) check(r *Report) []GateResult {
	var out []GateResult
	atMost := func(gate, subject string, limit percent, got *float64, n int) {
		out = append(out, GateResult{Gate: gate, Subject: subject, Op: "<=", LimitPct: limit.v, GotPct: got, N: n,
			OK: got != nil && *got <= limit.v})
	}
	atLeast := func(gate, subject string, limit percent, got *float64, n int) {
		out = append(out, GateResult{Gate: gate, Subject: subject, Op: ">=", LimitPct: limit.v, GotPct: got, N: n,
			OK: got != nil && *got >= limit.v})
	}
	if g.maxHumanStopped.set {
		atMost("max-human-stopped", "people", g.maxHumanStopped, r.Overall.PeopleStoppedPct, r.Overall.Humans)
	}
	if g.classMaxHumanStopped.set {
		for _, c := range r.Classes {
			if c.Label == corpus.Human {
				atMost("class-max-human-stopped", c.Class, g.classMaxHumanStopped, &c.StoppedPct, c.N)
			}
		}
	}
	if g.minBotStopped.set {
		atLeast("min-bot-stopped", "automation", g.minBotStopped, r.Overall.AutomationStoppedPct, r.Overall.Bots)
	}
	if g.gatedMinStopped.set {
		for _, c := range r.Gated {
			atLeast("gated-min-stopped", c.Class, g.gatedMinStopped, c.StoppedPct, c.N)
		}
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

// want is the condition as text, e.g. "<= 0.5%".
func (g *GateResult) want() string {
	return g.Op + " " + strconv.FormatFloat(g.LimitPct, 'f', -1, 64) + "%"
}
