package main

import (
	"cmp"
	"fmt"
	"math"
	"slices"

	"github.com/botauthz/botauthz/internal/corpus"
	"github.com/botauthz/botauthz/policy"
	"github.com/botauthz/botauthz/scoring"
)

// topReasons is how many reasons a class lists.
const topReasons = 5

// Report is the evaluation of one policy over the records; -o json prints
// it as it is. Percentages are 0–100; a ratio that has no denominator is
// null (nil).
type Report struct {
	Policy PolicyInfo `json:"policy"`
	// Models are the model versions the decisions name (normally one);
	// empty when none did.
	Models []string `json:"models"`
	// Mode says how routes were run: always "enforce", whatever the policy
	// file says, because stopped is defined as the answer in enforce.
	Mode     string `json:"mode"`
	Encoding string `json:"encoding"`
	// TLS says whether the records' JA4 reached the model.
	TLS     string   `json:"tls"`
	Files   []string `json:"files"`
	Records int      `json:"records"`
	// Routes are the routes the records were decided on, with their
	// thresholds.
	Routes  []RouteInfo  `json:"routes"`
	Classes []ClassStats `json:"classes"`
	Overall Overall      `json:"overall"`
	// Gated are corpus.Gated()'s classes, present in the records or not.
	Gated []GatedStats `json:"gated"`
	// ModelDecided is the model's own judgement: the records no certainty
	// rule (and no CIDR rule) decided.
	ModelDecided ModelDecided `json:"model_decided"`
	// Reliability compares the model-decided scores, read as probabilities
	// of a human, with the share of humans observed.
	Reliability Reliability `json:"reliability"`
	// Degraded counts decisions made without velocity (the store failed);
	// Panicked counts Checks that recovered from a bug and allowed. Both are
	// 0 in a sound run.
	Degraded int `json:"degraded"`
	Panicked int `json:"panicked"`
	// Gates are the thresholds asked for on the command line; empty when
	// none was.
	Gates []GateResult `json:"gates,omitempty"`
}

// PolicyInfo names the policy evaluated.
type PolicyInfo struct {
	// Source is the policy file, or "embedded defaults".
	Source  string `json:"source"`
	Version string `json:"version,omitempty"`
}

// RouteInfo is one route the records were decided on.
type RouteInfo struct {
	Name           string `json:"name"`
	Records        int    `json:"records"`
	ChallengeBelow int    `json:"challenge_below"`
	DenyBelow      int    `json:"deny_below"`
	// HardLimits counts the route's velocity limits with a maximum: what
	// can answer 429.
	HardLimits int `json:"hard_limits"`
}

// ClassStats is one class of one label.
type ClassStats struct {
	Label string `json:"label"`
	Class string `json:"class"`
	N     int    `json:"n"`
	// Stopped counts non-OK answers: Challenged + Denied + RateLimited.
	Stopped     int     `json:"stopped"`
	StoppedPct  float64 `json:"stopped_pct"`
	Challenged  int     `json:"challenged"`
	Denied      int     `json:"denied"`
	RateLimited int     `json:"rate_limited"`
	// Unscored counts records a CIDR rule decided before any score; they
	// are left out of the quantiles and the AUC.
	Unscored int `json:"unscored,omitempty"`
	// Scores are the score quantiles of the scored records; nil when none
	// was scored.
	Scores *Quantiles `json:"scores"`
	// AUC is the ROC AUC of the score separating this class from every
	// scored record of the other label (a bot class from all people, a
	// human class from all automation), oriented as Overall.AUC: 1 is a
	// perfect separation, 0.5 none. nil when either side has no scores.
	AUC *float64 `json:"roc_auc"`
	// ModelDecided counts the records whose score the model gave (no
	// certainty rule or CIDR rule decided); ModelDecidedPct is their share
	// of the class.
	ModelDecided    int     `json:"model_decided"`
	ModelDecidedPct float64 `json:"model_decided_pct"`
	// TopReasons counts, for the heaviest reasons, the records of the class
	// they fired on.
	TopReasons []ReasonCount `json:"top_reasons"`
}

// Quantiles are nearest-rank percentiles of the scores (each is a score some
// record got).
type Quantiles struct {
	P5  int `json:"p5"`
	P25 int `json:"p25"`
	P50 int `json:"p50"`
	P75 int `json:"p75"`
	P95 int `json:"p95"`
}

// ReasonCount is how many records of a class a reason fired on.
type ReasonCount struct {
	Reason string `json:"reason"`
	N      int    `json:"n"`
}

