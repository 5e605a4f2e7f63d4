package webbotauth

import (
	"crypto/ed25519"
	"strings"
	"sync"
)

// This file is the request path: Verify and the checks of one signature.

const (
	// webBotAuthTag marks the signatures this package verifies (-01 §5.2).
	webBotAuthTag = "web-bot-auth"
	// maxFieldBytes bounds each signature field; a real Signature-Input is
	// a few hundred bytes.
	maxFieldBytes = 8 << 10
	// maxSignatures bounds the web-bot-auth signatures checked per request
	// (-01 §5.2.2 allows several), so a request cannot buy many Ed25519
	// verifications.
	maxSignatures = 4
)

// basePool recycles signature base buffers across requests.
type basePool struct{ sync.Pool }

func (p *basePool) get() *[]byte {
	if b, ok := p.Get().(*[]byte); ok {
		return b
	}
	b := make([]byte, 0, 1024)
	return &b
}

func (p *basePool) put(b *[]byte) {
	if cap(*b) <= 16<<10 {
		*b = (*b)[:0]
		p.Put(b)
	}
}

// Verify checks r's web-bot-auth signature. It never does network I/O: a
// trusted agent whose directory has not been fetched yet gives Pending, and
// does not make Start fetch sooner. Start already fetches every directory
// at once and retries failures on a short backoff; letting requests trigger
// fetches would hand clients a lever on our outbound traffic for nothing.
//
// Requests without a Signature-Input mentioning web-bot-auth return None
// without allocating. When a request carries several web-bot-auth
// signatures (at most four are checked), the best outcome wins: Verified,
// then Invalid (a definite finding), then Pending, then Untrusted.
func (v *Verifier) Verify(r *Request) Result {
	in := r.Headers["signature-input"]
	if in == "" || !strings.Contains(in, webBotAuthTag) {
		return Result{}
	}
	return v.verifySigned(r, in)
}

func (v *Verifier) verifySigned(r *Request, in string) Result {
	if len(in) > maxFieldBytes {
		return Result{Status: Invalid, Reason: ReasonMalformed}
	}
	inputs, err := parseDictionary(in)
	if err != nil {
		return Result{Status: Invalid, Reason: ReasonMalformed}
	}
	var sigs []member
	sigsParsed := false
	agent := signatureAgent{raw: r.Headers["signature-agent"]}
	best := Result{}
	checked := 0
	for i := range inputs {
		m := &inputs[i]
		if !m.inner {
			continue
		}
		if tag, ok := findParam(m.params, "tag"); !ok || tag.kind != kindString || tag.str != webBotAuthTag {
			continue
		}
		if checked == maxSignatures {
			break
		}
		checked++
		if !sigsParsed {
			sigsParsed = true
			raw := r.Headers["signature"]
			if len(raw) <= maxFieldBytes {
				sigs, _ = parseDictionary(raw) // a bad field leaves no signatures: malformed below
			}
		}
		res := v.checkSignature(r, m, sigs, &agent)
		if rank(res.Status) > rank(best.Status) {
			best = res
		}
		if best.Status == Verified {
			break
		}
	}
	return best
}

// rank orders outcomes for a request with several signatures.
func rank(s Status) int {
	switch s {
	case Verified:
		return 4
	case Invalid:
		return 3
	case Pending:
		return 2
	case Untrusted:
		return 1
	}
	return 0
}

// sigParams are the signature parameters -01 §5.2 requires, read from a
// Signature-Input member.
type sigParams struct {
	created, expires int64
	keyid, alg       string
	hasAlg           bool
}

func readSigParams(ps []param) (sigParams, bool) {
	var sp sigParams
	var haveCreated, haveExpires, haveKeyID bool
	for _, p := range ps {
		switch p.key {
		case "created":
			sp.created, haveCreated = p.value.num, p.value.kind == kindInteger
		case "expires":
			sp.expires, haveExpires = p.value.num, p.value.kind == kindInteger
		case "keyid":
			sp.keyid, haveKeyID = p.value.str, p.value.kind == kindString
		case "alg":
			if p.value.kind != kindString {
				return sp, false
			}
			sp.alg, sp.hasAlg = p.value.str, true
		}
	}
	return sp, haveCreated && haveExpires && haveKeyID && sp.keyid != ""
}

