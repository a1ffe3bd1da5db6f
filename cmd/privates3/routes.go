package main

import (
	"bytes"
	_ "embed"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/privates3/privates3"
	"github.com/privates3/privates3/pmtiles"
)

// The map viewer: one hand-written page, no third-party code.
//
//go:embed viewer.html
var viewerHTML []byte

// routes returns the server's handler.
func (a *app) routes() http.Handler {
	mux := http.NewServeMux()
	tiles := a.client.Handler(&privates3.HandlerOptions{Mode: a.opts.mode})
	tileURL := "tiles/{z}/{x}/{y}.png"
	if a.opts.pmtiles {
		tiles = pmtiles.NewReader(a.client, nil).Handler(&pmtiles.HandlerOptions{
			CacheControl: demoCacheControl, Logger: a.log,
		})
		tileURL = "tiles/" + demoArchive + "/{z}/{x}/{y}.png"
	}
	if a.demo != nil {
		tiles = a.demo.wait(tiles)
	}
	tileURLs := tileURL
	cookies := ""
	if a.cf != nil {
		// The tiles come from the fake edge, with the cookies this server sets.
		tileURLs, cookies = a.cf.tiles(), strings.TrimPrefix(cookiesPath, "/")
		mux.Handle(cookiesPath, a.cf.cookies)
		mux.HandleFunc("GET /debug/privates3/edge", func(w http.ResponseWriter, r *http.Request) {
			writeJSON(w, a.cf.edge.Stats())
		})
	} else {
		mux.Handle("/tiles/", http.StripPrefix("/tiles/", tiles))
	}
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Header().Set("Cache-Control", "no-cache")
		w.Header().Set("Content-Security-Policy", "default-src 'self'; img-src *; style-src 'unsafe-inline'; script-src 'unsafe-inline'")
		http.ServeContent(w, r, "index.html", time.Time{}, bytes.NewReader(viewerHTML))
	})
	mux.HandleFunc("GET /config.json", func(w http.ResponseWriter, r *http.Request) {
		cfg := map[string]any{
			"tiles":   tileURLs,
			"maxZoom": a.opts.maxZoom,
			"mode":    a.opts.modeName(),
			"bucket":  a.bucket,
		}
		if cookies != "" {
			cfg["cookies"] = cookies
		}
		writeJSON(w, cfg)
	})
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
		io.WriteString(w, "ok\n")
	})
	mux.HandleFunc("GET /debug/privates3/stats", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, a.client.Stats())
	})
	return a.logRequests(mux)
}

func writeJSON(w http.ResponseWriter, v any) {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.Write(append(b, '\n'))
}

// statusWriter records the status and size of a response, for the request log.
type statusWriter struct {
	http.ResponseWriter
	status int
	bytes  int64
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(p []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	n, err := w.ResponseWriter.Write(p)
	w.bytes += int64(n)
	return n, err
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// logRequests logs one line per request at debug level. It logs the path, never the query (which
// may carry signatures of other services).
func (a *app) logRequests(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !a.log.Enabled(r.Context(), slog.LevelDebug) {
			next.ServeHTTP(w, r)
			return
		}
		begin := time.Now()
		sw := &statusWriter{ResponseWriter: w}
		next.ServeHTTP(sw, r)
		a.log.LogAttrs(r.Context(), slog.LevelDebug, "request",
			slog.String("method", r.Method), slog.String("path", r.URL.Path),
			slog.Int("status", sw.status), slog.Int64("bytes", sw.bytes),
			slog.Duration("took", time.Since(begin)), slog.String("remote", r.RemoteAddr))
	})
}
