package policy

import (
	"fmt"
	"time"
)

// History is the policy's history section: how long what happened to a
// client address or a session weighs on its next requests (package
// history). Reloaded like the rest of the policy.
type History struct {
	// Enabled reads and writes history (history.enabled). Off, no
	// history counter is read or written: nothing but the velocity
	// counters touches the store.
	Enabled bool
	// Window is the history counters' window (history.window): an event
	// counts in full until its window's bucket ends, then fades to nothing
	// over the next window.
	Window time.Duration
	// EscalateAfter is how many hard-limit breaches within the window turn
	// the next one from a 429 into a deny (history.escalate_after): the
	// "429 with a short retry window, then deny" of API scraping. 0 never
	// escalates.
	EscalateAfter int
	// SessionNetworks is how many networks (IPv4 /24, IPv6 /64) one
	// session cookie may come from within the window before
	// session.many_networks fires (history.session_networks).
	SessionNetworks int
}

// The history section's bounds.
const (
	minHistoryWindow   = 10 * time.Second
	maxHistoryWindow   = 24 * time.Hour
	maxEscalateAfter   = 1_000_000
	maxSessionNetworks = 1000
)

type rawHistory struct {
	Enabled         *bool   `yaml:"enabled"`
	Window          *string `yaml:"window"`
	EscalateAfter   *int    `yaml:"escalate_after"`
	SessionNetworks *int    `yaml:"session_networks"`
}

// buildHistory sets the history section.
func buildHistory(p *Policy, def, file *rawHistory) error {
	if def == nil {
		def = &rawHistory{}
	}
	if file == nil {
		file = &rawHistory{}
	}
	yes, tenMinutes, ten, three := true, "10m", 10, 3
	h := &p.History
	h.Enabled = *pick(file.Enabled, pick(def.Enabled, &yes))
	var err error
	if h.Window, err = duration("history.window", *pick(file.Window, pick(def.Window, &tenMinutes)), minHistoryWindow, maxHistoryWindow); err != nil {
		return err
	}
	if h.Window%time.Second != 0 {
		return &Error{Path: "history.window", Msg: fmt.Sprintf("%s is not a whole number of seconds", h.Window)}
	}
	h.EscalateAfter = *pick(file.EscalateAfter, pick(def.EscalateAfter, &ten))
	if h.EscalateAfter < 0 || h.EscalateAfter > maxEscalateAfter {
		return &Error{Path: "history.escalate_after", Msg: fmt.Sprintf("%d is not between 0 (never) and %d", h.EscalateAfter, maxEscalateAfter)}
	}
	h.SessionNetworks = *pick(file.SessionNetworks, pick(def.SessionNetworks, &three))
	if h.SessionNetworks < 1 || h.SessionNetworks > maxSessionNetworks {
		return &Error{Path: "history.session_networks", Msg: fmt.Sprintf("%d is not between 1 and %d", h.SessionNetworks, maxSessionNetworks)}
	}
	return nil
}
