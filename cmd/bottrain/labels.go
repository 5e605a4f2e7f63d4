package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"os"

	"github.com/botauthz/botauthz/scoring"
)

// logLine is what bottrain reads of a decision log line: botauthz writes
// features and feature_set only when the policy's decision_log.features is
// on.
type logLine struct {
	Msg        string  `json:"msg"`
	RequestID  string  `json:"request_id"`
	Features   *string `json:"features"`
	FeatureSet int     `json:"feature_set"`
}

// outcome is one label for a logged decision.
type outcome struct {
	RequestID string `json:"request_id"`
	// Label is "human" or "bot".
	Label string `json:"label"`
	// How is "challenge_passed", "challenge_failed" or "operator".
	How string `json:"how"`
}

// productionRows joins a decision log with outcomes by request id. A
// passed challenge labels human and an operator's label counts as given; a
// failed challenge is never a bot label (a person who cannot solve it, a
// screen reader, a blocked script are not bots), so it is skipped. Lines
// of another feature set, without features, or without an outcome are
// skipped and counted.
func productionRows(logPath, outcomesPath string) (rows []row, skipped int, err error) {
	labels := map[string]outcome{}
	if err := eachJSONLine(outcomesPath, func(line int, b []byte) error {
		var o outcome
		if err := json.Unmarshal(b, &o); err != nil {
			return err
		}
		switch {
		case o.RequestID == "":
			return errors.New("no request_id")
		case o.Label != "human" && o.Label != "bot":
			return fmt.Errorf("label %q is not human or bot", o.Label)
		case o.How != "challenge_passed" && o.How != "challenge_failed" && o.How != "operator":
			return fmt.Errorf("how %q is not challenge_passed, challenge_failed or operator", o.How)
		case o.How == "challenge_passed" && o.Label != "human":
			return errors.New("a passed challenge labels human")
		}
		labels[o.RequestID] = o
		return nil
	}); err != nil {
		return nil, 0, err
	}
	err = eachJSONLine(logPath, func(line int, b []byte) error {
		var l logLine
		if json.Unmarshal(b, &l) != nil || l.Msg != "decision" {
			return nil // other log lines share the stream
		}
		o, ok := labels[l.RequestID]
		if !ok || l.Features == nil || l.FeatureSet != scoring.FeatureSet || o.How == "challenge_failed" {
			skipped++
			return nil
		}
		f, err := scoring.ParseFeatures(*l.Features)
		if err != nil {
			skipped++
			return nil
		}
		rows = append(rows, row{features: f, human: o.Label == "human", source: "production:" + o.How})
		return nil
	})
	return rows, skipped, err
}

// eachJSONLine calls fn with every non-empty line of path.
func eachJSONLine(path string, fn func(line int, b []byte) error) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for n := 1; sc.Scan(); n++ {
		if len(sc.Bytes()) == 0 {
			continue
		}
		if err := fn(n, sc.Bytes()); err != nil {
			return fmt.Errorf("%s:%d: %w", path, n, err)
		}
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return nil
}
