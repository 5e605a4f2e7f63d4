package main

// A Bayesian network as Apify's generative-bayesian-network package
// (fingerprint-suite) defines and samples it; header-generator ships two of
// them as zipped JSON (data_files/input-network-definition.zip and
// header-network-definition.zip).
//
// The definition is {"nodes": [...]}, the nodes listed in sampling
// (topological) order, each
//
//	{"name": "...", "parentNames": ["...", ...], "possibleValues": ["...", ...],
//	 "conditionalProbabilities": TREE}
//
// where TREE has one level per parent, in parentNames order: at a level,
// {"deeper": {"<parent value>": TREE, ...}, "skip": TREE} — the parent's value
// picks its subtree under "deeper", and a value the training data never had
// falls to "skip" — and under the last level a leaf {"<value>": probability,
// ...}. A node with no parents is a leaf directly. Sampling a node walks its
// tree with the parents' sampled values and draws from the leaf
// (BayesianNode.getProbabilitiesGivenKnownValues and sample in
// bayesian-node.js). The package draws in the leaf's key order; Go's maps
// have none, so the leaf is kept sorted by value: the distribution is the
// same, the draws deterministic for a seed.

import (
	"archive/zip"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"sort"
)

// bnNode is one node of a Bayesian network.
type bnNode struct {
	Name    string
	Parents []string
	Values  []string
	table   *bnTable
}

// bnTable is a node's conditional probability table: a tree with one level
// per parent.
type bnTable struct {
	deeper map[string]*bnTable
	skip   *bnTable
	leaf   []bnProb // at the last level: values sorted, with probabilities
}

type bnProb struct {
	value string
	p     float64
}

// bnNetwork is a Bayesian network, its nodes in sampling order.
type bnNetwork struct {
	Nodes  []*bnNode
	byName map[string]*bnNode
}

// readNetworkZip reads a network definition from the first file of a zip
// archive, as generative-bayesian-network's constructor does.
func readNetworkZip(path string) (*bnNetwork, error) {
	zr, err := zip.OpenReader(path)
	if err != nil {
		return nil, err
	}
	defer zr.Close()
	if len(zr.File) == 0 {
		return nil, fmt.Errorf("%s: empty archive", path)
	}
	f, err := zr.File[0].Open()
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, 64<<20))
	if err != nil {
		return nil, err
	}
	n, err := parseNetwork(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return n, nil
}

// parseNetwork parses a network definition (JSON).
func parseNetwork(b []byte) (*bnNetwork, error) {
	var def struct {
		Nodes []struct {
			Name    string          `json:"name"`
			Parents []string        `json:"parentNames"`
			Values  []string        `json:"possibleValues"`
			Table   json.RawMessage `json:"conditionalProbabilities"`
		} `json:"nodes"`
	}
	if err := json.Unmarshal(b, &def); err != nil {
		return nil, err
	}
	n := &bnNetwork{byName: map[string]*bnNode{}}
	for _, d := range def.Nodes {
		for _, p := range d.Parents {
			if n.byName[p] == nil {
				return nil, fmt.Errorf("node %q: parent %q is not sampled before it", d.Name, p)
			}
		}
		t, err := parseTable(d.Table, len(d.Parents))
		if err != nil {
			return nil, fmt.Errorf("node %q: %w", d.Name, err)
		}
		node := &bnNode{Name: d.Name, Parents: d.Parents, Values: d.Values, table: t}
		n.Nodes = append(n.Nodes, node)
		n.byName[d.Name] = node
	}
	return n, nil
}

func parseTable(b json.RawMessage, depth int) (*bnTable, error) {
	if depth == 0 {
		var m map[string]float64
		if err := json.Unmarshal(b, &m); err != nil {
			return nil, err
		}
		t := &bnTable{}
		for v, p := range m {
			t.leaf = append(t.leaf, bnProb{v, p})
		}
		sort.Slice(t.leaf, func(i, j int) bool { return t.leaf[i].value < t.leaf[j].value })
		return t, nil
	}
	var lvl struct {
		Deeper map[string]json.RawMessage `json:"deeper"`
		Skip   json.RawMessage            `json:"skip"`
	}
	if err := json.Unmarshal(b, &lvl); err != nil {
		return nil, err
	}
	t := &bnTable{deeper: map[string]*bnTable{}}
	for v, sub := range lvl.Deeper {
		st, err := parseTable(sub, depth-1)
		if err != nil {
			return nil, err
		}
		t.deeper[v] = st
	}
	if len(lvl.Skip) > 0 && string(lvl.Skip) != "null" {
		st, err := parseTable(lvl.Skip, depth-1)
		if err != nil {
			return nil, err
		}
		t.skip = st
	}
	return t, nil
}

