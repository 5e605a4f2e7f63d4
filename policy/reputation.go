package policy

import (
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/botauthz/botauthz/reputation"
)

// MaxReputationSets bounds the named sets: each is one bit of every
// lookup's answer.
const MaxReputationSets = 64

// Reputation is the policy's reputation section: named CIDR sets loaded
// from files (kept current as the files change) and an optional ASN
// database. The sections's shape is read at start; the files' content is
// reloaded while running.
type Reputation struct {
	// Sets are the named sets, by name.
	Sets []ReputationSet
	// ASNDatabase is an MMDB ASN database (MaxMind GeoLite2-ASN or
	// compatible); empty for none.
	ASNDatabase string
	// Refresh is how often the files are re-read besides change events.
	Refresh time.Duration
}

// ReputationSet is one named set.
type ReputationSet struct {
	Name string
	// Kind says what membership means to the score: datacenter, tor or
	// listed (the features ip.datacenter, ip.tor, ip.listed).
	Kind reputation.Kind
	// Format is the files' format: plain, aws, gcp, azure or tor.
	Format string
	Files  []string
}

type rawReputation struct {
	Sets        map[string]rawSet `yaml:"sets"`
	ASNDatabase *string           `yaml:"asn_database"`
	Refresh     *string           `yaml:"refresh"`
}

type rawSet struct {
	Kind   string   `yaml:"kind"`
	Format string   `yaml:"format"`
	Files  []string `yaml:"files"`
}

// buildReputation sets the reputation section. Only the file names the
// sets (the embedded defaults name none).
func buildReputation(p *Policy, def, file *rawReputation) error {
	if def == nil {
		def = &rawReputation{}
	}
	if file == nil {
		file = &rawReputation{}
	}
	empty, minute := "", "1m"
	r := &p.Reputation
	r.ASNDatabase = *pick(file.ASNDatabase, pick(def.ASNDatabase, &empty))
	var err error
	if r.Refresh, err = duration("reputation.refresh", *pick(file.Refresh, pick(def.Refresh, &minute)), time.Second, 24*time.Hour); err != nil {
		return err
	}
	if len(file.Sets) > MaxReputationSets {
		return &Error{Path: "reputation.sets", Msg: fmt.Sprintf("%d sets, at most %d", len(file.Sets), MaxReputationSets)}
	}
	for _, name := range slices.Sorted(maps.Keys(file.Sets)) {
		path := "reputation.sets." + name
		raw := file.Sets[name]
		if !validRouteName(name) {
			return &Error{Path: path, Msg: "set names use a-z, 0-9, '_', '-' and '.', at most 64 characters"}
		}
		kind, ok := reputation.ParseKind(raw.Kind)
		if !ok {
			return &Error{Path: path + ".kind", Msg: fmt.Sprintf("%q is not datacenter, tor or listed", raw.Kind)}
		}
		if !slices.Contains(reputation.Formats(), raw.Format) {
			return &Error{Path: path + ".format", Msg: fmt.Sprintf("%q is not one of %v", raw.Format, reputation.Formats())}
		}
		if len(raw.Files) == 0 {
			return &Error{Path: path + ".files", Msg: "names no file"}
		}
		r.Sets = append(r.Sets, ReputationSet{Name: name, Kind: kind, Format: raw.Format, Files: slices.Clone(raw.Files)})
	}
	return nil
}

// buildSetRules reads rules.sets: what to do with a client in a named set.
func buildSetRules(p *Policy, raw map[string]string) error {
	if len(raw) == 0 {
		return nil
	}
	p.Rules.Sets = make(map[string]Action, len(raw))
	for _, name := range slices.Sorted(maps.Keys(raw)) {
		path := "rules.sets." + name
		if !slices.ContainsFunc(p.Reputation.Sets, func(s ReputationSet) bool { return s.Name == name }) {
			return &Error{Path: path, Msg: "no such set under reputation.sets"}
		}
		a, err := parseCrawlerAction(path, raw[name])
		if err != nil {
			return err
		}
		p.Rules.Sets[name] = a
	}
	return nil
}
