package webbotauth

import (
	"encoding/base64"
	"strconv"
)

// Serialization (RFC 8941 §4.1, RFC 9651 §4.1). Every function appends to b
// and returns it, so a signature base is built in one buffer.

func appendBareItem(b []byte, v bareItem) []byte {
	switch v.kind {
	case kindInteger:
		return strconv.AppendInt(b, v.num, 10)
	case kindDate:
		return strconv.AppendInt(append(b, '@'), v.num, 10)
	case kindDecimal:
		return appendDecimal(b, v.num)
	case kindString:
		return appendString(b, v.str)
	case kindToken:
		return append(b, v.str...)
	case kindBytes:
		b = append(b, ':')
		b = base64.StdEncoding.AppendEncode(b, v.bytes)
		return append(b, ':')
	case kindBoolean:
		if v.num == 1 {
			return append(b, "?1"...)
		}
		return append(b, "?0"...)
	case kindDisplay:
		return appendDisplayString(b, v.str)
	}
	return b
}

func appendDecimal(b []byte, thousandths int64) []byte {
	if thousandths < 0 {
		b = append(b, '-')
		thousandths = -thousandths
	}
	b = strconv.AppendInt(b, thousandths/1000, 10)
	b = append(b, '.')
	frac := thousandths % 1000
	digits := [3]byte{byte('0' + frac/100), byte('0' + frac/10%10), byte('0' + frac%10)}
	n := 3
	for n > 1 && digits[n-1] == '0' {
		n--
	}
	return append(b, digits[:n]...)
}

func appendString(b []byte, s string) []byte {
	b = append(b, '"')
	for i := 0; i < len(s); i++ {
		if s[i] == '"' || s[i] == '\\' {
			b = append(b, '\\')
		}
		b = append(b, s[i])
	}
	return append(b, '"')
}

func appendDisplayString(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '%', '"')
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == '%' || c == '"' || c < 0x20 || c > 0x7e {
			b = append(b, '%', hex[c>>4], hex[c&0xf])
			continue
		}
		b = append(b, c)
	}
	return append(b, '"')
}

func appendParams(b []byte, ps []param) []byte {
	for _, p := range ps {
		b = append(b, ';')
		b = append(b, p.key...)
		if p.value.kind == kindBoolean && p.value.num == 1 {
			continue // a true Boolean parameter is serialized as its bare key
		}
		b = append(b, '=')
		b = appendBareItem(b, p.value)
	}
	return b
}

func appendItem(b []byte, it item) []byte {
	return appendParams(appendBareItem(b, it.value), it.params)
}

func appendMemberValue(b []byte, m member) []byte {
	if !m.inner {
		return appendItem(b, m.item)
	}
	b = append(b, '(')
	for i, it := range m.items {
		if i > 0 {
			b = append(b, ' ')
		}
		b = appendItem(b, it)
	}
	b = append(b, ')')
	return appendParams(b, m.params)
}

func appendList(b []byte, ms []member) []byte {
	for i, m := range ms {
		if i > 0 {
			b = append(b, ", "...)
		}
		b = appendMemberValue(b, m)
	}
	return b
}

func appendDictionary(b []byte, ms []member) []byte {
	for i, m := range ms {
		if i > 0 {
			b = append(b, ", "...)
		}
		b = append(b, m.key...)
		if !m.inner && m.item.value.kind == kindBoolean && m.item.value.num == 1 {
			b = appendParams(b, m.item.params) // a true member is its key alone
			continue
		}
		b = append(b, '=')
		b = appendMemberValue(b, m)
	}
	return b
}
