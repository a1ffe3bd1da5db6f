package privates3test

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"time"
)

// edgeEntry is a response the edge cached, or the outcome of one origin request.
type edgeEntry struct {
	status    int
	header    http.Header // the origin headers the edge passes on
	body      []byte
	stored    time.Time // when it was fetched or last revalidated (the edge's clock)
	ttl       time.Duration
	cacheable bool
}

var errEdgeClosed = errors.New("privates3test: edge closed")

// edgePassHeaders are the origin response headers the edge passes to viewers.
var edgePassHeaders = []string{"Content-Type", "Content-Encoding", "Content-Language", "Content-Disposition",
	"Cache-Control", "Expires", "ETag", "Last-Modified", "Accept-Ranges"}

// respond answers an authorized request from the cache or the origin.
func (e *Edge) respond(w http.ResponseWriter, r *http.Request, v viewer) {
	key := v.path
	if v.query != "" {
		key += "?" + v.query
	}
	now := e.cfg.Clock()
	e.mu.Lock()
	ent := e.cache[key]
	e.mu.Unlock()
	if ent != nil && now.Sub(ent.stored) < ent.ttl {
		e.hits.Add(1)
		e.write(w, r, ent, "Hit from cloudfront", now)
		return
	}
	e.misses.Add(1)
	f, err := e.flight(key, v, ent)
	if err != nil {
		http.Error(w, "503 Service Unavailable: the edge is closed", http.StatusServiceUnavailable)
		return
	}
	select {
	case <-f.done:
		e.write(w, r, f.ent, "Miss from cloudfront", e.cfg.Clock())
	case <-r.Context().Done():
	}
}

// edgeFlight is one origin request shared by concurrent misses for a key (request collapsing).
type edgeFlight struct {
	done chan struct{} // closed when ent is set
	ent  *edgeEntry
}

// flight joins the origin request for key in flight, or starts one. It runs on its own
// goroutine, so that a viewer who leaves does not cancel it for the others; Close waits for it.
func (e *Edge) flight(key string, v viewer, stale *edgeEntry) (*edgeFlight, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if f := e.flights[key]; f != nil {
		return f, nil
	}
	if e.closed {
		return nil, errEdgeClosed
	}
	f := &edgeFlight{done: make(chan struct{})}
	e.flights[key] = f
	e.wg.Add(1) // under mu, so that Close (which sets closed under mu) waits for it
	go func() {
		defer e.wg.Done()
		ent := e.fetch(key, v, stale)
		e.mu.Lock()
		delete(e.flights, key)
		e.mu.Unlock()
		f.ent = ent
		close(f.done)
	}()
	return f, nil
}

// fetch asks the origin for key (revalidating stale, if it has an ETag) and caches the answer.
func (e *Edge) fetch(key string, v viewer, stale *edgeEntry) *edgeEntry {
	// Re-check: an overlapping flight may have just stored it.
	e.mu.Lock()
	if ent := e.cache[key]; ent != nil && e.cfg.Clock().Sub(ent.stored) < ent.ttl {
		e.mu.Unlock()
		return ent
	}
	e.mu.Unlock()
	ctx, cancel := context.WithTimeout(e.ctx, time.Minute)
	defer cancel()
	req := httptest.NewRequestWithContext(ctx, http.MethodGet, key, nil)
	req.RequestURI = ""
	req.Header = http.Header{"User-Agent": {"Amazon CloudFront"}}
	if stale != nil && stale.header.Get("ETag") != "" {
		req.Header.Set("If-None-Match", stale.header.Get("ETag"))
	}
	e.originRequests.Add(1)
	rec := &edgeRecorder{header: http.Header{}}
	e.cfg.Origin.ServeHTTP(rec, req)
	now := e.cfg.Clock()
	if rec.status == 0 {
		rec.status = http.StatusOK
	}
	if rec.status == http.StatusNotModified && stale != nil {
		renewed := *stale
		renewed.stored = now
		if ttl, ok := e.ttl(rec.header.Get("Cache-Control")); ok && ttl > 0 {
			renewed.ttl = ttl
		}
		e.store(key, &renewed)
		return &renewed
	}
	ent := &edgeEntry{status: rec.status, header: http.Header{}, body: rec.body.Bytes(), stored: now}
	if rec.overflow {
		ent = &edgeEntry{status: http.StatusBadGateway, header: http.Header{}, stored: now}
		ent.header.Set("Content-Type", "text/plain; charset=utf-8")
		ent.body = []byte("502 Bad Gateway: origin response too large for the fake edge\n")
		return ent
	}
	for _, h := range edgePassHeaders {
		if vals := rec.header.Values(h); len(vals) > 0 {
			ent.header[http.CanonicalHeaderKey(h)] = vals
		}
	}
	if ttl, ok := e.ttl(rec.header.Get("Cache-Control")); ok && rec.status == http.StatusOK {
		ent.ttl, ent.cacheable = ttl, true
		e.store(key, ent)
	}
	return ent
}

