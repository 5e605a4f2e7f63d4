package challenge

import (
	"bytes"
	"errors"
	"html/template"
	"log/slog"
	"net/http"
	"strings"

	"github.com/botauthz/botauthz/challenge/provider"
	"github.com/botauthz/botauthz/clearance"
)

// powCSP is the challenge page's policy for the proof of work: only our own
// script, no inline script or style (the page has no styling at all, so it
// needs no style-src), and the form may post only to us.
const powCSP = "default-src 'none'; script-src 'self'; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'; img-src 'self'"

// failCSP is for the failure pages, which have no script.
const failCSP = "default-src 'none'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"

// captchaCSP is powCSP plus exactly the origins provider's widget needs.
func captchaCSP(name string) string {
	scriptSrc, frameSrc, connectSrc := provider.CSPSources(name)
	styleSrc := provider.CSPStyleSources(name)
	var b strings.Builder
	directive := func(name string, first string, sources []string) {
		if first == "" && len(sources) == 0 {
			return
		}
		b.WriteString("; ")
		b.WriteString(name)
		if first != "" {
			b.WriteString(" ")
			b.WriteString(first)
		}
		for _, s := range sources {
			b.WriteString(" ")
			b.WriteString(s)
		}
	}
	b.WriteString("default-src 'none'")
	directive("script-src", "'self'", scriptSrc)
	directive("connect-src", "'self'", connectSrc)
	directive("frame-src", "", frameSrc)
	directive("style-src", "", styleSrc)
	b.WriteString("; form-action 'self'; frame-ancestors 'none'; base-uri 'none'; img-src 'self'")
	return b.String()
}

func setPageHeaders(hdr http.Header, csp string) {
	hdr.Set("Content-Type", "text/html; charset=utf-8")
	hdr.Set("Cache-Control", "no-store")
	hdr.Set("Content-Security-Policy", csp)
	hdr.Set("X-Content-Type-Options", "nosniff")
	hdr.Set("Referrer-Policy", "same-origin")
}

// challengePage is self-contained: our script from our origin, data in data-*
// attributes, no inline script or style, so the CSP stays strict. Elements
// the script drives start hidden, so a visitor without JavaScript sees only
// the explanation.
var challengePage = template.Must(template.New("challenge").Parse(`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="robots" content="noindex, nofollow">
<title>Checking your browser</title>
{{- if .ProofURL}}
<script src="{{.ProofURL}}" defer></script>
{{- end}}
<script src="{{.ScriptURL}}" defer></script>
{{- if .WidgetScript}}
<script src="{{.WidgetScript}}" async defer></script>
{{- end}}
</head>
<body>
<main>
<h1>Checking your browser</h1>
{{- if eq .Provider "pow"}}
<p>This site checks that visitors are people before letting them in. Your browser is solving a small puzzle; it usually takes a few seconds and you do not need to do anything. You will then be taken back to the page you asked for.</p>
{{- else}}
<p>This site checks that visitors are people before letting them in. Please complete the check below; you will then be taken back to the page you asked for.</p>
{{- end}}
<noscript><p>This check needs JavaScript, which is turned off or blocked in your browser. Please allow JavaScript for this site, or open the page in a browser that runs it, then reload this page. Nothing else is needed, and the check stores only a cookie saying you passed.</p></noscript>
<form id="botauthz-challenge" method="post" action="{{.VerifyURL}}" data-provider="{{.Provider}}"
{{- if eq .Provider "pow"}} data-challenge="{{.Challenge}}" data-difficulty="{{.Difficulty}}"{{end}}>
<input type="hidden" name="token" value="{{.Token}}">
{{- if eq .Provider "pow"}}
<input type="hidden" name="nonce" value="">
<input type="hidden" name="evidence" value="">
<p id="botauthz-status" role="status" aria-live="polite" hidden>Checking…</p>
<p><progress id="botauthz-progress" max="1" value="0" hidden></progress></p>
{{- else}}
<div id="botauthz-widget"{{if .WidgetClass}} class="{{.WidgetClass}}"{{end}} data-sitekey="{{.SiteKey}}" data-callback="botauthzSolved"{{if .ServerToken}} data-server-token="{{.ServerToken}}" data-action="{{.Action}}"{{end}}></div>
{{- if eq .Provider "captchala"}}
<input type="hidden" name="{{.TokenField}}" value="">
{{- end}}
<p><button type="submit">Continue</button></p>
{{- end}}
</form>
</main>
</body>
</html>
`))

type challengeData struct {
	ScriptURL, VerifyURL string
	// ProofURL is the per-challenge script's (proof of work only); it is
	// listed before ScriptURL, so, both deferred, it runs first.
	ProofURL             string
	Provider             string
	Token                string
	Challenge            string
	Difficulty           int
	WidgetScript         string
	WidgetClass, SiteKey string
	TokenField           string
	// ServerToken and Action start a widget that needs a token issued by
	// the site's server (provider.Issuer: CaptchaLa).
	ServerToken, Action string
}

