package provider

// CSPSources returns the origins the challenge page's Content-Security-Policy
// must allow in script-src, frame-src and connect-src for provider's widget,
// or nil slices for an unknown provider. Each call returns fresh slices.
//
// Sources:
//   - turnstile: developers.cloudflare.com/turnstile/reference/content-security-policy
//     (script-src and frame-src; connect-src needs only 'self', and only for
//     pre-clearance, which the caller's own policy covers).
//   - hcaptcha: docs.hcaptcha.com, "Content-Security-Policy Settings"; it also
//     needs style-src, see CSPStyleSources.
//   - recaptcha: developers.google.com/recaptcha/docs/faq (CSP entry), path
//     scoped as Google recommends.
//   - captchala: not documented by the vendor. The script origin is the
//     loader's (captchala-php src/Cms/Widget.php LOADER_URL); the connect
//     origin is the API host of docs.captcha.la/api-reference, assumed to be
//     what the widget calls to start a challenge. Both are inferred and must
//     be confirmed in a browser before enforcing a strict policy.
func CSPSources(provider string) (script, frame, connect []string) {
	switch provider {
	case Turnstile:
		return []string{"https://challenges.cloudflare.com"},
			[]string{"https://challenges.cloudflare.com"},
			nil
	case HCaptcha:
		return []string{"https://hcaptcha.com", "https://*.hcaptcha.com"},
			[]string{"https://hcaptcha.com", "https://*.hcaptcha.com"},
			[]string{"https://hcaptcha.com", "https://*.hcaptcha.com"}
	case ReCAPTCHA:
		return []string{"https://www.google.com/recaptcha/", "https://www.gstatic.com/recaptcha/"},
			[]string{"https://www.google.com/recaptcha/", "https://recaptcha.google.com/recaptcha/"},
			nil
	case CaptchaLa:
		return []string{"https://cdn.captcha-cdn.net"},
			nil,
			[]string{"https://apiv1.captcha.la"}
	}
	return nil, nil, nil
}

// CSPStyleSources returns the origins style-src must allow for provider's
// widget; only hCaptcha documents any (docs.hcaptcha.com), nil otherwise.
// It complements CSPSources, whose three lists have no place for style-src.
func CSPStyleSources(provider string) []string {
	if provider == HCaptcha {
		return []string{"https://hcaptcha.com", "https://*.hcaptcha.com"}
	}
	return nil
}

// Widget returns what the challenge page needs to embed provider's widget:
// the script to load, the class of the element the script renders into
// (given data-sitekey=SiteKey()), and the form field the token is posted in.
// An unknown provider yields empty strings.
//
//   - turnstile: <div class="cf-turnstile" data-sitekey=…>, field
//     cf-turnstile-response.
//   - hcaptcha: <div class="h-captcha" data-sitekey=…>, field
//     h-captcha-response.
//   - recaptcha: <div class="g-recaptcha" data-sitekey=…> renders v2; v3 has
//     no element and needs grecaptcha.execute (api.js?render=<site key>) to
//     put the token in the page's own g-recaptcha-response field.
//   - captchala: divClass is empty because CaptchaLa renders nothing from
//     markup: the page must call window.loadCaptchala and
//     Captchala.init({appKey, serverToken, action, product}).onSuccess(res =>
//     …) and copy res.token into a hidden input. "captchala_token" is the
//     name the vendor's own CMS widget (captchala-php src/Cms/Widget.php)
//     uses, not one the browser SDK imposes. The vendor's plugins treat a
//     server-issued sct_ token (POST /v1/server/challenge/issue) as
//     mandatory for init; issuing it is not this package's job.
func Widget(provider string) (scriptURL, divClass, tokenField string) {
	switch provider {
	case Turnstile:
		return "https://challenges.cloudflare.com/turnstile/v0/api.js", "cf-turnstile", "cf-turnstile-response"
	case HCaptcha:
		return "https://js.hcaptcha.com/1/api.js", "h-captcha", "h-captcha-response"
	case ReCAPTCHA:
		return "https://www.google.com/recaptcha/api.js", "g-recaptcha", "g-recaptcha-response"
	case CaptchaLa:
		return "https://cdn.captcha-cdn.net/captchala-loader.js", "", "captchala_token"
	}
	return "", "", ""
}
