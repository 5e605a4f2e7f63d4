package main

import (
	"cmp"
	"slices"
)

// Comparison is what changes when policy B replaces policy A (the -policy
// one): B's own numbers and every request whose enforced action differs.
type Comparison struct {
	// Policy is B.
	Policy       PolicyInfo   `json:"policy"`
	Models       []string     `json:"models"`
	Routes       []RouteInfo  `json:"routes"`
	Overall      Overall      `json:"overall"`
	Gated        []GatedStats `json:"gated"`
	ModelDecided ModelDecided `json:"model_decided"`
	// Changed counts the records whose action differs.
	Changed int `json:"changed"`
	// ByClass counts the changes of each class that has any.
	ByClass []ClassChange `json:"by_class"`
	// Changes lists every changed record in input order.
	Changes []Change `json:"changes"`
}

// ClassChange counts one class's changes.
type ClassChange struct {
	Label string `json:"label"`
	Class string `json:"class"`
	N     int    `json:"n"`
	// Changed = NewlyStopped + NewlyAllowed + the records stopped both ways
	// but differently (challenge → deny, …).
	Changed      int `json:"changed"`
	NewlyStopped int `json:"newly_stopped"`
	NewlyAllowed int `json:"newly_allowed"`
}

// Change is one record whose enforced action differs between A and B.
type Change struct {
	// Index is the record's position among all records, from 1.
	Index int    `json:"index"`
	File  string `json:"file"`
	// N is its position in File, from 1.
	N         int    `json:"n"`
	Label     string `json:"label"`
	Class     string `json:"class"`
	ActionA   string `json:"action_a"`
	ActionB   string `json:"action_b"`
	ScoreA    int    `json:"score_a"`
	ScoreB    int    `json:"score_b"`
	UserAgent string `json:"user_agent"`
}

// compare lists the records whose outcome differs between a and b, both
// outcomes of ins. rb is B's report, for its numbers.
func compare(ins []input, a, b []outcome, rb *Report) *Comparison {
	c := &Comparison{Policy: rb.Policy, Models: rb.Models, Routes: rb.Routes, Overall: rb.Overall, Gated: rb.Gated,
		ModelDecided: rb.ModelDecided, Changes: []Change{}}
	type key struct{ label, class string }
	byClass := map[key]*ClassChange{}
	for i := range ins {
		in, oa, ob := &ins[i], &a[i], &b[i]
		k := key{in.Label, in.Class}
		cc := byClass[k]
		if cc == nil {
			cc = &ClassChange{Label: in.Label, Class: in.Class}
			byClass[k] = cc
		}
		cc.N++
		if oa.Action == ob.Action && oa.Stopped == ob.Stopped {
			continue
		}
		cc.Changed++
		switch {
		case !oa.Stopped && ob.Stopped:
			cc.NewlyStopped++
		case oa.Stopped && !ob.Stopped:
			cc.NewlyAllowed++
		}
		c.Changes = append(c.Changes, Change{
			Index: i + 1, File: in.File, N: in.N, Label: in.Label, Class: in.Class,
			ActionA: oa.Action.String(), ActionB: ob.Action.String(), ScoreA: oa.Score, ScoreB: ob.Score,
			UserAgent: in.Get("user-agent"),
		})
	}
	c.Changed = len(c.Changes)
	c.ByClass = []ClassChange{}
	for _, cc := range byClass {
		if cc.Changed > 0 {
			c.ByClass = append(c.ByClass, *cc)
		}
	}
	slices.SortFunc(c.ByClass, func(a, b ClassChange) int {
		return cmp.Or(cmp.Compare(labelOrder(a.Label), labelOrder(b.Label)), cmp.Compare(a.Label, b.Label), cmp.Compare(a.Class, b.Class))
	})
	return c
}
