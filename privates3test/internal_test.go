package privates3test

import (
	"bytes"
	"encoding/xml"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"
)

// FuzzAuthentication sends requests with arbitrary Authorization headers, X-Amz-Date values and
// query strings (presigned parameters among them) to S3 and STS: the server must not panic, must
// never accept them, and must answer with an AWS XML error.
func FuzzAuthentication(f *testing.F) {
	srv := NewServer(InProcess())
	defer srv.Close()
	srv.PutObject("bucket", "key", []byte("v"))
	akid := srv.BaseCredentials().AccessKeyID
	now := time.Now().UTC().Format(amzDateFormat)
	scope := akid + "/" + now[:8] + "/us-east-1/s3/aws4_request"
	for _, seed := range []struct{ authz, date, query string }{
		{"", "", ""},
		{"AWS4-HMAC-SHA256 Credential=" + scope + ", SignedHeaders=host;x-amz-date, Signature=" + strings.Repeat("0", 64), now, ""},
		{"AWS4-HMAC-SHA256 Credential=" + scope + ",SignedHeaders=host,Signature=", now, "a=b&c"},
		{"AWS4-HMAC-SHA256 Credential=" + scope, now, ""},
		{"AWS4-HMAC-SHA256 Credential=a/b/c/d/e, SignedHeaders=;;, Signature=x", "20991301T000000Z", ""},
		{"AWS4-HMAC-SHA256 ,,,==", "garbage", ""},
		{"AWS4-HMAC-SHA256", "", ""},
		{"AWS AKIA:sig", "", ""},
		{"Bearer x", "", ""},
		{"", "", "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=" + url.QueryEscape(scope) + "&X-Amz-Date=" + now + "&X-Amz-Expires=60&X-Amz-SignedHeaders=host&X-Amz-Signature=00"},
		{"", "", "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=x&X-Amz-Date=1&X-Amz-Expires=-5&X-Amz-SignedHeaders=&X-Amz-Signature="},
		{"", "", "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Expires=99999999999999999999"},
		{"", "", "%zz=%"},
		{"AWS4-HMAC-SHA256 Credential=" + scope + ", SignedHeaders=host, Signature=0", now, "X-Amz-Algorithm=AWS4-HMAC-SHA256"},
	} {
		f.Add(seed.authz, seed.date, seed.query, false)
		f.Add(seed.authz, seed.date, seed.query, true)
	}
	f.Fuzz(func(t *testing.T, authz, date, query string, sts bool) {
		req := &http.Request{
			Method: http.MethodGet, URL: &url.URL{Path: "/bucket/key", RawQuery: query},
			Host: "privates3test.invalid", Header: http.Header{}, Body: http.NoBody,
		}
		if sts {
			req.Method, req.URL.Path = http.MethodPost, "/"
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			req.Body = http.NoBody
		}
		if authz != "" {
			req.Header.Set("Authorization", authz)
		}
		if date != "" {
			req.Header.Set("X-Amz-Date", date)
		}
		req.Header.Set("X-Amz-Content-Sha256", emptySHA256)
		rec := httptest.NewRecorder()
		srv.Handler().ServeHTTP(rec, req)
		if rec.Code < 400 || rec.Code > 599 {
			t.Fatalf("status %d for Authorization %q, date %q, query %q", rec.Code, authz, date, query)
		}
		var doc struct {
			XMLName xml.Name
			Code    string `xml:"Code"`
			Error   struct {
				Code string `xml:"Code"`
			} `xml:"Error"`
		}
		if err := xml.Unmarshal(rec.Body.Bytes(), &doc); err != nil || doc.Code+doc.Error.Code == "" {
			t.Fatalf("answer %d is not an AWS XML error: %v: %q", rec.Code, err, rec.Body.String())
		}
		if want := map[bool]string{false: "Error", true: "ErrorResponse"}[sts]; doc.XMLName.Local != want {
			t.Fatalf("error document %s, want %s", doc.XMLName.Local, want)
		}
		if strings.Contains(rec.Body.String(), srv.BaseCredentials().SecretAccessKey) {
			t.Fatal("the answer contains the secret key")
		}
	})
}

