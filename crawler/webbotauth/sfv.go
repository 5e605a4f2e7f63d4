package webbotauth

import (
	"encoding/base64"
	"errors"
	"unicode/utf8"
)

// This file is a strict parser and serializer for HTTP Structured Field
// Values (RFC 8941, updated by RFC 9651 with Dates and Display Strings).
//
// RFC 9421 rebuilds "@signature-params" by serializing the parsed
// Signature-Input member (RFC 9421 §3.2 step 7), and a dictionary member
// covered with ;key= or a field covered with ;sf is re-serialized too
// (§2.1.1, §2.1.2). A verifier that copied wire bytes instead would accept
// whitespace or spelling the signer never signed, or reject what it did, so
// the serializer must produce exactly the canonical form of RFC 8941 §4.1.
// A small parser of our own keeps that guarantee in view and allocates
// little on the request path.

// errSyntax is returned for any Structured Field that does not parse;
// callers add which field it was.
var errSyntax = errors.New("structured field syntax")

type bareKind uint8

const (
	kindInteger bareKind = iota + 1
	kindDecimal
	kindString
	kindToken
	kindBytes
	kindBoolean
	kindDate
	kindDisplay
)

// bareItem is one RFC 9651 bare item. num holds Integers, Dates, Booleans
// (0 or 1) and Decimals (in thousandths, their maximal precision); str holds
// Strings, Tokens and Display Strings (decoded); bytes holds Byte Sequences.
type bareItem struct {
	kind  bareKind
	num   int64
	str   string
	bytes []byte
}

type param struct {
	key   string
	value bareItem
}

// item is a bare item with its parameters.
type item struct {
	value  bareItem
	params []param
}

// member is a List member or Dictionary member value: an Item or an Inner
// List (inner is true) with the list's own parameters.
type member struct {
	key    string // Dictionary key; "" in a List
	inner  bool
	item   item   // when !inner
	items  []item // when inner
	params []param
}

// param returns the named parameter's value.
func (it *item) param(key string) (bareItem, bool) { return findParam(it.params, key) }

func findParam(ps []param, key string) (bareItem, bool) {
	for _, p := range ps {
		if p.key == key {
			return p.value, true
		}
	}
	return bareItem{}, false
}

// sfParser walks one field value.
type sfParser struct {
	s string
	i int
}

func (p *sfParser) eof() bool  { return p.i >= len(p.s) }
func (p *sfParser) peek() byte { return p.s[p.i] }

func (p *sfParser) skipSP() {
	for p.i < len(p.s) && p.s[p.i] == ' ' {
		p.i++
	}
}

func (p *sfParser) skipOWS() {
	for p.i < len(p.s) && (p.s[p.i] == ' ' || p.s[p.i] == '\t') {
		p.i++
	}
}

// trimOWS removes the optional whitespace HTTP allows around a field value.
func trimOWS(s string) string {
	for len(s) > 0 && (s[0] == ' ' || s[0] == '\t') {
		s = s[1:]
	}
	for len(s) > 0 && (s[len(s)-1] == ' ' || s[len(s)-1] == '\t') {
		s = s[:len(s)-1]
	}
	return s
}

