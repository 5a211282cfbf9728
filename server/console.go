package server

import (
	"embed"
	"io/fs"
	"net/http"
)

// ui holds the web console: plain HTML, CSS and JavaScript, no build step, nothing loaded
// from elsewhere at run time (see RATIONALE.md, "Why a console without a framework?").
//
//go:embed ui/index.html ui/console.css ui/console.js ui/favicon.svg
var ui embed.FS

// ConsoleFS returns the files of the web console served at /ui/.
func ConsoleFS() fs.FS {
	sub, err := fs.Sub(ui, "ui")
	if err != nil {
		panic(err) // the embedded directory exists
	}
	return sub
}

// consolePolicy is the Content-Security-Policy of the console: its own scripts, styles and
// API only, never framed.
const consolePolicy = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; " +
	"base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

// consoleRoutes serves the console at /ui/. Its files are public; everything it shows comes
// from the API with the token the user signs in with (kept in the browser's session storage).
func (s *Server) consoleRoutes() {
	files := http.FileServerFS(ConsoleFS())
	s.mux.Handle("GET /ui/", http.StripPrefix("/ui/", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", consolePolicy)
		// frame-ancestors says the same to browsers that know CSP 2; this to older ones.
		h.Set("X-Frame-Options", "DENY")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("Cache-Control", "no-cache")
		files.ServeHTTP(w, r)
	})))
	s.mux.Handle("GET /ui", http.RedirectHandler("/ui/", http.StatusMovedPermanently))
	s.mux.Handle("GET /ui/whoami", s.auth(false, s.whoami))
}

// whoami answers GET /ui/whoami, the console's own endpoint (not part of the API): the
// namespace and role of the request's token, so that the console hides the actions a read
// token may not take.
func (s *Server) whoami(w http.ResponseWriter, r *http.Request, ns string) error {
	role := RoleWrite
	if h, ok := bearer(r); ok {
		role = s.tokens[h].role
	}
	writeJSON(w, http.StatusOK, map[string]string{"namespace": ns, "role": role.String()})
	return nil
}
