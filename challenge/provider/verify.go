package provider

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"strings"
	"time"
)

// verifier holds what every vendor needs. It is immutable after New.
type verifier struct {
	// spec is the vendor's description.
	spec      Spec
	siteKey   string
	verifyURL string
	timeout   time.Duration
	client    *http.Client
	hostname  string
	action    string
}

func (v *verifier) Name() string    { return v.spec.Name }
func (v *verifier) SiteKey() string { return v.siteKey }

// fail is a failed Result without a score.
func fail(reason string, codes ...string) Result {
	return Result{Reason: reason, Codes: codes, Score: -1}
}

// checkToken rejects, without a round trip, tokens no vendor would accept.
func checkToken(token string, maxLen int) (Result, bool) {
	if strings.TrimSpace(token) == "" || len(token) > maxLen {
		return fail(ReasonInvalidToken), false
	}
	return Result{}, true
}

// clientIP returns remoteIP normalised, or "" when it is not an IP address.
// The vendors treat remoteip as optional; sending a malformed one (e.g.
// "ip:port" from a careless caller) makes hCaptcha reject a genuine visitor.
func clientIP(remoteIP string) string {
	a, err := netip.ParseAddr(strings.TrimSpace(remoteIP))
	if err != nil {
		return ""
	}
	return a.Unmap().String()
}

// exchange sends the request build makes, bounded by the verifier's timeout
// and by ctx, and returns the status and the whole (bounded) body. A
// non-empty reason means the exchange failed and says why.
func (v *verifier) exchange(ctx context.Context, build func(context.Context) (*http.Request, error)) (status int, body []byte, reason string) {
	ctx, cancel := context.WithTimeout(ctx, v.timeout)
	// The deadline also covers reading the body: cancel only after it is read.
	defer cancel()
	req, err := build(ctx)
	if err != nil {
		// Only a bug here (the URL was validated in New); still fail closed.
		return 0, nil, ReasonMisconfigured
	}
	resp, err := v.client.Do(req)
	if err != nil {
		return 0, nil, ReasonUnavailable
	}
	defer resp.Body.Close()
	body, err = io.ReadAll(io.LimitReader(resp.Body, maxBodyBytes+1))
	if err != nil {
		return resp.StatusCode, nil, ReasonUnavailable
	}
	if len(body) > maxBodyBytes {
		return resp.StatusCode, nil, ReasonMalformedResponse
	}
	return resp.StatusCode, body, ""
}

// outcome turns an HTTP exchange into a Result: parse interprets a body.
// Transient statuses and redirects are unavailable whatever the body says; a
// 2xx body is parsed strictly; any other status (4xx) can only fail, with the
// vendor's codes when the body has some.
func outcome(status int, body []byte, parse func([]byte) Result) Result {
	switch {
	case status == http.StatusRequestTimeout || status == http.StatusTooManyRequests || status >= 500:
		return fail(ReasonUnavailable)
	case status >= 300 && status < 400:
		// Our client does not follow redirects, and a redirect is no
		// answer to the question.
		return fail(ReasonUnavailable)
	case status >= 200 && status < 300:
		return parse(body)
	}
	r := parse(body)
	if r.OK {
		// A success in an error status is contradictory; never grant on it.
		return fail(ReasonMalformedResponse)
	}
	if r.Reason == ReasonMalformedResponse {
		// An error page (e.g. a 404 from a wrong VerifyURL) is no answer.
		return fail(ReasonUnavailable)
	}
	return r
}

// reasonRank orders the reasons an error-code list can map to, most telling
// first: misconfiguration is what an operator must act on.
func reasonRank(r string) int {
	switch r {
	case ReasonMisconfigured:
		return 0
	case ReasonUnavailable:
		return 1
	case ReasonActionMismatch:
		return 2
	case ReasonExpiredOrDuplicate:
		return 3
	case ReasonInvalidToken:
		return 4
	}
	return 5
}

// reasonFor picks the most telling Reason for codes; lookup maps a lowercased
// code to a Reason. Unknown codes, and none at all, mean "rejected".
func reasonFor(codes []string, lookup func(string) string) string {
	best := ReasonRejected
	for _, c := range codes {
		r := lookup(strings.ToLower(c))
		if r == "" {
			continue
		}
		if reasonRank(r) < reasonRank(best) {
			best = r
		}
	}
	return best
}

const (
	maxCodes   = 8
	maxCodeLen = 64
)

// sanitizeCodes bounds vendor-supplied codes before they reach logs: a
// limited count, length and alphabet, and any code that contains one of the
// secrets (an echoing or hostile endpoint) is replaced.
func sanitizeCodes(codes []string, secrets ...string) []string {
	var out []string
	for _, c := range codes {
		if len(out) == maxCodes {
			break
		}
		if c == "" {
			continue
		}
		out = append(out, sanitizeCode(c, secrets...))
	}
	return out
}

func sanitizeCode(c string, secrets ...string) string {
	for _, s := range secrets {
		if s != "" && strings.Contains(c, s) {
			return "redacted"
		}
	}
	var b strings.Builder
	for i := 0; i < len(c) && b.Len() < maxCodeLen; i++ {
		ch := c[i]
		switch {
		case ch >= 'a' && ch <= 'z', ch >= 'A' && ch <= 'Z', ch >= '0' && ch <= '9',
			ch == '.', ch == '_', ch == ':', ch == '-':
			b.WriteByte(ch)
		default:
			b.WriteByte('_')
		}
	}
	out := b.String()
	for _, s := range secrets {
		// Replacing bytes by '_' can turn a near-copy of a secret that
		// itself contains '_' into the secret.
		if s != "" && strings.Contains(out, s) {
			return "redacted"
		}
	}
	return out
}

// String keeps the verifier's secrets out of fmt output.
func (v *verifier) String() string {
	return fmt.Sprintf("provider.Verifier{Provider:%s SiteKey:%s VerifyURL:%s}", v.spec.Name, v.siteKey, v.verifyURL)
}

// GoString is String, so %#v does not print the secrets either.
func (v *verifier) GoString() string { return v.String() }