// parseDictionary parses a Dictionary (RFC 8941 §4.2.2). A repeated key
// keeps its first position and takes the last value, as the RFC says.
func parseDictionary(s string) ([]member, error) {
	p := sfParser{s: trimOWS(s)}
	var out []member
	var idx keyIndex
	for !p.eof() {
		key, err := p.key()
		if err != nil {
			return nil, err
		}
		var m member
		if !p.eof() && p.peek() == '=' {
			p.i++
			if m, err = p.itemOrInnerList(); err != nil {
				return nil, err
			}
		} else {
			m.item.value = bareItem{kind: kindBoolean, num: 1}
			if m.item.params, err = p.params(); err != nil {
				return nil, err
			}
		}
		m.key = key
		if i, ok := idx.find(key, len(out), func(i int) string { return out[i].key }); ok {
			out[i] = m
		} else {
			out = append(out, m)
		}
		if err := p.nextMember(); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// parseList parses a List (RFC 8941 §4.2.1).
func parseList(s string) ([]member, error) {
	p := sfParser{s: trimOWS(s)}
	var out []member
	for !p.eof() {
		m, err := p.itemOrInnerList()
		if err != nil {
			return nil, err
		}
		out = append(out, m)
		if err := p.nextMember(); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// parseItem parses an Item field (RFC 8941 §4.2.3).
func parseItem(s string) (item, error) {
	p := sfParser{s: trimOWS(s)}
	it, err := p.item()
	if err != nil {
		return item{}, err
	}
	if !p.eof() {
		return item{}, errSyntax
	}
	return it, nil
}

// nextMember consumes the comma between List or Dictionary members.
func (p *sfParser) nextMember() error {
	p.skipOWS()
	if p.eof() {
		return nil
	}
	if p.peek() != ',' {
		return errSyntax
	}
	p.i++
	p.skipOWS()
	if p.eof() {
		return errSyntax // trailing comma
	}
	return nil
}

func (p *sfParser) itemOrInnerList() (member, error) {
	if !p.eof() && p.peek() == '(' {
		return p.innerList()
	}
	it, err := p.item()
	return member{item: it}, err
}

func (p *sfParser) innerList() (member, error) {
	p.i++ // (
	m := member{inner: true}
	for {
		p.skipSP()
		if p.eof() {
			return member{}, errSyntax
		}
		if p.peek() == ')' {
			p.i++
			var err error
			m.params, err = p.params()
			return m, err
		}
		it, err := p.item()
		if err != nil {
			return member{}, err
		}
		m.items = append(m.items, it)
		if p.eof() || (p.peek() != ' ' && p.peek() != ')') {
			return member{}, errSyntax
		}
	}
}

func (p *sfParser) item() (item, error) {
	v, err := p.bareItem()
	if err != nil {
		return item{}, err
	}
	ps, err := p.params()
	return item{value: v, params: ps}, err
}

func (p *sfParser) params() ([]param, error) {
	var out []param
	var idx keyIndex
	for !p.eof() && p.peek() == ';' {
		p.i++
		p.skipSP()
		key, err := p.key()
		if err != nil {
			return nil, err
		}
		v := bareItem{kind: kindBoolean, num: 1}
		if !p.eof() && p.peek() == '=' {
			p.i++
			if v, err = p.bareItem(); err != nil {
				return nil, err
			}
		}
		if i, ok := idx.find(key, len(out), func(i int) string { return out[i].key }); ok {
			out[i].value = v
		} else {
			out = append(out, param{key: key, value: v})
		}
	}
	return out, nil
}

// keyIndex finds a repeated Dictionary or Parameters key (RFC 8941 says
// the later value replaces the earlier, in place). A few keys are scanned;
// past that a map keeps the parse linear, since a client can send
// thousands of distinct keys in one field.
type keyIndex struct {
	m map[string]int
}

const keyIndexScan = 16

// find looks key up among the n keys seen so far, keyAt giving the i-th,
// and records it as the n-th when it is new.
func (x *keyIndex) find(key string, n int, keyAt func(int) string) (int, bool) {
	if x.m == nil {
		for i := range n {
			if keyAt(i) == key {
				return i, true
			}
		}
		if n+1 < keyIndexScan {
			return 0, false
		}
		x.m = make(map[string]int, 2*keyIndexScan)
		for i := range n {
			x.m[keyAt(i)] = i
		}
		x.m[key] = n
		return 0, false
	}
	if i, ok := x.m[key]; ok {
		return i, true
	}
	x.m[key] = n
	return 0, false
}

func (p *sfParser) key() (string, error) {
	start := p.i
	if p.eof() || !(isLCAlpha(p.peek()) || p.peek() == '*') {
		return "", errSyntax
	}
	for p.i++; !p.eof(); p.i++ {
		c := p.peek()
		if !isLCAlpha(c) && !isDigit(c) && c != '_' && c != '-' && c != '.' && c != '*' {
			break
		}
	}
	return p.s[start:p.i], nil
}

func (p *sfParser) bareItem() (bareItem, error) {
	if p.eof() {
		return bareItem{}, errSyntax
	}
	switch c := p.peek(); {
	case c == '-' || isDigit(c):
		return p.number()
	case c == '"':
		s, err := p.string()
		return bareItem{kind: kindString, str: s}, err
	case c == '*' || isAlpha(c):
		return p.token(), nil
	case c == ':':
		return p.byteSequence()
	case c == '?':
		return p.boolean()
	case c == '@':
		p.i++
		v, err := p.number()
		if err != nil || v.kind != kindInteger {
			return bareItem{}, errSyntax
		}
		return bareItem{kind: kindDate, num: v.num}, nil
	case c == '%':
		return p.displayString()
	default:
		return bareItem{}, errSyntax
	}
}

// number parses an Integer or Decimal (RFC 8941 §4.2.4).
func (p *sfParser) number() (bareItem, error) {
	if p.eof() {
		return bareItem{}, errSyntax
	}
	neg := false
	if p.peek() == '-' {
		neg = true
		p.i++
	}
	if p.eof() || !isDigit(p.peek()) {
		return bareItem{}, errSyntax
	}
	var intPart, frac int64
	intDigits, fracDigits := 0, 0
	decimal := false
	for ; !p.eof(); p.i++ {
		c := p.peek()
		if isDigit(c) {
			if decimal {
				fracDigits++
				if fracDigits > 3 {
					return bareItem{}, errSyntax
				}
				frac = frac*10 + int64(c-'0')
			} else {
				intDigits++
				if intDigits > 15 {
					return bareItem{}, errSyntax
				}
				intPart = intPart*10 + int64(c-'0')
			}
			continue
		}
		if c == '.' && !decimal {
			if intDigits > 12 {
				return bareItem{}, errSyntax
			}
			decimal = true
			continue
		}
		break
	}
	sign := int64(1)
	if neg {
		sign = -1
	}
	if !decimal {
		return bareItem{kind: kindInteger, num: sign * intPart}, nil
	}
	if fracDigits == 0 {
		return bareItem{}, errSyntax // "1." is not a Decimal
	}
	for i := fracDigits; i < 3; i++ {
		frac *= 10
	}
	return bareItem{kind: kindDecimal, num: sign * (intPart*1000 + frac)}, nil
}

func (p *sfParser) string() (string, error) {
	p.i++ // "
	start := p.i
	escaped := false
	for ; !p.eof(); p.i++ {
		c := p.peek()
		switch {
		case c == '\\':
			p.i++
			if p.eof() || (p.peek() != '"' && p.peek() != '\\') {
				return "", errSyntax
			}
			escaped = true
		case c == '"':
			raw := p.s[start:p.i]
			p.i++
			if !escaped {
				return raw, nil
			}
			return unescapeString(raw), nil
		case c < 0x20 || c > 0x7e:
			return "", errSyntax
		}
	}
	return "", errSyntax
}

func unescapeString(raw string) string {
	b := make([]byte, 0, len(raw))
	for i := 0; i < len(raw); i++ {
		if raw[i] == '\\' {
			i++
		}
		b = append(b, raw[i])
	}
	return string(b)
}

func (p *sfParser) token() bareItem {
	start := p.i
	for p.i++; !p.eof(); p.i++ {
		c := p.peek()
		if !isTChar(c) && c != ':' && c != '/' {
			break
		}
	}
	return bareItem{kind: kindToken, str: p.s[start:p.i]}
}

func (p *sfParser) byteSequence() (bareItem, error) {
	p.i++ // :
	start := p.i
	for ; !p.eof() && p.peek() != ':'; p.i++ {
		c := p.peek()
		if !isAlpha(c) && !isDigit(c) && c != '+' && c != '/' && c != '=' {
			return bareItem{}, errSyntax
		}
	}
	if p.eof() {
		return bareItem{}, errSyntax
	}
	enc := p.s[start:p.i]
	p.i++
	// RFC 8941 §4.2.7: parsers SHOULD NOT fail when "=" padding is absent.
	for len(enc) > 0 && enc[len(enc)-1] == '=' {
		enc = enc[:len(enc)-1]
	}
	b, err := base64.RawStdEncoding.DecodeString(enc)
	if err != nil {
		return bareItem{}, errSyntax
	}
	return bareItem{kind: kindBytes, bytes: b}, nil
}

func (p *sfParser) boolean() (bareItem, error) {
	p.i++ // ?
	if p.eof() || (p.peek() != '0' && p.peek() != '1') {
		return bareItem{}, errSyntax
	}
	v := int64(p.peek() - '0')
	p.i++
	return bareItem{kind: kindBoolean, num: v}, nil
}

// displayString parses an RFC 9651 §4.2.10 Display String.
func (p *sfParser) displayString() (bareItem, error) {
	p.i++ // %
	if p.eof() || p.peek() != '"' {
		return bareItem{}, errSyntax
	}
	p.i++
	var b []byte
	for ; !p.eof(); p.i++ {
		c := p.peek()
		switch {
		case c == '%':
			if p.i+2 >= len(p.s) {
				return bareItem{}, errSyntax
			}
			hi, ok1 := lowerHex(p.s[p.i+1])
			lo, ok2 := lowerHex(p.s[p.i+2])
			if !ok1 || !ok2 {
				return bareItem{}, errSyntax
			}
			b = append(b, hi<<4|lo)
			p.i += 2
		case c == '"':
			p.i++
			if !utf8.Valid(b) {
				return bareItem{}, errSyntax
			}
			return bareItem{kind: kindDisplay, str: string(b)}, nil
		case c < 0x20 || c > 0x7e:
			return bareItem{}, errSyntax
		default:
			b = append(b, c)
		}
	}
	return bareItem{}, errSyntax
}

func lowerHex(c byte) (byte, bool) {
	switch {
	case isDigit(c):
		return c - '0', true
	case c >= 'a' && c <= 'f':
		return c - 'a' + 10, true
	}
	return 0, false
}

func isDigit(c byte) bool   { return c >= '0' && c <= '9' }
func isLCAlpha(c byte) bool { return c >= 'a' && c <= 'z' }
func isAlpha(c byte) bool   { return isLCAlpha(c) || (c >= 'A' && c <= 'Z') }

func isTChar(c byte) bool {
	if isAlpha(c) || isDigit(c) {
		return true
	}
	switch c {
	case '!', '#', '$', '%', '&', '\'', '*', '+', '-', '.', '^', '_', '`', '|', '~':
		return true
	}
	return false
}