// Node is the node named name, or nil.
func (n *bnNetwork) Node(name string) *bnNode { return n.byName[name] }

// Dist is the node's distribution given the values of its parents (those
// missing count as values the data never had), or nil when the table has
// no entry for them.
func (nd *bnNode) Dist(known map[string]string) []bnProb {
	t := nd.table
	for _, p := range nd.Parents {
		if t == nil {
			return nil
		}
		v, ok := known[p]
		if sub, found := t.deeper[v]; ok && found {
			t = sub
		} else {
			t = t.skip
		}
	}
	if t == nil {
		return nil
	}
	return t.leaf
}

// P is the probability of value given the parents' values.
func (nd *bnNode) P(value string, known map[string]string) float64 {
	for _, e := range nd.Dist(known) {
		if e.value == value {
			return e.p
		}
	}
	return 0
}

// draw picks a value from dist restricted to allowed (nil: all), in
// proportion to the probabilities; ok is false when nothing is allowed.
func draw(rng *rand.Rand, dist []bnProb, allowed map[string]bool) (string, bool) {
	total := 0.0
	for _, e := range dist {
		if e.p > 0 && (allowed == nil || allowed[e.value]) {
			total += e.p
		}
	}
	if total <= 0 {
		return "", false
	}
	u := rng.Float64() * total
	cum := 0.0
	last := ""
	for _, e := range dist {
		if e.p <= 0 || (allowed != nil && !allowed[e.value]) {
			continue
		}
		cum += e.p
		last = e.value
		if cum > u {
			return e.value, true
		}
	}
	return last, true
}

// Sample draws every node not in known, in order, each from its table given
// its parents' values (BayesianNetwork.generateSample). It returns false
// when a node's table has no entry for its parents' values.
func (n *bnNetwork) Sample(rng *rand.Rand, known map[string]string) (map[string]string, bool) {
	s := make(map[string]string, len(n.Nodes)+len(known))
	for k, v := range known {
		s[k] = v
	}
	for _, nd := range n.Nodes {
		if _, ok := s[nd.Name]; ok {
			continue
		}
		v, ok := draw(rng, nd.Dist(s), nil)
		if !ok {
			return nil, false
		}
		s[nd.Name] = v
	}
	return s, true
}

// SampleRestricted draws every node with its value restricted to
// allowed[name] where given, backtracking when a restriction cannot be met
// further down (BayesianNetwork.generateConsistentSampleWhenPossible, which
// header-generator uses to honour its browser, system and device options).
// It returns false when no sample meets the restrictions.
func (n *bnNetwork) SampleRestricted(rng *rand.Rand, allowed map[string][]string) (map[string]string, bool) {
	sets := map[string]map[string]bool{}
	for k, vs := range allowed {
		m := map[string]bool{}
		for _, v := range vs {
			m[v] = true
		}
		sets[k] = m
	}
	s := map[string]string{}
	var rec func(i int) bool
	rec = func(i int) bool {
		if i == len(n.Nodes) {
			return true
		}
		nd := n.Nodes[i]
		dist := nd.Dist(s)
		ok := map[string]bool{}
		for _, e := range dist {
			if sets[nd.Name] == nil || sets[nd.Name][e.value] {
				ok[e.value] = true
			}
		}
		for len(ok) > 0 {
			v, found := draw(rng, dist, ok)
			if !found {
				break
			}
			s[nd.Name] = v
			if rec(i + 1) {
				return true
			}
			delete(ok, v)
		}
		delete(s, nd.Name)
		return false
	}
	if !rec(0) {
		return nil, false
	}
	return s, true
}
