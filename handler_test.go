package privates3_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"mime/multipart"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/privates3/privates3"
	"github.com/privates3/privates3/privates3test"
)

// handlerEnv is a fake S3, a Client on it and its handler mounted under /files/ on a loopback
// server (without a ServeMux, so that uncleaned paths reach the handler as sent).
type handlerEnv struct {
	srv  *privates3test.Server
	c    *privates3.Client
	url  string // the handler server's base URL, without the /files/ mount point
	logs *syncBuffer
	hc   *http.Client
}

// newHandlerEnv builds a handlerEnv. cfgFn may adjust the Config (cached objects are those of
// at most 4096 bytes unless it changes that).
func newHandlerEnv(t testing.TB, opts *privates3.HandlerOptions, cfgFn func(*privates3.Config)) *handlerEnv {
	t.Helper()
	logs := &syncBuffer{}
	srv, c := newFake(t, func(cfg *privates3.Config) {
		cfg.MaxCacheableSize = 4096
		cfg.Logger = slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
		if cfgFn != nil {
			cfgFn(cfg)
		}
	})
	hs := httptest.NewServer(http.StripPrefix("/files/", c.Handler(opts)))
	t.Cleanup(hs.Close)
	hc := hs.Client()
	hc.Transport.(*http.Transport).DisableCompression = true // see Content-Encoding as sent
	hc.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return &handlerEnv{srv: srv, c: c, url: hs.URL, logs: logs, hc: hc}
}

// hResponse is a completed exchange.
type hResponse struct {
	status int
	header http.Header
	body   []byte
}

// do sends a request for the raw (already escaped) path after /files/ and reads the whole answer.
func (e *handlerEnv) do(t testing.TB, method, rawPath string, hdr http.Header) hResponse {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), method, e.url+"/files/", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.URL.Opaque = "/files/" + rawPath // sent as is: no client-side cleaning or escaping
	for k, v := range hdr {
		req.Header[k] = v
	}
	resp, err := e.hc.Do(req)
	if err != nil {
		t.Fatalf("%s /files/%s: %v", method, rawPath, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s /files/%s: reading body: %v", method, rawPath, err)
	}
	return hResponse{status: resp.StatusCode, header: resp.Header, body: body}
}

// s3Requests is the number of S3 object requests the fake received.
func s3Requests(srv *privates3test.Server) int {
	return srv.Count(privates3test.OpGetObject) + srv.Count(privates3test.OpHeadObject)
}

// hPattern returns n deterministic bytes that differ at every offset of a small object.
func hPattern(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*7 + i/251)
	}
	return b
}

// hCheckClean fails if resp leaks anything of S3 or the credentials: an x-amz- header, a secret,
// an S3 error text; and if an error body is not the fixed status text.
func hCheckClean(t testing.TB, srv *privates3test.Server, resp hResponse) {
	t.Helper()
	base := srv.BaseCredentials()
	secrets := []string{base.SecretAccessKey, base.SessionToken, base.AccessKeyID}
	for k, vs := range resp.header {
		if strings.HasPrefix(strings.ToLower(k), "x-amz-") {
			t.Errorf("hResponse carries S3 header %s: %q", k, vs)
		}
		for _, v := range vs {
			for _, s := range secrets {
				if s != "" && strings.Contains(v, s) {
					t.Errorf("header %s carries a credential", k)
				}
			}
		}
	}
	for _, s := range secrets {
		if s != "" && bytes.Contains(resp.body, []byte(s)) {
			t.Errorf("body carries a credential")
		}
	}
	if resp.status >= 400 && len(resp.body) != 0 {
		// The handler's fixed text, or the fixed texts of http.ServeContent for ranges.
		switch string(resp.body) {
		case http.StatusText(resp.status) + "\n", "invalid range\n", "invalid range: failed to overlap\n":
		default:
			t.Errorf("error body = %q, want a fixed text", resp.body)
		}
		for _, s := range []string{"<Error>", "<Code>", "<Message>", "RequestId"} {
			if bytes.Contains(resp.body, []byte(s)) {
				t.Errorf("error body carries S3's %s", s)
			}
		}
	}
}

// hCheckBody verifies that a 200 or 206 answer to a GET carries exactly the bytes of content it
// claims (the whole object, one Content-Range, or the parts of a multipart/byteranges answer).
func hCheckBody(t testing.TB, resp hResponse, content []byte) {
	t.Helper()
	switch resp.status {
	case http.StatusOK:
		if !bytes.Equal(resp.body, content) {
			t.Errorf("200 body: %d bytes, want the whole object (%d bytes)", len(resp.body), len(content))
		}
	case http.StatusPartialContent:
		ct := resp.header.Get("Content-Type")
		if mt, params, _ := mime.ParseMediaType(ct); mt == "multipart/byteranges" {
			mr := multipart.NewReader(bytes.NewReader(resp.body), params["boundary"])
			parts := 0
			for {
				p, err := mr.NextPart()
				if err == io.EOF {
					break
				}
				if err != nil {
					t.Fatalf("multipart: %v", err)
				}
				data, _ := io.ReadAll(p)
				hCheckRange(t, p.Header.Get("Content-Range"), data, content)
				parts++
			}
			if parts < 2 {
				t.Errorf("multipart answer with %d parts", parts)
			}
			return
		}
		hCheckRange(t, resp.header.Get("Content-Range"), resp.body, content)
	default:
		return
	}
	if cl := resp.header.Get("Content-Length"); cl != strconv.Itoa(len(resp.body)) {
		t.Errorf("Content-Length = %q, body has %d bytes", cl, len(resp.body))
	}
}

