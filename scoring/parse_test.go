package scoring

import "testing"

func TestParseBrands(t *testing.T) {
	tests := []struct {
		name  string
		v     string
		ok    bool
		major int
	}{
		{"Chrome", `"Google Chrome";v="131", "Chromium";v="131", "Not_A Brand";v="24"`, true, 131},
		{"Edge with GREASE punctuation", `"Microsoft Edge";v="131", "Chromium";v="131", "Not?A_Brand";v="8"`, true, 131},
		{"GREASE brand with ; and =", `"Not;A=Brand";v="99", "Chromium";v="124"`, true, 124},
		{"no Chromium brand", `"Not A(Brand";v="99", "Samsung Internet";v="23.0"`, true, 0},
		{"no spaces after commas", `"Chromium";v="120","Google Chrome";v="120"`, true, 120},
		{"escaped quote in a brand", `"A\"B";v="1", "Chromium";v="99"`, true, 99},
		{"token parameter value", `"Chromium";v=131`, true, 131},
		{"parameter without value", `"Chromium";v`, true, 0},
		{"lone escaped quote", `"\"`, false, 0},
		{"bad escape", `"\x";v="1"`, false, 0},
		{"unquoted brand", `Chromium;v="131"`, false, 0},
		{"trailing comma", `"Chromium";v="131",`, false, 0},
		{"junk after item", `"Chromium";v="131" x`, false, 0},
		{"upper-case parameter key", `"Chromium";V="131"`, false, 0},
		{"empty parameter value", `"Chromium";v=`, false, 0},
		{"control byte", "\"Chro\x01mium\";v=\"131\"", false, 0},
		{"non-ASCII", "\"Chr\xc3\xb6mium\";v=\"131\"", false, 0},
		{"too long", `"` + string(make([]byte, maxHintValue)) + `"`, false, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := parseBrands(tt.v)
			if got.ok != tt.ok || got.chromiumMajor != tt.major {
				t.Errorf("parseBrands(%q) = %+v, want ok=%v chromiumMajor=%d", tt.v, got, tt.ok, tt.major)
			}
		})
	}
}

func TestHintPlatform(t *testing.T) {
	tests := []struct {
		v    string
		want osKind
	}{
		{`"Windows"`, osWindows}, {`"macOS"`, osMac}, {`"Linux"`, osLinux}, {`"Android"`, osAndroid},
		{`"Chrome OS"`, osChromeOS}, {`"Chromium OS"`, osChromeOS}, {`"Unknown"`, osUnknown},
		{`"Fuchsia"`, osUnknown}, {`""`, osUnknown}, {`"`, osUnknown}, {`windows`, osWindows},
	}
	for _, tt := range tests {
		if got := hintPlatform(tt.v); got != tt.want {
			t.Errorf("hintPlatform(%q) = %d, want %d", tt.v, got, tt.want)
		}
	}
}

func TestParseBrowser(t *testing.T) {
	tests := []struct {
		name string
		ua   string
		want browser
	}{
		{"Chrome on Windows", uaChromeWindows, browser{engine: engineChromium, major: 131, os: osWindows}},
		{"Chrome on Android", uaChromeAndroid, browser{engine: engineChromium, major: 131, os: osAndroid, mobile: true}},
		{"Chrome on ChromeOS", uaChromeOS, browser{engine: engineChromium, major: 131, os: osChromeOS}},
		{"Edge", uaEdge, browser{engine: engineChromium, major: 131, os: osWindows}},
		{"Android WebView", uaAndroidWebView, browser{engine: engineChromium, major: 131, os: osAndroid, mobile: true, webview: true}},
		{"HeadlessChrome", uaHeadlessChrome, browser{engine: engineChromium, major: 131, os: osLinux}},
		{"Firefox", uaFirefox, browser{engine: engineFirefox, major: 133, os: osWindows}},
		{"Firefox on Android", uaFirefoxAndroid, browser{engine: engineFirefox, major: 133, os: osAndroid}},
		{"Safari", uaSafari, browser{engine: engineWebKit, major: 18, minor: 1, os: osMac}},
		{"Safari 15.6.1", uaSafari15, browser{engine: engineWebKit, major: 15, minor: 6, os: osMac}},
		{"Safari on iPhone", uaSafariIPhone, browser{engine: engineWebKit, major: 18, minor: 1, os: osIOS}},
		{"Safari on iPad", uaSafariIPad, browser{engine: engineWebKit, major: 17, minor: 7, os: osIOS}},
		{"Chrome on iOS is WebKit", uaChromeIOS, browser{engine: engineWebKit, major: 17, minor: 7, os: osIOS}},
		{"iOS in-app web view is nothing we know", "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148 Instagram 340.0.0.22.109", browser{os: osIOS}},
		{"old Android stock browser is nothing we know", "Mozilla/5.0 (Linux; U; Android 4.0.3; en-us) AppleWebKit/534.30 (KHTML, like Gecko) Version/4.0 Mobile Safari/534.30", browser{os: osAndroid}},
		{"curl", "curl/8.5.0", browser{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf [maxUserAgent]byte
			if got := parseBrowser(lowerInto(buf[:], tt.ua)); got != tt.want {
				t.Errorf("parseBrowser(%q) = %+v, want %+v", tt.ua, got, tt.want)
			}
		})
	}
}

func TestHasWord(t *testing.T) {
	tests := []struct {
		s    string
		want bool
	}{
		{"chrome/131 mobile safari/537.36", true},
		{"mobile", true},
		{"(mobile;", true},
		{"automobile", false},
		{"mobiles", false},
		{"automobile mobile", true},
		{"", false},
	}
	for _, tt := range tests {
		if got := hasWord([]byte(tt.s), "mobile"); got != tt.want {
			t.Errorf("hasWord(%q, mobile) = %v, want %v", tt.s, got, tt.want)
		}
	}
}

func TestIndex(t *testing.T) {
	tests := []struct {
		s, needle string
		want      int
	}{
		{"abcabc", "cab", 2}, {"abc", "abcd", -1}, {"abc", "", 0}, {"", "a", -1},
		{"aaab", "aab", 1}, {"xyz", "z", 2}, {"xyz", "q", -1},
	}
	for _, tt := range tests {
		if got := index([]byte(tt.s), tt.needle); got != tt.want {
			t.Errorf("index(%q, %q) = %d, want %d", tt.s, tt.needle, got, tt.want)
		}
	}
}

func TestCrawlerExceptionsOnlyCoverTheirOwnMatch(t *testing.T) {
	m, err := loadAgentMatcher(userAgentsYAML)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		ua   string
		want uaClass
	}{
		{"mozilla/5.0 (linux; android 11; cubot x30)", classUnknown},
		{"cubot", classUnknown},
		{"cubot-crawler", classCrawler},
		{"cubot googlebot/2.1", classCrawler},
		{"mybot", classCrawler},
	}
	for _, tt := range tests {
		if got := m.classify([]byte(tt.ua)); got != tt.want {
			t.Errorf("classify(%q) = %d, want %d", tt.ua, got, tt.want)
		}
	}
}
