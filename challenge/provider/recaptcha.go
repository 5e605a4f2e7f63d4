package provider

// ReCAPTCHA is Google reCAPTCHA's (v2 and v3) provider id.
const ReCAPTCHA = "recaptcha"

// ReCAPTCHAVerifyURL is reCAPTCHA's documented siteverify endpoint.
const ReCAPTCHAVerifyURL = "https://www.google.com/recaptcha/api/siteverify"

// recaptchaSpec describes Google reCAPTCHA v2 and v3: the siteverify
// protocol, a site key and secret, hostname, action and (v3) score checks.
func recaptchaSpec() Spec {
	return Spec{
		Name:        ReCAPTCHA,
		VerifyURL:   ReCAPTCHAVerifyURL,
		Credentials: SiteKeyAndSecret,
		Checks:      Checks{Hostname: true, Action: true, MinScore: true},
		CodeReason:  siteverifyCodeReason,
		// <div class="g-recaptcha" data-sitekey=…> renders v2; v3 has no
		// element and needs grecaptcha.execute (api.js?render=<site key>)
		// to put the token in the page's own g-recaptcha-response field.
		Page: Page{
			Script:     "https://www.google.com/recaptcha/api.js",
			Class:      "g-recaptcha",
			TokenField: "g-recaptcha-response",
			// developers.google.com/recaptcha/docs/faq (CSP entry), path
			// scoped as Google recommends.
			ScriptSrc: []string{"https://www.google.com/recaptcha/", "https://www.gstatic.com/recaptcha/"},
			FrameSrc:  []string{"https://www.google.com/recaptcha/", "https://recaptcha.google.com/recaptcha/"},
		},
		newVerifier: newSiteverify,
	}
}