func hCheckRange(t testing.TB, cr string, data, content []byte) {
	t.Helper()
	var first, last, size int64
	if _, err := fmt.Sscanf(cr, "bytes %d-%d/%d", &first, &last, &size); err != nil {
		t.Fatalf("Content-Range %q: %v", cr, err)
	}
	if size != int64(len(content)) || first > last || last >= size {
		t.Fatalf("Content-Range %q for a %d-byte object", cr, len(content))
	}
	if !bytes.Equal(data, content[first:last+1]) {
		t.Errorf("Content-Range %q: the body does not hold those bytes", cr)
	}
}

// hObjectInfo is what the tests know of an object to build conditional requests.
type hObjectInfo struct {
	etag    string
	lastMod time.Time
	size    int
}

func hHeaderOf(kv ...string) http.Header {
	h := http.Header{}
	for i := 0; i+1 < len(kv); i += 2 {
		h.Set(kv[i], kv[i+1])
	}
	return h
}

// TestHandlerStatus runs every status-code case against a cached and a streamed object.
func TestHandlerStatus(t *testing.T) {
	e := newHandlerEnv(t, nil, nil)
	objects := map[string][]byte{
		"cached.txt":   hPattern(1000),     // at most MaxCacheableSize: served from memory
		"streamed.bin": hPattern(64 << 10), // larger: streamed from S3
	}
	info := map[string]hObjectInfo{}
	for k, v := range objects {
		e.srv.PutObject(bucket, k, v)
		r := e.do(t, "GET", k, nil)
		if r.status != 200 {
			t.Fatalf("GET %s = %d", k, r.status)
		}
		lm, err := http.ParseTime(r.header.Get("Last-Modified"))
		if err != nil || !strings.HasPrefix(r.header.Get("Etag"), `"`) {
			t.Fatalf("GET %s: Etag %q, Last-Modified %q", k, r.header.Get("Etag"), r.header.Get("Last-Modified"))
		}
		info[k] = hObjectInfo{etag: r.header.Get("Etag"), lastMod: lm, size: len(v)}
	}
	httpDate := func(t time.Time) string { return t.UTC().Format(http.TimeFormat) }

	type span struct{ first, last int } // inclusive; last < 0 counts from the end
	tests := []struct {
		name   string
		method string
		hdr    func(o hObjectInfo) http.Header
		status int
		span   *span // for 206: the single range expected; nil = no check beyond hCheckBody
		empty  bool  // no body expected
	}{
		{name: "get", method: "GET", status: 200},
		{name: "head", method: "HEAD", status: 200, empty: true},
		{name: "range from zero is 206", method: "GET", status: 206, span: &span{0, -1},
			hdr: func(hObjectInfo) http.Header { return hHeaderOf("Range", "bytes=0-") }},
		{name: "range", method: "GET", status: 206, span: &span{10, 19},
			hdr: func(hObjectInfo) http.Header { return hHeaderOf("Range", "bytes=10-19") }},
		{name: "range past the end is clipped", method: "GET", status: 206, span: &span{990, -1},
			hdr: func(o hObjectInfo) http.Header { return hHeaderOf("Range", fmt.Sprintf("bytes=990-%d", o.size+100)) }},
		{name: "suffix range", method: "GET", status: 206, span: &span{-10, -1},
			hdr: func(hObjectInfo) http.Header { return hHeaderOf("Range", "bytes=-10") }},
		{name: "unsatisfiable range", method: "GET", status: 416, empty: false,
			hdr: func(o hObjectInfo) http.Header { return hHeaderOf("Range", fmt.Sprintf("bytes=%d-", o.size+5)) }},
		{name: "empty suffix range", method: "GET", status: 416,
			hdr: func(hObjectInfo) http.Header { return hHeaderOf("Range", "bytes=-0") }},
		{name: "multiple ranges", method: "GET", status: -1, // 206 multipart or 200, as long as correct
			hdr: func(hObjectInfo) http.Header { return hHeaderOf("Range", "bytes=0-1,5-9,100-") }},
		{name: "malformed range is ignored", method: "GET", status: 200,
			hdr: func(hObjectInfo) http.Header { return hHeaderOf("Range", "bytes=x-y") }},
		{name: "other unit is ignored", method: "GET", status: 200,
			hdr: func(hObjectInfo) http.Header { return hHeaderOf("Range", "items=0-1") }},
		{name: "reversed range is ignored", method: "GET", status: 200,
			hdr: func(hObjectInfo) http.Header { return hHeaderOf("Range", "bytes=9-5") }},
		{name: "if-none-match current", method: "GET", status: 304, empty: true,
			hdr: func(o hObjectInfo) http.Header { return hHeaderOf("If-None-Match", o.etag) }},
		{name: "if-none-match weak current", method: "GET", status: 304, empty: true,
			hdr: func(o hObjectInfo) http.Header { return hHeaderOf("If-None-Match", `"x", W/`+o.etag) }},
		{name: "if-none-match star", method: "GET", status: 304, empty: true,
			hdr: func(o hObjectInfo) http.Header { return hHeaderOf("If-None-Match", "*") }},
		{name: "if-none-match head", method: "HEAD", status: 304, empty: true,
			hdr: func(o hObjectInfo) http.Header { return hHeaderOf("If-None-Match", o.etag) }},
		{name: "if-none-match stale", method: "GET", status: 200,
			hdr: func(o hObjectInfo) http.Header { return hHeaderOf("If-None-Match", `"stale"`) }},
		{name: "if-none-match wins over range", method: "GET", status: 304, empty: true,
			hdr: func(o hObjectInfo) http.Header { return hHeaderOf("If-None-Match", o.etag, "Range", "bytes=0-1") }},
		{name: "if-modified-since equal", method: "GET", status: 304, empty: true,
			hdr: func(o hObjectInfo) http.Header { return hHeaderOf("If-Modified-Since", httpDate(o.lastMod)) }},
		{name: "if-modified-since earlier", method: "GET", status: 200,
			hdr: func(o hObjectInfo) http.Header {
				return hHeaderOf("If-Modified-Since", httpDate(o.lastMod.Add(-time.Hour)))
			}},
		{name: "if-none-match overrides if-modified-since", method: "GET", status: 200,
			hdr: func(o hObjectInfo) http.Header {
				return hHeaderOf("If-None-Match", `"stale"`, "If-Modified-Since", httpDate(o.lastMod))
			}},
		{name: "if-match current", method: "GET", status: 200,
			hdr: func(o hObjectInfo) http.Header { return hHeaderOf("If-Match", o.etag) }},
		{name: "if-match stale", method: "GET", status: 412,
			hdr: func(o hObjectInfo) http.Header { return hHeaderOf("If-Match", `"stale"`) }},
		{name: "if-match weak never matches", method: "GET", status: 412,
			hdr: func(o hObjectInfo) http.Header { return hHeaderOf("If-Match", "W/"+o.etag) }},
		{name: "if-match stale head", method: "HEAD", status: 412, empty: true,
			hdr: func(o hObjectInfo) http.Header { return hHeaderOf("If-Match", `"stale"`) }},
		{name: "if-unmodified-since earlier", method: "GET", status: 412,
			hdr: func(o hObjectInfo) http.Header {
				return hHeaderOf("If-Unmodified-Since", httpDate(o.lastMod.Add(-time.Hour)))
			}},
		{name: "if-unmodified-since equal", method: "GET", status: 200,
			hdr: func(o hObjectInfo) http.Header { return hHeaderOf("If-Unmodified-Since", httpDate(o.lastMod)) }},
		{name: "if-range current etag", method: "GET", status: 206, span: &span{2, 5},
			hdr: func(o hObjectInfo) http.Header { return hHeaderOf("Range", "bytes=2-5", "If-Range", o.etag) }},
		{name: "if-range stale etag gives the whole object", method: "GET", status: 200,
			hdr: func(o hObjectInfo) http.Header { return hHeaderOf("Range", "bytes=2-5", "If-Range", `"stale"`) }},
		{name: "if-range current date", method: "GET", status: 206, span: &span{2, 5},
			hdr: func(o hObjectInfo) http.Header {
				return hHeaderOf("Range", "bytes=2-5", "If-Range", httpDate(o.lastMod))
			}},
		{name: "if-range stale date", method: "GET", status: 200,
			hdr: func(o hObjectInfo) http.Header {
				return hHeaderOf("Range", "bytes=2-5", "If-Range", httpDate(o.lastMod.Add(-time.Hour)))
			}},
		{name: "if-range stale with unsatisfiable range", method: "GET", status: 200,
			hdr: func(o hObjectInfo) http.Header {
				return hHeaderOf("Range", fmt.Sprintf("bytes=%d-", o.size+5), "If-Range", `"stale"`)
			}},
	}
	for _, key := range []string{"cached.txt", "streamed.bin"} {
		content, o := objects[key], info[key]
		for _, tt := range tests {
			t.Run(key+"/"+tt.name, func(t *testing.T) {
				var hdr http.Header
				if tt.hdr != nil {
					hdr = tt.hdr(o)
				}
				before := e.srv.Count(privates3test.OpGetObject)
				r := e.do(t, tt.method, key, hdr)
				hCheckClean(t, e.srv, r)
				switch {
				case tt.status == -1 && (r.status == 200 || r.status == 206):
				case r.status != tt.status:
					t.Fatalf("status %d, want %d (body %q)", r.status, tt.status, r.body)
				}
				if tt.method == "HEAD" && e.srv.Count(privates3test.OpGetObject) != before {
					t.Errorf("HEAD sent a GetObject to S3")
				}
				if tt.empty && len(r.body) != 0 {
					t.Errorf("body of %d bytes, want none", len(r.body))
				}
				if tt.method == "GET" {
					hCheckBody(t, r, content)
				}
				if tt.span != nil {
					first, last := tt.span.first, tt.span.last
					if first < 0 {
						first += len(content)
					}
					if last < 0 {
						last += len(content)
					}
					want := fmt.Sprintf("bytes %d-%d/%d", first, last, len(content))
					if got := r.header.Get("Content-Range"); got != want {
						t.Errorf("Content-Range = %q, want %q", got, want)
					}
				}
				switch r.status {
				case 200, 206:
					hWantHeaders(t, r.header, map[string]string{
						"Etag": o.etag, "Last-Modified": httpDate(o.lastMod), "Accept-Ranges": "bytes",
						"X-Content-Type-Options": "nosniff", "Cache-Control": privates3.DefaultHandlerCacheControl,
					})
					if tt.method == "HEAD" {
						if got := r.header.Get("Content-Length"); got != strconv.Itoa(len(content)) {
							t.Errorf("HEAD Content-Length = %q, want %d", got, len(content))
						}
					}
				case 304:
					hWantHeaders(t, r.header, map[string]string{"Etag": o.etag, "Content-Type": "", "Content-Encoding": ""})
				case 416:
					hWantHeaders(t, r.header, map[string]string{"Content-Range": fmt.Sprintf("bytes */%d", len(content))})
				}
			})
		}
	}
}

