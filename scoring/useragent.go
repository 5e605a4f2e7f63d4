package scoring

// engine is the browser family a user agent claims, as far as header
// behaviour goes: client hints are Chromium's alone, and every iOS browser is
// WebKit whatever its name.
type engine uint8

const (
	engineOther engine = iota
	engineChromium
	engineFirefox
	engineWebKit // Safari, and every browser on iOS (CriOS, FxiOS, EdgiOS)
)

// osKind is an operating system as both user agents and sec-ch-ua-platform
// name it.
type osKind uint8

const (
	osUnknown osKind = iota
	osWindows
	osMac
	osLinux
	osAndroid
	osChromeOS
	osIOS
)

// browser is what the scorer reads from a user agent.
type browser struct {
	engine  engine
	major   int // Chrome, Firefox or WebKit (Safari / iOS) major version
	minor   int // WebKit only
	os      osKind
	mobile  bool   // the "Mobile" token Chromium adds on phones
	webview bool   // Android WebView ("; wv)"): an app, not a browser
	vendor  vendor // Chromium only: a member whose releases lag Chromium's (data/browsers.yaml)
}

// parseBrowser reads the engine, version, OS and form factor from ua, a
// lower-cased user agent, and for Chromium the vendor the facts name.
func parseBrowser(ua []byte) browser {
	var b browser
	b.os = uaOS(ua)
	if b.os == osIOS {
		// Apple requires WebKit on iOS, so Chrome there (CriOS) behaves like
		// Safari: no client hints, fetch metadata from iOS 16.4. In-app web
		// views name neither Safari nor a browser and are left alone.
		if contains(ua, "safari/") || contains(ua, "crios/") || contains(ua, "fxios/") || contains(ua, "edgios/") {
			b.engine = engineWebKit
			b.major, b.minor = iosVersion(ua)
		}
		return b
	}
	if i := index(ua, "chrome/"); i >= 0 {
		b.engine = engineChromium
		b.major, _ = leadingUint(ua[i+len("chrome/"):])
		b.mobile = hasWord(ua, "mobile")
		b.webview = contains(ua, "; wv)")
		switch {
		case contains(ua, "samsungbrowser/"):
			b.vendor = vendorSamsung
		case b.os == osAndroid && contains(ua, "opr/"):
			b.vendor = vendorOperaAndroid
		}
		return b
	}
	if i := index(ua, "firefox/"); i >= 0 {
		b.engine = engineFirefox
		b.major, _ = leadingUint(ua[i+len("firefox/"):])
		return b
	}
	if b.os != osAndroid && contains(ua, "safari/") {
		if i := index(ua, "version/"); i >= 0 {
			b.engine = engineWebKit
			b.major, b.minor = dottedVersion(ua[i+len("version/"):], '.')
		}
	}
	return b
}

// uaOS finds the operating system in a lower-cased user agent. Order
// matters: iOS says "like Mac OS X", Android and ChromeOS say "Linux".
func uaOS(ua []byte) osKind {
	switch {
	case contains(ua, "iphone") || contains(ua, "ipad") || contains(ua, "ipod"):
		return osIOS
	case contains(ua, "android"):
		return osAndroid
	case contains(ua, "cros "):
		return osChromeOS
	case contains(ua, "windows"):
		return osWindows
	case contains(ua, "macintosh") || contains(ua, "mac os x"):
		return osMac
	case contains(ua, "linux"):
		return osLinux
	}
	return osUnknown
}

// iosVersion reads "iphone os 17_4" or "cpu os 17_4" (iPad).
func iosVersion(ua []byte) (major, minor int) {
	for _, marker := range [...]string{"iphone os ", "cpu os "} {
		if i := index(ua, marker); i >= 0 {
			return dottedVersion(ua[i+len(marker):], '_')
		}
	}
	return 0, 0
}

// dottedVersion reads "17.4" (or "17_4" with sep '_') at the start of b.
func dottedVersion(b []byte, sep byte) (major, minor int) {
	major, n := leadingUint(b)
	if n > 0 && n < len(b) && b[n] == sep {
		minor, _ = leadingUint(b[n+1:])
	}
	return major, minor
}

// hasWord reports whether word occurs in b as a whole word: not preceded or
// followed by a letter.
func hasWord(b []byte, word string) bool {
	for off := 0; off < len(b); {
		i := index(b[off:], word)
		if i < 0 {
			return false
		}
		i += off
		end := i + len(word)
		if (i == 0 || !isLetter(b[i-1])) && (end == len(b) || !isLetter(b[end])) {
			return true
		}
		off = i + 1
	}
	return false
}