// Overall is the detector's quality over every record. Positive = bot
// label; predicted positive = stopped.
type Overall struct {
	Humans        int `json:"humans"`
	HumansStopped int `json:"humans_stopped"`
	Bots          int `json:"bots"`
	BotsStopped   int `json:"bots_stopped"`
	// PeopleStoppedPct is the share of human records stopped (false
	// positives); AutomationStoppedPct the share of bot records stopped.
	PeopleStoppedPct     *float64 `json:"people_stopped_pct"`
	AutomationStoppedPct *float64 `json:"automation_stopped_pct"`
	// Precision is the share of bots among the stopped; Recall the share of
	// bots stopped (AutomationStoppedPct as a ratio), both at the policy's
	// thresholds.
	Precision *float64 `json:"precision"`
	Recall    *float64 `json:"recall"`
	// AUC is the ROC AUC of the score as a detector of automation over the
	// scored records: the chance that a bot scores lower than a human, ties
	// counting half.
	AUC *float64 `json:"roc_auc"`
}

// ModelDecided is what the model decided on its own: the scored records no
// certainty rule decided (Decision.Result.Certainty is
// scoring.NoCertainty). Its AUC is the number a model that ignores its
// features would drive to 0.5.
type ModelDecided struct {
	// Humans and Bots count the model-decided records of each label;
	// HumansPct and BotsPct are their shares of all records of the label.
	Humans    int      `json:"humans"`
	HumansPct *float64 `json:"humans_pct"`
	Bots      int      `json:"bots"`
	BotsPct   *float64 `json:"bots_pct"`
	// HumansStopped and BotsStopped count those stopped; BotsStoppedPct is
	// the stop rate of the automation the model must judge.
	HumansStopped    int      `json:"humans_stopped"`
	HumansStoppedPct *float64 `json:"humans_stopped_pct"`
	BotsStopped      int      `json:"bots_stopped"`
	BotsStoppedPct   *float64 `json:"bots_stopped_pct"`
	// AUC is the ROC AUC of the score over these records only, oriented
	// as Overall.AUC; nil when a label has none.
	AUC *float64 `json:"roc_auc"`
}

// Reliability is a reliability table of the model-decided scores: score/100
// is the model's probability of a human, and a calibrated model's predicted
// and observed columns agree bin by bin.
type Reliability struct {
	// Weighting says how records are weighted: each label to half of the
	// total, so the table does not depend on the corpus' mix of labels.
	Weighting string           `json:"weighting"`
	Bins      []ReliabilityBin `json:"bins"`
	// ECE is the expected calibration error: |Predicted − Observed|
	// averaged over the bins by their weight; nil without records.
	ECE *float64 `json:"ece"`
}

// ReliabilityBin is one band of scores, Low–High.
type ReliabilityBin struct {
	Low  int `json:"low"`
	High int `json:"high"`
	// Humans and Bots count the model-decided records in the band.
	Humans int `json:"humans"`
	Bots   int `json:"bots"`
	// Weight is the band's share of the total weight, 0–1.
	Weight float64 `json:"weight"`
	// Predicted is the weighted mean of score/100, the model's probability
	// of a human; Observed the weighted share of humans. Both nil for an
	// empty band.
	Predicted *float64 `json:"predicted"`
	Observed  *float64 `json:"observed"`
}

// GatedStats is one gated class.
type GatedStats struct {
	Class      string   `json:"class"`
	N          int      `json:"n"`
	Stopped    int      `json:"stopped"`
	StoppedPct *float64 `json:"stopped_pct"`
}

// tlsText says how the records' TLS fingerprints were used.
func tlsText(trusted bool) string {
	if trusted {
		return "each record's JA4 in " + ja4Header + ", trusted, as envoy/front-proxy.yaml sets it (-tls=false: an Envoy without fingerprinting)"
	}
	return "not used (-tls=false: an Envoy without TLS fingerprinting)"
}

