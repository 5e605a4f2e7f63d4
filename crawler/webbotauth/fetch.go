package webbotauth

import (
	"context"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"
)

// This file reads one directory: over https as -01 §5.5 describes, or from
// a local file.

// fetched is the outcome of one successful read.
type fetched struct {
	keys    *keySet
	skipped []string      // keys left out, and why
	maxAge  time.Duration // from Cache-Control; -1 when absent
}

// load reads d's directory once.
func (v *Verifier) load(ctx context.Context, d *directory) (fetched, error) {
	if d.source.Scheme == "file" {
		return v.loadFile(d)
	}
	return v.fetchHTTPS(ctx, d)
}

func (v *Verifier) loadFile(d *directory) (fetched, error) {
	f, err := os.Open(d.source.Path)
	if err != nil {
		return fetched{}, fmt.Errorf("read directory: %w", err)
	}
	defer f.Close()
	body, err := readBounded(f, v.maxBody)
	if err != nil {
		return fetched{}, fmt.Errorf("read directory %s: %w", d.source.Path, err)
	}
	ks, skipped, err := parseJWKS(body, v.allowTestKeys)
	if err != nil {
		return fetched{}, fmt.Errorf("directory %s: %w", d.source.Path, err)
	}
	ks.fetched = v.now()
	return fetched{keys: ks, skipped: skipped, maxAge: -1}, nil
}

func (v *Verifier) fetchHTTPS(ctx context.Context, d *directory) (fetched, error) {
	ctx, cancel := context.WithTimeout(ctx, v.fetchTimeout)
	defer cancel()
	src := d.source.String()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, src, nil)
	if err != nil {
		return fetched{}, fmt.Errorf("directory request %s: %w", src, err)
	}
	req.Header.Set("Accept", DirectoryMediaType+", application/jwk-set+json;q=0.9, application/json;q=0.8")
	req.Header.Set("User-Agent", "botauthz-webbotauth/1")
	resp, err := v.client.Do(req)
	if err != nil {
		return fetched{}, fmt.Errorf("fetch directory: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		// -01 §5.5: anything but 200 is a discovery failure; redirects
		// are not followed.
		if loc := resp.Header.Get("Location"); loc != "" {
			return fetched{}, fmt.Errorf("fetch directory %s: status %d to %q: redirects are not followed", src, resp.StatusCode, loc)
		}
		return fetched{}, fmt.Errorf("fetch directory %s: status %d", src, resp.StatusCode)
	}
	if err := checkMediaType(resp.Header.Get("Content-Type"), d.wellKnown); err != nil {
		return fetched{}, fmt.Errorf("fetch directory %s: %w", src, err)
	}
	body, err := readBounded(resp.Body, v.maxBody)
	if err != nil {
		return fetched{}, fmt.Errorf("fetch directory %s: %w", src, err)
	}
	ks, skipped, err := parseJWKS(body, v.allowTestKeys)
	if err != nil {
		return fetched{}, fmt.Errorf("directory %s: %w", src, err)
	}
	now := v.now()
	ks.fetched = now
	proven, err := verifyDirectoryProof(resp.Header, body, normalizeAuthority(d.source.Host, "https"), ks, now, v.maxSkew)
	if err != nil {
		return fetched{}, fmt.Errorf("directory %s: signed response: %w", src, err)
	}
	ks.proven = proven
	return fetched{keys: ks, skipped: skipped, maxAge: cacheMaxAge(resp.Header)}, nil
}

// checkMediaType enforces -01 §5.5.1: a directory at the well-known URI
// MUST be served as application/http-message-signatures-directory+json. A
// JWK Set at another configured URL may also be served as a plain JWK Set
// or JSON.
func checkMediaType(ct string, wellKnown bool) error {
	mt, _, err := mime.ParseMediaType(ct)
	if err != nil {
		return fmt.Errorf("content type %q: %w", ct, err)
	}
	if mt == DirectoryMediaType {
		return nil
	}
	if !wellKnown && (mt == "application/jwk-set+json" || mt == "application/json") {
		return nil
	}
	return fmt.Errorf("content type %q, want %s", mt, DirectoryMediaType)
}

var errTooLarge = errors.New("directory too large")

// readBounded reads all of r, refusing more than limit bytes.
func readBounded(r io.Reader, limit int64) ([]byte, error) {
	body, err := io.ReadAll(io.LimitReader(r, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(body)) > limit {
		return nil, fmt.Errorf("%w: over %d bytes", errTooLarge, limit)
	}
	return body, nil
}

// cacheMaxAge reads the freshness lifetime from Cache-Control (RFC 9111
// §5.2.2): max-age, or zero for no-store and no-cache; -1 when none is
// given. -01 Appendix C.4 asks verifiers to honour HTTP caching.
func cacheMaxAge(h http.Header) time.Duration {
	age := time.Duration(-1)
	for _, line := range h.Values("Cache-Control") {
		for dir := range strings.SplitSeq(line, ",") {
			name, val, _ := strings.Cut(strings.TrimSpace(dir), "=")
			var d time.Duration
			switch strings.ToLower(name) {
			case "no-store", "no-cache":
				d = 0
			case "max-age":
				n, err := strconv.ParseInt(strings.Trim(val, `"`), 10, 64)
				if err != nil || n < 0 {
					continue
				}
				d = time.Duration(min(n, int64(365*24*time.Hour/time.Second))) * time.Second
			default:
				continue
			}
			if age < 0 || d < age {
				age = d
			}
		}
	}
	return age
}
