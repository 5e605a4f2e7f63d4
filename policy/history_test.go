package policy

import (
	"strings"
	"testing"
	"time"
)

func TestHistoryDefaultsAndOverrides(t *testing.T) {
	h := Default().History
	if !h.Enabled || h.Window != 10*time.Minute || h.EscalateAfter != 10 || h.SessionNetworks != 3 {
		t.Errorf("history defaults %+v: want on, 10m, escalate after 10, 3 networks", h)
	}
	p, err := Parse([]byte("history: {window: 90s, escalate_after: 0}\n"))
	if err != nil {
		t.Fatal(err)
	}
	if h := p.History; !h.Enabled || h.Window != 90*time.Second || h.EscalateAfter != 0 || h.SessionNetworks != 3 {
		t.Errorf("history %+v: want on, 90s, never escalate, 3 networks", h)
	}
	if p, err := Parse([]byte("history: {enabled: false}\n")); err != nil || p.History.Enabled {
		t.Errorf("enabled: false gave %+v, %v", p.History, err)
	}
}

func TestHistorySettingsAreValidated(t *testing.T) {
	for _, tt := range []struct{ yaml, path string }{
		{"history: {window: 1s}", "history.window"},
		{"history: {window: 48h}", "history.window"},
		{"history: {window: 10500ms}", "history.window"},
		{"history: {window: soon}", "history.window"},
		{"history: {escalate_after: -1}", "history.escalate_after"},
		{"history: {session_networks: 0}", "history.session_networks"},
		{"history: {sessions: 3}", "sessions"},
	} {
		_, err := Parse([]byte(tt.yaml + "\n"))
		if err == nil || !strings.Contains(err.Error(), tt.path) {
			t.Errorf("%s: error %v, want one naming %s", tt.yaml, err, tt.path)
		}
	}
}