// summarize builds the report of outs, the outcomes of ins under p.
func summarize(info PolicyInfo, p *policy.Policy, ins []input, outs []outcome, files []string, enc encoding) *Report {
	r := &Report{
		Policy:   info,
		Mode:     "enforce",
		Encoding: enc.String(),
		TLS:      tlsText(p.TLS.Trusted),
		Files:    files,
		Records:  len(ins),
	}

	type key struct{ label, class string }
	type acc struct {
		stats   ClassStats
		scores  []int
		reasons map[string]int
	}
	classes := map[key]*acc{}
	routes := map[string]int{}
	models := map[string]bool{}
	var (
		o                      = &r.Overall
		m                      = &r.ModelDecided
		humanScores, botScores []int
		// The model-decided records' scores, by label.
		modelHumans, modelBots []int
	)
	for i := range ins {
		in, out := &ins[i], &outs[i]
		k := key{in.Label, in.Class}
		a := classes[k]
		if a == nil {
			a = &acc{stats: ClassStats{Label: in.Label, Class: in.Class}, reasons: map[string]int{}}
			classes[k] = a
		}
		s := &a.stats
		s.N++
		if out.Observed {
			routes[out.Route]++
			if out.Model != "" {
				models[out.Model] = true
			}
		} else {
			r.Panicked++
		}
		if out.Degraded {
			r.Degraded++
		}
		if out.Stopped {
			s.Stopped++
			switch out.Action {
			case policy.ActionRateLimit:
				s.RateLimited++
			case policy.ActionChallenge:
				s.Challenged++
			default:
				s.Denied++
			}
		}
		if out.Score > 0 {
			a.scores = append(a.scores, out.Score)
		} else {
			s.Unscored++
		}
		for _, reason := range out.Reasons {
			a.reasons[reason]++
		}
		decided := out.modelDecided()
		if decided {
			s.ModelDecided++
		}

		switch in.Label {
		case corpus.Human:
			o.Humans++
			if out.Stopped {
				o.HumansStopped++
			}
			if out.Score > 0 {
				humanScores = append(humanScores, out.Score)
			}
			if decided {
				m.Humans++
				modelHumans = append(modelHumans, out.Score)
				if out.Stopped {
					m.HumansStopped++
				}
			}
		case corpus.Bot:
			o.Bots++
			if out.Stopped {
				o.BotsStopped++
			}
			if out.Score > 0 {
				botScores = append(botScores, out.Score)
			}
			if decided {
				m.Bots++
				modelBots = append(modelBots, out.Score)
				if out.Stopped {
					m.BotsStopped++
				}
			}
		}
	}

	for _, a := range classes {
		s := &a.stats
		s.StoppedPct = pct(s.Stopped, s.N)
		s.ModelDecidedPct = pct(s.ModelDecided, s.N)
		switch s.Label {
		case corpus.Human:
			s.AUC = auc(botScores, a.scores)
		case corpus.Bot:
			s.AUC = auc(a.scores, humanScores)
		}
		if len(a.scores) > 0 {
			slices.Sort(a.scores)
			s.Scores = &Quantiles{
				P5: quantile(a.scores, 0.05), P25: quantile(a.scores, 0.25), P50: quantile(a.scores, 0.50),
				P75: quantile(a.scores, 0.75), P95: quantile(a.scores, 0.95),
			}
		}
		s.TopReasons = top(a.reasons, topReasons)
		r.Classes = append(r.Classes, *s)
	}
	slices.SortFunc(r.Classes, func(a, b ClassStats) int {
		// People first, then automation; classes by name within a label.
		return cmp.Or(cmp.Compare(labelOrder(a.Label), labelOrder(b.Label)), cmp.Compare(a.Label, b.Label), cmp.Compare(a.Class, b.Class))
	})

	o.PeopleStoppedPct = pctOf(o.HumansStopped, o.Humans)
	o.AutomationStoppedPct = pctOf(o.BotsStopped, o.Bots)
	o.Precision = ratio(o.BotsStopped, o.BotsStopped+o.HumansStopped)
	o.Recall = ratio(o.BotsStopped, o.Bots)
	o.AUC = auc(botScores, humanScores)

	m.HumansPct, m.BotsPct = pctOf(m.Humans, o.Humans), pctOf(m.Bots, o.Bots)
	m.HumansStoppedPct, m.BotsStoppedPct = pctOf(m.HumansStopped, m.Humans), pctOf(m.BotsStopped, m.Bots)
	m.AUC = auc(modelBots, modelHumans)
	r.Reliability = reliability(modelHumans, modelBots, scoring.DefaultWeights().PriorHuman)
	r.Models = sortedKeys(models)

	for _, c := range corpus.Gated() {
		g := GatedStats{Class: c}
		if a := classes[key{corpus.Bot, c}]; a != nil {
			g.N, g.Stopped = a.stats.N, a.stats.Stopped
			g.StoppedPct = pctOf(g.Stopped, g.N)
		}
		r.Gated = append(r.Gated, g)
	}

	for _, name := range sortedKeys(routes) {
		route := p.Route(name)
		ri := RouteInfo{Name: name, Records: routes[name], ChallengeBelow: route.ChallengeBelow, DenyBelow: route.DenyBelow}
		for _, l := range route.Limits {
			if l.Max > 0 {
				ri.HardLimits++
			}
		}
		r.Routes = append(r.Routes, ri)
	}
	return r
}