// hWantHeaders checks header values; "" means absent.
func hWantHeaders(t testing.TB, h http.Header, want map[string]string) {
	t.Helper()
	for k, v := range want {
		if got := h.Get(k); got != v {
			t.Errorf("%s = %q, want %q", k, got, v)
		}
	}
}

// TestHandlerHeaders checks the representation headers, and that nothing else of S3 is passed on.
func TestHandlerHeaders(t *testing.T) {
	e := newHandlerEnv(t, nil, nil)
	big := hPattern(10000)
	puts := []struct {
		key  string
		body []byte
		opts []privates3test.ObjectOption
	}{
		{"typed.bin", []byte("x"), []privates3test.ObjectOption{privates3test.ContentType("image/png")}},
		{"page.html", []byte("<p>"), nil},
		{"noext", []byte("x"), nil},
		{"tile.pbf", []byte("\x1f\x8bgzipped"), []privates3test.ObjectOption{
			privates3test.ContentType("application/vnd.mapbox-vector-tile"), privates3test.ContentEncoding("gzip")}},
		{"big-tile.pbf", big, []privates3test.ObjectOption{privates3test.ContentEncoding("gzip")}},
		{"cc.txt", []byte("x"), []privates3test.ObjectOption{privates3test.CacheControl("public, max-age=3600")}},
		{"meta.txt", []byte("x"), []privates3test.ObjectOption{privates3test.Metadata("owner", "secret-owner")}},
		{"big-meta.bin", big, []privates3test.ObjectOption{privates3test.Metadata("owner", "secret-owner"), privates3test.CacheControl("no-cache")}},
	}
	for _, p := range puts {
		e.srv.PutObject(bucket, p.key, p.body, p.opts...)
	}
	tests := []struct {
		key, method string
		want        map[string]string
	}{
		{"typed.bin", "GET", map[string]string{"Content-Type": "image/png", "Content-Length": "1"}},
		{"page.html", "GET", map[string]string{"Content-Type": "text/html; charset=utf-8"}},
		{"noext", "GET", map[string]string{"Content-Type": "application/octet-stream"}},
		{"tile.pbf", "GET", map[string]string{"Content-Type": "application/vnd.mapbox-vector-tile",
			"Content-Encoding": "gzip", "Content-Length": "9"}},
		{"tile.pbf", "HEAD", map[string]string{"Content-Encoding": "gzip", "Content-Length": "9"}},
		{"big-tile.pbf", "GET", map[string]string{"Content-Type": "application/octet-stream",
			"Content-Encoding": "gzip", "Content-Length": "10000"}},
		{"big-tile.pbf", "HEAD", map[string]string{"Content-Encoding": "gzip", "Content-Length": "10000"}},
		{"cc.txt", "GET", map[string]string{"Cache-Control": "public, max-age=3600"}},
		{"meta.txt", "GET", map[string]string{"Cache-Control": privates3.DefaultHandlerCacheControl}},
		{"big-meta.bin", "GET", map[string]string{"Cache-Control": "no-cache"}},
	}
	for _, tt := range tests {
		t.Run(tt.method+" "+tt.key, func(t *testing.T) {
			r := e.do(t, tt.method, tt.key, nil)
			if r.status != 200 {
				t.Fatalf("status %d", r.status)
			}
			hCheckClean(t, e.srv, r)
			hWantHeaders(t, r.header, tt.want)
			hWantHeaders(t, r.header, map[string]string{"X-Content-Type-Options": "nosniff", "Accept-Ranges": "bytes"})
			allowed := map[string]bool{"Content-Type": true, "Content-Encoding": true, "Content-Length": true,
				"Etag": true, "Last-Modified": true, "Accept-Ranges": true, "Cache-Control": true,
				"X-Content-Type-Options": true, "Date": true}
			for k := range r.header {
				if !allowed[k] {
					t.Errorf("unexpected header %s: %q", k, r.header[k])
				}
			}
			for k, v := range r.header {
				if strings.Contains(strings.Join(v, " "), "secret-owner") {
					t.Errorf("header %s carries object metadata", k)
				}
			}
		})
	}

	t.Run("CacheControl option", func(t *testing.T) {
		e := newHandlerEnv(t, &privates3.HandlerOptions{CacheControl: "public, max-age=86400, immutable"}, nil)
		e.srv.PutObject(bucket, "a.txt", []byte("x"), privates3test.CacheControl("no-cache"))
		e.srv.PutObject(bucket, "b.bin", big, privates3test.CacheControl("no-cache"))
		for _, k := range []string{"a.txt", "b.bin"} {
			r := e.do(t, "GET", k, nil)
			hWantHeaders(t, r.header, map[string]string{"Cache-Control": "public, max-age=86400, immutable"})
		}
	})
}

