package challenge

import (
	"embed"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"
	"golang.org/x/text/language"
)

// builtinMessages are the pages' messages in English (the reference: its
// keys are the only keys), German and Spanish.
//
//go:embed messages/*.yaml
var builtinMessages embed.FS

// maxMessagesFile bounds an operator's messages file: a language's
// messages take about 3 KiB.
const maxMessagesFile = 64 << 10

// percentPlaceholder is replaced by the script with the progress; a
// message that has it in English must keep it.
const percentPlaceholder = "{percent}"

// pageLang is one language of the pages: its tag as the page's lang
// attribute and Content-Language give it, its writing direction, and every
// message.
type pageLang struct {
	tag  string
	dir  string // "ltr" or "rtl"
	msgs map[string]string
}

// catalog is the pages' languages, each complete, and the matcher that
// picks one for an Accept-Language header. It is built once, when the
// Handler is, and only read after.
type catalog struct {
	langs   []*pageLang // langs[0] is English, the fallback
	matcher language.Matcher
}

// loadCatalog reads the built-in messages and lays the files of dir (the
// policy's challenge.messages_dir; "" for none) over them: <tag>.yaml, a
// BCP 47 tag, whose keys replace the built-in ones of that language or add
// a language. A key outside English's set, an empty message or a file that
// is not a mapping of text is refused, naming the file and the key. A key
// a language lacks comes from its parent language (de-CH from de), else
// from English.
func loadCatalog(dir string) (*catalog, error) {
	byTag := map[language.Tag]map[string]string{}
	ref, err := decodeMessages(builtinMessages, "messages/en.yaml", nil)
	if err != nil {
		return nil, fmt.Errorf("built-in messages: %w", err)
	}
	byTag[language.English] = ref
	builtin, _ := fs.Glob(builtinMessages, "messages/*.yaml")
	for _, name := range builtin {
		tag, err := fileTag(name)
		if err != nil {
			return nil, fmt.Errorf("built-in messages: %w", err)
		}
		if tag == language.English {
			continue
		}
		if byTag[tag], err = decodeMessages(builtinMessages, name, ref); err != nil {
			return nil, fmt.Errorf("built-in messages: %w", err)
		}
	}
	if dir != "" {
		if err := overlayDir(byTag, dir, ref); err != nil {
			return nil, err
		}
	}

	tags := []language.Tag{language.English}
	for t := range byTag {
		if t != language.English {
			tags = append(tags, t)
		}
	}
	slices.SortFunc(tags[1:], func(a, b language.Tag) int { return strings.Compare(a.String(), b.String()) })
	c := &catalog{matcher: language.NewMatcher(tags)}
	for _, t := range tags {
		msgs := make(map[string]string, len(ref))
		for key := range ref {
			msgs[key] = lookupMessage(byTag, t, key)
		}
		c.langs = append(c.langs, &pageLang{tag: t.String(), dir: direction(t), msgs: msgs})
	}
	return c, nil
}

// overlayDir lays dir's <tag>.yaml files over byTag. Other files are
// ignored, so a README or a ConfigMap's ..data link can sit there.
func overlayDir(byTag map[language.Tag]map[string]string, dir string, ref map[string]string) error {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return fmt.Errorf("challenge.messages_dir: %w", err)
	}
	seen := map[language.Tag]string{}
	for _, e := range entries {
		name := e.Name()
		if !strings.HasSuffix(name, ".yaml") || strings.HasPrefix(name, ".") {
			continue
		}
		path := filepath.Join(dir, name)
		if info, err := os.Stat(path); err != nil || !info.Mode().IsRegular() {
			continue
		}
		tag, err := fileTag(name)
		if err != nil {
			return fmt.Errorf("challenge.messages_dir %s: %s: %w", dir, name, err)
		}
		if other, dup := seen[tag]; dup {
			return fmt.Errorf("challenge.messages_dir %s: %s and %s are both %s", dir, other, name, tag)
		}
		seen[tag] = name
		msgs, err := decodeMessages(os.DirFS(dir), name, ref)
		if err != nil {
			return fmt.Errorf("challenge.messages_dir %s: %w", dir, err)
		}
		base := byTag[tag]
		if base == nil {
			base = map[string]string{}
			byTag[tag] = base
		}
		for k, v := range msgs {
			base[k] = v
		}
	}
	return nil
}

