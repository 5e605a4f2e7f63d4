package challenge

import (
	"context"
	"crypto/sha256"
	"net/http"
	"net/netip"
	"strings"
	"time"

	"github.com/botauthz/botauthz/challenge/provider"
	"github.com/botauthz/botauthz/clearance"
	"github.com/botauthz/botauthz/history"
	"github.com/botauthz/botauthz/policy"
	"github.com/botauthz/botauthz/ratelimit"
)

// maxNonceLen bounds the proof of work's nonce; the script sends a decimal
// counter, which a few billion tries would not make longer than 10 digits.
const maxNonceLen = 32

// serveVerify checks a posted answer. The checks run cheapest and least
// consuming first: the token (signature, expiry, client binding), then the
// answer, and only then the one-time redemption, so a wrong answer never
// spends the challenge and the visitor can retry it.
func (h *Handler) serveVerify(w http.ResponseWriter, r *http.Request) {
	pol := h.policy()
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
	if err := r.ParseForm(); err != nil {
		h.refuse(w, r, nil, OutcomeBadToken, "unreadable form", err)
		return
	}
	tok, err := h.keys.parse(r.PostForm.Get("token"))
	if err != nil {
		h.refuse(w, r, nil, OutcomeBadToken, "bad token", err)
		return
	}
	now := h.now()
	if tok.expired(now) {
		h.refuse(w, r, &tok, OutcomeExpired, "expired", nil)
		return
	}
	ip := clientIPOf(r, pol)
	b := clearance.BindingFor(ip, r.UserAgent())
	if !tok.client.Matches(b) {
		h.refuse(w, r, &tok, OutcomeWrongClient, "issued to another network or user agent", nil)
		return
	}
	if outcome := h.checkAnswer(r, &tok, ip); outcome != "" {
		h.refuse(w, r, &tok, outcome, "wrong answer", nil)
		return
	}
	// Keep the redemption as long as any replica could accept the token.
	ttl := time.Unix(tok.exp, 0).Sub(now) + clockSkew
	verdict, checked := h.checkEvidence(r, &tok, pol.Challenge.Evidence)
	marked := checked && verdict.Automated && pol.Challenge.Evidence == policy.EvidenceMark
	if checked && verdict.Automated && !marked {
		// The challenge is spent, so another try with other evidence
		// needs another proof of work.
		h.redeem(r.Context(), &tok, ttl)
		h.reportEvidence(&tok, OutcomeAutomated, false, verdict)
		h.refuse(w, r, &tok, OutcomeAutomated, "evidence: "+verdict.String(), nil)
		return
	}
	if !h.redeem(r.Context(), &tok, ttl) {
		h.refuse(w, r, &tok, OutcomeReplayed, "already redeemed", nil)
		return
	}
	if checked {
		h.reportEvidence(&tok, OutcomePassed, marked, verdict)
	}

	label := tok.provider
	if marked {
		label = MarkedProvider
	}
	value := h.signer.Issue(b, label, tok.route, now)
	http.SetCookie(w, h.signer.Cookie(pol.Challenge.CookieName, value, pol.Challenge.InsecureCookie))
	if !pol.Challenge.InsecureCookie && requestScheme(r) == "http" {
		h.warnSecureOverHTTP(now, r)
	}
	hdr := w.Header()
	hdr.Set("Cache-Control", "no-store")
	// Set by hand rather than with http.Redirect, which would clean the
	// path and so send the visitor somewhere else than they asked for.
	hdr.Set("Location", SafeReturnTo(tok.returnTo))
	w.WriteHeader(http.StatusSeeOther)
	h.observer.ChallengeResult(tok.route, tok.provider, OutcomePassed)
	h.log.Debug("challenge passed", "route", tok.route, "provider", tok.provider, "marked", marked)
}

// MarkedProvider is the provider label of a clearance issued, under
// challenge.evidence: mark, to a browser whose evidence says automated. The
// label is signed into the cookie (clearance.Status.Provider).
const MarkedProvider = Pow + clearance.AutomatedSuffix

