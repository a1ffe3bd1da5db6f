package privates3test

import (
	"bytes"
	"fmt"
	"net/http"
	"testing"
	"time"
)

// The behaviour suite's cases for reading an object: headers, missing keys, session policies,
// ranges and conditionals.

// checkGetObjectHeaders checks the headers of a GET and a HEAD of the object.
func (tg *target) checkGetObjectHeaders(t *testing.T) {
	body := tg.objectBody
	r := tg.s3Get(t, http.MethodGet, tg.objectKey, tg.reader, nil)
	if r.status != 200 || !bytes.Equal(r.body, body) {
		t.Fatalf("GET: %d %q, want 200 %q", r.status, r.body, body)
	}
	for name, want := range map[string]string{
		"Content-Type": "text/plain", "Content-Encoding": "identity", "Cache-Control": "max-age=300",
		"Content-Length": fmt.Sprint(len(body)), "Accept-Ranges": "bytes", "X-Amz-Meta-Origin": "suite",
	} {
		if got := r.header.Get(name); got != want {
			t.Errorf("%s = %q, want %q", name, got, want)
		}
	}
	if etag := r.header.Get("ETag"); len(etag) != 34 || etag[0] != '"' {
		t.Errorf("ETag = %s, want a quoted MD5", etag)
	}
	if _, err := http.ParseTime(r.header.Get("Last-Modified")); err != nil {
		t.Errorf("Last-Modified %q: %v", r.header.Get("Last-Modified"), err)
	}
	if r.header.Get("X-Amz-Request-Id") == "" {
		t.Error("no x-amz-request-id")
	}
	h := tg.s3Get(t, http.MethodHead, tg.objectKey, tg.reader, nil)
	if h.status != 200 || len(h.body) != 0 || h.header.Get("ETag") != r.header.Get("ETag") {
		t.Errorf("HEAD: %d, %d body bytes, ETag %s; want 200, none, %s", h.status, len(h.body), h.header.Get("ETag"), r.header.Get("ETag"))
	}
}

// getOnlyPolicy is a session policy that allows s3:GetObject and no s3:ListBucket.
const getOnlyPolicy = `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:GetObject","Resource":"*"}]}`

// checkMissingKey checks that a missing key is 404 with s3:ListBucket and 403 without.
func (tg *target) checkMissingKey(t *testing.T) {
	expect(t, "GET missing key with ListBucket", tg.s3Get(t, http.MethodGet, tg.prefix+"missing", tg.reader, nil), 404, "NoSuchKey")
	h := tg.s3Get(t, http.MethodHead, tg.prefix+"missing", tg.reader, nil)
	if h.status != 404 || len(h.body) != 0 {
		t.Errorf("HEAD missing key: %d with %d body bytes, want 404 without body", h.status, len(h.body))
	}
	getOnly := tg.assume(t, getOnlyPolicy)
	expect(t, "GET missing key without ListBucket", tg.s3Get(t, http.MethodGet, tg.prefix+"missing", getOnly, nil), 403, "AccessDenied")
	expect(t, "GET existing key without ListBucket", tg.s3Get(t, http.MethodGet, tg.objectKey, getOnly, nil), 200, "")
}

// checkSessionPolicy checks that session policies narrow the reader role, and cannot widen it.
func (tg *target) checkSessionPolicy(t *testing.T) {
	key := tg.objectKey
	other := tg.put(t, "other/x", []byte("x"), nil)
	for _, c := range []struct {
		name, policy string
		key          string
		status       int
		code         string
	}{
		{"prefix allows", `{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":["s3:GetObject"],"Resource":["arn:aws:s3:::` + tg.bucket + `/` + tg.prefix + `dir/*"]}}`, key, 200, ""},
		{"prefix denies others", `{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":["s3:GetObject"],"Resource":["arn:aws:s3:::` + tg.bucket + `/` + tg.prefix + `dir/*"]}}`, other, 403, "AccessDenied"},
		{"? wildcard", `{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"s3:Get?bject","Resource":"arn:aws:s3:::` + tg.bucket + `/` + tg.prefix + `di?/*"}}`, key, 200, ""},
		{"explicit deny", `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:*","Resource":"*"},{"Effect":"Deny","Action":"s3:GetObject","Resource":"arn:aws:s3:::` + tg.bucket + `/` + tg.prefix + `dir/*"}]}`, key, 403, "AccessDenied"},
		{"other action only", `{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"s3:PutObject","Resource":"*"}}`, key, 403, "AccessDenied"},
		// A session policy cannot grant more than the role: PutObject stays denied.
	} {
		t.Run(c.name, func(t *testing.T) {
			creds := tg.assume(t, c.policy)
			expect(t, c.name, tg.s3Get(t, http.MethodGet, c.key, creds, nil), c.status, c.code)
		})
	}
	t.Run("no more than the role", func(t *testing.T) {
		creds := tg.assume(t, `{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"s3:*","Resource":"*"}}`)
		req, _ := http.NewRequest(http.MethodPut, tg.objectURL(tg.prefix+"denied"), bytes.NewReader([]byte("x")))
		tg.signer(creds).signHeader(req, []byte("x"))
		expect(t, "PUT with the reader role", tg.do(t, req), 403, "AccessDenied")
	})
}

