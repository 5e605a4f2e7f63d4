package rollout

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"math"
	"strconv"
	"time"

	"github.com/botauthz/botauthz/policy"
)

// Kill is the emergency kill switch. It overrides every mode.
type Kill uint8

// Kill switch positions, from weakest to strongest: View.Kill relies on the
// order to pick the stronger of two layers.
const (
	// KillNone leaves the modes in charge.
	KillNone Kill = iota
	// KillShadow enforces nothing but keeps scoring and recording.
	KillShadow
	// KillBypass allows everything without scoring or touching Redis.
	KillBypass

	killEnd // one past the last position
)

// MaxKill is the strongest position: a table indexed by Kill has MaxKill+1
// entries.
const MaxKill = killEnd - 1

var killNames = [killEnd]string{KillNone: "none", KillShadow: "shadow", KillBypass: "bypass"}

// String returns "none", "shadow" or "bypass".
func (k Kill) String() string {
	if int(k) < len(killNames) {
		return killNames[k]
	}
	return "unknown"
}

// ParseKill parses "none", "shadow" or "bypass".
func ParseKill(s string) (Kill, error) {
	for k, name := range killNames {
		if name == s {
			return Kill(k), nil
		}
	}
	return 0, fmt.Errorf("unknown kill switch %q (want none, shadow or bypass)", s)
}