// checkSignature checks the web-bot-auth signature labelled m.key. The
// checks of parameters, coverage and freshness run before the agent is
// looked up, so such a signature is Invalid whoever claims to have made it;
// the signature base is built only once a key is at hand.
func (v *Verifier) checkSignature(r *Request, m *member, sigs []member, agent *signatureAgent) Result {
	res := Result{Status: Invalid, Reason: ReasonMalformed}
	var sig []byte
	for i := range sigs {
		if sigs[i].key == m.key && !sigs[i].inner && sigs[i].item.value.kind == kindBytes {
			sig = sigs[i].item.value.bytes
			break
		}
	}
	if sig == nil {
		return res // -01 §5.2, RFC 9421 §3.2 step 1.2: no matching Signature member
	}
	sp, ok := readSigParams(m.params)
	if !ok {
		return res
	}
	res.KeyID = sp.keyid

	// Required coverage (-01 §5.2): @authority, or @target-uri which
	// includes it; and the signer's Signature-Agent member when the field
	// is sent.
	if len(m.items) > maxComponents {
		return res
	}
	authority := false
	for i := range m.items {
		c := &m.items[i]
		if c.value.kind != kindString {
			return res
		}
		if (c.value.str == "@authority" || c.value.str == "@target-uri") && len(c.params) == 0 {
			authority = true
		}
	}
	if !authority {
		res.Reason = ReasonAuthorityNotCovered
		return res
	}
	claim, covered, err := agent.coveredAgent(m, m.key)
	if err != nil {
		return res
	}
	if !covered && agent.raw != "" {
		res.Reason = ReasonAgentNotCovered
		return res
	}

	// Freshness (RFC 9421 §2.3, §3.2.1), with the configured skew.
	now := v.now().Unix()
	skew := int64(v.maxSkew.Seconds())
	switch {
	case sp.expires < sp.created:
		return res
	case sp.created > now+skew:
		res.Reason = ReasonNotYetValid
		return res
	case now > sp.expires+skew:
		res.Reason = ReasonExpired
		return res
	}

	// Which agent, and is it trusted?
	if !covered {
		res.Status, res.Reason = Untrusted, ReasonNoAgent
		return res
	}
	au, ok := parseAgentURL(claim.url)
	if !ok || claim.params {
		// -01 §5.2.1: a member that is not an https URL may be ignored,
		// and one with parameters must be; either way no agent is named.
		res.Status, res.Reason = Untrusted, ReasonUntrustedAgent
		return res
	}
	var d *directory
	if au.isOrigin() {
		d = v.byOrigin[au.origin]
	} else {
		d = v.byURL[au.origin+au.path]
	}
	if d == nil {
		res.Status, res.Reason = Untrusted, ReasonUntrustedAgent
		if s := au.String(); len(s) <= maxAgentLen {
			res.Agent = s
		}
		return res
	}
	res.Agent = d.agent
	ks := d.keys.Load()
	if ks == nil {
		res.Status, res.Reason = Pending, ReasonNoDirectory
		return res
	}

	// The key, looked up in this agent's directory only: -01 §5.4 keys
	// lookup on the (URL, key) pair.
	if sp.hasAlg && sp.alg != "ed25519" {
		res.Status, res.Reason = Untrusted, ReasonUnsupportedAlg
		return res
	}
	key, ok := ks.ed[sp.keyid]
	if !ok {
		if _, other := ks.other[sp.keyid]; other && !sp.hasAlg {
			res.Status, res.Reason = Untrusted, ReasonUnsupportedAlg
			return res
		}
		res.Reason = ReasonUnknownKey
		return res
	}
	if !key.activeAt(now, skew) {
		res.Reason = ReasonUnknownKey
		return res
	}

	buf := v.bases.get()
	defer v.bases.put(buf)
	base, err := appendSignatureBase((*buf)[:0], m, requestResolver{r: r})
	if err != nil {
		return res
	}
	*buf = base
	if len(sig) != ed25519.SignatureSize || !ed25519.Verify(key.pub, base, sig) {
		res.Reason = ReasonBadSignature
		return res
	}
	res.Status, res.Reason = Verified, ""
	return res
}