// fileTag is the language of a messages file named <tag>.yaml.
func fileTag(name string) (language.Tag, error) {
	base := strings.TrimSuffix(filepath.Base(name), ".yaml")
	tag, err := language.Parse(base)
	if err != nil {
		return language.Und, fmt.Errorf("%q is not a BCP 47 language tag (name the file fr.yaml, de-CH.yaml, …)", base)
	}
	if tag == language.Und {
		return language.Und, fmt.Errorf("%q names no language", base)
	}
	return tag, nil
}

// decodeMessages reads one messages file: a mapping of keys to text. With
// ref, every key must be one of ref's, and keep ref's placeholders.
func decodeMessages(fsys fs.FS, name string, ref map[string]string) (map[string]string, error) {
	fail := func(format string, args ...any) error {
		return fmt.Errorf("%s: %w", name, fmt.Errorf(format, args...))
	}
	data, err := fs.ReadFile(fsys, name)
	if err != nil {
		return nil, fail("%w", err)
	}
	if len(data) > maxMessagesFile {
		return nil, fail("%d bytes, at most %d", len(data), maxMessagesFile)
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, fail("%w", err)
	}
	msgs := map[string]string{}
	if len(doc.Content) == 0 {
		return msgs, nil
	}
	root := doc.Content[0]
	if root.Kind != yaml.MappingNode {
		return nil, fail("line %d: must be a mapping of message keys to text", root.Line)
	}
	for i := 0; i+1 < len(root.Content); i += 2 {
		k, v := root.Content[i], root.Content[i+1]
		if ref != nil {
			if _, ok := ref[k.Value]; !ok {
				return nil, fail("line %d: unknown key %q (the keys are those of the built-in en.yaml)", k.Line, k.Value)
			}
		}
		if v.Kind != yaml.ScalarNode || v.Tag == "!!null" {
			return nil, fail("line %d: %s: must be text", v.Line, k.Value)
		}
		text := strings.TrimSpace(v.Value)
		if text == "" {
			return nil, fail("line %d: %s: must not be empty", v.Line, k.Value)
		}
		if _, dup := msgs[k.Value]; dup {
			return nil, fail("line %d: %s: given twice", k.Line, k.Value)
		}
		if ref != nil && strings.Contains(ref[k.Value], percentPlaceholder) && !strings.Contains(text, percentPlaceholder) {
			return nil, fail("line %d: %s: must contain %s, where the progress goes", v.Line, k.Value, percentPlaceholder)
		}
		msgs[k.Value] = text
	}
	return msgs, nil
}

// lookupMessage finds key for t: t's own, then its parents' (de-CH, de),
// then English's.
func lookupMessage(byTag map[language.Tag]map[string]string, t language.Tag, key string) string {
	for ; t != language.Und; t = t.Parent() {
		if v, ok := byTag[t][key]; ok {
			return v
		}
	}
	return byTag[language.English][key]
}

// direction is the writing direction of t's script.
func direction(t language.Tag) string {
	s, _ := t.Script()
	switch s.String() {
	case "Arab", "Hebr", "Thaa", "Syrc", "Nkoo", "Adlm", "Rohg", "Mand", "Samr":
		return "rtl"
	}
	return "ltr"
}

// match picks the language for an Accept-Language header (RFC 9110: q
// values, "*", regions falling back to their language); English when the
// header is absent, unreadable or names nothing the catalog has.
func (c *catalog) match(acceptLanguage string) *pageLang {
	if acceptLanguage == "" {
		return c.langs[0]
	}
	tags, _, err := language.ParseAcceptLanguage(acceptLanguage)
	if err != nil || len(tags) == 0 {
		return c.langs[0]
	}
	_, i, conf := c.matcher.Match(tags...)
	if conf == language.No || i < 0 || i >= len(c.langs) {
		return c.langs[0]
	}
	return c.langs[i]
}
