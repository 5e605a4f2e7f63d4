package clientip

import "testing"

func TestFrom(t *testing.T) {
	cases := []struct {
		name, ext, xff string
		hops           int
		peer, want     string
	}{
		{"the peer when nothing else is said", "", "", 0, "192.0.2.5", "192.0.2.5"},
		{"a peer with a port", "", "", 0, "192.0.2.5:4711", "192.0.2.5"},
		{"an IPv6 peer with a port", "", "", 0, "[2001:db8::1]:4711", "2001:db8::1"},
		{"envoy's external address wins", "203.0.113.7", "", 0, "192.0.2.5", "203.0.113.7"},
		{"a client-sent x-forwarded-for is ignored by default", "", "203.0.113.7", 0, "192.0.2.5", "192.0.2.5"},
		{"one trusted hop takes the rightmost entry", "", "10.0.0.1, 203.0.113.7", 1, "192.0.2.5", "203.0.113.7"},
		{"two trusted hops take the second from the right", "", "203.0.113.7,198.51.100.2", 2, "192.0.2.5", "203.0.113.7"},
		{"a short x-forwarded-for falls back to the peer", "", "203.0.113.7", 2, "192.0.2.5", "192.0.2.5"},
		{"garbage falls back to the peer", "999.1.1.1", "evil", 1, "192.0.2.5", "192.0.2.5"},
		{"4-in-6 is unmapped", "", "", 0, "::ffff:192.0.2.5", "192.0.2.5"},
		{"an IPv6 zone is dropped", "", "", 0, "fe80::1%eth0", "fe80::1"},
		{"no address at all", "", "", 0, "", "invalid IP"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := From(c.ext, c.xff, c.hops, c.peer).String(); got != c.want {
				t.Errorf("From = %s, want %s", got, c.want)
			}
		})
	}
}

func TestXFFEntry(t *testing.T) {
	cases := []struct {
		xff  string
		n    int
		want string
	}{
		{"a, b, c", 1, " c"},
		{"a, b, c", 3, "a"},
		{"a, b, c", 4, ""},
		{"", 1, ""},
		{",", 2, ""},
	}
	for _, c := range cases {
		if got := xffEntry(c.xff, c.n); got != c.want {
			t.Errorf("xffEntry(%q, %d) = %q, want %q", c.xff, c.n, got, c.want)
		}
	}
}
