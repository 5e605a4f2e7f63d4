package main

import (
	"bytes"
	"context"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/botauthz/botauthz/internal/corpus"
	"github.com/botauthz/botauthz/scoring"
)

// repoOptions trains on the repository's train split with its config.
func repoOptions() options {
	return options{
		corpus:   "../../testdata/corpus/train.jsonl",
		config:   "config.yaml",
		outModel: "../../scoring/data/model.yaml",
		outOrder: "../../scoring/data/header_order.yaml",
		seed:     1,
	}
}

func TestShippedModelIsWhatTrainingGives(t *testing.T) {
	o := repoOptions()
	args := []string{"-check", "-corpus", o.corpus, "-config", o.config, "-model", o.outModel, "-order", o.outOrder}
	var stdout, stderr bytes.Buffer
	if code := run(context.Background(), args, &stdout, &stderr); code != 0 {
		t.Fatalf("bottrain -check: exit %d: %s\n(retrain with `make train` and commit the data files)", code, stderr.String())
	}
}

func TestTrainingTwiceGivesIdenticalBytes(t *testing.T) {
	a, err := train(repoOptions())
	if err != nil {
		t.Fatal(err)
	}
	b, err := train(repoOptions())
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(a.model, b.model) || !bytes.Equal(a.order, b.order) {
		t.Fatal("two runs over the same corpus and seed wrote different files")
	}
	if _, err := scoring.ParseWeights(a.model); err != nil {
		t.Fatalf("the weights written do not parse: %v", err)
	}
}

func TestFitRecoversTheWeightsThatMadeTheData(t *testing.T) {
	// Two features with known log-odds; every combination with counts in
	// exact proportion to the model's probabilities.
	bias, w := 1.5, []float64{-2, 0.75}
	var exs []example
	for _, x := range [][]float64{{0, 0}, {1, 0}, {0, 1}, {1, 1}} {
		z := bias + w[0]*x[0] + w[1]*x[1]
		p := 1 / (1 + math.Exp(-z))
		exs = append(exs, example{x: x, human: 1000 * p, bot: 1000 * (1 - p)})
	}
	free := fitOptions{means: []float64{0, 0}, lower: []float64{-10, -10}}
	// The data's weight 0.75 is positive: the fit holds it at its upper
	// bound, 0 (no feature may look more human); the other is free.
	gotBias, got, err := fit(exs, 2, free)
	if err != nil {
		t.Fatal(err)
	}
	if got[1] != 0 || got[0] >= 0 {
		t.Fatalf("fit = %v %v: want the positive weight held at 0", gotBias, got)
	}
	// With both weights negative the fit finds them exactly.
	w[1] = -0.75
	exs = exs[:0]
	for _, x := range [][]float64{{0, 0}, {1, 0}, {0, 1}, {1, 1}} {
		z := bias + w[0]*x[0] + w[1]*x[1]
		p := 1 / (1 + math.Exp(-z))
		exs = append(exs, example{x: x, human: 1000 * p, bot: 1000 * (1 - p)})
	}
	gotBias, got, err = fit(exs, 2, free)
	if err != nil {
		t.Fatal(err)
	}
	if math.Abs(gotBias-bias) > 1e-6 || math.Abs(got[0]-w[0]) > 1e-6 || math.Abs(got[1]-w[1]) > 1e-6 {
		t.Fatalf("fit = %v %v, want %v %v", gotBias, got, bias, w)
	}
	// A cap holds a weight at its bound and refits the rest.
	capped := free
	capped.lower = []float64{-0.5, -10}
	_, got, err = fit(exs, 2, capped)
	if err != nil {
		t.Fatal(err)
	}
	if got[0] != -0.5 {
		t.Fatalf("capped weight = %v, want -0.5", got[0])
	}
	// A penalty pulls towards the prior mean: a feature no example fires
	// keeps its mean.
	pulled := free
	pulled.lambda, pulled.means = 1, []float64{-2, -0.75}
	_, got, err = fit([]example{{x: []float64{0, 1}, human: 5, bot: 5}}, 2, pulled)
	if err != nil || got[0] != -2 {
		t.Fatalf("unfired feature's weight = %v (%v), want its mean -2", got, err)
	}
}

