package provider

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
)

// siteverify speaks the reCAPTCHA-style siteverify protocol shared by
// Turnstile, hCaptcha and reCAPTCHA: a form POST of secret, response and
// remoteip, answered by {"success": bool, "error-codes": [...], "hostname",
// "action", "score", ...}.
type siteverify struct {
	verifier
	secret      string
	minScore    float64
	minScoreSet bool
}

// siteverifyAnswer is the part of the answer we act on. Pointers tell absent
// from zero; a field of the wrong JSON type fails the whole decode, which is
// what we want from a security decision.
type siteverifyAnswer struct {
	Success    *bool    `json:"success"`
	ErrorCodes []string `json:"error-codes"`
	Hostname   *string  `json:"hostname"`
	Action     *string  `json:"action"`
	Score      *float64 `json:"score"`
}

// newSiteverify is the Verifier of the vendors that speak siteverify.
func newSiteverify(cfg *Config, base verifier) Verifier {
	sv := &siteverify{verifier: base, secret: cfg.Secret, minScore: cfg.MinScore, minScoreSet: cfg.MinScore != 0}
	if !sv.minScoreSet {
		sv.minScore = DefaultMinScore
	}
	return sv
}

// Verify implements Verifier.
func (s *siteverify) Verify(ctx context.Context, token, remoteIP string) Result {
	if r, ok := checkToken(token, s.spec.maxToken()); !ok {
		return r
	}
	form := url.Values{}
	form.Set("secret", s.secret)
	form.Set("response", token)
	if ip := clientIP(remoteIP); ip != "" {
		form.Set("remoteip", ip)
	}
	if s.spec.SendSiteKey {
		form.Set("sitekey", s.siteKey)
	}
	encoded := form.Encode()
	status, body, reason := s.exchange(ctx, func(ctx context.Context) (*http.Request, error) {
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.verifyURL, strings.NewReader(encoded))
		if err != nil {
			return nil, err
		}
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Accept", "application/json")
		return req, nil
	})
	if reason != "" {
		return fail(reason)
	}
	return outcome(status, body, s.parse)
}

func (s *siteverify) parse(body []byte) Result {
	var a siteverifyAnswer
	if err := json.Unmarshal(body, &a); err != nil || a.Success == nil {
		return fail(ReasonMalformedResponse)
	}
	score := -1.0
	if a.Score != nil {
		if *a.Score < 0 || *a.Score > 1 {
			return fail(ReasonMalformedResponse)
		}
		score = *a.Score
	}
	codes := sanitizeCodes(a.ErrorCodes, s.secret)
	// A success that also lists errors is contradictory (old reCAPTCHA
	// answered an invalid secret that way): trust the errors.
	if !*a.Success || len(codes) > 0 {
		return Result{Reason: reasonFor(codes, s.spec.CodeReason), Codes: codes, Score: score}
	}
	failed := func(reason string) Result { return Result{Reason: reason, Score: score} }
	if s.hostname != "" && (a.Hostname == nil || !strings.EqualFold(*a.Hostname, s.hostname)) {
		return failed(ReasonHostnameMismatch)
	}
	if s.action != "" && (a.Action == nil || *a.Action != s.action) {
		return failed(ReasonActionMismatch)
	}
	if s.spec.Checks.MinScore {
		switch {
		case a.Score != nil && *a.Score < s.minScore:
			return failed(ReasonLowScore)
		case a.Score == nil && s.minScoreSet:
			// MinScore says v3 is expected; a v2 answer means the secret
			// belongs to a v2 key.
			return failed(ReasonMisconfigured)
		}
	}
	return Result{OK: true, Reason: ReasonOK, Score: score}
}

// siteverifyCodeReason maps the error codes every siteverify vendor
// documents to a Reason, "" when unknown; a vendor's CodeReason adds its own.
func siteverifyCodeReason(code string) string {
	switch code {
	case "missing-input-secret", "invalid-input-secret":
		return ReasonMisconfigured
	case "missing-input-response", "invalid-input-response":
		return ReasonInvalidToken
	case "timeout-or-duplicate":
		return ReasonExpiredOrDuplicate
	}
	return ""
}
