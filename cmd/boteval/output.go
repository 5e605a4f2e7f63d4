package main

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"unicode/utf8"
)

// result is everything one run prints; -o json writes it as it is.
type result struct {
	*Report
	Compare *Comparison `json:"compare,omitempty"`
}

func writeJSON(w io.Writer, res *result) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	if err := enc.Encode(res); err != nil {
		return fmt.Errorf("write json: %w", err)
	}
	return nil
}

// maxUA is how much of a user agent a listed change shows.
const maxUA = 60

// writeText writes the report for people. listLimit bounds the listed
// changes (0: all).
func writeText(w io.Writer, res *result, listLimit int) error {
	p := &printer{w: w}
	r := res.Report
	p.f("boteval: %d records from %s\n", r.Records, strings.Join(r.Files, ", "))
	p.f("policy:  %s\n", policyName(r.Policy))
	p.f("model:   %s\n", modelName(r.Models))
	p.f("mode:    every route evaluated in enforce, whatever the policy file says: stopped = any non-OK answer (challenge, deny, 429)\n")
	p.f("request: Envoy 1.40 CheckRequest, %s\n", r.Encoding)
	p.f("tls:     %s\n", r.TLS)
	p.routes(r.Routes)
	p.f("\n")
	p.classes(r.Classes)
	p.f("\n")
	p.reasons(r.Classes)
	p.f("\n")
	p.overall(r)
	p.f("\n")
	p.modelDecided(r)
	p.f("\n")
	p.reliability(&r.Reliability)
	p.f("\n")
	p.gated(r.Gated)
	if r.Degraded > 0 || r.Panicked > 0 {
		p.f("\nWARNING: %d decisions degraded (no velocity), %d Checks panicked and allowed: the numbers above are not sound\n",
			r.Degraded, r.Panicked)
	}
	if len(r.Gates) > 0 {
		p.f("\n")
		p.gates(r.Gates)
	}
	if res.Compare != nil {
		p.f("\n")
		p.compare(r, res.Compare, listLimit)
	}
	return p.err
}

// modelName names the model versions the decisions gave.
func modelName(models []string) string {
	switch len(models) {
	case 0:
		return "(not named by the decisions)"
	case 1:
		return models[0]
	}
	return strings.Join(models, ", ") + " (the decisions name several)"
}

func policyName(info PolicyInfo) string {
	if info.Version != "" {
		return fmt.Sprintf("%s (version %q)", info.Source, info.Version)
	}
	return info.Source
}

// printer writes text and keeps the first error, so the report reads as a
// sequence of prints.
type printer struct {
	w   io.Writer
	err error
}

func (p *printer) f(format string, args ...any) {
	if p.err == nil {
		_, p.err = fmt.Fprintf(p.w, format, args...)
	}
}

// table writes rows through a tabwriter, right-aligned where numbers are.
func (p *printer) table(rows [][]string, left int) {
	if p.err != nil {
		return
	}
	tw := tabwriter.NewWriter(p.w, 0, 0, 2, ' ', tabwriter.AlignRight)
	for _, row := range rows {
		// The first `left` columns read better left-aligned: pad them to
		// their widest value by hand, since tabwriter aligns every cell
		// alike. A left-aligned last column is left out of the cells
		// (no closing tab), so it needs no padding and leaves no trailing
		// blanks.
		cells := make([]string, len(row))
		copy(cells, row)
		for i := 0; i < left && i < len(cells)-1; i++ {
			cells[i] = pad(cells[i], widest(rows, i))
		}
		text := strings.Join(cells, "\t") + "\t"
		if n := len(cells); left >= n && n > 1 {
			// Right alignment leaves no gap before text after the last
			// tab: make one.
			text = strings.Join(cells[:n-1], "\t") + "\t  " + cells[n-1]
		}
		fmt.Fprintln(tw, text)
	}
	p.err = tw.Flush()
}

func widest(rows [][]string, col int) int {
	n := 0
	for _, r := range rows {
		if col < len(r) {
			n = max(n, utf8.RuneCountInString(r[col]))
		}
	}
	return n
}

func pad(s string, n int) string {
	return s + strings.Repeat(" ", max(0, n-utf8.RuneCountInString(s)))
}

func (p *printer) routes(routes []RouteInfo) {
	for i, rt := range routes {
		head := "routes:  "
		if i > 0 {
			head = "         "
		}
		limits := ""
		if rt.HardLimits > 0 {
			limits = fmt.Sprintf(", %d hard limit(s)", rt.HardLimits)
		}
		p.f("%s%s: %d records, challenge below %d, deny below %d%s\n", head, rt.Name, rt.Records, rt.ChallengeBelow, rt.DenyBelow, limits)
	}
}

