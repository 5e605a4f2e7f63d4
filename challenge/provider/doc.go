// Package provider owns talking to CAPTCHA vendors: it verifies, server-side,
// the token a visitor's browser got from a third-party CAPTCHA widget
// (Cloudflare Turnstile, hCaptcha, Google reCAPTCHA v2/v3, CaptchaLa), and it
// describes what the challenge page needs to embed that widget (script URL,
// markup class, form field, Content-Security-Policy origins). Each vendor is
// described once, by a Spec in its own file, and listed once, in the static
// table specs: Lookup and Names read it.
//
// Verification fails closed: a vendor that errors, times out, redirects or
// answers anything but a well-formed success yields a Result with OK false and
// a bounded Reason, never an error and never a panic, so the caller can show
// the challenge again instead of answering 5xx.
//
// It must not issue or read clearance cookies, render pages, or log: the
// caller decides what a Result means for the visitor and records it. The
// package keeps no global mutable state; a Verifier is immutable after New and
// safe for concurrent use.
package provider
