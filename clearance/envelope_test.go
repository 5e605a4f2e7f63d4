package clearance

import (
	"bytes"
	"errors"
	"strings"
	"testing"
)

func testEnvelope(t *testing.T, prefix, context string, ids ...string) *Envelope {
	t.Helper()
	var keys []Key
	for _, id := range ids {
		keys = append(keys, testKeyed(id))
	}
	e, err := NewEnvelope(prefix, context, 64, keys)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func testKeyed(id string) Key {
	return Key{ID: id, Secret: bytes.Repeat([]byte(id[:1]), 32)}
}

func TestEnvelopeRoundTripAndRefusals(t *testing.T) {
	e := testEnvelope(t, "x1.", "test x v1\x00", "k.new", "k.old")
	old := testEnvelope(t, "x1.", "test x v1\x00", "k.old")
	other := testEnvelope(t, "x1.", "test y v1\x00", "k.new")
	payload := []byte("the payload \x00\xff")
	text := e.Seal(payload)
	if !strings.HasPrefix(text, "x1.k.new.") {
		t.Errorf("Seal = %q: not signed by the first key", text)
	}
	buf := make([]byte, e.MaxPayload())
	got, kid, err := e.Open(text, buf)
	if err != nil || kid != "k.new" || !bytes.Equal(got, payload) {
		t.Fatalf("Open = %q, %q, %v", got, kid, err)
	}
	// Rotation: the older key still verifies what it signed.
	if _, kid, err := e.Open(old.Seal(payload), buf); err != nil || kid != "k.old" {
		t.Errorf("a value signed by the second key: %q, %v", kid, err)
	}
	for _, c := range []struct {
		name string
		text string
		want error
	}{
		{"another kind's context, same key and prefix", other.Seal(payload), ErrBadSignature},
		{"unknown key", testEnvelope(t, "x1.", "test x v1\x00", "k.gone").Seal(payload), ErrUnknownKey},
		{"payload changed", strings.Replace(text, "x1.k.new.d", "x1.k.new.e", 1), ErrBadSignature},
		{"wrong prefix", "y1." + text[3:], ErrMalformed},
		{"padding", text + "=", ErrMalformed},
		{"a line break", text[:12] + "\n" + text[12:], ErrMalformed},
		{"no key id", "x1.." + text[len("x1.k.new."):], ErrMalformed},
		{"longer than any seal", text + strings.Repeat("A", 200), ErrMalformed},
		{"non-canonical last character", text[:len(text)-1] + "B", ErrMalformed},
	} {
		t.Run(c.name, func(t *testing.T) {
			if _, _, err := e.Open(c.text, buf); !errors.Is(err, c.want) {
				t.Errorf("Open(%q) = %v, want %v", c.text, err, c.want)
			}
		})
	}
}

func TestNewEnvelopeRefusesBadKeys(t *testing.T) {
	for _, keys := range [][]Key{
		nil,
		{{ID: "k", Secret: make([]byte, 31)}},
		{{ID: "k/1", Secret: make([]byte, 32)}},
		{testKeyed("k"), testKeyed("k")},
	} {
		if _, err := NewEnvelope("x1.", "x", 64, keys); err == nil {
			t.Errorf("NewEnvelope accepted %v", keys)
		}
	}
}