// MarshalText implements encoding.TextMarshaler.
func (k Kill) MarshalText() ([]byte, error) { return []byte(k.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler.
func (k *Kill) UnmarshalText(b []byte) error {
	v, err := ParseKill(string(b))
	if err != nil {
		return err
	}
	*k = v
	return nil
}

// Setting is a mode override for a route or for every route.
type Setting struct {
	Mode policy.Mode `json:"mode" yaml:"mode"`
	// Percent is the canary share, 0–100 (decimals allowed); only with
	// ModeCanary.
	Percent float64 `json:"percent,omitempty" yaml:"percent,omitempty"`
}

// Validate reports a setting that no replica could apply, naming the field.
func (s Setting) Validate() error {
	switch s.Mode {
	case policy.ModeOff, policy.ModeShadow, policy.ModeEnforce:
		if s.Percent != 0 {
			return fmt.Errorf("percent: only mode canary takes a percent")
		}
	case policy.ModeCanary:
		if math.IsNaN(s.Percent) || s.Percent < 0 || s.Percent > 100 {
			return fmt.Errorf("percent: %g out of range 0-100", s.Percent)
		}
	default:
		return fmt.Errorf("mode: %q is not off, shadow, canary or enforce", s.Mode)
	}
	return nil
}

// String reads "enforce" or "canary 12.5%".
func (s Setting) String() string {
	if s.Mode == policy.ModeCanary {
		return "canary " + strconv.FormatFloat(s.Percent, 'f', -1, 64) + "%"
	}
	return s.Mode.String()
}

// State is the live rollout state: what SREs changed at run time, shared by
// every replica through the Store. It is a value; copy it with Clone before
// changing its map.
type State struct {
	// Version increases with every change, so replicas can tell newer
	// state from older.
	Version int64 `json:"version" yaml:"-"`
	Kill    Kill  `json:"kill" yaml:"kill,omitempty"`
	// Default overrides the mode of every route that has no route
	// override; nil when unset.
	Default *Setting `json:"default,omitempty" yaml:"default,omitempty"`
	// Routes overrides single routes by name.
	Routes    map[string]Setting `json:"routes,omitempty" yaml:"routes,omitempty"`
	UpdatedAt time.Time          `json:"updated_at,omitzero" yaml:"-"`
	UpdatedBy string             `json:"updated_by,omitempty" yaml:"-"`
}

// Clone returns a deep copy of s.
func (s State) Clone() State {
	c := s
	if s.Default != nil {
		d := *s.Default
		c.Default = &d
	}
	c.Routes = maps.Clone(s.Routes)
	return c
}

// Validate reports the first setting of s that no replica could apply.
func (s State) Validate() error {
	if int(s.Kill) >= len(killNames) {
		return fmt.Errorf("kill: unknown value %d", s.Kill)
	}
	if s.Default != nil {
		if err := s.Default.Validate(); err != nil {
			return fmt.Errorf("default.%w", err)
		}
	}
	for name, set := range s.Routes {
		if err := set.Validate(); err != nil {
			return fmt.Errorf("routes.%s.%w", name, err)
		}
	}
	return nil
}

// ChangeKind says what a Change changes.
type ChangeKind uint8

// Change kinds.
const (
	// ChangeKill sets the kill switch (KillNone clears it).
	ChangeKill ChangeKind = iota + 1
	// ChangeMode sets or clears a mode override: Route names the route, or
	// is empty for the default of every route.
	ChangeMode
)

// ErrNoReason refuses a change without a reason: the audit trail needs one.
var ErrNoReason = errors.New("reason: required")

// Change is one change an SRE asks for.
type Change struct {
	Kind ChangeKind
	// Actor is who asked (the admin token's name).
	Actor string
	// Reason is why; required.
	Reason string
	// Kill is the new kill switch, for ChangeKill.
	Kill Kill
	// Route is the route to override, for ChangeMode; empty means the
	// default of every route.
	Route string
	// Setting is the override, for ChangeMode; nil clears it, so the policy
	// file decides again.
	Setting *Setting
}

// String describes the change for logs and the audit trail, e.g.
// "kill bypass", "mode login canary 10%", "mode default inherit".
func (c Change) String() string {
	switch c.Kind {
	case ChangeKill:
		return "kill " + c.Kill.String()
	case ChangeMode:
		target := c.Route
		if target == "" {
			target = "default"
		}
		if c.Setting == nil {
			return "mode " + target + " inherit"
		}
		return "mode " + target + " " + c.Setting.String()
	}
	return "unknown change"
}

// Validate reports a change that must be refused, naming the field.
func (c Change) Validate() error {
	if c.Reason == "" {
		return ErrNoReason
	}
	switch c.Kind {
	case ChangeKill:
		if int(c.Kill) >= len(killNames) {
			return fmt.Errorf("kill: unknown value %d", c.Kill)
		}
	case ChangeMode:
		if c.Setting != nil {
			if err := c.Setting.Validate(); err != nil {
				return err
			}
		}
	default:
		return fmt.Errorf("kind: unknown change kind %d", c.Kind)
	}
	return nil
}

// Apply returns the state after c, with a higher Version and UpdatedAt,
// UpdatedBy set. It does not modify s.
//
// Versions follow the clock (nanoseconds) rather than counting from the
// stored one, so that a Store that lost its data (Redis restarted without
// persistence) still hands out versions above every replica's last known
// one, and the replicas accept the next change.
func (c Change) Apply(s State, now time.Time) (State, error) {
	if err := c.Validate(); err != nil {
		return s, err
	}
	next := s.Clone()
	switch c.Kind {
	case ChangeKill:
		next.Kill = c.Kill
	case ChangeMode:
		var set *Setting
		if c.Setting != nil {
			v := *c.Setting
			set = &v
		}
		switch {
		case c.Route == "":
			next.Default = set
		case set == nil:
			delete(next.Routes, c.Route)
		default:
			if next.Routes == nil {
				next.Routes = map[string]Setting{}
			}
			next.Routes[c.Route] = *set
		}
	}
	if len(next.Routes) == 0 {
		next.Routes = nil
	}
	next.Version = max(s.Version+1, now.UnixNano())
	next.UpdatedAt = now.UTC()
	next.UpdatedBy = c.Actor
	return next, nil
}

// AuditEntry records one change: who, when, why, what, before and after.
type AuditEntry struct {
	Time   time.Time `json:"time"`
	Actor  string    `json:"actor"`
	Reason string    `json:"reason"`
	Change string    `json:"change"`
	Before State     `json:"before"`
	After  State     `json:"after"`
}

// DefaultAuditCap is how many audit entries a Store keeps.
const DefaultAuditCap = 1000

// Store keeps the live State shared by replicas and its audit trail.
// Implementations must be safe for concurrent use; one conformance suite
// (rollout/statetest) specifies them.
type Store interface {
	// Load returns the current state; the zero State when none was ever set
	// or the store lost it.
	Load(ctx context.Context) (State, error)
	// Update applies c atomically against the current state (no lost
	// update between replicas), appends the audit entry (keeping at most the
	// newest cap entries) and notifies subscribers, all before returning.
	Update(ctx context.Context, c Change, now time.Time) (AuditEntry, error)
	// Restore stores s as the current state only if the store holds none
	// (Version 0: never set, or lost), and reports whether it did. Replicas
	// call it when they find the store empty while they still know a state,
	// so that the next change builds on that state instead of on nothing.
	// It is not audited as a change; it notifies subscribers like an Update.
	// s must have a Version above 0 and be valid.
	Restore(ctx context.Context, s State) (bool, error)
	// Audit returns up to limit entries, newest first.
	Audit(ctx context.Context, limit int) ([]AuditEntry, error)
	// Subscribe calls fn with every state an Update or Restore stores, from
	// any replica, until ctx is done or the subscription breaks; it returns
	// nil when ctx is done and an error otherwise (the caller resubscribes).
	// ready is closed once the subscription is active.
	Subscribe(ctx context.Context, ready chan<- struct{}, fn func(State)) error
	Close() error
}

// checkRestore reports a state Restore must refuse: one without a version
// would read as "no state" and be restored over and over, and one that no
// replica could apply must not become the shared state.
func checkRestore(s State) error {
	if s.Version <= 0 {
		return fmt.Errorf("version: %d, want above 0", s.Version)
	}
	return s.Validate()
}
