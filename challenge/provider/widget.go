package provider

// CSPSources returns the origins the challenge page's Content-Security-Policy
// must allow in script-src, frame-src and connect-src for provider's widget
// (its Spec's Page), or nil slices for an unknown provider. Each call
// returns fresh slices. The sources of each list are in the vendor's file.
func CSPSources(provider string) (script, frame, connect []string) {
	s, _ := Lookup(provider)
	return s.Page.ScriptSrc, s.Page.FrameSrc, s.Page.ConnectSrc
}

// CSPStyleSources returns the origins style-src must allow for provider's
// widget, nil when it needs none or is unknown. It complements CSPSources,
// whose three lists have no place for style-src.
func CSPStyleSources(provider string) []string {
	s, _ := Lookup(provider)
	return s.Page.StyleSrc
}

// Widget returns what the challenge page needs to embed provider's widget:
// the script to load, the class of the element the script renders into
// (given data-sitekey=SiteKey()), empty when the widget renders nothing from
// markup, and the form field the token is posted in. An unknown provider
// yields empty strings. The Spec's Page says more (a hidden token field, an
// init routine).
func Widget(provider string) (scriptURL, divClass, tokenField string) {
	s, _ := Lookup(provider)
	return s.Page.Script, s.Page.Class, s.Page.TokenField
}
