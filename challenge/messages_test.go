package challenge

import (
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// TestBuiltinMessagesAreComplete: German and Spanish have exactly
// English's keys, each translated (not left in English) and keeping the
// placeholders.
func TestBuiltinMessagesAreComplete(t *testing.T) {
	en, err := decodeMessages(builtinMessages, "messages/en.yaml", nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(en) < 20 {
		t.Fatalf("en.yaml has %d messages; the pages use more", len(en))
	}
	for _, lang := range []string{"de", "es"} {
		t.Run(lang, func(t *testing.T) {
			m, err := decodeMessages(builtinMessages, "messages/"+lang+".yaml", nil)
			if err != nil {
				t.Fatal(err)
			}
			for k := range en {
				if _, ok := m[k]; !ok {
					t.Errorf("%s.yaml lacks %s", lang, k)
				}
			}
			for k, v := range m {
				ref, ok := en[k]
				if !ok {
					t.Errorf("%s.yaml has %s, which en.yaml does not", lang, k)
					continue
				}
				if v == ref {
					t.Errorf("%s.yaml: %s is the English text", lang, k)
				}
				if strings.Contains(ref, percentPlaceholder) != strings.Contains(v, percentPlaceholder) {
					t.Errorf("%s.yaml: %s does not keep %s", lang, k, percentPlaceholder)
				}
			}
		})
	}
}

// TestEveryOutcomeHasAMessage: each failure key the page can pick is a
// message.
func TestEveryOutcomeHasAMessage(t *testing.T) {
	c, err := loadCatalog("")
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range c.langs {
		for outcome, key := range failKeys {
			if l.msgs[key] == "" || failMessage(l, outcome) != l.msgs[key] {
				t.Errorf("%s: outcome %s has no message %s", l.tag, outcome, key)
			}
		}
		if failMessage(l, "provider_timeout") != l.msgs["fail_other"] {
			t.Errorf("%s: an unlisted outcome does not get fail_other", l.tag)
		}
	}
}

func TestLanguageNegotiation(t *testing.T) {
	c, err := loadCatalog("")
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct{ header, want string }{
		{"", "en"},
		{"de", "de"},
		{"de-DE,de;q=0.9,en;q=0.8", "de"},
		{"de-AT", "de"},
		{"es-MX,es;q=0.9", "es"},
		{"es-419", "es"},
		{"en-GB,en;q=0.9", "en"},
		{"fr-FR,fr;q=0.9", "en"},
		{"fr-FR,fr;q=0.9,es;q=0.5", "es"},
		{"en;q=0.5,de;q=0.9", "de"},
		{"de;q=0.2,es;q=0.8,en;q=0.1", "es"},
		{"de;q=0,es", "es"},
		{"es;q=0", "en"},
		{"*", "en"},
		{"ja,*;q=0.5", "en"},
		{"DE-de", "de"},
		{"gsw-CH", "de"},
		{"zz-ZZ", "en"},
		{"de;q=abc", "en"},
		{"not a tag!", "en"},
		{strings.Repeat("de-", 2000), "en"},
	}
	for _, tc := range cases {
		if got := c.match(tc.header).tag; got != tc.want {
			t.Errorf("Accept-Language %.40q: %s, want %s", tc.header, got, tc.want)
		}
	}
}

func writeMessages(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func TestMessagesDirOverridesAndAdds(t *testing.T) {
	dir := writeMessages(t, map[string]string{
		"fr.yaml":    "title: Vérification de votre navigateur\nfail_title: La vérification a échoué\n",
		"de.yaml":    "title: Einen Augenblick bitte\n",
		"de-CH.yaml": "continue: Weiter so\n",
		"README.md":  "not a messages file",
	})
	if err := os.Mkdir(filepath.Join(dir, "sub.yaml"), 0o700); err != nil {
		t.Fatal(err)
	}
	c, err := loadCatalog(dir)
	if err != nil {
		t.Fatal(err)
	}
	var tags []string
	for _, l := range c.langs {
		tags = append(tags, l.tag)
	}
	if want := []string{"en", "de", "de-CH", "es", "fr"}; !slices.Equal(tags, want) {
		t.Fatalf("languages %q, want %q", tags, want)
	}
	en := c.match("").msgs
	fr := c.match("fr-CA").msgs
	if fr["title"] != "Vérification de votre navigateur" || fr["fail_title"] != "La vérification a échoué" {
		t.Errorf("fr: %q, %q", fr["title"], fr["fail_title"])
	}
	if fr["intro_pow"] != en["intro_pow"] {
		t.Errorf("fr lacks intro_pow, which should fall back to English: %q", fr["intro_pow"])
	}
	de := c.match("de").msgs
	if de["title"] != "Einen Augenblick bitte" {
		t.Errorf("de title %q, want the override", de["title"])
	}
	if de["continue"] != "Weiter" {
		t.Errorf("de continue %q, want the built-in one", de["continue"])
	}
	ch := c.match("de-CH").msgs
	if ch["continue"] != "Weiter so" || ch["title"] != "Einen Augenblick bitte" {
		t.Errorf("de-CH: continue %q title %q, want its own and then de's", ch["continue"], ch["title"])
	}
	if c.match("es").msgs["title"] != "Estamos comprobando su navegador" {
		t.Error("es changed by a directory without es.yaml")
	}
	for _, l := range c.langs {
		if !slices.Equal(slices.Sorted(maps.Keys(l.msgs)), slices.Sorted(maps.Keys(en))) {
			t.Errorf("%s is not complete", l.tag)
		}
	}
}

func TestMessagesDirRefusesBadFiles(t *testing.T) {
	cases := []struct {
		name  string
		files map[string]string
		want  []string
	}{
		{"unknown key", map[string]string{"fr.yaml": "title: Bonjour\ntitel: Bonjour\n"}, []string{"fr.yaml", "line 2", `unknown key "titel"`}},
		{"not a tag", map[string]string{"french.yaml": "title: Bonjour\n"}, []string{"french.yaml", "not a BCP 47 language tag"}},
		{"not a mapping", map[string]string{"fr.yaml": "- title\n"}, []string{"fr.yaml", "must be a mapping"}},
		{"nested value", map[string]string{"fr.yaml": "title: {a: b}\n"}, []string{"fr.yaml", "title: must be text"}},
		{"empty value", map[string]string{"fr.yaml": "title: \"\"\n"}, []string{"fr.yaml", "title: must not be empty"}},
		{"null value", map[string]string{"fr.yaml": "title:\n"}, []string{"fr.yaml", "title: must be text"}},
		{"placeholder dropped", map[string]string{"fr.yaml": "status_progress: En cours\n"}, []string{"fr.yaml", "status_progress: must contain {percent}"}},
		{"bad YAML", map[string]string{"fr.yaml": "title: [\n"}, []string{"fr.yaml"}},
		{"same language twice", map[string]string{"de.yaml": "title: A\n", "DE.yaml": "title: B\n"}, []string{"DE.yaml", "de.yaml", "both de"}},
		{"too large", map[string]string{"fr.yaml": "title: " + strings.Repeat("a", maxMessagesFile) + "\n"}, []string{"fr.yaml", "at most 65536"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := writeMessages(t, c.files)
			_, err := loadCatalog(dir)
			if err == nil {
				t.Fatal("accepted")
			}
			for _, w := range append(c.want, "challenge.messages_dir "+dir) {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not say %q", err, w)
				}
			}
		})
	}
	if _, err := loadCatalog(filepath.Join(t.TempDir(), "missing")); err == nil || !strings.Contains(err.Error(), "challenge.messages_dir") {
		t.Errorf("a missing directory: %v", err)
	}
}

func TestRightToLeftLanguage(t *testing.T) {
	c, err := loadCatalog(writeMessages(t, map[string]string{"ar.yaml": "title: نتحقق من متصفحك\n"}))
	if err != nil {
		t.Fatal(err)
	}
	if l := c.match("ar-EG"); l.tag != "ar" || l.dir != "rtl" {
		t.Errorf("ar: tag %s dir %s", l.tag, l.dir)
	}
	if l := c.match("de"); l.dir != "ltr" {
		t.Errorf("de: dir %s", l.dir)
	}
}