// TestHandlerMethods checks that only GET and HEAD are served.
func TestHandlerMethods(t *testing.T) {
	e := newHandlerEnv(t, nil, nil)
	e.srv.PutObject(bucket, "a.txt", []byte("x"))
	e.srv.ResetCounts()
	for _, m := range []string{"POST", "PUT", "DELETE", "PATCH", "OPTIONS", "TRACE", "PROPFIND"} {
		t.Run(m, func(t *testing.T) {
			r := e.do(t, m, "a.txt", nil)
			hCheckClean(t, e.srv, r)
			if r.status != 405 || r.header.Get("Allow") != "GET, HEAD" {
				t.Errorf("status %d, Allow %q; want 405, \"GET, HEAD\"", r.status, r.header.Get("Allow"))
			}
		})
	}
	if n := s3Requests(e.srv); n != 0 {
		t.Errorf("S3 received %d requests", n)
	}
}

// TestHandlerNotFound checks 404 for cached and uncached misses, without echoing the key.
func TestHandlerNotFound(t *testing.T) {
	e := newHandlerEnv(t, nil, nil)
	for _, m := range []string{"GET", "HEAD", "GET"} {
		r := e.do(t, m, "no/such/key-marker.txt", nil)
		hCheckClean(t, e.srv, r)
		if r.status != 404 {
			t.Fatalf("%s: status %d, want 404", m, r.status)
		}
		if bytes.Contains(r.body, []byte("key-marker")) {
			t.Errorf("404 body echoes the key")
		}
	}
}

