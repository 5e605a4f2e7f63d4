package scoring

import "testing"

// TestNetworkFeaturesLowerTheScore scores one clean browser navigation
// from each kind of network: every fact lowers the score by its weight,
// none alone takes a clean browser out of the likely-human band.
func TestNetworkFeaturesLowerTheScore(t *testing.T) {
	m := defaultModel(t)
	score := func(n Network) Result {
		var r Result
		m.Score(&Request{Method: "GET", Scheme: "https", Protocol: "HTTP/2", Headers: with(navChrome, "user-agent", uaChromeWindows), Network: n}, &r)
		checkResult(t, m, &r)
		return r
	}
	home := score(0)
	for _, tt := range []struct {
		n    Network
		code Code
	}{{NetworkDatacenter, IPDatacenter}, {NetworkTor, IPTor}, {NetworkListed, IPListed}, {NetworkHosting, ASNHosting}} {
		r := score(tt.n)
		if !r.Features.Has(tt.code) || r.Score >= home.Score || r.Score < 30 {
			t.Errorf("%v: score %d (features %v), want below %d and still ≥ 30", tt.code, r.Score, r.Features, home.Score)
		}
	}
	if all := score(NetworkDatacenter | NetworkListed | NetworkHosting); all.Score >= 30 {
		t.Errorf("a listed hosting datacenter address scores %d, want the challenge band", all.Score)
	}
}
