// Package crawler says whether a request is the crawler it claims to be.
//
// A directory (data/crawlers.yaml, overridable by a file the policy names)
// lists the crawlers worth knowing: name, operator, category (search,
// ai_crawler, …), the user-agent tokens that claim them, and how their
// operators let a site verify them — published IP range files, host-name
// suffixes for forward-confirmed reverse DNS (package fcrdns), Web Bot Auth
// signature agents (package webbotauth) — each with its source.
//
// A Verifier matches the user agent (and any Web Bot Auth signature)
// against the directory and verifies the claim without ever waiting on the
// network: range lists are in memory (embedded snapshots, refreshed from
// the operators when the policy allows), reverse DNS and key directories
// answer from caches filled in the background. The outcome is Verified,
// Unverified (no method, or an answer not in yet) or Impersonation (a
// method answered definitively no); the score and the route's policy do
// the rest.
package crawler
