package extauthz

import (
	"github.com/botauthz/botauthz/policy"
	"github.com/botauthz/botauthz/reputation"
	"github.com/botauthz/botauthz/scoring"
)

// Network is where network reputation comes from: the named CIDR sets
// and the ASN database (package reputation). Either may be nil.
type Network struct {
	// Sets are the policy's reputation sets, kept current as their files
	// change; nil for none.
	Sets *reputation.Sets
	// ASN is the ASN database; nil for none.
	ASN *reputation.ASNDB
	// Hosting reports whether an autonomous system is a hosting
	// provider's; nil for none.
	Hosting func(asn uint32) bool
}

// lookupNetwork finds what reputation knows of the client: the sets
// holding its address and its autonomous system, filling the decision's
// Reputation, ReputationTable and ASN.
func (s *Server) lookupNetwork(f *Facts, d *Decision) {
	if !f.ClientIP.IsValid() {
		return
	}
	ip := f.ClientIP.Unmap()
	if s.network.Sets != nil {
		d.ReputationTable = s.network.Sets.Table()
		d.Reputation = d.ReputationTable.Lookup(ip)
	}
	if s.network.ASN != nil {
		if asn, ok := s.network.ASN.Lookup(ip); ok {
			d.ASN = asn
			d.HostingASN = s.network.Hosting != nil && s.network.Hosting(asn)
		}
	}
}

// networkFacts is what the score needs of the decision's network facts.
func networkFacts(d *Decision) scoring.Network {
	var n scoring.Network
	m := d.Reputation
	if m.Has(reputation.Datacenter) {
		n |= scoring.NetworkDatacenter
	}
	if m.Has(reputation.Tor) {
		n |= scoring.NetworkTor
	}
	if m.Has(reputation.Listed) {
		n |= scoring.NetworkListed
	}
	if d.HostingASN {
		n |= scoring.NetworkHosting
	}
	return n
}

// setRule is the rules.sets rule that applies to the client: allow before
// deny before challenge, like the CIDR lists; NoRule when none does.
func setRule(p *policy.Policy, d *Decision) policy.Rule {
	if len(p.Rules.Sets) == 0 || d.Reputation.Sets == 0 || d.ReputationTable == nil {
		return policy.NoRule
	}
	rule := policy.NoRule
	for sets, i := d.Reputation.Sets, 0; sets != 0; sets, i = sets>>1, i+1 {
		if sets&1 == 0 {
			continue
		}
		switch p.Rules.Sets[d.ReputationTable.SetName(i)] {
		case policy.ActionAllow:
			return policy.RuleSetAllow
		case policy.ActionDeny:
			rule = policy.RuleSetDeny
		case policy.ActionChallenge:
			if rule == policy.NoRule {
				rule = policy.RuleSetChallenge
			}
		}
	}
	return rule
}