func labelOrder(label string) int {
	switch label {
	case corpus.Human:
		return 0
	case corpus.Bot:
		return 1
	}
	return 2
}

// pct is n of total in percent; 0 for an empty total.
func pct(n, total int) float64 {
	if total == 0 {
		return 0
	}
	return 100 * float64(n) / float64(total)
}

// pctOf is pct, or nil when there is nothing to take a share of.
func pctOf(n, total int) *float64 {
	if total == 0 {
		return nil
	}
	v := pct(n, total)
	return &v
}

// ratio is n/total, or nil for an empty total.
func ratio(n, total int) *float64 {
	if total == 0 {
		return nil
	}
	v := float64(n) / float64(total)
	return &v
}

// quantile returns the nearest-rank q-quantile (0 < q ≤ 1) of sorted, which
// must not be empty: the smallest value with at least q of the values at or
// below it.
func quantile(sorted []int, q float64) int {
	rank := int(math.Ceil(q * float64(len(sorted))))
	return sorted[min(max(rank, 1), len(sorted))-1]
}

// auc is the ROC AUC of the score as a detector of automation, where a
// lower score means more automated: the probability that a random bot
// scores below a random human, ties counting half (the Mann–Whitney U over
// the product of the group sizes). nil when either group is empty.
func auc(bots, humans []int) *float64 {
	if len(bots) == 0 || len(humans) == 0 {
		return nil
	}
	b := slices.Sorted(slices.Values(bots))
	h := slices.Sorted(slices.Values(humans))
	// Walk both sorted lists score by score: a group of bots at score s
	// wins over every human above s and ties with the humans at s.
	var wins float64
	j := 0 // humans below the current score
	for i := 0; i < len(b); {
		s := b[i]
		nb := 0
		for ; i < len(b) && b[i] == s; i++ {
			nb++
		}
		for j < len(h) && h[j] < s {
			j++
		}
		eq := 0
		for k := j; k < len(h) && h[k] == s; k++ {
			eq++
		}
		above := len(h) - j - eq
		wins += float64(nb) * (float64(above) + float64(eq)/2)
	}
	v := wins / (float64(len(b)) * float64(len(h)))
	return &v
}

// reliabilityBins is how many bands of scores the reliability table has:
// 1–9, 10–19, …, 90–99.
const reliabilityBins = 10

// reliability bins the scores of people and of automation by band and
// compares, in each, the mean predicted probability of a human (score/100)
// with the share of humans, the labels weighted to prior (the share of
// people the model's bias assumes; half each when it says none): the base
// rate the probabilities are calibrated at.
func reliability(humans, bots []int, prior float64) Reliability {
	if !(prior > 0 && prior < 1) {
		prior = 0.5
	}
	type acc struct {
		humans, bots                 int
		weight, predicted, humanMass float64
	}
	var bins [reliabilityBins]acc
	add := func(scores []int, human bool) {
		if len(scores) == 0 {
			return
		}
		w := (1 - prior) / float64(len(scores))
		if human {
			w = prior / float64(len(scores))
		}
		for _, s := range scores {
			b := &bins[min(max(s/10, 0), reliabilityBins-1)]
			if human {
				b.humans++
				b.humanMass += w
			} else {
				b.bots++
			}
			b.weight += w
			b.predicted += w * float64(s) / 100
		}
	}
	add(humans, true)
	add(bots, false)

	var total float64
	for _, b := range bins {
		total += b.weight
	}
	rel := Reliability{Weighting: fmt.Sprintf("labels weighted to the model's base rate, %.0f%% people, as its bias assumes", 100*prior),
		Bins: make([]ReliabilityBin, reliabilityBins)}
	var ece float64
	for i, b := range bins {
		out := &rel.Bins[i]
		out.Low, out.High = max(10*i, 1), 10*i+9
		out.Humans, out.Bots = b.humans, b.bots
		if b.weight == 0 {
			continue
		}
		out.Weight = b.weight / total
		predicted, observed := b.predicted/b.weight, b.humanMass/b.weight
		out.Predicted, out.Observed = &predicted, &observed
		ece += out.Weight * math.Abs(predicted-observed)
	}
	if total > 0 {
		rel.ECE = &ece
	}
	return rel
}

// top returns the n most frequent reasons, ties by name.
func top(counts map[string]int, n int) []ReasonCount {
	out := make([]ReasonCount, 0, len(counts))
	for reason, c := range counts {
		out = append(out, ReasonCount{reason, c})
	}
	slices.SortFunc(out, func(a, b ReasonCount) int { return cmp.Or(cmp.Compare(b.N, a.N), cmp.Compare(a.Reason, b.Reason)) })
	return out[:min(n, len(out))]
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
