package admin

import "github.com/botauthz/botauthz/rollout"

// StateResponse is the answer of GET /v1/state: the rollout state in force
// and, for every policy route, the mode it runs in and why.
type StateResponse struct {
	// Kill is the kill switch in force.
	Kill rollout.Kill `json:"kill"`
	// KillSource is the layer the kill switch in force comes from: the
	// stronger of the two applies, so "override-file" when the file's is
	// stronger than the live one, else "live".
	KillSource string `json:"kill_source"`
	// Live is the shared live state.
	Live rollout.State `json:"live"`
	// OverrideFile is the override file's state; nil without a file.
	OverrideFile *rollout.State `json:"override_file"`
	// OverrideFileError says why the override file was last rejected; empty
	// when it was fine.
	OverrideFileError string `json:"override_file_error"`
	// Routes holds every policy route, sorted by name.
	Routes []RouteState `json:"routes"`
}

// RouteState is the mode one route runs in right now.
type RouteState struct {
	Route string `json:"route"`
	// Mode is off, shadow, canary, enforce, or bypass (kill switch only).
	Mode string `json:"mode"`
	// Percent is the canary share; only with mode canary.
	Percent float64 `json:"percent,omitempty"`
	// Source names the layer that decided, as rollout.Source.String does:
	// kill, override-file, override-file-default, live, live-default or
	// policy.
	Source string `json:"source"`
}

// ModeRequest is the body of POST /v1/mode.
type ModeRequest struct {
	// Route names the route to override; empty with Default.
	Route string `json:"route,omitempty"`
	// Default overrides every route without a route override instead.
	Default bool `json:"default,omitempty"`
	// Mode is off, shadow, canary, enforce, or inherit to clear the
	// override so the policy file decides again.
	Mode string `json:"mode"`
	// Percent is the canary share, 0-100; required with canary and refused
	// with any other mode.
	Percent *float64 `json:"percent,omitempty"`
	// Reason is why, for the audit trail; required.
	Reason string `json:"reason"`
}

// KillRequest is the body of POST /v1/kill.
type KillRequest struct {
	// Kill is shadow or bypass.
	Kill string `json:"kill"`
	// Reason is why, for the audit trail; required.
	Reason string `json:"reason"`
}

// UnkillRequest is the body of POST /v1/unkill.
type UnkillRequest struct {
	// Reason is why, for the audit trail; required.
	Reason string `json:"reason"`
}

// AuditResponse is the answer of GET /v1/audit.
type AuditResponse struct {
	// Entries are the newest changes, newest first.
	Entries []rollout.AuditEntry `json:"entries"`
}

// ErrorResponse is the body of every non-2xx answer.
type ErrorResponse struct {
	Error string `json:"error"`
	// Field names the request field at fault, when there is one.
	Field string `json:"field,omitempty"`
}
