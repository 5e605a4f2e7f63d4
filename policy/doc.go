// Package policy owns the policy file: the YAML document that says, per route,
// which mode applies, where the score thresholds sit, which velocity counters
// run with which limits, how the trained scoring model is tuned (globally and
// per route: a feature's weight in log-odds, a certainty rule's signal off)
// and which cookie names a session.
//
// It parses and validates the file (unknown keys are errors that name the
// key), merges it over the embedded defaults, maps a score and the hard
// limits to an Action, and reloads the file when it changes while keeping
// the last good policy when the new one does not load. It must not read
// requests, talk to a counter store, build scoring models or decide what is
// enforced: those belong to extauthz and the rollout state.
package policy
