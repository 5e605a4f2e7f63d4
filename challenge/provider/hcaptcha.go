package provider

// HCaptcha is hCaptcha's provider id.
const HCaptcha = "hcaptcha"

// HCaptchaVerifyURL is hCaptcha's documented siteverify endpoint.
const HCaptchaVerifyURL = "https://api.hcaptcha.com/siteverify"

// hcaptchaSpec describes hCaptcha: the siteverify protocol with the site
// key sent along, a site key and secret, a hostname check (it reports no
// action).
func hcaptchaSpec() Spec {
	// docs.hcaptcha.com, "Content-Security-Policy Settings": the same
	// origins for script-src, frame-src, connect-src and style-src.
	origins := func() []string { return []string{"https://hcaptcha.com", "https://*.hcaptcha.com"} }
	return Spec{
		Name:        HCaptcha,
		VerifyURL:   HCaptchaVerifyURL,
		Credentials: SiteKeyAndSecret,
		Checks:      Checks{Hostname: true},
		SendSiteKey: true,
		CodeReason:  hcaptchaCodeReason,
		// <div class="h-captcha" data-sitekey=…>, token in
		// h-captcha-response.
		Page: Page{
			Script:     "https://js.hcaptcha.com/1/api.js",
			Class:      "h-captcha",
			TokenField: "h-captcha-response",
			ScriptSrc:  origins(),
			FrameSrc:   origins(),
			ConnectSrc: origins(),
			StyleSrc:   origins(),
		},
		newVerifier: newSiteverify,
	}
}

func hcaptchaCodeReason(code string) string {
	switch code {
	case "expired-input-response", "already-seen-response", "invalid-or-already-seen-response":
		return ReasonExpiredOrDuplicate
	case "sitekey-secret-mismatch", "invalid-sitekey", "not-using-dummy-passcode", "not-using-dummy-secret":
		return ReasonMisconfigured
	}
	return siteverifyCodeReason(code)
}
