package provider

// Turnstile is Cloudflare Turnstile's provider id.
const Turnstile = "turnstile"

// TurnstileVerifyURL is Turnstile's documented siteverify endpoint.
const TurnstileVerifyURL = "https://challenges.cloudflare.com/turnstile/v0/siteverify"

// maxTurnstileToken is Turnstile's documented token length limit.
const maxTurnstileToken = 2048

// turnstileSpec describes Cloudflare Turnstile: the siteverify protocol,
// a site key and secret, hostname and action checks.
func turnstileSpec() Spec {
	return Spec{
		Name:          Turnstile,
		VerifyURL:     TurnstileVerifyURL,
		Credentials:   SiteKeyAndSecret,
		Checks:        Checks{Hostname: true, Action: true},
		MaxTokenBytes: maxTurnstileToken,
		CodeReason:    turnstileCodeReason,
		// <div class="cf-turnstile" data-sitekey=…>, token in
		// cf-turnstile-response.
		Page: Page{
			Script:     "https://challenges.cloudflare.com/turnstile/v0/api.js",
			Class:      "cf-turnstile",
			TokenField: "cf-turnstile-response",
			// developers.cloudflare.com/turnstile/reference/content-security-policy:
			// script-src and frame-src; connect-src needs only 'self', and
			// only for pre-clearance, which the caller's own policy covers.
			ScriptSrc: []string{"https://challenges.cloudflare.com"},
			FrameSrc:  []string{"https://challenges.cloudflare.com"},
		},
		newVerifier: newSiteverify,
	}
}

func turnstileCodeReason(code string) string {
	if code == "internal-error" {
		// Documented as retryable: Cloudflare's fault, not the token's.
		return ReasonUnavailable
	}
	return siteverifyCodeReason(code)
}