// checkEvidence verifies a proof-of-work answer's evidence unless mode is
// off; checked is false when it was not looked at (mode off, or a CAPTCHA,
// whose vendor judges the browser itself).
func (h *Handler) checkEvidence(r *http.Request, tok *token, mode string) (v Verdict, checked bool) {
	if tok.provider != Pow || mode == policy.EvidenceOff {
		return Verdict{}, false
	}
	proof, ok := h.expectedProof(tok)
	if !ok {
		// parse accepted the token, so its key is in the set: unreachable.
		return Verdict{Reasons: []string{ReasonScript}, Automated: true}, true
	}
	return verifyEvidence(r.PostForm.Get("evidence"), proof, r.Header.Get("Accept-Language")), true
}

// reportEvidence tells the observer, if it listens, and the debug log what
// an answer's evidence said. Only the reasons leave this function: the
// evidence itself is dropped with the request.
func (h *Handler) reportEvidence(tok *token, outcome string, marked bool, v Verdict) {
	if o, ok := h.observer.(EvidenceObserver); ok {
		o.ChallengeEvidence(tok.route, outcome, marked, v.Reasons)
	}
	h.log.Debug("challenge evidence", "route", tok.route, "outcome", outcome, "marked", marked, "evidence", v.String())
}

// checkAnswer checks the proof of work or the CAPTCHA token and returns ""
// when it is right, else the outcome.
func (h *Handler) checkAnswer(r *http.Request, tok *token, ip netip.Addr) string {
	if tok.provider == Pow {
		if !powSolved(tok.idHex(), r.PostForm.Get("nonce"), tok.difficulty) {
			return OutcomeWrongAnswer
		}
		return ""
	}
	v, ok := h.verifiers[tok.provider]
	if !ok {
		// Issued while the provider was configured, then reconfigured.
		return providerOutcome(provider.ReasonMisconfigured)
	}
	spec, _ := provider.Lookup(tok.provider) // known: it has a verifier
	remoteIP := ""
	if ip.IsValid() {
		remoteIP = ip.String()
	}
	res := v.Verify(r.Context(), r.PostForm.Get(spec.Page.TokenField), remoteIP)
	if res.OK {
		return ""
	}
	// The codes are sanitised by the provider package; they say why the
	// vendor refused, which the bounded outcome cannot.
	h.log.Debug("captcha refused", "provider", tok.provider, "route", tok.route, "reason", res.Reason, "codes", res.Codes)
	return providerOutcome(res.Reason)
}

// nonceChar reports whether c may be part of a nonce: the script counts in
// decimal, and anything URL- and form-safe is accepted.
func nonceChar(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '.' || c == '_' || c == '-'
}

// powSolved reports whether hex(SHA-256(id + ":" + nonce)) starts with
// difficulty '0' digits, i.e. the hash's first difficulty nibbles are zero.
func powSolved(id, nonce string, difficulty int) bool {
	if nonce == "" || len(nonce) > maxNonceLen || difficulty < 1 || difficulty > 2*sha256.Size {
		return false
	}
	for i := 0; i < len(nonce); i++ {
		if !nonceChar(nonce[i]) {
			return false
		}
	}
	sum := sha256.Sum256([]byte(id + ":" + nonce))
	for i := range difficulty {
		nibble := sum[i/2] >> 4
		if i%2 == 1 {
			nibble = sum[i/2] & 0x0f
		}
		if nibble != 0 {
			return false
		}
	}
	return true
}

// redeem spends the challenge and reports whether this was its first use. A
// failing store must not lock people out: this replica's memory decides
// instead, which still refuses a replay here, and the degradation is logged
// and observed.
func (h *Handler) redeem(ctx context.Context, tok *token, ttl time.Duration) bool {
	id := tok.idHex()
	rctx, cancel := context.WithTimeout(ctx, redeemTimeout)
	first, err := h.redeemer.Redeem(rctx, id, ttl)
	cancel()
	if err != nil {
		h.log.Warn("challenge redemption store failed; this replica alone guards against replays",
			"err", err, "route", tok.route, "provider", tok.provider)
		h.observer.ChallengeResult(tok.route, tok.provider, OutcomeRedeemDegraded)
		// The memory store fails only on a non-positive ttl, which the
		// caller never passes; treat that as a replay to stay closed.
		first, err = h.local.Redeem(ctx, id, ttl)
		return err == nil && first
	}
	if first && h.redeemer != Redeemer(h.local) {
		// Remember it here too, for the case the store fails later.
		_, _ = h.local.Redeem(ctx, id, ttl)
	}
	return first
}