// FuzzPolicy parses arbitrary policy documents and evaluates them: no panic, the decision is
// the one the statements imply (a matching Deny wins, else a matching Allow allows), it does not
// depend on the statements' order, and a Deny of everything always wins.
func FuzzPolicy(f *testing.F) {
	for _, seed := range []string{
		`{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"s3:GetObject","Resource":"*"}}`,
		`{"Version":"2012-10-17","Statement":[{"Effect":"Deny","NotAction":["s3:*"],"NotResource":"arn:*"}]}`,
		`{"Statement":[{"Effect":"Allow","Action":1,"Resource":"*"}]}`,
		`{"Statement":[{"Effect":"Allow","Action":"*","Resource":"*"},{"Effect":"Deny","Action":"s3:Get*","Resource":"arn:aws:s3:::b/*"}]}`,
		`{"Statement":null}`, `[]`, `{`, `{"Version":"2012-10-17","Statement":{}} {}`,
	} {
		f.Add(seed, "s3:GetObject", "arn:aws:s3:::b/k")
		f.Add(seed, "S3:getobject", "arn:aws:s3:::b/k?")
	}
	f.Fuzz(func(t *testing.T, doc, action, resource string) {
		p, err := parsePolicy(doc)
		if err != nil {
			if strings.Contains(err.Error(), doc) && len(doc) > 20 {
				t.Fatalf("error echoes the document: %v", err)
			}
			return
		}
		d := p.evaluate(action, resource)
		// The decision does not depend on the order of the statements.
		rev := &policyDoc{statements: slices.Clone(p.statements)}
		slices.Reverse(rev.statements)
		if got := rev.evaluate(action, resource); got != d {
			t.Fatalf("decision %v, but %v with the statements reversed", d, got)
		}
		// An Allow needs an unconditional Allow statement that matches; any matching Deny wins.
		var allowMatch, denyMatch bool
		for _, s := range p.statements {
			if !s.conditional && s.matches(strings.ToLower(action), resource) {
				allowMatch = allowMatch || s.allow
				denyMatch = denyMatch || !s.allow
			}
		}
		if want := map[bool]decision{true: explicitDeny, false: map[bool]decision{true: allowed, false: implicitDeny}[allowMatch]}[denyMatch]; d != want {
			t.Fatalf("decision %v, want %v (a matching Allow: %v, a matching Deny: %v)", d, want, allowMatch, denyMatch)
		}
		// A Deny of everything, added anywhere, wins over every Allow.
		denyAll := statement{actions: []string{"*"}, resources: []string{"*"}}
		withDeny := &policyDoc{statements: append([]statement{denyAll}, p.statements...)}
		if got := withDeny.evaluate(action, resource); got != explicitDeny {
			t.Fatalf("with a Deny of everything first: %v, want an explicit deny", got)
		}
		withDeny.statements = append(slices.Clone(p.statements), denyAll)
		if got := withDeny.evaluate(action, resource); got != explicitDeny {
			t.Fatalf("with a Deny of everything last: %v, want an explicit deny", got)
		}
	})
}

func TestWildcardMatch(t *testing.T) {
	for _, c := range []struct {
		pattern, s string
		want       bool
	}{
		{"*", "", true},
		{"*", "anything/at/all", true},
		{"", "", true},
		{"", "a", false},
		{"a*", "a", true},
		{"a*c", "abc", true},
		{"a*c", "abcd", false},
		{"a?c", "abc", true},
		{"a?c", "ac", false},
		{"*.png", "x/y.png", true},
		{"*.png", "x/y.pngx", false},
		{"a*b*c", "aXbYc", true},
		{"a*b*c", "aXcYb", false},
		{"**", "x", true},
		{"*a", "aaa", true},
		{"arn:aws:s3:::b/*", "arn:aws:s3:::b/", true},
		{"arn:aws:s3:::b/*", "arn:aws:s3:::b", false},
		{"*", "*", true},
		{"a*", "a*", true},
		{"?", "*", true},
	} {
		if got := wildcardMatch(c.pattern, c.s); got != c.want {
			t.Errorf("wildcardMatch(%q, %q) = %v, want %v", c.pattern, c.s, got, c.want)
		}
	}
}

func TestParsePolicyErrors(t *testing.T) {
	for _, c := range []struct{ name, doc string }{
		{"not JSON", `{`},
		{"trailing data", `{"Statement":{"Effect":"Allow","Action":"*","Resource":"*"}} x`},
		{"no statement", `{"Version":"2012-10-17"}`},
		{"bad version", `{"Version":"2020-01-01","Statement":[]}`},
		{"bad effect", `{"Statement":{"Effect":"Maybe","Action":"*","Resource":"*"}}`},
		{"no action", `{"Statement":{"Effect":"Allow","Resource":"*"}}`},
		{"action and not action", `{"Statement":{"Effect":"Allow","Action":"*","NotAction":"s3:x","Resource":"*"}}`},
		{"no resource", `{"Statement":{"Effect":"Allow","Action":"*"}}`},
		{"principal", `{"Statement":{"Effect":"Allow","Principal":{"AWS":"*"},"Action":"*","Resource":"*"}}`},
		{"action not a string", `{"Statement":{"Effect":"Allow","Action":3,"Resource":"*"}}`},
	} {
		if _, err := parsePolicy(c.doc); err == nil {
			t.Errorf("%s: parsePolicy accepted %s", c.name, c.doc)
		}
	}
}

