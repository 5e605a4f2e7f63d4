package challenge

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"math/bits"
	"net/http"
	"strings"
)

// The script proof shows that the page's own per-challenge script ran. For
// every challenge the server derives a small program from its key and the
// challenge id: two 32-bit words seeded with random constants, then
// proofSteps operations, each picked from six kinds, with random constants
// and rotations. It serves that program as JavaScript at ProofPath (from our
// origin, so the page's CSP, script-src 'self', covers it with no inline
// script), the page's script calls it and posts the two words as 16 hex
// digits with its evidence, and the verifier runs the same program in Go.
// Nothing is stored: any replica with the key derives the same program.
//
// A program that reads the challenge id and difficulty off the page and
// reimplements the documented proof of work has no proof: it would have to
// fetch and run (or parse) the per-challenge script as well. That raises the
// cost of a browserless solver; it does not make one impossible, and it is
// not meant to hide anything from a real browser driven by automation (the
// evidence is for that).
const (
	proofContext = "botauthz proof v1\x00"
	proofSteps   = 8
	// proofLen is the proof's length in hex digits: two 32-bit words.
	proofLen = 16
)

// proofProgram is one challenge's transform.
type proofProgram struct {
	a, b  uint32
	ops   [proofSteps]byte
	konst [proofSteps]uint32
}

// proofProgramFor derives the program of challenge id under secret.
func proofProgramFor(secret []byte, id *[idLen]byte) proofProgram {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(proofContext))
	m.Write(id[:])
	var seed [2 * sha256.Size]byte
	m.Sum(seed[:0])
	more := sha256.Sum256(seed[:sha256.Size])
	copy(seed[sha256.Size:], more[:])

	var p proofProgram
	p.a = binary.BigEndian.Uint32(seed[0:])
	p.b = binary.BigEndian.Uint32(seed[4:])
	for i := range proofSteps {
		p.ops[i] = seed[8+i] % 6
		p.konst[i] = binary.BigEndian.Uint32(seed[16+4*i:])
	}
	return p
}

// rot is a step's rotation, 1 to 31.
func rot(k uint32) int { return int(k%31) + 1 }

// run evaluates the program as the served script does.
func (p *proofProgram) run() (a, b uint32) {
	a, b = p.a, p.b
	for i, op := range p.ops {
		k := p.konst[i]
		switch op {
		case 0:
			a += k
		case 1:
			b ^= k
		case 2:
			a = bits.RotateLeft32(a, rot(k)) ^ b
		case 3:
			b = b*(k|1) + a
		case 4:
			a ^= b >> rot(k)
		case 5:
			b = bits.RotateLeft32(b^a, rot(k))
		}
	}
	return a, b
}

// proof is the proof the page's script posts for the program.
func (p *proofProgram) proof() [proofLen]byte {
	a, b := p.run()
	var raw [8]byte
	binary.BigEndian.PutUint32(raw[0:], a)
	binary.BigEndian.PutUint32(raw[4:], b)
	var out [proofLen]byte
	hex.Encode(out[:], raw[:])
	return out
}

// script is the program as JavaScript: it defines botauthzProof, which
// challenge.js calls. The words are kept in 32 bits with |0 and >>>0.
func (p *proofProgram) script() []byte {
	var b strings.Builder
	b.WriteString("// botauthz per-challenge script: the proof that this page's own script ran.\n")
	b.WriteString("(function () {\n  \"use strict\";\n")
	b.WriteString("  function r(x, n) { return (x << n) | (x >>> (32 - n)); }\n")
	b.WriteString("  window.botauthzProof = function () {\n")
	fmt.Fprintf(&b, "    var a = 0x%08x | 0, b = 0x%08x | 0;\n", p.a, p.b)
	for i, op := range p.ops {
		k := p.konst[i]
		switch op {
		case 0:
			fmt.Fprintf(&b, "    a = (a + (0x%08x | 0)) | 0;\n", k)
		case 1:
			fmt.Fprintf(&b, "    b = b ^ (0x%08x | 0);\n", k)
		case 2:
			fmt.Fprintf(&b, "    a = r(a, %d) ^ b;\n", rot(k))
		case 3:
			fmt.Fprintf(&b, "    b = (Math.imul(b, 0x%08x | 0) + a) | 0;\n", k|1)
		case 4:
			fmt.Fprintf(&b, "    a = a ^ (b >>> %d);\n", rot(k))
		case 5:
			fmt.Fprintf(&b, "    b = r(b ^ a, %d);\n", rot(k))
		}
	}
	b.WriteString("    return (\"0000000\" + (a >>> 0).toString(16)).slice(-8) + (\"0000000\" + (b >>> 0).toString(16)).slice(-8);\n")
	b.WriteString("  };\n})();\n")
	return []byte(b.String())
}

// proofURL is where the page loads tok's per-challenge script.
func (h *Handler) proofURL(tok *token) string {
	return ProofPath + "?c=" + tok.idHex() + "&k=" + tok.kid
}

// expectedProof is the proof an answer to tok must carry: the program of the
// key that signed the token.
func (h *Handler) expectedProof(tok *token) ([proofLen]byte, bool) {
	secret, ok := h.keys.byID[tok.kid]
	if !ok {
		return [proofLen]byte{}, false
	}
	p := proofProgramFor(secret, &tok.id)
	return p.proof(), true
}

// serveProof serves the per-challenge script for ?c=<challenge id>&k=<key
// id>, or 404 for an id that is not 32 hex digits or a key not in the set.
// It is never cached: it differs for every challenge.
func (h *Handler) serveProof(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	var id [idLen]byte
	c := q.Get("c")
	secret, ok := h.keys.byID[q.Get("k")]
	if !ok || len(c) != 2*idLen {
		http.NotFound(w, r)
		return
	}
	if _, err := hex.Decode(id[:], []byte(c)); err != nil {
		http.NotFound(w, r)
		return
	}
	p := proofProgramFor(secret, &id)
	hdr := w.Header()
	hdr.Set("Content-Type", "text/javascript; charset=utf-8")
	hdr.Set("X-Content-Type-Options", "nosniff")
	hdr.Set("Cache-Control", "no-store")
	body := p.script()
	hdr.Set("Content-Length", fmt.Sprint(len(body)))
	w.WriteHeader(http.StatusOK)
	if r.Method != http.MethodHead {
		_, _ = w.Write(body)
	}
}