// refuse answers 403 with a page that explains the outcome and links to a
// fresh challenge for the same return_to and route, and reports the outcome.
// tok is nil when the token could not be trusted.
func (h *Handler) refuse(w http.ResponseWriter, r *http.Request, tok *token, outcome, why string, err error) {
	route, prov, returnTo := unknownLabel, unknownLabel, "/"
	retryRoute := ""
	if tok != nil {
		route, prov, returnTo, retryRoute = tok.route, tok.provider, tok.returnTo, tok.route
	}
	h.observer.ChallengeResult(route, prov, outcome)
	if failedByClient(outcome) {
		h.recordFailure(r)
	}
	h.log.Debug("challenge refused", "outcome", outcome, "why", why, "err", err, "route", route, "provider", prov)
	st := h.styleFor(h.policy())
	look, lang := h.lookFor(r, st, returnTo, retryRoute)
	render(w, http.StatusForbidden, st.failCSP, lang, failPage, failData{pageLook: look, Message: failMessage(lang, outcome)})
}

// requestScheme is the scheme the visitor used: Envoy's x-forwarded-proto
// (it sets it from the downstream connection), else this connection's own.
func requestScheme(r *http.Request) string {
	if p := r.Header.Get("X-Forwarded-Proto"); p != "" {
		return strings.ToLower(p)
	}
	if r.TLS != nil {
		return "https"
	}
	return "http"
}

// secureWarnEvery spaces the warnings about Secure cookies over http: one
// a minute says it; one per visitor would bury the log.
const secureWarnEvery = time.Minute

// warnSecureOverHTTP says that a Secure clearance cookie went to a visitor on
// plain http: browsers drop it (except on localhost), so the visitor will be
// challenged again and again.
func (h *Handler) warnSecureOverHTTP(now time.Time, r *http.Request) {
	last := h.secureWarned.Load()
	if last != 0 && now.Sub(time.Unix(0, last)) < secureWarnEvery {
		return
	}
	if !h.secureWarned.CompareAndSwap(last, now.UnixNano()) {
		return // another visitor's request is warning
	}
	h.log.Warn("a Secure clearance cookie was set in answer to a plain http request: browsers drop it, so visitors are challenged again and again; serve the site over https (envoy/front-proxy.yaml's TLS listener) or, for local tests only, set challenge.insecure_cookie",
		"host", r.Host)
}

// failedByClient reports whether a refusal is the client's doing, and so
// history (package history): a wrong or automated answer, a replay, a
// token forged, tampered with or carried to another network, a CAPTCHA
// its vendor rejected. Not an expired page (a person who walked away), nor
// a vendor or configuration failure, nor a vendor's "expired or duplicate"
// (a double submit as often as a replay).
func failedByClient(outcome string) bool {
	switch outcome {
	case OutcomeWrongAnswer, OutcomeAutomated, OutcomeReplayed, OutcomeBadToken, OutcomeWrongClient,
		OutcomeProviderPrefix + provider.ReasonRejected, OutcomeProviderPrefix + provider.ReasonInvalidToken,
		OutcomeProviderPrefix + provider.ReasonHostnameMismatch, OutcomeProviderPrefix + provider.ReasonActionMismatch,
		OutcomeProviderPrefix + provider.ReasonLowScore:
		return true
	}
	return false
}

// recordFailure records a failed challenge for the client's address and
// session, when the policy keeps history and a writer was given.
func (h *Handler) recordFailure(r *http.Request) {
	pol := h.policy()
	if h.history == nil || !pol.History.Enabled {
		return
	}
	ip := clientIPOf(r, pol)
	e := history.Entity{Client: ratelimit.ClientID(ip), Subnet: ratelimit.SubnetID(ip)}
	if c, err := r.Cookie(pol.SessionCookie); err == nil {
		e.Session = ratelimit.SessionID(c.Value)
	}
	h.history.Record(e, history.ChallengeFailed, pol.History.Window, h.now())
}
