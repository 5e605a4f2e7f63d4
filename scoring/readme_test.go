package scoring

import (
	"os"
	"strconv"
	"strings"
	"testing"
)

// TestReadmeListsEveryFeatureWithItsShippedWeight keeps the README's
// feature table true: one row per model feature, with the weight
// data/model.yaml ships.
func TestReadmeListsEveryFeatureWithItsShippedWeight(t *testing.T) {
	readme, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	rows := map[string]string{}
	for line := range strings.SplitSeq(string(readme), "\n") {
		cells := strings.Split(line, "|")
		if len(cells) < 4 {
			continue
		}
		name := strings.Trim(strings.TrimSpace(cells[1]), "`")
		if c, ok := ParseCode(name); ok && IsFeature(c) {
			rows[name] = strings.TrimSpace(cells[2])
		}
	}
	w := DefaultWeights()
	for _, c := range FeatureCodes() {
		got, ok := rows[c.String()]
		if !ok {
			t.Errorf("README: no row for feature %s", c)
			continue
		}
		if want := strconv.FormatFloat(w.Of(c), 'f', 2, 64); got != want {
			t.Errorf("README: %s weighs %s, the shipped model %s", c, got, want)
		}
	}
}