// failPage is answered (403) to every refused answer.
var failPage = template.Must(template.New("fail").Parse(`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="robots" content="noindex, nofollow">
<title>The check did not pass</title>
</head>
<body>
<main>
<h1>The check did not pass</h1>
<p>{{.Message}}</p>
<p><a href="{{.RetryURL}}">Try again</a></p>
</main>
</body>
</html>
`))

// failMessages explain an outcome to the visitor, without detail an
// attacker could tune against.
var failMessages = map[string]string{
	OutcomeWrongAnswer: "Your browser's answer to the check was not right.",
	OutcomeExpired:     "The check took too long and expired.",
	OutcomeReplayed:    "This check was already used.",
	OutcomeBadToken:    "The check could not be read.",
	OutcomeWrongClient: "Your network or browser changed during the check.",
	pageUnavailable:    "The check cannot start right now. Please try again in a moment.",
	OutcomeAutomated: "Your browser looks controlled by automation software (a testing tool, a headless browser or a script), " +
		"so this check cannot let it in. If you are a person, open this page in your usual browser, without such tools, and try again.",
}

func failMessage(outcome string) string {
	if m, ok := failMessages[outcome]; ok {
		return m
	}
	return "The check could not be confirmed."
}

// render executes t into a buffer first, so a template error is a clean 500
// instead of half a page.
func render(w http.ResponseWriter, status int, csp string, t *template.Template, data any) {
	var buf bytes.Buffer
	if err := t.Execute(&buf, data); err != nil {
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	setPageHeaders(w.Header(), csp)
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

// servePage renders a fresh challenge for the route named in the query.
func (h *Handler) servePage(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	returnTo := SafeReturnTo(q.Get("return_to"))
	pol := h.policy()
	route := pol.Route(q.Get("route"))
	prov, difficulty := h.challengeFor(route)
	b := clearance.BindingFor(clientIPOf(r, pol), r.UserAgent())
	ttl := pol.Challenge.TTL
	if ttl <= 0 {
		ttl = defaultTTL
	}
	tok := newToken(h.now(), ttl, b, prov, route.Name, returnTo, difficulty)

	d := challengeData{
		ScriptURL: h.scriptURL(),
		VerifyURL: VerifyPath,
		Provider:  prov,
		Token:     h.keys.sign(&tok),
	}
	csp := powCSP
	if prov == Pow {
		d.Challenge, d.Difficulty = tok.idHex(), difficulty
		d.ProofURL = h.proofURL(&tok)
	} else {
		d.WidgetScript, d.WidgetClass, d.TokenField = provider.Widget(prov)
		d.SiteKey = h.verifiers[prov].SiteKey()
		csp = h.csp[prov]
		// A HEAD shows no widget: no token is spent on it.
		if iss, ok := h.verifiers[prov].(provider.Issuer); ok && r.Method == http.MethodGet {
			var ip string
			if a := clientIPOf(r, pol); a.IsValid() {
				ip = a.String()
			}
			st, err := iss.Issue(r.Context(), ip, ttl)
			if err != nil {
				h.unavailable(w, r, route.Name, prov, returnTo, err)
				return
			}
			d.ServerToken, d.Action = st.Token, st.Action
		}
	}
	render(w, http.StatusOK, csp, challengePage, d)
	if r.Method == http.MethodGet {
		h.observer.ChallengeIssued(route.Name, prov)
	}
}

// pageUnavailable keys failMessages for a challenge page that cannot be
// shown: its CAPTCHA vendor would not issue the token its widget needs.
const pageUnavailable = "unavailable"

// retryAfterUnavailable is the Retry-After of a page that could not start:
// long enough for a vendor's blip to pass, short for a waiting person.
const retryAfterUnavailable = "5"

// unavailable answers 503 with a page that explains and links to a fresh
// challenge, when the vendor gave no server token. The visitor answered
// nothing, so nothing is counted against them; the failure is logged at
// warn for what an operator must fix (credentials), debug for a blip.
func (h *Handler) unavailable(w http.ResponseWriter, r *http.Request, route, prov, returnTo string, err error) {
	level := slog.LevelDebug
	var ie *provider.IssueError
	if errors.As(err, &ie) && ie.Reason == provider.ReasonMisconfigured {
		level = slog.LevelWarn
	}
	h.log.Log(r.Context(), level, "challenge page without its server token", "provider", prov, "route", route, "err", err)
	w.Header().Set("Retry-After", retryAfterUnavailable)
	render(w, http.StatusServiceUnavailable, failCSP, failPage, struct{ Message, RetryURL string }{
		failMessage(pageUnavailable), URL(returnTo, route),
	})
}