// checkRange checks ranged GETs: satisfiable, unsatisfiable, and ignored ones.
func (tg *target) checkRange(t *testing.T) {
	body := tg.objectBody
	n := len(body)
	for _, c := range []struct {
		rng          string
		status       int
		contentRange string
		want         string
	}{
		{"bytes=0-", 206, fmt.Sprintf("bytes 0-%d/%d", n-1, n), string(body)},
		{"bytes=2-4", 206, fmt.Sprintf("bytes 2-4/%d", n), "234"},
		{"bytes=30-100", 206, fmt.Sprintf("bytes 30-%d/%d", n-1, n), string(body[30:])},
		{"bytes=-3", 206, fmt.Sprintf("bytes %d-%d/%d", n-3, n-1, n), string(body[n-3:])},
		{"bytes=-100", 206, fmt.Sprintf("bytes 0-%d/%d", n-1, n), string(body)},
		{fmt.Sprintf("bytes=%d-", n), 416, "", ""},
		{"bytes=1000-2000", 416, "", ""},
		{"bytes=4-2", 200, "", string(body)}, // invalid: ignored
		{"items=0-1", 200, "", string(body)}, // other unit: ignored
	} {
		r := tg.s3Get(t, http.MethodGet, tg.objectKey, tg.reader, map[string]string{"Range": c.rng})
		if c.status == 416 {
			expect(t, "Range "+c.rng, r, 416, "InvalidRange")
			continue
		}
		if r.status != c.status || r.header.Get("Content-Range") != c.contentRange || string(r.body) != c.want {
			t.Errorf("Range %s: %d %q %q, want %d %q %q", c.rng, r.status, r.header.Get("Content-Range"), r.body, c.status, c.contentRange, c.want)
		}
	}
}

// checkConditionals checks If-Match, If-None-Match, If-Modified-Since and If-Unmodified-Since,
// alone and in S3's order of precedence.
func (tg *target) checkConditionals(t *testing.T) {
	r := tg.s3Get(t, http.MethodGet, tg.objectKey, tg.reader, nil)
	etag, lm := r.header.Get("ETag"), r.header.Get("Last-Modified")
	lmt, _ := http.ParseTime(lm)
	before := lmt.Add(-time.Hour).Format(http.TimeFormat)
	after := lmt.Add(time.Hour).Format(http.TimeFormat)
	other := `"00000000000000000000000000000000"`
	for _, c := range []struct {
		name   string
		hdr    map[string]string
		status int
	}{
		{"If-None-Match match", map[string]string{"If-None-Match": etag}, 304},
		{"If-None-Match other", map[string]string{"If-None-Match": other}, 200},
		{"If-None-Match *", map[string]string{"If-None-Match": "*"}, 304},
		{"If-Match match", map[string]string{"If-Match": etag}, 200},
		{"If-Match other", map[string]string{"If-Match": other}, 412},
		{"If-Modified-Since later", map[string]string{"If-Modified-Since": after}, 304},
		{"If-Modified-Since earlier", map[string]string{"If-Modified-Since": before}, 200},
		{"If-Unmodified-Since earlier", map[string]string{"If-Unmodified-Since": before}, 412},
		{"If-Unmodified-Since later", map[string]string{"If-Unmodified-Since": after}, 200},
		// S3's precedence.
		{"If-Match true wins over If-Unmodified-Since false", map[string]string{"If-Match": etag, "If-Unmodified-Since": before}, 200},
		{"If-None-Match false wins over If-Modified-Since true", map[string]string{"If-None-Match": other, "If-Modified-Since": after}, 200},
		{"If-None-Match true with If-Modified-Since false", map[string]string{"If-None-Match": etag, "If-Modified-Since": before}, 304},
		{"412 wins over 304", map[string]string{"If-Match": other, "If-None-Match": etag}, 412},
	} {
		r := tg.s3Get(t, http.MethodGet, tg.objectKey, tg.reader, c.hdr)
		switch c.status {
		case 412:
			expect(t, c.name, r, 412, "PreconditionFailed")
		case 304:
			if r.status != 304 || len(r.body) != 0 || r.header.Get("ETag") != etag {
				t.Errorf("%s: %d with %d body bytes and ETag %q, want 304, none, %s", c.name, r.status, len(r.body), r.header.Get("ETag"), etag)
			}
		default:
			if r.status != c.status || !bytes.Equal(r.body, tg.objectBody) {
				t.Errorf("%s: %d %q, want %d and the object", c.name, r.status, r.body, c.status)
			}
		}
	}
}
