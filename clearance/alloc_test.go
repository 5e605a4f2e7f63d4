//go:build !race

// The race detector makes sync.Pool drop items at random, so allocation
// counts are only meaningful without it.

package clearance

import (
	"testing"
	"time"
)

// TestVerifyAllocations holds Verify to its promise: nothing allocated but
// the Provider and Route strings of a verified cookie.
func TestVerifyAllocations(t *testing.T) {
	s := newTestSigner(t, time.Hour, "2026-11", "2026-10")
	b := binding(t, "203.0.113.7", uaChrome)
	v := s.Issue(b, "turnstile", "login", now)
	p := split(t, v)
	p.mac = flip(t, p.mac, 0)
	tests := []struct {
		name  string
		value string
		b     Binding
		max   float64
	}{
		{"valid", v, b, 2},
		{"valid without labels", s.Issue(b, "", "", now), b, 0},
		{"wrong agent", v, binding(t, "203.0.113.7", "curl/8.5.0"), 2},
		{"bad signature", p.String(), b, 0},
		{"unknown key", "v1.gone" + v[len("v1.2026-11"):], b, 0},
		{"malformed", "v1.2026-11.garbage!.x", b, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if n := testing.AllocsPerRun(200, func() { s.Verify(tt.value, tt.b, now) }); n > tt.max {
				t.Errorf("Verify allocates %v times per run, want at most %v", n, tt.max)
			}
		})
	}
	t.Run("issue", func(t *testing.T) {
		if n := testing.AllocsPerRun(200, func() { s.Issue(b, "turnstile", "login", now) }); n > 1 {
			t.Errorf("Issue allocates %v times per run, want 1 (the value)", n)
		}
	})
}
