package privates3_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/privates3/privates3"
)

// hServeDirect calls h without a network, for fuzzing: the fake still answers over loopback.
func hServeDirect(t testing.TB, h http.Handler, method, path string, hdr http.Header) hResponse {
	t.Helper()
	req := httptest.NewRequestWithContext(t.Context(), method, "/", nil)
	req.URL.Path = path
	req.URL.RawPath = ""
	for k, v := range hdr {
		req.Header[k] = v
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	resp := rec.Result()
	return hResponse{status: resp.StatusCode, header: resp.Header, body: rec.Body.Bytes()}
}

// FuzzHandlerKey checks that no request path makes the handler fail with a 5xx or panic, that
// refused keys never reach S3, and that the keys it accepts are served correctly.
func FuzzHandlerKey(f *testing.F) {
	e := newHandlerEnv(f, nil, func(cfg *privates3.Config) { cfg.Prefix = "p/" })
	content := []byte("object a/b.txt")
	e.srv.PutObject(bucket, "p/a/b.txt", content)
	e.srv.PutObject(bucket, "secret", []byte("outside the prefix"))
	h := e.c.Handler(nil)
	for _, seed := range []string{
		"a/b.txt", "", "/", "a", "a/", "/a/b.txt", "a//b.txt", "../secret", "a/../../secret",
		"./a/b.txt", `a\b.txt`, "a/b.txt\x00", "a/\x01", "a/\x7f", "\xff\xfe", "\xc0\xae\xc0\xae/secret",
		"a/b.txt/..", strings.Repeat("x/", 600), strings.Repeat("é", 600), "..", ".", "a/./b.txt",
		"a/b.txt?x=1", "a/b.txt#frag", "%2e%2e/secret",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, key string) {
		before := s3Requests(e.srv)
		for _, m := range []string{"GET", "HEAD"} {
			r := hServeDirect(t, h, m, key, nil)
			hCheckClean(t, e.srv, r)
			switch r.status {
			case 200:
				if key != "a/b.txt" {
					t.Fatalf("%s %q: 200", m, key)
				}
				if m == "GET" {
					hCheckBody(t, r, content)
				}
			case 400:
				if n := s3Requests(e.srv); n != before {
					t.Fatalf("%s %q: refused with 400 but S3 received %d requests", m, key, n-before)
				}
			case 404:
			default:
				t.Fatalf("%s %q: status %d", m, key, r.status)
			}
		}
	})
}

// FuzzHandlerRange checks the Range and conditional handling of cached and streamed objects:
// never a 5xx or a panic, and every 200 or 206 carries exactly the bytes it claims.
func FuzzHandlerRange(f *testing.F) {
	e := newHandlerEnv(f, nil, nil)
	objects := map[bool][]byte{false: hPattern(1000), true: hPattern(20000)}
	e.srv.PutObject(bucket, "cached", objects[false])
	e.srv.PutObject(bucket, "streamed", objects[true])
	h := e.c.Handler(nil)
	etag := hServeDirect(f, h, "HEAD", "cached", nil).header.Get("Etag")
	streamedETag := hServeDirect(f, h, "HEAD", "streamed", nil).header.Get("Etag")
	lastMod := hServeDirect(f, h, "HEAD", "cached", nil).header.Get("Last-Modified")
	type seed struct {
		rng, ifRange, inm, im, ims, ius string
	}
	for _, s := range []seed{
		{rng: "bytes=0-"}, {rng: "bytes=-1"}, {rng: "bytes=-0"}, {rng: "bytes=0-0"}, {rng: "bytes=999-"},
		{rng: "bytes=1000-"}, {rng: "bytes=19999-"}, {rng: "bytes=20000-"}, {rng: "bytes=5-4"},
		{rng: "bytes=0-1,1-2"}, {rng: "bytes=0-1,-1"}, {rng: "bytes=0-0,0-0,0-0,0-0"}, {rng: "bytes= 7 - 9 "},
		{rng: "bytes=99999999999999999999-"}, {rng: "bytes=--1"}, {rng: "bytes=,"}, {rng: "bytes=1-2,"},
		{rng: "bytes=0-", ifRange: etag}, {rng: "bytes=0-", ifRange: streamedETag}, {rng: "bytes=3-", ifRange: lastMod},
		{rng: "bytes=3-", ifRange: "W/" + etag}, {rng: "bytes=3-", ifRange: "garbage"},
		{inm: etag}, {inm: streamedETag}, {inm: "*"}, {inm: `W/"x", ` + etag}, {inm: `"`},
		{im: etag}, {im: "*"}, {im: `"x"`}, {im: ","},
		{ims: lastMod}, {ims: "Mon, 01 Jan 2001 00:00:00 GMT"}, {ims: "garbage"},
		{ius: lastMod}, {ius: "Mon, 01 Jan 2001 00:00:00 GMT"}, {ius: "Sun, 06 Nov 1994 08:49:37 GMT"},
		{rng: "bytes=50000-", inm: etag}, {rng: "bytes=50000-", im: `"x"`}, {rng: "bytes=50000-", ifRange: `"x"`},
	} {
		f.Add(s.rng, s.ifRange, s.inm, s.im, s.ims, s.ius, false, false)
		f.Add(s.rng, s.ifRange, s.inm, s.im, s.ims, s.ius, true, false)
		f.Add(s.rng, s.ifRange, s.inm, s.im, s.ims, s.ius, true, true)
	}
	f.Fuzz(func(t *testing.T, rng, ifRange, inm, im, ims, ius string, streamed, head bool) {
		hdr := http.Header{}
		for k, v := range map[string]string{"Range": rng, "If-Range": ifRange, "If-None-Match": inm,
			"If-Match": im, "If-Modified-Since": ims, "If-Unmodified-Since": ius} {
			if v != "" {
				hdr.Set(k, v)
			}
		}
		key, method := "cached", "GET"
		if streamed {
			key = "streamed"
		}
		if head {
			method = "HEAD"
		}
		r := hServeDirect(t, h, method, key, hdr)
		hCheckClean(t, e.srv, r)
		switch r.status {
		case 200, 206:
			if !head {
				hCheckBody(t, r, objects[streamed])
			}
		case 304, 412, 416:
		default:
			t.Fatalf("%s %s %q: status %d", method, key, hdr, r.status)
		}
	})
}
