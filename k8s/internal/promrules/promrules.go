// Package promrules derives the Prometheus rules the Helm chart and the
// Kustomize monitoring component ship from their one source,
// telemetry/prometheus: Helm's .Files and kustomize read only files inside
// their own directories, so each needs a copy. It must not change the rules:
// every group, rule and comment comes through as written.
package promrules

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Paths relative to the repository root.
const (
	// SourceDir holds the canonical rule files.
	SourceDir = "telemetry/prometheus"
	// ChartDir receives a copy of each rule file, which the chart's
	// PrometheusRule template reads with .Files.Glob.
	ChartDir = "k8s/helm/botauthz/files/prometheus"
	// ComponentFile is the Kustomize component's PrometheusRule.
	ComponentFile = "k8s/kustomize/components/monitoring/prometheusrule.yaml"
	// Command regenerates the files; error messages name it.
	Command = "make manifests (or: cd k8s && go generate ./...)"
)

// ScrapeConfig is the Prometheus configuration in SourceDir whose
// rule_files names the rule files: the list Prometheus itself loads, so
// the chart and the component ship exactly those (and never, say,
// promtool's unit tests beside them).
const ScrapeConfig = "scrape.yaml"

// Sources lists the rule files ScrapeConfig's rule_files names, sorted;
// each must exist in SourceDir.
func Sources(repo string) ([]string, error) {
	data, err := os.ReadFile(filepath.Join(repo, SourceDir, ScrapeConfig))
	if err != nil {
		return nil, fmt.Errorf("read the rule files' list: %w", err)
	}
	var cfg struct {
		RuleFiles []string `yaml:"rule_files"`
	}
	if err := yaml.Unmarshal(data, &cfg); err != nil {
		return nil, fmt.Errorf("%s/%s: %w", SourceDir, ScrapeConfig, err)
	}
	var names []string
	for _, name := range cfg.RuleFiles {
		if name != filepath.Base(name) || !strings.HasSuffix(name, ".yaml") {
			return nil, fmt.Errorf("%s/%s: rule file %q: want a .yaml file beside it", SourceDir, ScrapeConfig, name)
		}
		if _, err := os.Stat(filepath.Join(repo, SourceDir, name)); err != nil {
			return nil, fmt.Errorf("%s/%s names rule file %s: %w", SourceDir, ScrapeConfig, name, err)
		}
		names = append(names, name)
	}
	if len(names) == 0 {
		return nil, fmt.Errorf("%s/%s names no rule files", SourceDir, ScrapeConfig)
	}
	slices.Sort(names)
	return slices.Compact(names), nil
}

// Generate returns every generated file, by path relative to repo, with
// its content.
func Generate(repo string) (map[string][]byte, error) {
	names, err := Sources(repo)
	if err != nil {
		return nil, err
	}
	out := map[string][]byte{}
	groups := &yaml.Node{Kind: yaml.SequenceNode}
	for _, name := range names {
		src := filepath.Join(SourceDir, name)
		data, err := os.ReadFile(filepath.Join(repo, src))
		if err != nil {
			return nil, err
		}
		header := fmt.Sprintf("# Code generated from %s by %s. DO NOT EDIT.\n", src, Command)
		out[filepath.Join(ChartDir, name)] = append([]byte(header), data...)

		g, err := fileGroups(data)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", src, err)
		}
		unfold(g)
		groups.Content = append(groups.Content, g.Content...)
	}

	rule, err := prometheusRule(names, groups)
	if err != nil {
		return nil, err
	}
	out[ComponentFile] = rule
	return out, nil
}

// fileGroups returns the groups sequence of a rule file, comments kept.
func fileGroups(data []byte) (*yaml.Node, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, err
	}
	if doc.Kind != yaml.DocumentNode || len(doc.Content) != 1 || doc.Content[0].Kind != yaml.MappingNode {
		return nil, errors.New("not a mapping")
	}
	m := doc.Content[0]
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == "groups" && m.Content[i+1].Kind == yaml.SequenceNode {
			return m.Content[i+1], nil
		}
	}
	return nil, errors.New("no groups")
}

// unfold gives every folded scalar (>-) a style the encoder writes back
// faithfully: yaml.v3 re-folds a value with more-indented lines (a PromQL
// expression's) into one with extra newlines.
func unfold(n *yaml.Node) {
	if n.Kind == yaml.ScalarNode && n.Style&yaml.FoldedStyle != 0 {
		n.Style &^= yaml.FoldedStyle
		if strings.Contains(n.Value, "\n") {
			n.Style |= yaml.LiteralStyle
		}
	}
	for _, c := range n.Content {
		unfold(c)
	}
}

// prometheusRule writes the PrometheusRule object holding groups.
func prometheusRule(names []string, groups *yaml.Node) ([]byte, error) {
	str := func(s string) *yaml.Node { return &yaml.Node{Kind: yaml.ScalarNode, Value: s} }
	mapping := func(kv ...*yaml.Node) *yaml.Node { return &yaml.Node{Kind: yaml.MappingNode, Content: kv} }
	obj := mapping(
		str("apiVersion"), str("monitoring.coreos.com/v1"),
		str("kind"), str("PrometheusRule"),
		str("metadata"), mapping(
			str("name"), str("botauthz"),
			str("labels"), mapping(str("app"), str("botauthz")),
		),
		str("spec"), mapping(str("groups"), groups),
	)
	var buf bytes.Buffer
	srcs := make([]string, len(names))
	for i, n := range names {
		srcs[i] = filepath.Join(SourceDir, n)
	}
	fmt.Fprintf(&buf, "# Code generated from %s by %s. DO NOT EDIT.\n", strings.Join(srcs, ", "), Command)
	buf.WriteString("# Needs the Prometheus Operator's CRDs; add labels its ruleSelector wants\n# (e.g. release: kube-prometheus-stack) with a patch in your overlay.\n")
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(obj); err != nil {
		return nil, err
	}
	if err := enc.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// Write writes the generated files under repo and removes copies in
// ChartDir whose source is gone.
func Write(repo string, files map[string][]byte) error {
	if err := removeStale(repo, files); err != nil {
		return err
	}
	for path, data := range files {
		full := filepath.Join(repo, path)
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(full, data, 0o644); err != nil {
			return err
		}
	}
	return nil
}

// Stale names each generated file that is missing, differs, or should no
// longer be there.
func Stale(repo string, files map[string][]byte) ([]string, error) {
	var stale []string
	for path, want := range files {
		got, err := os.ReadFile(filepath.Join(repo, path))
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return nil, err
		}
		if !bytes.Equal(got, want) {
			stale = append(stale, path)
		}
	}
	extra, err := extraCopies(repo, files)
	if err != nil {
		return nil, err
	}
	stale = append(stale, extra...)
	slices.Sort(stale)
	return stale, nil
}

func extraCopies(repo string, files map[string][]byte) ([]string, error) {
	entries, err := os.ReadDir(filepath.Join(repo, ChartDir))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	} else if err != nil {
		return nil, err
	}
	var extra []string
	for _, e := range entries {
		path := filepath.Join(ChartDir, e.Name())
		if _, ok := files[path]; !ok {
			extra = append(extra, path)
		}
	}
	return extra, nil
}

func removeStale(repo string, files map[string][]byte) error {
	extra, err := extraCopies(repo, files)
	if err != nil {
		return err
	}
	for _, path := range extra {
		if err := os.Remove(filepath.Join(repo, path)); err != nil {
			return err
		}
	}
	return nil
}