func (p *printer) classes(classes []ClassStats) {
	rows := [][]string{classHeader}
	for _, c := range classes {
		row := []string{c.Label, orNone(c.Class), itoa(c.N), fmt.Sprintf("%.2f%%", c.StoppedPct),
			itoa(c.Challenged), itoa(c.Denied), itoa(c.RateLimited)}
		if q := c.Scores; q != nil {
			row = append(row, itoa(q.P5), itoa(q.P25), itoa(q.P50), itoa(q.P75), itoa(q.P95))
		} else {
			row = append(row, "-", "-", "-", "-", "-")
		}
		row = append(row, ratioText(c.AUC), fmt.Sprintf("%.2f%%", c.ModelDecidedPct))
		rows = append(rows, row)
	}
	p.table(rows, 2)
	p.f("(score quantiles are nearest-rank over the scored records; 1 = certainly automated, 99 = human;\n" +
		" AUC separates the class from every record of the other label; MODEL = share no certainty rule decided)\n")
}

// classHeader heads the class table.
var classHeader = []string{"LABEL", "CLASS", "N", "STOPPED", "CHALLENGE", "DENY", "429", "P5", "P25", "P50", "P75", "P95", "AUC", "MODEL"}

func (p *printer) reasons(classes []ClassStats) {
	p.f("top reasons (records of the class each fired on):\n")
	rows := [][]string{}
	for _, c := range classes {
		parts := make([]string, len(c.TopReasons))
		for i, r := range c.TopReasons {
			parts[i] = fmt.Sprintf("%s %d", r.Reason, r.N)
		}
		text := strings.Join(parts, ", ")
		if text == "" {
			text = "(none)"
		}
		rows = append(rows, []string{"  " + orNone(c.Class), text})
	}
	for _, row := range rows {
		p.f("%s  %s\n", pad(row[0], widest(rows, 0)), row[1])
	}
}

func (p *printer) overall(r *Report) {
	o := &r.Overall
	m := &r.ModelDecided
	p.f("overall (positive = bot label, predicted positive = stopped):\n")
	p.f("  people stopped                   %7s  (%d of %d)\n", pctText(o.PeopleStoppedPct), o.HumansStopped, o.Humans)
	p.f("  automation stopped               %7s  (%d of %d)\n", pctText(o.AutomationStoppedPct), o.BotsStopped, o.Bots)
	p.f("  automation the model must judge  %7s  (%d of %d: bot records no certainty rule decided)\n",
		pctText(m.BotsStoppedPct), m.BotsStopped, m.Bots)
	p.f("  precision                        %7s  (bots among the stopped)\n", ratioText(o.Precision))
	p.f("  recall                           %7s  (bots stopped)\n", ratioText(o.Recall))
	p.f("  ROC AUC                          %7s  (score as a detector, lower = automated, ties count half)\n", ratioText(o.AUC))
}

func (p *printer) modelDecided(r *Report) {
	m := &r.ModelDecided
	p.f("model-decided records (no certainty rule decided: the score is the model's own judgement):\n")
	p.f("  people      %7s  of human records (%d of %d; %d stopped)\n", pctText(m.HumansPct), m.Humans, r.Overall.Humans, m.HumansStopped)
	p.f("  automation  %7s  of bot records (%d of %d; %d stopped)\n", pctText(m.BotsPct), m.Bots, r.Overall.Bots, m.BotsStopped)
	p.f("  ROC AUC     %7s  (over these records only; a constant model gets 0.5000)\n", ratioText(m.AUC))
}

func (p *printer) reliability(rel *Reliability) {
	p.f("reliability of the model-decided scores (predicted = mean score/100, the model's probability of a human;\n")
	p.f("observed = share of humans; %s):\n", rel.Weighting)
	rows := [][]string{{"SCORE", "PEOPLE", "AUTOMATION", "WEIGHT", "PREDICTED", "OBSERVED"}}
	for _, b := range rel.Bins {
		weight, predicted, observed := "-", "-", "-"
		if b.Predicted != nil {
			weight = fmt.Sprintf("%.1f%%", 100*b.Weight)
			predicted, observed = fmt.Sprintf("%.1f%%", 100**b.Predicted), fmt.Sprintf("%.1f%%", 100**b.Observed)
		}
		rows = append(rows, []string{fmt.Sprintf("%d-%d", b.Low, b.High), itoa(b.Humans), itoa(b.Bots), weight, predicted, observed})
	}
	p.table(rows, 1)
	ece := "n/a"
	if rel.ECE != nil {
		ece = fmt.Sprintf("%.1f%%", 100**rel.ECE)
	}
	p.f("  expected calibration error %s (|predicted - observed| averaged over the bins by weight)\n", ece)
}

