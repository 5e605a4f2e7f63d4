package main

import (
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/botauthz/botauthz/crawler"
	"github.com/botauthz/botauthz/policy"
)

// newCrawlers builds the crawler verifier of the policy's crawlers
// section: the built-in directory with the policy's override file merged
// over it. Its background work is started by the caller.
func newCrawlers(p *policy.Policy, log *slog.Logger) (*crawler.Verifier, error) {
	dir, err := crawler.Load()
	if err != nil {
		return nil, err
	}
	if path := p.Crawlers.Directory; path != "" {
		override, err := crawler.LoadOverride(path)
		if err != nil {
			return nil, fmt.Errorf("crawlers.directory: %w", err)
		}
		if dir, err = dir.Merge(override); err != nil {
			return nil, fmt.Errorf("crawlers.directory %s: %w", path, err)
		}
	}
	c := p.Crawlers
	v, err := crawler.New(crawler.Config{
		Directory: dir, Network: c.Network, Refresh: c.Refresh, ReverseDNS: c.ReverseDNS, DNSServer: c.DNSServer,
		KeyDirectories: c.KeyDirectories, Logger: log,
	})
	if err != nil {
		return nil, err
	}
	return v, nil
}

// crawlersSummary is -check-config's and /readyz's line about crawler
// verification: how many crawlers, which methods are on, and the range
// lists' age.
func crawlersSummary(v *crawler.Verifier, p *policy.Policy, now time.Time) (detail string, degraded bool) {
	var lists, empty []string
	oldest := time.Duration(0)
	for _, r := range v.Ranges() {
		if r.Prefixes == 0 {
			empty = append(empty, r.Name)
			continue
		}
		lists = append(lists, r.Name)
		if !r.Published.IsZero() {
			oldest = max(oldest, now.Sub(r.Published))
		}
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%d crawlers, %d range lists (oldest published %d days ago)", len(v.Directory().Crawlers), len(lists), int(oldest/(24*time.Hour)))
	fmt.Fprintf(&b, ", reverse_dns=%v network=%v", p.Crawlers.ReverseDNS, p.Crawlers.Network)
	if keys := v.KeyDirectories(); len(keys) > 0 {
		fmt.Fprintf(&b, ", %d key directories", len(keys))
	}
	if len(empty) > 0 {
		// Their crawlers can still be verified by reverse DNS, or are
		// unverified: never impersonators for want of a list.
		fmt.Fprintf(&b, "; range lists without prefixes: %s", strings.Join(empty, ", "))
		degraded = true
	}
	return b.String(), degraded
}

// crawlersChanged reports whether a reload changes the crawlers section,
// which takes effect at the next start.
func crawlersChanged(a, b policy.Crawlers) bool {
	return a.Directory != b.Directory || a.Network != b.Network || a.Refresh != b.Refresh ||
		a.ReverseDNS != b.ReverseDNS || a.DNSServer != b.DNSServer || !maps.Equal(a.KeyDirectories, b.KeyDirectories)
}

// verifiedBots is -check-config's view of a route's crawler settings
// (" verified_bots=ai_crawler:deny,default:allow unverified_crawlers=allow").
func verifiedBots(r *policy.Route) string {
	var parts []string
	for _, c := range slices.Sorted(maps.Keys(r.VerifiedBots)) {
		parts = append(parts, string(c)+":"+r.VerifiedBots[c].String())
	}
	parts = append(parts, "default:"+r.VerifiedBotsDefault.String())
	return " verified_bots=" + strings.Join(parts, ",") + " unverified_crawlers=" + r.UnverifiedCrawlers.String()
}