// store caches ent under key if the cache has room.
func (e *Edge) store(key string, ent *edgeEntry) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if old := e.cache[key]; old != nil {
		e.bytes -= int64(len(old.body))
		delete(e.cache, key)
	}
	if e.bytes+int64(len(ent.body)) > maxEdgeCacheBytes {
		return
	}
	e.cache[key] = ent
	e.bytes += int64(len(ent.body))
}

// ttl returns how long a response with this Cache-Control may be cached, and false if it may
// not be cached at all.
func (e *Edge) ttl(cc string) (time.Duration, bool) {
	var maxAge, sMaxAge = -1, -1
	for _, d := range strings.Split(cc, ",") {
		name, val, _ := strings.Cut(strings.TrimSpace(d), "=")
		switch strings.ToLower(name) {
		case "no-store", "no-cache", "private":
			if e.cfg.MinTTL > 0 {
				return min(e.cfg.MinTTL, MaxEdgeTTL), true
			}
			return 0, false
		case "max-age":
			if n, err := strconv.Atoi(strings.Trim(val, `"`)); err == nil && n >= 0 {
				maxAge = n
			}
		case "s-maxage":
			if n, err := strconv.Atoi(strings.Trim(val, `"`)); err == nil && n >= 0 {
				sMaxAge = n
			}
		}
	}
	var ttl time.Duration
	switch {
	case sMaxAge >= 0:
		ttl = time.Duration(sMaxAge) * time.Second
	case maxAge >= 0:
		ttl = time.Duration(maxAge) * time.Second
	default:
		ttl = e.cfg.DefaultTTL
	}
	ttl = max(ttl, e.cfg.MinTTL)
	if ttl <= 0 {
		return 0, false
	}
	return min(ttl, MaxEdgeTTL), true
}

// write answers a viewer with ent.
func (e *Edge) write(w http.ResponseWriter, r *http.Request, ent *edgeEntry, xcache string, now time.Time) {
	h := w.Header()
	for k, vals := range ent.header {
		h[k] = vals
	}
	h.Set("X-Cache", xcache)
	if ent.cacheable {
		h.Set("Age", strconv.Itoa(int(max(now.Sub(ent.stored), 0)/time.Second)))
	}
	if ent.status != http.StatusOK {
		h.Set("Content-Length", strconv.Itoa(len(ent.body)))
		w.WriteHeader(ent.status)
		if r.Method != http.MethodHead {
			_, _ = w.Write(ent.body)
		}
		return
	}
	var modtime time.Time
	if lm, err := http.ParseTime(ent.header.Get("Last-Modified")); err == nil {
		modtime = lm
	}
	if h.Get("Content-Type") == "" {
		h["Content-Type"] = nil // ServeContent must not sniff what the origin did not say
	}
	http.ServeContent(w, r, "", modtime, bytes.NewReader(ent.body))
}

// edgeRecorder buffers an origin answer up to MaxEdgeObject bytes.
type edgeRecorder struct {
	header   http.Header
	status   int
	body     bytes.Buffer
	overflow bool
}

func (rec *edgeRecorder) Header() http.Header { return rec.header }

func (rec *edgeRecorder) WriteHeader(code int) {
	if rec.status == 0 {
		rec.status = code
	}
}

func (rec *edgeRecorder) Write(p []byte) (int, error) {
	if rec.status == 0 {
		rec.status = http.StatusOK
	}
	if rec.body.Len()+len(p) > MaxEdgeObject {
		rec.overflow = true
		return 0, http.ErrContentLength
	}
	return rec.body.Write(p)
}