// TestHandlerBadKeys sends keys that must never reach S3.
func TestHandlerBadKeys(t *testing.T) {
	e := newHandlerEnv(t, nil, func(cfg *privates3.Config) { cfg.Prefix = "public/" })
	e.srv.PutObject(bucket, "secret/x", []byte("secret"))
	e.srv.PutObject(bucket, "public/ok", []byte("ok"))
	if r := e.do(t, "GET", "ok", nil); r.status != 200 {
		t.Fatalf("GET ok: %d", r.status)
	}
	e.srv.ResetCounts()
	long := strings.Repeat("a", 2000)
	tests := []struct{ name, raw string }{
		{"empty key", ""},
		{"dot dot", "../secret/x"},
		{"dot dot inside", "a/../../secret/x"},
		{"encoded dot dot", "%2e%2e/secret/x"},
		{"encoded dot dot upper", "%2E%2E/secret/x"},
		{"mixed dot dot", ".%2e/secret/x"},
		{"dot segment", "./ok"},
		{"trailing dot dot", "a/.."},
		{"double slash", "a//b"},
		{"leading double slash", "/ok"},
		{"trailing slash", "a/"},
		{"encoded slash dot dot", "a%2f..%2fsecret"},
		{"backslash", `..\secret\x`},
		{"encoded backslash", "..%5csecret%5cx"},
		{"NUL", "ok%00.png"},
		{"control byte", "ok%01"},
		{"DEL", "ok%7f"},
		{"newline", "ok%0a"},
		{"invalid UTF-8", "ok%ff%fe"},
		{"overlong UTF-8 dot", "%c0%ae%c0%ae/secret/x"},
		{"2000-byte key", long},
		{"key over the limit with the prefix", strings.Repeat("b", privates3.MaxKeyLength-len("public/")+1)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, m := range []string{"GET", "HEAD"} {
				r := e.do(t, m, tt.raw, nil)
				hCheckClean(t, e.srv, r)
				if r.status != 400 {
					t.Errorf("%s: status %d, want 400", m, r.status)
				}
			}
		})
	}
	if n := s3Requests(e.srv); n != 0 {
		t.Errorf("S3 received %d object requests for invalid keys", n)
	}
	// The longest valid key is still accepted (and not found).
	if r := e.do(t, "GET", strings.Repeat("b", privates3.MaxKeyLength-len("public/")), nil); r.status != 404 {
		t.Errorf("longest valid key: status %d, want 404", r.status)
	}
}

