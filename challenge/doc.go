// Package challenge owns the challenge flow's public side: the path the
// challenge page lives at, the validation of where a solved challenge may send
// the visitor back to (return_to), and the page handler served on the public
// HTTP port.
//
// It must not score requests or read the counter store. For now the handler is
// a placeholder page; the proof of work and clearance cookie come later.
package challenge
