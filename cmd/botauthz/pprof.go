package main

import (
	"net/http"
	"net/http/pprof"
	"strconv"
)

// Profiles longer than maxProfileSeconds are refused: a profile holds its
// connection for its whole length, and an SRE who needs a longer one can
// take several.
const maxProfileSeconds = 120

// pprofHandler serves Go's profiles under /debug/pprof/: net/http/pprof's
// handlers on a mux of our own, never http.DefaultServeMux. /cmdline is
// left out: it would echo the command line, where secrets such as
// -admin-tokens may have been passed.
//
// CPU profiles, execution traces and delta profiles run for ?seconds= (30,
// 1 and 0 by default), longer than the admin port's -http-write-timeout
// allows: net/http/pprof gives each such request a write deadline of its
// own, the server's timeout plus the profile's length
// (TestPprofOutlastsTheWriteTimeout holds it to that).
func pprofHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /debug/pprof/", pprof.Index)
	mux.HandleFunc("GET /debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("GET /debug/pprof/trace", pprof.Trace)
	mux.HandleFunc("GET /debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("POST /debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("GET /debug/pprof/cmdline", http.NotFound)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if s := r.URL.Query().Get("seconds"); s != "" {
			if n, err := strconv.Atoi(s); err != nil || n <= 0 || n > maxProfileSeconds {
				http.Error(w, "seconds: want a whole number from 1 to "+strconv.Itoa(maxProfileSeconds), http.StatusBadRequest)
				return
			}
		}
		mux.ServeHTTP(w, r)
	})
}
