package fcrdns

import "testing"

func TestHasDomainSuffix(t *testing.T) {
	tests := []struct {
		name, suffix string
		want         bool
	}{
		{"crawl-1.googlebot.com", "googlebot.com", true},
		{"googlebot.com", "googlebot.com", true},
		{"a.b.yandex.ru", "yandex.ru", true},
		{"evilgooglebot.com", "googlebot.com", false},
		{"googlebot.com.evil.net", "googlebot.com", false},
		{"crawl.googlebot.com", "GoogleBot.com", true},
		{"com", "googlebot.com", false},
		{"crawl.googlebot.com", "", false},
		{"crawl.googlebot.com", "com", true},
	}
	for _, tt := range tests {
		if got := hasDomainSuffix(tt.name, tt.suffix); got != tt.want {
			t.Errorf("hasDomainSuffix(%q, %q) = %v, want %v", tt.name, tt.suffix, got, tt.want)
		}
	}
}

func TestMatchSuffixReturnsFirstMatchingName(t *testing.T) {
	names := []string{"host.example.net", "crawl.googlebot.com", "other.google.com"}
	name, ok := matchSuffix(names, []string{"google.com", "googlebot.com"})
	if !ok || name != "crawl.googlebot.com" {
		t.Errorf("matchSuffix = (%q, %v), want (crawl.googlebot.com, true)", name, ok)
	}
	if name, ok := matchSuffix(names, []string{"baidu.com"}); ok {
		t.Errorf("matchSuffix = (%q, true), want no match", name)
	}
}

func TestNormalize(t *testing.T) {
	got := normalize([]string{"A.Example.NET.", "a.example.net.", ".", "b.example.net.", "c.example.net.", "d.example.net."}, 3)
	want := []string{"a.example.net", "b.example.net", "c.example.net"}
	if len(got) != len(want) {
		t.Fatalf("normalize = %q, want %q", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("normalize = %q, want %q", got, want)
		}
	}
}

func TestVerdictString(t *testing.T) {
	tests := []struct {
		v    Verdict
		want string
	}{
		{Pending, "pending"},
		{Verified, "verified"},
		{Failed, "failed"},
		{Unknown, "unknown"},
		{0, "Verdict(0)"},
		{9, "Verdict(9)"},
	}
	for _, tt := range tests {
		if got := tt.v.String(); got != tt.want {
			t.Errorf("Verdict(%d).String() = %q, want %q", uint8(tt.v), got, tt.want)
		}
	}
}

func TestOptionsDefaults(t *testing.T) {
	o := Options{Server: "192.0.2.53", Timeout: -1}.withDefaults()
	if o.Server != "192.0.2.53:53" {
		t.Errorf("Server = %q, want port 53 added", o.Server)
	}
	if o.Timeout != defaultTimeout || o.CacheSize != defaultCacheSize || o.TTL != defaultTTL ||
		o.NegativeTTL != defaultNegativeTTL || o.ErrorTTL != defaultErrorTTL ||
		o.MaxInFlight != defaultMaxInFlight || o.MaxNames != defaultMaxNames || o.Now == nil || o.Logger == nil {
		t.Errorf("withDefaults left a zero or negative field: %+v", o)
	}
	if got := (Options{Server: "[2001:db8::53]:5353"}).withDefaults().Server; got != "[2001:db8::53]:5353" {
		t.Errorf("Server with port = %q, want it unchanged", got)
	}
}
