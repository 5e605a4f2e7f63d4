package challenge

import (
	"html/template"
	"net/http"
)

// page is a placeholder until the proof-of-work flow lands. It is
// self-contained: no third-party assets, so the CSP can stay strict.
var page = template.Must(template.New("challenge").Parse(`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="robots" content="noindex">
<title>Checking your browser</title>
</head>
<body>
<main>
<h1>Checking your browser</h1>
<p>This site checks that visitors are people before letting them in. The automatic check is not available yet on this server.</p>
<p><a href="{{.ReturnTo}}">Try again</a></p>
</main>
</body>
</html>
`))

// Handler serves the challenge page.
type Handler struct{}

// NewHandler returns the challenge page handler.
func NewHandler() *Handler { return &Handler{} }

// ServeHTTP renders the challenge page for GET and HEAD at Path.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != Path {
		http.NotFound(w, r)
		return
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	hdr := w.Header()
	hdr.Set("Content-Type", "text/html; charset=utf-8")
	hdr.Set("Cache-Control", "no-store")
	hdr.Set("Content-Security-Policy", "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
	hdr.Set("X-Content-Type-Options", "nosniff")
	hdr.Set("Referrer-Policy", "same-origin")
	// html/template escapes the attribute; SafeReturnTo keeps it same-origin.
	_ = page.Execute(w, struct{ ReturnTo string }{SafeReturnTo(r.URL.Query().Get("return_to"))})
}