func TestParseRange(t *testing.T) {
	for _, c := range []struct {
		v               string
		size            int64
		a, b            int64
		ok, satisfiable bool
	}{
		{"bytes=0-", 10, 0, 9, true, true},
		{"bytes=0-0", 10, 0, 0, true, true},
		{"bytes=9-", 10, 9, 9, true, true},
		{"bytes=10-", 10, 0, 0, true, false},
		{"bytes=5-100", 10, 5, 9, true, true},
		{"bytes=-1", 10, 9, 9, true, true},
		{"bytes=-0", 10, 0, 0, true, false},
		{"bytes=-20", 10, 0, 9, true, true},
		{"bytes=0-", 0, 0, 0, true, false},
		{"bytes=-5", 0, 0, 0, true, false},
		{"bytes=3-2", 10, 0, 0, false, false},
		{"bytes=0-1,3-4", 10, 0, 0, false, false},
		{"bytes=a-b", 10, 0, 0, false, false},
		{"bytes=+1-2", 10, 0, 0, false, false},
		{"bytes=-", 10, 0, 0, false, false},
		{"bits=0-1", 10, 0, 0, false, false},
		{"bytes=99999999999999999999-", 10, 0, 0, false, false},
	} {
		a, b, ok, sat := parseRange(c.v, c.size)
		if ok != c.ok || sat != c.satisfiable || sat && (a != c.a || b != c.b) {
			t.Errorf("parseRange(%q, %d) = %d, %d, %v, %v; want %d, %d, %v, %v", c.v, c.size, a, b, ok, sat, c.a, c.b, c.ok, c.satisfiable)
		}
	}
}

func TestAwsEscape(t *testing.T) {
	for _, c := range []struct{ in, slash, noSlash string }{
		{"a/b c+d", "a%2Fb%20c%2Bd", "a/b%20c%2Bd"},
		{"~-_.AZaz09", "~-_.AZaz09", "~-_.AZaz09"},
		{"é", "%C3%A9", "%C3%A9"},
		{"*", "%2A", "%2A"},
	} {
		if got := awsEscape(c.in, true); got != c.slash {
			t.Errorf("awsEscape(%q, true) = %q, want %q", c.in, got, c.slash)
		}
		if got := awsEscape(c.in, false); got != c.noSlash {
			t.Errorf("awsEscape(%q, false) = %q, want %q", c.in, got, c.noSlash)
		}
	}
}

// TestPendingUploadLimit checks the bound on the memory of unfinished multipart uploads: parts
// beyond it are refused, and aborting or completing an upload gives its bytes back.
func TestPendingUploadLimit(t *testing.T) {
	srv := NewServer()
	defer srv.Close()
	srv.maxPending = 3 << 20
	srv.CreateBucket("b")
	sign := func(method, path string, body []byte) (int, string) {
		req, _ := http.NewRequest(method, srv.URL+path, bytes.NewReader(body))
		v4Signer{creds: srv.BaseCredentials(), region: srv.Region(), service: "s3", now: time.Now()}.signHeader(req, body)
		resp, err := srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	create := func(key string) string {
		_, b := sign(http.MethodPost, "/b/"+key+"?uploads", nil)
		var res struct {
			UploadID string `xml:"UploadId"`
		}
		if err := xml.Unmarshal([]byte(b), &res); err != nil || res.UploadID == "" {
			t.Fatalf("CreateMultipartUpload: %v %s", err, b)
		}
		return res.UploadID
	}
	part := bytes.Repeat([]byte("p"), 1<<20)
	a, b := create("a"), create("b")
	for n := 1; n <= 2; n++ {
		if code, body := sign(http.MethodPut, fmt.Sprintf("/b/a?partNumber=%d&uploadId=%s", n, a), part); code != 200 {
			t.Fatalf("part %d of a: %d %s", n, code, body)
		}
	}
	if code, _ := sign(http.MethodPut, "/b/b?partNumber=1&uploadId="+b, part); code != 200 {
		t.Fatalf("part 1 of b: %d", code)
	}
	if code, body := sign(http.MethodPut, "/b/b?partNumber=2&uploadId="+b, part); code != 400 || !strings.Contains(body, "<Code>EntityTooLarge</Code>") {
		t.Errorf("a part beyond the limit: %d %s, want 400 EntityTooLarge", code, body)
	}
	// Replacing a part does not count it twice.
	if code, body := sign(http.MethodPut, "/b/b?partNumber=1&uploadId="+b, part); code != 200 {
		t.Errorf("replacing part 1 of b: %d %s", code, body)
	}
	if code, _ := sign(http.MethodDelete, "/b/a?uploadId="+a, nil); code != 204 {
		t.Fatalf("abort: %d", code)
	}
	if code, body := sign(http.MethodPut, "/b/b?partNumber=2&uploadId="+b, part); code != 200 {
		t.Errorf("a part after an abort freed 2 MiB: %d %s", code, body)
	}
	srv.mu.Lock()
	pending := srv.pendingBytes
	srv.mu.Unlock()
	if pending != 2<<20 {
		t.Errorf("pending bytes %d, want %d", pending, 2<<20)
	}
}