// TestHandlerKeyFunc checks a custom key function and its errors.
func TestHandlerKeyFunc(t *testing.T) {
	e := newHandlerEnv(t, &privates3.HandlerOptions{Key: func(r *http.Request) (string, error) {
		k := r.URL.Query().Get("k")
		if k == "refuse" {
			return "", errors.New("no")
		}
		return k, nil
	}}, nil)
	e.srv.PutObject(bucket, "q/a.txt", []byte("hello"))
	e.srv.ResetCounts()
	for _, tt := range []struct {
		raw    string
		status int
	}{
		{"anything?k=q/a.txt", 200},
		{"anything?k=refuse", 400},
		{"anything?k=q/../a.txt", 400},
		{"anything", 400},
	} {
		if r := e.do(t, "GET", tt.raw, nil); r.status != tt.status {
			t.Errorf("%s: status %d, want %d", tt.raw, r.status, tt.status)
		}
	}
	if n := s3Requests(e.srv); n != 1 {
		t.Errorf("S3 received %d object requests, want 1", n)
	}
}

// TestHandlerAuthorize checks that the hook sees the key and that its refusals fetch nothing.
func TestHandlerAuthorize(t *testing.T) {
	var mu sync.Mutex
	var seen []string
	e := newHandlerEnv(t, &privates3.HandlerOptions{
		Challenge: `Bearer realm="tiles"`,
		Authorize: func(r *http.Request, key string) error {
			mu.Lock()
			seen = append(seen, key)
			mu.Unlock()
			switch r.Header.Get("Authorization") {
			case "":
				return fmt.Errorf("no token: %w", privates3.ErrUnauthorized)
			case "Bearer good":
				return nil
			}
			return errors.New("token lacks the tiles scope: do-not-echo")
		},
	}, nil)
	e.srv.PutObject(bucket, "t/1.png", []byte("png"))
	e.srv.ResetCounts()
	tests := []struct {
		auth      string
		status    int
		challenge string
	}{
		{"", 401, `Bearer realm="tiles"`},
		{"Bearer bad", 403, ""},
		{"Bearer good", 200, ""},
	}
	for _, tt := range tests {
		r := e.do(t, "GET", "t/1.png", hHeaderOf("Authorization", tt.auth))
		hCheckClean(t, e.srv, r)
		if r.status != tt.status || r.header.Get("Www-Authenticate") != tt.challenge {
			t.Errorf("auth %q: status %d, WWW-Authenticate %q; want %d, %q", tt.auth, r.status,
				r.header.Get("Www-Authenticate"), tt.status, tt.challenge)
		}
		if bytes.Contains(r.body, []byte("do-not-echo")) {
			t.Errorf("the hook's error reached the client")
		}
	}
	if n := s3Requests(e.srv); n != 1 {
		t.Errorf("S3 received %d object requests, want 1 (the authorized one)", n)
	}
	// Invalid keys are refused before the hook.
	e.do(t, "GET", "t/../x", hHeaderOf("Authorization", "Bearer good"))
	mu.Lock()
	defer mu.Unlock()
	if want := []string{"t/1.png", "t/1.png", "t/1.png"}; strings.Join(seen, ",") != strings.Join(want, ",") {
		t.Errorf("Authorize saw %q, want %q", seen, want)
	}
}

// TestHandlerFaults maps every fault mode of the fake to the handler's status.
func TestHandlerFaults(t *testing.T) {
	e := newHandlerEnv(t, nil, func(cfg *privates3.Config) {
		cfg.FetchTimeout = 500 * time.Millisecond
		cfg.NegativeTTL = -1
		aws := cfg.AWS.Copy()
		aws.Retryer = hNoRetries
		cfg.AWS = &aws
	})
	big := hPattern(10000)
	e.srv.PutObject(bucket, "small.txt", []byte("small"))
	e.srv.PutObject(bucket, "big.bin", big)
	tests := []struct {
		name       string
		fault      privates3test.Fault
		status     int
		retryAfter bool
		log        string // a log line must contain it
	}{
		{"throttled", privates3test.Fault{Status: 503, Code: "SlowDown"}, 503, true, ""},
		{"internal error", privates3test.Fault{Status: 500, Code: "InternalError"}, 502, false, ""},
		{"access denied", privates3test.Fault{Status: 403, Code: "AccessDenied"}, 403, false, "AccessDenied"},
		{"latency beyond FetchTimeout", privates3test.Fault{Latency: 3 * time.Second}, 504, false, ""},
		{"hang", privates3test.Fault{Hang: true}, 504, false, ""},
		{"drop", privates3test.Fault{Drop: true}, 502, false, ""},
	}
	for _, tt := range tests {
		for _, key := range []string{"small.txt", "big.bin"} {
			for _, m := range []string{"GET", "HEAD"} {
				t.Run(tt.name+"/"+key+"/"+m, func(t *testing.T) {
					f := tt.fault
					f.Key = key
					remove := e.srv.InjectFault(f)
					defer remove()
					r := e.do(t, m, key, nil)
					hCheckClean(t, e.srv, r)
					if r.status != tt.status {
						t.Fatalf("status %d, want %d", r.status, tt.status)
					}
					if got := r.header.Get("Retry-After") != ""; got != tt.retryAfter {
						t.Errorf("Retry-After %q", r.header.Get("Retry-After"))
					}
					if tt.log != "" && !strings.Contains(e.logs.String(), tt.log) {
						t.Errorf("no log line names %s:\n%s", tt.log, e.logs.String())
					}
				})
			}
		}
	}
	e.srv.ClearFaults()
	if r := e.do(t, "GET", "small.txt", nil); r.status != 200 {
		t.Errorf("after the faults: status %d", r.status)
	}
}

