package scoring

import "testing"

// TestHistoryFeaturesLowerTheScore scores one clean browser navigation
// with each history fact: each lowers the score by its weight, none alone
// challenges a clean browser (a person caught once behind a shared address
// is not locked out), and a denied client that also fails challenges is
// challenged.
func TestHistoryFeaturesLowerTheScore(t *testing.T) {
	m := defaultModel(t)
	score := func(h History) Result {
		var r Result
		m.Score(&Request{Method: "GET", Scheme: "https", Protocol: "HTTP/2", Headers: with(navChrome, "user-agent", uaChromeWindows), History: h}, &r)
		checkResult(t, m, &r)
		return r
	}
	fresh := score(0)
	for _, tt := range []struct {
		h    History
		code Code
	}{
		{HistoryOfDenials, HistoryDenied}, {HistoryOfRateLimits, HistoryRateLimited},
		{HistoryOfChallengeFailures, HistoryChallengeFailed}, {HistorySessionManyNetworks, SessionManyNetworks},
		{HistorySessionNotKept, SessionNotKept},
	} {
		r := score(tt.h)
		if !r.Features.Has(tt.code) || r.Features.Len() != 1 || r.Score >= fresh.Score || r.Score < 30 {
			t.Errorf("%v: score %d (features %v), want only it, below %d and still ≥ 30", tt.code, r.Score, r.Features, fresh.Score)
		}
	}
	if r := score(HistoryOfDenials | HistoryOfChallengeFailures); r.Score >= 30 {
		t.Errorf("denied and failing challenges: score %d, want the challenge band", r.Score)
	}
}
