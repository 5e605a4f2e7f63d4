package scoring

// brandList is what the scorer reads from sec-ch-ua.
type brandList struct {
	ok            bool // a well-formed structured-field list of strings
	chromiumMajor int  // the "Chromium" brand's version, 0 if absent
}

// parseBrands reads sec-ch-ua, a structured-field list (RFC 8941) such as
//
//	"Chromium";v="124", "Google Chrome";v="124", "Not-A.Brand";v="99"
//
// It stops at the first syntax error and reports the list as malformed (the
// zero brandList): no browser sends one. Every item consumes input, so the
// loop ends within len(v) iterations.
func parseBrands(v string) brandList {
	var bl brandList
	if len(v) > maxHintValue {
		return brandList{}
	}
	i := 0
	for {
		brand, next, ok := sfString(v, i)
		if !ok {
			return brandList{}
		}
		i = next
		var version string
		for i < len(v) && v[i] == ';' {
			i++
			for i < len(v) && v[i] == ' ' {
				i++
			}
			key, next := sfKey(v, i)
			if key == "" {
				return brandList{}
			}
			i = next
			if i < len(v) && v[i] == '=' {
				val, next, ok := sfBareItem(v, i+1)
				if !ok {
					return brandList{}
				}
				i = next
				if key == "v" {
					version = val
				}
			}
		}
		if brand == "Chromium" {
			bl.chromiumMajor, _ = leadingUint(version)
		}
		i = skipOWS(v, i)
		if i == len(v) {
			bl.ok = true
			return bl
		}
		if v[i] != ',' {
			return brandList{}
		}
		i = skipOWS(v, i+1)
		if i == len(v) {
			return brandList{} // trailing comma
		}
	}
}

// sfString reads a structured-field string starting at v[i]. It returns the
// raw content (escapes left in place, which is enough to compare against
// brand names that have none), the offset after the closing quote and
// whether the string was well formed.
func sfString(v string, i int) (s string, next int, ok bool) {
	if i >= len(v) || v[i] != '"' {
		return "", i, false
	}
	start := i + 1
	for j := start; j < len(v); j++ {
		switch c := v[j]; {
		case c == '\\':
			j++
			if j >= len(v) || v[j] != '"' && v[j] != '\\' {
				return "", j, false
			}
		case c == '"':
			return v[start:j], j + 1, true
		case c < 0x20 || c >= 0x7f:
			return "", j, false
		}
	}
	return "", len(v), false
}

// sfKey reads a parameter key: lcalpha or "*", then lcalpha, digits, "_",
// "-", "." or "*".
func sfKey(v string, i int) (key string, next int) {
	if i >= len(v) || !(v[i] >= 'a' && v[i] <= 'z' || v[i] == '*') {
		return "", i
	}
	j := i + 1
	for j < len(v) {
		c := v[j]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_' || c == '-' || c == '.' || c == '*') {
			break
		}
		j++
	}
	return v[i:j], j
}

// sfBareItem reads a parameter value: a string, or a token, number or boolean
// (taken as the run of characters that may appear in one).
func sfBareItem(v string, i int) (val string, next int, ok bool) {
	if i < len(v) && v[i] == '"' {
		return sfString(v, i)
	}
	j := i
	for j < len(v) {
		c := v[j]
		if c <= ' ' || c >= 0x7f || c == ',' || c == ';' || c == '"' || c == '=' {
			break
		}
		j++
	}
	if j == i {
		return "", i, false
	}
	return v[i:j], j, true
}

// skipOWS skips spaces and tabs from v[i].
func skipOWS(v string, i int) int {
	for i < len(v) && (v[i] == ' ' || v[i] == '\t') {
		i++
	}
	return i
}

// hintPlatform reads sec-ch-ua-platform, a structured-field string such as
// "Windows". Unknown or malformed values give osUnknown, which matches
// anything: Chromium also sends "Unknown" and "Fuchsia".
func hintPlatform(v string) osKind {
	if len(v) >= 2 && v[0] == '"' && v[len(v)-1] == '"' {
		v = v[1 : len(v)-1]
	}
	switch {
	case equalFold(v, "windows"):
		return osWindows
	case equalFold(v, "macos"):
		return osMac
	case equalFold(v, "linux"):
		return osLinux
	case equalFold(v, "android"):
		return osAndroid
	case equalFold(v, "chrome os"), equalFold(v, "chromium os"):
		return osChromeOS
	}
	return osUnknown
}

// platformsAgree reports whether a user agent's OS and sec-ch-ua-platform can
// come from the same browser. Chrome on Android's "Desktop site" sends a
// Linux user agent with platform "Android", and ChromeOS builds have reported
// either Linux or Chrome OS, so a Linux user agent goes with all three and a
// ChromeOS one with Linux. An Android user agent with platform "Linux" is no
// browser's: Chrome on Android reports "Android" whatever user agent it sends.
func platformsAgree(ua, hint osKind) bool {
	if ua == osUnknown || hint == osUnknown || ua == hint {
		return true
	}
	switch ua {
	case osLinux:
		return hint == osAndroid || hint == osChromeOS
	case osChromeOS:
		return hint == osLinux
	}
	return false
}

// hintMobile reads sec-ch-ua-mobile, a structured-field boolean: "?1" or
// "?0". Anything else is unknown.
func hintMobile(v string) (mobile, known bool) {
	switch v {
	case "?1":
		return true, true
	case "?0":
		return false, true
	}
	return false, false
}
