package scoring

import "testing"

// TestCrawlerClaims checks what verification's outcome does to the score:
// an impersonation is certain automation, an unverified crawler is capped
// in the likely-automated band whatever the model says, and either rule
// can be turned off by the policy like every certainty rule.
func TestCrawlerClaims(t *testing.T) {
	m := defaultModel(t)
	googlebot := hdr("user-agent", uaGooglebot, "accept", "text/html", "accept-encoding", "gzip, br")
	tests := []struct {
		name      string
		h         map[string]string
		claim     CrawlerClaim
		score     [2]int
		certainty Certainty
		lead      Code
	}{
		{"a failed verification is an impersonation", googlebot, CrawlerClaimImpersonation, [2]int{1, 1}, Impersonation, CrawlerImpersonation},
		{"a pending verification is an unverified crawler", googlebot, CrawlerClaimUnverified, [2]int{2, 29}, UnverifiedCrawler, CrawlerUnverified},
		{"no claim, but a bot by its own word", googlebot, NoCrawlerClaim, [2]int{2, 29}, UnverifiedCrawler, CrawlerUnverified},
		{"a directory crawler without bot in its name is a crawler too",
			hdr("user-agent", "WhatsApp/2.23.20.0", "accept", "*/*", "accept-encoding", "gzip"), CrawlerClaimUnverified,
			[2]int{2, 29}, UnverifiedCrawler, CrawlerUnverified},
		{"declared automation still wins over a claim",
			hdr("user-agent", "python-requests/2.32 (compatible; Googlebot/2.1)", "accept", "*/*"), CrawlerClaimImpersonation,
			[2]int{1, 1}, Declared, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var r Result
			m.Score(&Request{Method: "GET", Scheme: "https", Headers: tt.h, Crawler: tt.claim}, &r)
			checkResult(t, m, &r)
			if r.Score < tt.score[0] || r.Score > tt.score[1] || r.Certainty != tt.certainty {
				t.Fatalf("score %d (%v), want %d–%d (%v); reasons %v", r.Score, r.Certainty, tt.score[0], tt.score[1], tt.certainty, r.Reasons())
			}
			if tt.lead != 0 && (len(r.Reasons()) == 0 || r.Reasons()[0].Code != tt.lead) {
				t.Errorf("reasons %v, want %v first", r.Reasons(), tt.lead)
			}
		})
	}
}

func TestCrawlerRulesCanBeTurnedOff(t *testing.T) {
	m, err := defaultModel(t).With(Tuning{Weights: map[Code]float64{CrawlerUnverified: 0, CrawlerImpersonation: 0}})
	if err != nil {
		t.Fatal(err)
	}
	var r Result
	m.Score(&Request{Method: "GET", Scheme: "https", Headers: hdr("user-agent", uaGooglebot, "accept", "text/html",
		"accept-encoding", "gzip, br"), Crawler: CrawlerClaimImpersonation}, &r)
	checkResult(t, m, &r)
	if r.Certainty != NoCertainty || r.Score < 30 {
		t.Errorf("with both rules off: score %d (%v), want the model's own (≥ 30)", r.Score, r.Certainty)
	}
}
