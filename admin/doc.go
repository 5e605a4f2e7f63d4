// Package admin owns the admin HTTP API that SREs (and botctl) use to read
// and change the live rollout state: the kill switch, mode overrides per
// route or for every route, canary percents, and the audit trail.
//
// It authenticates callers with bearer tokens (read-only or read-write),
// validates every change against the current policy before handing it to
// the rollout controller, names the audit actor after the token, and maps
// failures to HTTP statuses a script can act on. Client is the matching Go
// client.
//
// It must not store or apply rollout state itself (rollout owns that), must
// never log or echo a token secret, and must only be mounted on the internal
// admin port, never on the public one.
package admin