// hNoRetries makes fault tests deterministic: one upstream attempt per fetch.
func hNoRetries() aws.Retryer { return aws.NopRetryer{} }

// TestHandlerServerSide checks the clean answers to failures on the server's side: 503 after
// Client.Close, and 500 for a presign misconfiguration in redirect mode.
func TestHandlerServerSide(t *testing.T) {
	tests := []struct {
		name  string
		opts  *privates3.HandlerOptions
		setup func(*handlerEnv)
		key   string
		want  int
	}{
		{"closed", nil, func(e *handlerEnv) {
			e.srv.PutObject(bucket, "a.txt", []byte("x"))
			e.c.Close()
		}, "a.txt", 503},
		{"redirect with a bad presign option", &privates3.HandlerOptions{Mode: privates3.Redirect,
			Presign: &privates3.PresignOptions{Expiry: 30 * 24 * time.Hour}}, nil, "a", 500},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newHandlerEnv(t, tt.opts, nil)
			if tt.setup != nil {
				tt.setup(e)
			}
			r := e.do(t, "GET", tt.key, nil)
			hCheckClean(t, e.srv, r)
			if r.status != tt.want {
				t.Errorf("status %d, want %d", r.status, tt.want)
			}
		})
	}
}

// TestHandlerHeadLarge checks that HEAD on a large object downloads nothing.
func TestHandlerHeadLarge(t *testing.T) {
	e := newHandlerEnv(t, nil, nil)
	const size = 1 << 30
	e.srv.PutSyntheticObject(bucket, "huge.bin", size)
	e.srv.ResetCounts()
	for _, hdr := range []http.Header{nil, hHeaderOf("Range", "bytes=0-")} {
		r := e.do(t, "HEAD", "huge.bin", hdr)
		if r.status != 200 && r.status != 206 {
			t.Fatalf("status %d", r.status)
		}
		if r.status == 200 && r.header.Get("Content-Length") != strconv.Itoa(size) {
			t.Errorf("Content-Length %q, want %d", r.header.Get("Content-Length"), size)
		}
	}
	if n := e.srv.Count(privates3test.OpGetObject); n != 0 {
		t.Errorf("HEAD sent %d GetObject requests", n)
	}
	if n := e.srv.Count(privates3test.OpHeadObject); n < 1 {
		t.Errorf("HEAD sent no HeadObject")
	}
}

// TestHandlerRedirect checks Redirect mode: a 307 to a URL that works, cacheable for less than
// the URL lives.
func TestHandlerRedirect(t *testing.T) {
	e := newHandlerEnv(t, &privates3.HandlerOptions{Mode: privates3.Redirect,
		Presign: &privates3.PresignOptions{Expiry: 30 * time.Minute}}, nil)
	content := hPattern(5000)
	e.srv.PutObject(bucket, "r/a.bin", content)
	e.srv.ResetCounts()
	var locations []string
	for _, m := range []string{"GET", "HEAD", "GET"} {
		r := e.do(t, m, "r/a.bin", nil)
		hCheckClean(t, e.srv, r)
		if r.status != http.StatusTemporaryRedirect {
			t.Fatalf("%s: status %d, want 307", m, r.status)
		}
		loc := r.header.Get("Location")
		locations = append(locations, loc)
		var maxAge int
		if _, err := fmt.Sscanf(r.header.Get("Cache-Control"), "private, max-age=%d", &maxAge); err != nil {
			t.Fatalf("Cache-Control %q: %v", r.header.Get("Cache-Control"), err)
		}
		u, err := url.Parse(loc)
		if err != nil {
			t.Fatal(err)
		}
		signed, err := time.Parse("20060102T150405Z", u.Query().Get("X-Amz-Date"))
		if err != nil {
			t.Fatalf("Location without X-Amz-Date: %v", err)
		}
		expires, _ := strconv.Atoi(u.Query().Get("X-Amz-Expires"))
		left := signed.Add(time.Duration(expires) * time.Second).Sub(e.srv.Now())
		if maxAge <= 0 || time.Duration(maxAge)*time.Second >= left {
			t.Errorf("max-age=%d, but the URL lives %v more", maxAge, left)
		}
	}
	if locations[0] != locations[2] {
		t.Errorf("the presigned URL changed between two requests in one window")
	}
	if n := s3Requests(e.srv); n != 0 {
		t.Errorf("redirect mode sent %d object requests", n)
	}
	// The URL works, with the client's range.
	req, _ := http.NewRequest("GET", locations[0], nil)
	req.Header.Set("Range", "bytes=0-")
	resp, err := e.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 206 || !bytes.Equal(body, content) {
		t.Errorf("following the redirect: status %d, %d bytes", resp.StatusCode, len(body))
	}
	// Bad keys are still refused.
	if r := e.do(t, "GET", "r/../x", nil); r.status != 400 {
		t.Errorf("bad key in redirect mode: %d", r.status)
	}
}

