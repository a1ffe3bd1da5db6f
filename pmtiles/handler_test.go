package pmtiles

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"

	"github.com/privates3/privates3"
)

// handlerFixture serves "world.pmtiles" (gzip-compressed vector tiles, leaf directories) from a
// memStore.
func handlerFixture(t *testing.T, opts *HandlerOptions) (*memStore, http.Handler, map[uint64][]byte, string) {
	t.Helper()
	want, tiles := testTiles(4, "w")
	m := newMemStore()
	etag := m.put("world.pmtiles", build(t, tiles, &WriteOptions{
		TileType: MVT, TileCompression: Gzip, leafSize: 25,
		Metadata: []byte(`{"name":"World","attribution":"© test","vector_layers":[{"id":"land","fields":{}}],"secret":"x"}`),
	}))
	m.put("broken.pmtiles", []byte("PMTiles\x03 but nothing else"))
	return m, newReader(m, nil).Handler(opts), want, etag
}

func get(h http.Handler, method, target string, hdr ...string) *httptest.ResponseRecorder {
	req := httptest.NewRequest(method, target, nil)
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

func TestHandlerTiles(t *testing.T) {
	_, h, want, archiveETag := handlerFixture(t, nil)
	id, _ := TileID(3, 2, 5)
	tests := []struct {
		name, path string
		status     int
	}{
		{"tile", "/world/3/2/5.mvt", 200},
		{"pbf extension", "/world/3/2/5.pbf", 200},
		{"without leading slash", "world/3/2/5.mvt", 200},
		{"wrong extension", "/world/3/2/5.png", 400},
		{"hole", "/world/3/4/1.mvt", 204},
		{"beyond max zoom", "/world/9/0/0.mvt", 204},
		{"x outside zoom", "/world/1/2/0.mvt", 400},
		{"zoom 32", "/world/32/0/0.mvt", 400},
		{"leading zero", "/world/03/2/5.mvt", 400},
		{"sign", "/world/3/+2/5.mvt", 400},
		{"no extension", "/world/3/2/5", 400},
		{"too few segments", "/world/3/5.mvt", 400},
		{"dot dot", "/../world/3/2/5.mvt", 400},
		{"empty segment", "/a//world/3/2/5.mvt", 400},
		{"backslash", "/a\\b/3/2/5.mvt", 400},
		{"control byte", "/a\x01b/3/2/5.mvt", 400},
		{"missing archive", "/missing/3/2/5.mvt", 404},
		{"nested missing archive", "/a/b/3/2/5.mvt", 404},
		{"invalid archive", "/broken/3/2/5.mvt", 502},
		{"root", "/", 400},
	}
	for _, tt := range tests {
		rec := httptest.NewRecorder()
		r := httptest.NewRequest("GET", "/", nil)
		r.URL.Path = tt.path // as StripPrefix leaves it, decoded
		h.ServeHTTP(rec, r)
		if rec.Code != tt.status {
			t.Errorf("%s: GET %q = %d, want %d", tt.name, tt.path, rec.Code, tt.status)
		}
		if rec.Code >= 400 && (strings.Contains(rec.Body.String(), "world") || len(rec.Body.String()) > 40) {
			t.Errorf("%s: error body %q is not a short fixed text", tt.name, rec.Body.String())
		}
	}

	rec := get(h, "GET", "/world/3/2/5.mvt")
	hdr := rec.Header()
	if rec.Body.String() != string(want[id]) {
		t.Errorf("tile body %q, want %q", rec.Body.String(), want[id])
	}
	for k, v := range map[string]string{
		"Content-Type":           "application/vnd.mapbox-vector-tile",
		"Content-Encoding":       "gzip",
		"Content-Length":         strconv.Itoa(len(want[id])),
		"Cache-Control":          privates3.DefaultHandlerCacheControl,
		"ETag":                   etag(archiveETag, strconv.FormatUint(id, 10)),
		"Last-Modified":          "Fri, 02 Jan 2026 03:04:05 GMT",
		"X-Content-Type-Options": "nosniff",
	} {
		if got := hdr.Get(k); got != v {
			t.Errorf("%s = %q, want %q", k, got, v)
		}
	}
	if rec := get(h, "GET", "/world/3/2/5.mvt", "If-None-Match", hdr.Get("ETag")); rec.Code != 304 || rec.Body.Len() != 0 {
		t.Errorf("If-None-Match: %d %q, want 304", rec.Code, rec.Body.String())
	}
	if rec := get(h, "GET", "/world/3/2/5.mvt", "If-None-Match", `"other"`); rec.Code != 200 {
		t.Errorf("If-None-Match other: %d, want 200", rec.Code)
	}
	if rec := get(h, "GET", "/world/3/2/5.mvt", "Range", "bytes=0-3"); rec.Code != 206 || rec.Body.String() != string(want[id][:4]) {
		t.Errorf("Range: %d %q, want 206 %q", rec.Code, rec.Body.String(), want[id][:4])
	}
	if rec := get(h, "HEAD", "/world/3/2/5.mvt"); rec.Code != 200 || rec.Body.Len() != 0 || rec.Header().Get("Content-Length") != strconv.Itoa(len(want[id])) {
		t.Errorf("HEAD: %d, %d body bytes, Content-Length %q", rec.Code, rec.Body.Len(), rec.Header().Get("Content-Length"))
	}
	if rec := get(h, "POST", "/world/3/2/5.mvt"); rec.Code != 405 || rec.Header().Get("Allow") != "GET, HEAD" {
		t.Errorf("POST: %d, Allow %q", rec.Code, rec.Header().Get("Allow"))
	}
	// Different tiles, different ETags; the ETag names the archive version.
	other, _ := TileID(3, 2, 6)
	if e := get(h, "GET", "/world/3/2/6.mvt").Header().Get("ETag"); e != etag(archiveETag, strconv.FormatUint(other, 10)) || e == hdr.Get("ETag") {
		t.Errorf("ETag of another tile %q", e)
	}
}

func TestHandlerEmptyTileStatus(t *testing.T) {
	for _, tt := range []struct {
		opt, want int
	}{{0, 204}, {204, 204}, {404, 404}, {500, 204}} {
		_, h, _, _ := handlerFixture(t, &HandlerOptions{EmptyTileStatus: tt.opt})
		if rec := get(h, "GET", "/world/3/4/1.mvt"); rec.Code != tt.want || (tt.want == 204 && rec.Body.Len() != 0) {
			t.Errorf("EmptyTileStatus %d: %d %q, want %d", tt.opt, rec.Code, rec.Body.String(), tt.want)
		}
	}
}

func TestHandlerAuthorize(t *testing.T) {
	var keys []string
	m, h, _, _ := handlerFixture(t, &HandlerOptions{
		Challenge: `Bearer realm="tiles"`,
		Authorize: func(r *http.Request, key string) error {
			keys = append(keys, key)
			switch r.Header.Get("Authorization") {
			case "":
				return fmt.Errorf("no token: %w", privates3.ErrUnauthorized)
			case "good":
				return nil
			}
			return errors.New("token may not read " + key)
		},
	})
	m.takeCalls()
	rec := get(h, "GET", "/world/3/2/5.mvt")
	if rec.Code != 401 || rec.Header().Get("WWW-Authenticate") != `Bearer realm="tiles"` {
		t.Errorf("no token: %d, WWW-Authenticate %q", rec.Code, rec.Header().Get("WWW-Authenticate"))
	}
	if rec := get(h, "GET", "/world.json", "Authorization", "bad"); rec.Code != 403 || strings.Contains(rec.Body.String(), "token") {
		t.Errorf("bad token: %d %q", rec.Code, rec.Body.String())
	}
	if n := len(m.takeCalls()); n != 0 {
		t.Errorf("refused requests read %d times", n)
	}
	if rec := get(h, "GET", "/world/3/2/5.mvt", "Authorization", "good"); rec.Code != 200 {
		t.Errorf("good token: %d", rec.Code)
	}
	if rec := get(h, "GET", "/../3/2/5.mvt", "Authorization", "good"); rec.Code != 400 {
		t.Errorf("bad path: %d", rec.Code)
	}
	if strings.Join(keys, ",") != "world.pmtiles,world.pmtiles,world.pmtiles" {
		t.Errorf("Authorize saw keys %q", keys)
	}
}

func TestHandlerErrors(t *testing.T) {
	for _, tt := range []struct {
		err    error
		status int
	}{
		{privates3.ErrNotFound, 404},
		{privates3.ErrAccessDenied, 403},
		{privates3.ErrThrottled, 503},
		{privates3.ErrPreconditionFailed, 503},
		{privates3.ErrClosed, 503},
		{privates3.ErrTimeout, 504},
		{context.DeadlineExceeded, 504},
		{fmt.Errorf("%w: %w", privates3.ErrCredentials, privates3.ErrTimeout), 504},
		{privates3.ErrCredentials, 502},
		{privates3.ErrUpstream, 502},
		{errors.New("anything"), 502},
	} {
		for _, afterHeader := range []bool{false, true} {
			m, h, _, _ := handlerFixture(t, nil)
			m.fail = func(c readCall) error {
				if afterHeader == (c.ifMatch != "") {
					return fmt.Errorf("GetObject world.pmtiles secret-token: %w", tt.err)
				}
				return nil
			}
			rec := get(h, "GET", "/world/3/2/5.mvt")
			if rec.Code != tt.status || strings.Contains(rec.Body.String(), "secret") {
				t.Errorf("%v (after header %v): %d %q, want %d", tt.err, afterHeader, rec.Code, rec.Body.String(), tt.status)
			}
			retry := tt.status == http.StatusServiceUnavailable // every 503 says when to come back
			if got := rec.Header().Get("Retry-After"); retry != (got != "") {
				t.Errorf("%v: Retry-After %q", tt.err, got)
			}
		}
	}
	// A client gone away gets nothing written.
	m, h, _, _ := handlerFixture(t, nil)
	ctx, cancel := context.WithCancel(context.Background())
	m.fail = func(readCall) error { cancel(); return context.Canceled }
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/world/3/2/5.mvt", nil).WithContext(ctx))
	if rec.Body.Len() != 0 || len(rec.Header()) != 0 {
		t.Errorf("client gone: wrote %d %q", rec.Code, rec.Body.String())
	}
}

func TestHandlerTileJSON(t *testing.T) {
	_, h, _, archiveETag := handlerFixture(t, nil)
	mux := http.NewServeMux()
	mux.Handle("/tiles/", http.StripPrefix("/tiles/", h))
	rec := get(mux, "GET", "http://maps.example/tiles/world.json")
	if rec.Code != 200 || rec.Header().Get("Content-Type") != "application/json" || rec.Header().Get("ETag") != etag(archiveETag, "json") {
		t.Fatalf("TileJSON: %d %v", rec.Code, rec.Header())
	}
	var doc map[string]any
	if err := json.Unmarshal(rec.Body.Bytes(), &doc); err != nil {
		t.Fatal(err)
	}
	wantJSON := `{"attribution":"© test","bounds":[-180,-85.0511287,180,85.0511287],"center":[0,0,0],"maxzoom":4,"minzoom":0,"name":"World","scheme":"xyz","tilejson":"3.0.0","tiles":["http://maps.example/tiles/world/{z}/{x}/{y}.mvt"],"vector_layers":[{"fields":{},"id":"land"}]}`
	if got, _ := json.Marshal(doc); string(got) != wantJSON {
		t.Errorf("TileJSON\n got %s\nwant %s", got, wantJSON)
	}
	if rec := get(mux, "GET", "http://maps.example/tiles/world.json", "If-None-Match", etag(archiveETag, "json")); rec.Code != 304 {
		t.Errorf("TileJSON If-None-Match: %d", rec.Code)
	}

	_, h2, _, _ := handlerFixture(t, &HandlerOptions{BaseURL: "https://cdn.example/t/"})
	rec = get(h2, "GET", "/world.json")
	if !strings.Contains(rec.Body.String(), `"tiles":["https://cdn.example/t/world/{z}/{x}/{y}.mvt"]`) {
		t.Errorf("TileJSON with BaseURL: %s", rec.Body.String())
	}
	if rec := get(h2, "GET", "/missing.json"); rec.Code != 404 {
		t.Errorf("missing TileJSON: %d", rec.Code)
	}
	if rec := get(h2, "GET", "/.json"); rec.Code != 400 {
		t.Errorf("empty name TileJSON: %d", rec.Code)
	}
}

func FuzzParsePath(f *testing.F) {
	for _, s := range []string{"/world/3/2/5.mvt", "a/b/0/0/0.png", "/world.json", "/../1/0/0.png", "x/31/2147483647/0.pbf"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, p string) {
		req, ok := parsePath(p)
		if !ok {
			return
		}
		for seg := range strings.SplitSeq(req.archive, "/") {
			if seg == "" || seg == "." || seg == ".." || strings.ContainsAny(seg, "\\\x00%?#") {
				t.Fatalf("%q: accepted archive name %q", p, req.archive)
			}
		}
		if !req.json {
			if _, err := TileID(req.z, req.x, req.y); err != nil {
				t.Fatalf("%q: accepted %d/%d/%d: %v", p, req.z, req.x, req.y, err)
			}
		}
	})
}
