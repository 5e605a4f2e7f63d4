package clearance

import (
	"testing"
	"time"
)

func BenchmarkVerify(b *testing.B) {
	s := newTestSigner(b, time.Hour, "2026-11", "2026-10")
	bind := binding(b, "203.0.113.7", uaChrome)
	v := s.Issue(bind, "turnstile", "login", now)
	p := split(b, v)
	p.mac = flip(b, p.mac, 0)
	cases := []struct {
		name, value string
		want        Status
	}{
		{"valid", v, Valid},
		{"bad_signature", p.String(), BadSignature},
		{"malformed", "v1.2026-11.garbage!.x", Malformed},
	}
	for _, bc := range cases {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, st := s.Verify(bc.value, bind, now); st != bc.want {
					b.Fatalf("Verify = %v, want %v", st, bc.want)
				}
			}
		})
	}
}

func BenchmarkIssue(b *testing.B) {
	s := newTestSigner(b, time.Hour, "2026-11", "2026-10")
	bind := binding(b, "203.0.113.7", uaChrome)
	b.ReportAllocs()
	for b.Loop() {
		s.Issue(bind, "turnstile", "login", now)
	}
}