// TestHandlerServeMux checks mounting under a ServeMux with StripPrefix, as the README shows:
// the mux cleans traversal attempts (a redirect), and nothing reaches S3.
func TestHandlerServeMux(t *testing.T) {
	e := newHandlerEnv(t, nil, nil)
	e.srv.PutObject(bucket, "3/4/2.png", []byte("png"))
	mux := http.NewServeMux()
	mux.Handle("/tiles/", http.StripPrefix("/tiles/", e.c.Handler(nil)))
	hs := httptest.NewServer(mux)
	defer hs.Close()
	e.srv.ResetCounts()
	for _, tt := range []struct {
		path string
		ok   bool // else a redirect (the mux cleaned the path) or 400
	}{
		{"/tiles/3/4/2.png", true},
		{"/tiles/3/4/../../../secret", false},
		{"/tiles/3//4/2.png", false},
		{"/tiles/3/4/%2e%2e/x", false},
		{"/tiles/3/4/%2E%2E/%2E%2E/%2E%2E/secret", false},
	} {
		conn, err := net.Dial("tcp", hs.Listener.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(conn, "GET %s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", tt.path)
		var status int
		fmt.Fscanf(conn, "HTTP/1.1 %d", &status)
		conn.Close()
		if tt.ok && status != 200 || !tt.ok && status != 400 && (status < 300 || status > 399) {
			t.Errorf("%s: status %d", tt.path, status)
		}
	}
	if n := s3Requests(e.srv); n != 1 {
		t.Errorf("S3 received %d object requests, want 1", n)
	}
}

// TestHandlerParsers checks the small parsers behind the streamed-object path.
func TestHandlerParsers(t *testing.T) {
	for _, tt := range []struct {
		v, satisfiable string
		n              int
	}{
		{"bytes=0-", "bytes=0-", 1}, {"bytes=0-0", "bytes=0-0", 1}, {"bytes=-5", "bytes=-5", 1},
		{"bytes=10-20", "bytes=10-20", 1}, {"bytes= 1-2", "bytes= 1-2", 1},
		{"bytes=0-1,3-4", "bytes=0-1,3-4", 2}, {"bytes=0-1, ,-4,", "bytes=0-1, ,-4,", 2},
		{"bytes=-0", "", 1}, {"bytes=-000", "", 1}, {"bytes=-0,-0", "", 2}, {"bytes=1-2,-0, 3-", "bytes=1-2,3-", 3},
		{"bytes=2-1", "", 0}, {"bytes=0-1,2-1", "", 0}, {"bytes=", "", 0}, {"bytes=,", "", 0},
		{"bytes=-", "", 0}, {"bytes=a-", "", 0}, {"bytes=1", "", 0}, {"items=0-1", "", 0},
		{"Bytes=0-1", "", 0}, {"bytes=-1-2", "", 0}, {"bytes=+1-2", "", 0},
		{"bytes=1234567890123456789-", "", 0},
	} {
		n, satisfiable := privates3.RangeSpecs(tt.v)
		if n != tt.n || satisfiable != tt.satisfiable {
			t.Errorf("RangeSpecs(%q) = %d, %q; want %d, %q", tt.v, n, satisfiable, tt.n, tt.satisfiable)
		}
	}
}

// hRecordingWriter records whether anything was written.
type hRecordingWriter struct {
	header  http.Header
	written bool
}

func (w *hRecordingWriter) Header() http.Header { return w.header }
func (w *hRecordingWriter) WriteHeader(int)     { w.written = true }
func (w *hRecordingWriter) Write(p []byte) (int, error) {
	w.written = true
	return len(p), nil
}

// TestHandlerClientGone checks that nothing is written for a client that has gone away, before
// or while the object is fetched, and that it is logged at debug level only.
func TestHandlerClientGone(t *testing.T) {
	e := newHandlerEnv(t, nil, nil)
	e.srv.PutObject(bucket, "small.txt", []byte("small"))
	e.srv.PutObject(bucket, "big.bin", hPattern(10000))
	h := e.c.Handler(nil)
	for _, key := range []string{"small.txt", "big.bin"} {
		for _, hang := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/hang=%v", key, hang), func(t *testing.T) {
				ctx, cancel := context.WithCancel(t.Context())
				if hang {
					defer e.srv.InjectFault(privates3test.Fault{Key: key, Hang: true})()
					e.srv.ResetCounts()
					// Leave once the request is at S3.
					go func() {
						for e.srv.CountKey(privates3test.OpGetObject, key) == 0 {
							time.Sleep(time.Millisecond)
						}
						cancel()
					}()
				} else {
					cancel()
				}
				req := httptest.NewRequestWithContext(ctx, "GET", "/", nil)
				req.URL.Path = key
				w := &hRecordingWriter{header: http.Header{}}
				h.ServeHTTP(w, req)
				cancel()
				if w.written || len(w.header) != 0 {
					t.Errorf("wrote to a client that had gone: headers %v", w.header)
				}
			})
		}
	}
	logs := e.logs.String()
	if !strings.Contains(logs, "level=DEBUG") || !strings.Contains(logs, "client gone") {
		t.Errorf("no debug line for the client gone:\n%s", logs)
	}
	if strings.Contains(logs, "level=WARN") || strings.Contains(logs, "level=ERROR") {
		t.Errorf("a client going away was logged above debug:\n%s", logs)
	}
}