func (p *printer) gated(gated []GatedStats) {
	p.f("gated classes (the test suite holds each to >= 97%% stopped):\n")
	rows := [][]string{}
	for _, g := range gated {
		rows = append(rows, []string{g.Class, pctText(g.StoppedPct), fmt.Sprintf("(%d of %d)", g.Stopped, g.N)})
	}
	p.table(rows, 1)
}

func (p *printer) gates(results []GateResult) {
	p.f("gates:\n")
	rows := [][]string{}
	for _, g := range results {
		verdict := "ok"
		if !g.OK {
			verdict = "FAIL"
		}
		rows = append(rows, []string{verdict, "-" + g.Gate, g.Subject, g.got(), g.want(), fmt.Sprintf("(n %d)", g.N)})
	}
	p.table(rows, 3)
}

func (p *printer) compare(ra *Report, c *Comparison, listLimit int) {
	p.f("compare: A = %s, model %s; B = %s, model %s (both in enforce)\n",
		policyName(ra.Policy), modelName(ra.Models), policyName(c.Policy), modelName(c.Models))
	p.routes(c.Routes)
	a, b := &ra.Overall, &c.Overall
	rows := [][]string{
		{"", "A", "B"},
		{"people stopped", pctText(a.PeopleStoppedPct), pctText(b.PeopleStoppedPct)},
		{"automation stopped", pctText(a.AutomationStoppedPct), pctText(b.AutomationStoppedPct)},
		{"precision", ratioText(a.Precision), ratioText(b.Precision)},
		{"recall", ratioText(a.Recall), ratioText(b.Recall)},
		{"ROC AUC", ratioText(a.AUC), ratioText(b.AUC)},
		{"model-decided ROC AUC", ratioText(ra.ModelDecided.AUC), ratioText(c.ModelDecided.AUC)},
		{"automation the model must judge", pctText(ra.ModelDecided.BotsStoppedPct), pctText(c.ModelDecided.BotsStoppedPct)},
	}
	for i := range ra.Gated {
		if i < len(c.Gated) {
			rows = append(rows, []string{"gated " + ra.Gated[i].Class, pctText(ra.Gated[i].StoppedPct), pctText(c.Gated[i].StoppedPct)})
		}
	}
	p.table(rows, 1)

	p.f("\ndecision changes A -> B: %d of %d records\n", c.Changed, ra.Records)
	if c.Changed == 0 {
		return
	}
	rows = [][]string{{"LABEL", "CLASS", "N", "CHANGED", "NEWLY STOPPED", "NEWLY ALLOWED"}}
	for _, cc := range c.ByClass {
		rows = append(rows, []string{cc.Label, orNone(cc.Class), itoa(cc.N), itoa(cc.Changed), itoa(cc.NewlyStopped), itoa(cc.NewlyAllowed)})
	}
	p.table(rows, 2)
	p.f("\n")
	rows = [][]string{{"#", "RECORD", "LABEL", "CLASS", "ACTION A -> B", "SCORE A -> B", "USER AGENT"}}
	shown := c.Changes
	if listLimit > 0 && len(shown) > listLimit {
		shown = shown[:listLimit]
	}
	for _, ch := range shown {
		rows = append(rows, []string{itoa(ch.Index), fmt.Sprintf("%s#%d", ch.File, ch.N), ch.Label, orNone(ch.Class),
			ch.ActionA + " -> " + ch.ActionB, fmt.Sprintf("%d -> %d", ch.ScoreA, ch.ScoreB), truncate(ch.UserAgent, maxUA)})
	}
	p.table(rows, 7)
	if len(shown) < len(c.Changes) {
		p.f("  … %d more (-list 0 lists all; -o json has every one)\n", len(c.Changes)-len(shown))
	}
}

func itoa(n int) string { return fmt.Sprint(n) }

func orNone(class string) string {
	if class == "" {
		return "(none)"
	}
	return class
}

func pctText(v *float64) string {
	if v == nil {
		return "n/a"
	}
	return fmt.Sprintf("%.2f%%", *v)
}

func ratioText(v *float64) string {
	if v == nil {
		return "n/a"
	}
	return fmt.Sprintf("%.4f", *v)
}

// truncate shortens s to n runes, marking the cut. Control characters
// become "?", so a hostile user agent cannot rewrite the terminal.
func truncate(s string, n int) string {
	s = strings.Map(func(r rune) rune {
		if r < ' ' || r == 0x7f {
			return '?'
		}
		return r
	}, s)
	if utf8.RuneCountInString(s) <= n {
		if s == "" {
			return "(none)"
		}
		return s
	}
	return string([]rune(s)[:n-1]) + "…"
}
