package challenge

import (
	"slices"

	"github.com/botauthz/botauthz/challenge/provider"
)

// Observer is told about challenges, typically to count them as metrics. Its
// methods are called synchronously from the request, so they must be quick,
// and concurrently, so they must be safe for that.
//
// The labels are bounded: route is a policy route name (or "unknown" when the
// token could not be trusted), provider is "pow", a CAPTCHA provider name, or
// "unknown" likewise, and outcome is one of the Outcome constants or
// OutcomeProviderPrefix followed by one of provider's Reason constants other
// than "ok".
type Observer interface {
	// ChallengeIssued is called for each challenge page served by GET.
	ChallengeIssued(route, provider string)
	// ChallengeResult is called for each answer posted to VerifyPath with
	// its outcome, and once more with OutcomeRedeemDegraded when the
	// redemption store failed for that answer.
	ChallengeResult(route, provider, outcome string)
}

// The outcomes ChallengeResult reports.
const (
	// OutcomePassed: the answer was right and a clearance cookie was set.
	OutcomePassed = "passed"
	// OutcomeWrongAnswer: the proof of work's nonce does not give enough
	// leading zeros (or is missing or malformed).
	OutcomeWrongAnswer = "wrong_answer"
	// OutcomeExpired: the challenge token is past its expiry (or issued
	// further in the future than clock skew explains).
	OutcomeExpired = "expired"
	// OutcomeReplayed: the challenge was already redeemed once.
	OutcomeReplayed = "replayed"
	// OutcomeBadToken: the challenge token is missing, malformed, tampered
	// with, or signed by a key not in the set; the form could not be read.
	OutcomeBadToken = "bad_token"
	// OutcomeWrongClient: the token was issued to another network prefix
	// (IPv4 /24, IPv6 /64) or user agent, or the client's address is
	// unknown.
	OutcomeWrongClient = "wrong_client"
	// OutcomeAutomated: the proof of work was right but the browser's
	// evidence says automated (challenge.evidence: refuse); the challenge
	// is spent. Under challenge.evidence: mark such an answer is passed.
	OutcomeAutomated = "automated"
	// OutcomeRedeemDegraded is an extra event, besides the answer's own
	// outcome: the redemption store failed and this replica's memory
	// decided instead, so a replay on another replica would not be caught.
	OutcomeRedeemDegraded = "redeem_degraded"
	// OutcomeProviderPrefix prefixes a CAPTCHA provider's failure reason,
	// e.g. "provider_rejected" or "provider_unavailable" (see
	// provider.Result.Reason). A token naming a provider that is no longer
	// configured gives "provider_misconfigured".
	OutcomeProviderPrefix = "provider_"
)

// unknownLabel is the route and provider label of an answer whose token
// could not be trusted.
const unknownLabel = "unknown"

// providerReasons are the provider failure reasons an outcome may carry
// after OutcomeProviderPrefix.
var providerReasons = [...]string{
	provider.ReasonRejected, provider.ReasonInvalidToken, provider.ReasonExpiredOrDuplicate,
	provider.ReasonHostnameMismatch, provider.ReasonActionMismatch, provider.ReasonLowScore,
	provider.ReasonMisconfigured, provider.ReasonUnavailable, provider.ReasonMalformedResponse,
}

// providerOutcome maps a provider's failure reason to an outcome, keeping the
// set closed even if a Verifier returns a reason we do not know.
func providerOutcome(reason string) string {
	if slices.Contains(providerReasons[:], reason) {
		return OutcomeProviderPrefix + reason
	}
	return OutcomeProviderPrefix + provider.ReasonRejected
}

// Outcomes returns every outcome ChallengeResult may report under a route's
// name for an answer to a challenge of provider prov (Pow or a CAPTCHA
// provider's name), so that metrics can start each series at zero.
// OutcomeBadToken is not among them: an answer whose token cannot be read
// or trusted is reported under the route and provider "unknown".
func Outcomes(prov string) []string {
	out := []string{OutcomePassed, OutcomeExpired, OutcomeWrongClient, OutcomeReplayed, OutcomeRedeemDegraded}
	if prov == Pow {
		return append(out, OutcomeWrongAnswer, OutcomeAutomated)
	}
	for _, reason := range providerReasons {
		out = append(out, OutcomeProviderPrefix+reason)
	}
	return out
}

// EvidenceObserver is an Observer that is also told what the evidence of
// each proof-of-work answer said. The Handler calls it when its Observer
// implements it, once per answer whose evidence was verified (a right proof
// of work under challenge.evidence refuse or mark).
type EvidenceObserver interface {
	// ChallengeEvidence is called with the answer's route, its outcome
	// (OutcomePassed or OutcomeAutomated), whether the clearance was marked
	// as automated, and the reasons that fired (EvidenceReasons; empty
	// for none). It must not keep reasons.
	ChallengeEvidence(route, outcome string, marked bool, reasons []string)
}

type nopObserver struct{}

func (nopObserver) ChallengeIssued(string, string)         {}
func (nopObserver) ChallengeResult(string, string, string) {}