func TestFitSurvivesAFeatureThatNeverFires(t *testing.T) {
	exs := []example{{x: []float64{0}, human: 10, bot: 5}}
	_, w, err := fit(exs, 1, fitOptions{means: []float64{0}, lower: []float64{-10}})
	if err != nil || w[0] != 0 {
		t.Fatalf("fit = %v, %v; want weight 0, no error", w, err)
	}
}

func TestLearnOrderKeepsOnlyPairsNeverReversed(t *testing.T) {
	chrome := "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36"
	nav := func(names ...string) corpus.Record {
		r := corpus.Record{Label: corpus.Human, Method: "GET", Scheme: "https"}
		for _, n := range names {
			v := "x"
			switch n {
			case "user-agent":
				v = chrome
			case "sec-fetch-mode":
				v = "navigate"
			}
			r.Headers = append(r.Headers, corpus.Header{n, v})
		}
		return r
	}
	var recs []corpus.Record
	for range 3 {
		recs = append(recs,
			nav("user-agent", "accept", "sec-fetch-mode", "accept-language"),
			nav("user-agent", "sec-fetch-mode", "accept", "accept-language"))
	}
	o := learnOrder(recs, orderConfig{Families: []string{"chromium"}, MinTogether: 6}, "test")
	before := o.Families["chromium"].Before
	if got := strings.Join(before["user-agent"], ","); got != "accept,accept-language,sec-fetch-mode" {
		t.Errorf("after user-agent: %q", got)
	}
	if got := before["accept"]; len(got) != 1 || got[0] != "accept-language" {
		t.Errorf("after accept: %q (accept and sec-fetch-mode swap, so neither orders the other)", got)
	}
	if o.Families["chromium"].Navigations != 6 {
		t.Errorf("navigations = %d, want 6", o.Families["chromium"].Navigations)
	}
}

func TestProductionLabelsJoinByRequestIDAndSkipFailedChallenges(t *testing.T) {
	dir := t.TempDir()
	logPath, outPath := filepath.Join(dir, "log.jsonl"), filepath.Join(dir, "outcomes.jsonl")
	write := func(path, s string) {
		if err := os.WriteFile(path, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write(logPath, strings.NewReplacer("SET", strconv.Itoa(scoring.FeatureSet), "OTHER", strconv.Itoa(scoring.FeatureSet+1)).Replace(`{"msg":"decision","request_id":"a","features":"accept.missing,protocol.http1","feature_set":SET}
{"msg":"decision","request_id":"b","features":"","feature_set":SET}
{"msg":"decision","request_id":"c","features":"accept.missing","feature_set":SET}
{"msg":"decision","request_id":"d","feature_set":SET}
{"msg":"decision","request_id":"e","features":"accept.missing","feature_set":OTHER}
{"msg":"policy reloaded"}
`))
	write(outPath, `{"request_id":"a","label":"bot","how":"operator"}
{"request_id":"b","label":"human","how":"challenge_passed"}
{"request_id":"c","label":"bot","how":"challenge_failed"}
{"request_id":"d","label":"human","how":"operator"}
{"request_id":"e","label":"human","how":"operator"}
`)
	rows, skipped, err := productionRows(logPath, outPath)
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 2 || skipped != 3 {
		t.Fatalf("rows %d skipped %d, want 2 and 3 (c failed a challenge, d logged no features, e another feature set)", len(rows), skipped)
	}
	if rows[0].human || !rows[0].features.Has(scoring.ProtocolHTTP1) || !rows[1].human || rows[1].features != 0 {
		t.Fatalf("rows = %+v", rows)
	}
	write(outPath, `{"request_id":"a","label":"bot","how":"challenge_passed"}`+"\n")
	if _, _, err := productionRows(logPath, outPath); err == nil {
		t.Fatal("a passed challenge labelled bot was accepted")
	}
}
