package main

import (
	"context"
	"fmt"
	"log/slog"
	"strings"

	"github.com/botauthz/botauthz/extauthz"
	"github.com/botauthz/botauthz/policy"
	"github.com/botauthz/botauthz/reputation"
)

// networkReputation is the policy's reputation section loaded: the sets,
// the ASN database and the hosting list, each nil when not configured.
type networkReputation struct {
	sets    *reputation.Sets
	asn     *reputation.ASNDB
	hosting *reputation.HostingList
}

// newReputation loads the policy's reputation sets and ASN database. A file
// that does not load fails start-up; once running, a file that stops
// loading keeps its last good content (Run).
func newReputation(ctx context.Context, p *policy.Policy, log *slog.Logger, onReload func(string, error)) (*networkReputation, error) {
	r := p.Reputation
	n := &networkReputation{}
	opts := reputation.Options{Refresh: r.Refresh, Logger: log, OnReload: onReload}
	if len(r.Sets) > 0 {
		cfgs := make([]reputation.SetConfig, len(r.Sets))
		for i, s := range r.Sets {
			cfgs[i] = reputation.SetConfig{Name: s.Name, Kind: s.Kind, Format: s.Format, Files: s.Files}
		}
		var err error
		if n.sets, err = reputation.Load(ctx, cfgs, opts); err != nil {
			return nil, fmt.Errorf("reputation.sets: %w", err)
		}
	}
	if r.ASNDatabase != "" {
		var err error
		if n.asn, err = reputation.OpenASN(r.ASNDatabase); err != nil {
			return nil, fmt.Errorf("reputation.asn_database: %w", err)
		}
		if n.hosting, err = reputation.HostingASNs(); err != nil {
			return nil, err
		}
	}
	return n, nil
}

// network is what the Check needs of it.
func (n *networkReputation) network() extauthz.Network {
	out := extauthz.Network{Sets: n.sets, ASN: n.asn}
	if n.hosting != nil {
		out.Hosting = n.hosting.IsHosting
	}
	return out
}

// run keeps the files current until ctx ends.
func (n *networkReputation) run(ctx context.Context, p *policy.Policy, log *slog.Logger, onReload func(string, error)) {
	opts := reputation.Options{Refresh: p.Reputation.Refresh, Logger: log, OnReload: onReload}
	if n.sets != nil {
		go n.sets.Run(ctx)
	}
	if n.asn != nil {
		go n.asn.Run(ctx, opts)
	}
}

// close releases the ASN database.
func (n *networkReputation) close() error {
	if n.asn != nil {
		return n.asn.Close()
	}
	return nil
}

// summary is /readyz's and -check-config's line: each set's prefixes and
// the ASN database; degraded when a file's newest content was refused.
func (n *networkReputation) summary() (detail string, degraded bool) {
	var parts []string
	if n.sets != nil {
		for _, s := range n.sets.State() {
			part := fmt.Sprintf("%s (%s, %s): %d prefixes", s.Name, s.Kind, s.Format, s.Prefixes)
			if s.LastError != "" {
				part += "; newest files refused: " + s.LastError
				degraded = true
			}
			parts = append(parts, part)
		}
	}
	if n.asn != nil {
		s := n.asn.State()
		part := fmt.Sprintf("ASN database %s (%s, built %s)", s.Path, s.DatabaseType, s.BuildTime.Format("2006-01-02"))
		if s.LastError != "" {
			part += "; newest file refused: " + s.LastError
			degraded = true
		}
		parts = append(parts, part)
	}
	if len(parts) == 0 {
		return "no sets, no ASN database", false
	}
	return strings.Join(parts, "; "), degraded
}
