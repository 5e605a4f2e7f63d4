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
	"github.com/botauthz/botauthz/policy"
)

// pageCSP is a page's Content-Security-Policy: nothing by default; our
// own script and stylesheets ('self', no inline script or style); exactly
// the origins provider's widget needs (none for the proof of work, whose
// page has no third-party asset); the form posts only to us; images from
// us and, when the policy's branding has an https logo, exactly its
// origin. failure is for the failure pages, which have no script.
func pageCSP(prov, logoOrigin string, failure bool) string {
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
	if !failure {
		spec, _ := provider.Lookup(prov) // the proof of work has none
		directive("script-src", "'self'", spec.Page.ScriptSrc)
		directive("connect-src", "'self'", spec.Page.ConnectSrc)
		directive("frame-src", "", spec.Page.FrameSrc)
		directive("style-src", "'self'", spec.Page.StyleSrc)
	} else {
		directive("style-src", "'self'", nil)
	}
	b.WriteString("; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
	var img []string
	if logoOrigin != "" {
		img = []string{logoOrigin}
	}
	directive("img-src", "'self'", img)
	return b.String()
}

func setPageHeaders(hdr http.Header, csp string, lang *pageLang) {
	hdr.Set("Content-Type", "text/html; charset=utf-8")
	hdr.Set("Cache-Control", "no-store")
	hdr.Set("Content-Security-Policy", csp)
	hdr.Set("X-Content-Type-Options", "nosniff")
	hdr.Set("Referrer-Policy", "same-origin")
	hdr.Set("Content-Language", lang.tag)
	hdr.Add("Vary", "Accept-Language")
}

// pageHead is the head both pages share: the language, our stylesheets
// (the shared one and the policy's colours), no inline style.
const pageHead = `{{define "head"}}<!doctype html>
<html lang="{{.Lang.Tag}}" dir="{{.Lang.Dir}}">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="robots" content="noindex, nofollow">
<meta name="color-scheme" content="light dark">
<link rel="stylesheet" href="{{.StyleURL}}">
<link rel="stylesheet" href="{{.ThemeURL}}">
{{- end}}
{{define "brand"}}
{{- if .Brand.LogoURL}}
<header class="brand"><img class="brand-logo" src="{{.Brand.LogoURL}}" alt="{{.Brand.Title}}"></header>
{{- else if .Brand.Title}}
<header class="brand"><p class="brand-name">{{.Brand.Title}}</p></header>
{{- end}}
{{- end}}
{{define "help"}}
<p class="help"><span>{{.M.help}}</span> <a href="{{.RetryURL}}">{{.M.retry}}</a>
{{- if .Brand.SupportURL}} <a href="{{.Brand.SupportURL}}">{{.SupportText}}</a>{{end}}</p>
{{- end}}`

// challengePage is self-contained: our script and stylesheets from our
// origin, data in data-* attributes (the script's messages too), no inline
// script or style, so the CSP stays strict. Elements the script drives
// start hidden, so a visitor without JavaScript sees only the explanation.
var challengePage = template.Must(template.New("challenge").Option("missingkey=error").Parse(pageHead + `{{template "head" .}}
<title>{{.M.title}}{{with .Brand.Title}} – {{.}}{{end}}</title>
{{- if .ProofURL}}
<script src="{{.ProofURL}}" defer></script>
{{- end}}
<script src="{{.ScriptURL}}" defer></script>
{{- if .WidgetScript}}
<script src="{{.WidgetScript}}" async defer></script>
{{- end}}
</head>
<body>
<main aria-labelledby="botauthz-title">
{{- template "brand" .}}
<h1 id="botauthz-title">{{.M.title}}</h1>
{{- if eq .Provider "pow"}}
<p>{{.M.intro_pow}}</p>
{{- else}}
<p>{{.M.intro_captcha}}</p>
{{- end}}
<noscript><p class="notice">{{.M.noscript}}</p></noscript>
<form id="botauthz-challenge" method="post" action="{{.VerifyURL}}" data-provider="{{.Provider}}" aria-labelledby="botauthz-title"
{{- if eq .Provider "pow"}} data-challenge="{{.Challenge}}" data-difficulty="{{.Difficulty}}"{{end}}>
<input type="hidden" name="token" value="{{.Token}}">
{{- if eq .Provider "pow"}}
<input type="hidden" name="nonce" value="">
<input type="hidden" name="evidence" value="">
<div class="work">
<p id="botauthz-status" class="status" role="status" aria-live="polite" hidden data-working="{{.M.status_working}}" data-progress="{{.M.status_progress}}" data-done="{{.M.status_done}}" data-error="{{.M.status_error}}">{{.M.status_working}}</p>
<progress id="botauthz-progress" max="1" value="0" aria-label="{{.M.progress_label}}" hidden></progress>
</div>
{{- else}}
<div class="widget">
<div id="botauthz-widget"{{if .WidgetClass}} class="{{.WidgetClass}}"{{end}} data-sitekey="{{.SiteKey}}" data-callback="botauthzSolved"
{{- if .WidgetInit}} data-init="{{.WidgetInit}}" data-token-field="{{.TokenField}}"{{end}}
{{- if .ServerToken}} data-server-token="{{.ServerToken}}" data-action="{{.Action}}"{{end}}></div>
</div>
{{- if .HiddenTokenField}}
<input type="hidden" name="{{.TokenField}}" value="">
{{- end}}
<p><button type="submit">{{.M.continue}}</button></p>
{{- end}}
</form>
{{- template "help" .}}
</main>
</body>
</html>
`))

// pageLook is what every page shows whatever its content: the language,
// the stylesheets and the policy's branding.
type pageLook struct {
	Lang               langData
	M                  map[string]string
	StyleURL, ThemeURL string
	Brand              policy.Branding
	// SupportText is the support link's text: the branding's, else the
	// language's.
	SupportText string
	// RetryURL is a fresh challenge for the same route and return_to.
	RetryURL string
}

// langData is a pageLang as the templates read it.
type langData struct{ Tag, Dir string }

type challengeData struct {
	pageLook
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
	// HiddenTokenField puts TokenField in the form as a hidden input, for a
	// widget that does not add it (provider.Page.HiddenTokenField).
	HiddenTokenField bool
	// WidgetInit names the script's routine that starts a widget which
	// renders nothing from markup (provider.Page.Init), rendered as the
	// widget element's data-init, with TokenField as data-token-field.
	WidgetInit string
	// ServerToken and Action start a widget that needs a token issued by
	// the site's server (provider.Issuer: CaptchaLa).
	ServerToken, Action string
}

// failPage is answered (403) to every refused answer.
var failPage = template.Must(template.New("fail").Option("missingkey=error").Parse(pageHead + `{{template "head" .}}
<title>{{.M.fail_title}}{{with .Brand.Title}} – {{.}}{{end}}</title>
</head>
<body>
<main aria-labelledby="botauthz-title">
{{- template "brand" .}}
<h1 id="botauthz-title">{{.M.fail_title}}</h1>
<p>{{.Message}}</p>
<p class="actions"><a href="{{.RetryURL}}">{{.M.fail_retry}}</a>
{{- if .Brand.SupportURL}} <a href="{{.Brand.SupportURL}}">{{.SupportText}}</a>{{end}}</p>
</main>
</body>
</html>
`))

type failData struct {
	pageLook
	Message string
}

// failKeys are the messages that explain an outcome to the visitor,
// without detail an attacker could tune against; any other outcome is
// fail_other.
var failKeys = map[string]string{
	OutcomeWrongAnswer: "fail_wrong_answer",
	OutcomeExpired:     "fail_expired",
	OutcomeReplayed:    "fail_replayed",
	OutcomeBadToken:    "fail_bad_token",
	OutcomeWrongClient: "fail_wrong_client",
	OutcomeAutomated:   "fail_automated",
	pageUnavailable:    "fail_unavailable",
}

func failMessage(lang *pageLang, outcome string) string {
	if k, ok := failKeys[outcome]; ok {
		return lang.msgs[k]
	}
	return lang.msgs["fail_other"]
}

// render executes t into a buffer first, so a template error is a clean 500
// instead of half a page.
func render(w http.ResponseWriter, status int, csp string, lang *pageLang, t *template.Template, data any) {
	var buf bytes.Buffer
	if err := t.Execute(&buf, data); err != nil {
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	setPageHeaders(w.Header(), csp, lang)
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

// lookFor is what a page for r under pol shows besides its content; route
// and returnTo make the link to a fresh challenge.
func (h *Handler) lookFor(r *http.Request, st *pageStyle, returnTo, route string) (pageLook, *pageLang) {
	lang := h.catalog.match(r.Header.Get("Accept-Language"))
	l := pageLook{
		Lang:        langData{Tag: lang.tag, Dir: lang.dir},
		M:           lang.msgs,
		StyleURL:    h.styleURL(),
		ThemeURL:    st.themeURL(),
		Brand:       st.brand,
		SupportText: st.brand.SupportText,
		RetryURL:    URL(returnTo, route),
	}
	if l.SupportText == "" {
		l.SupportText = lang.msgs["support"]
	}
	return l, lang
}

// servePage renders a fresh challenge for the route named in the query.
func (h *Handler) servePage(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	returnTo := SafeReturnTo(q.Get("return_to"))
	pol := h.policy()
	st := h.styleFor(pol)
	route := pol.Route(q.Get("route"))
	prov, difficulty := h.challengeFor(route)
	b := clearance.BindingFor(clientIPOf(r, pol), r.UserAgent())
	ttl := pol.Challenge.TTL
	if ttl <= 0 {
		ttl = defaultTTL
	}
	tok := newToken(h.now(), ttl, b, prov, route.Name, returnTo, difficulty)

	look, lang := h.lookFor(r, st, returnTo, route.Name)
	d := challengeData{
		pageLook:  look,
		ScriptURL: h.scriptURL(),
		VerifyURL: VerifyPath,
		Provider:  prov,
		Token:     h.keys.sign(&tok),
	}
	csp := st.csp[Pow]
	if prov == Pow {
		d.Challenge, d.Difficulty = tok.idHex(), difficulty
		d.ProofURL = h.proofURL(&tok)
	} else {
		spec, _ := provider.Lookup(prov) // known: it has a verifier
		d.WidgetScript, d.WidgetClass, d.TokenField = spec.Page.Script, spec.Page.Class, spec.Page.TokenField
		d.HiddenTokenField, d.WidgetInit = spec.Page.HiddenTokenField, spec.Page.Init
		d.SiteKey = h.verifiers[prov].SiteKey()
		csp = st.csp[prov]
		// A HEAD shows no widget: no token is spent on it.
		if iss, ok := h.verifiers[prov].(provider.Issuer); ok && r.Method == http.MethodGet {
			var ip string
			if a := clientIPOf(r, pol); a.IsValid() {
				ip = a.String()
			}
			tok, err := iss.Issue(r.Context(), ip, ttl)
			if err != nil {
				h.unavailable(w, r, st, look, lang, route.Name, prov, err)
				return
			}
			d.ServerToken, d.Action = tok.Token, tok.Action
		}
	}
	render(w, http.StatusOK, csp, lang, challengePage, d)
	if r.Method == http.MethodGet {
		h.observer.ChallengeIssued(route.Name, prov)
	}
}

// pageUnavailable keys failKeys for a challenge page that cannot be shown:
// its CAPTCHA vendor would not issue the token its widget needs.
const pageUnavailable = "unavailable"

// retryAfterUnavailable is the Retry-After of a page that could not start:
// long enough for a vendor's blip to pass, short for a waiting person.
const retryAfterUnavailable = "5"

// unavailable answers 503 with a page that explains and links to a fresh
// challenge, when the vendor gave no server token. The visitor answered
// nothing, so nothing is counted against them; the failure is logged at
// warn for what an operator must fix (credentials), debug for a blip.
func (h *Handler) unavailable(w http.ResponseWriter, r *http.Request, st *pageStyle, look pageLook, lang *pageLang, route, prov string, err error) {
	level := slog.LevelDebug
	var ie *provider.IssueError
	if errors.As(err, &ie) && ie.Reason == provider.ReasonMisconfigured {
		level = slog.LevelWarn
	}
	h.log.Log(r.Context(), level, "challenge page without its server token", "provider", prov, "route", route, "err", err)
	w.Header().Set("Retry-After", retryAfterUnavailable)
	render(w, http.StatusServiceUnavailable, st.failCSP, lang, failPage, failData{pageLook: look, Message: failMessage(lang, pageUnavailable)})
}
