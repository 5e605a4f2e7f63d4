package crawler

import (
	"net/netip"
	"testing"
)

const (
	benchChrome    = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36"
	benchGooglebot = "Mozilla/5.0 (Linux; Android 6.0.1; Nexus 5X Build/MMB29P) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.6778.0 Mobile Safari/537.36 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"
)

// BenchmarkVerify is what a Check pays for crawler verification with the
// shipped directory: nothing claimed (every browser), and a Googlebot
// verified by Google's ranges.
func BenchmarkVerify(b *testing.B) {
	d, err := Load()
	if err != nil {
		b.Fatal(err)
	}
	v, err := New(Config{Directory: d})
	if err != nil {
		b.Fatal(err)
	}
	defer v.Close()
	for _, bc := range []struct {
		name, ua, ip string
		want         Verdict
	}{
		{"browser", benchChrome, "203.0.113.9", NotClaimed},
		{"googlebot", benchGooglebot, "66.249.66.1", Verified},
		{"googlebot-impersonation", benchGooglebot, "203.0.113.9", Impersonation},
	} {
		b.Run(bc.name, func(b *testing.B) {
			req := &Request{ClientIP: netip.MustParseAddr(bc.ip), Headers: map[string]string{"user-agent": bc.ua, "accept": "*/*"}}
			var c Claim
			b.ReportAllocs()
			for b.Loop() {
				v.Verify(req, &c)
			}
			if c.Verdict != bc.want {
				b.Fatalf("verdict %v, want %v", c.Verdict, bc.want)
			}
		})
	}
}

func TestVerifyDoesNotAllocate(t *testing.T) {
	d, err := Load()
	if err != nil {
		t.Fatal(err)
	}
	v, err := New(Config{Directory: d})
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()
	for _, ua := range []string{benchChrome, benchGooglebot} {
		req := &Request{ClientIP: netip.MustParseAddr("66.249.66.1"), Headers: map[string]string{"user-agent": ua}}
		var c Claim
		if n := testing.AllocsPerRun(100, func() { v.Verify(req, &c) }); n != 0 {
			t.Errorf("Verify(%.30q…) allocates %.0f times", ua, n)
		}
	}
}
