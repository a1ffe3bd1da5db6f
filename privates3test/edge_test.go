package privates3test_test

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/feature/cloudfront/sign"

	"github.com/privates3/privates3/privates3test"
)

var edgeKey = sync.OnceValue(func() *rsa.PrivateKey {
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		panic(err)
	}
	return k
})

const edgeKeyID = "KEDGETESTKEY1"

// staticOrigin answers every path with its own name, Cache-Control from the table, and counts.
type staticOrigin struct {
	cc    map[string]string
	calls atomic.Int64
	inm   atomic.Int64 // conditional requests answered 304
}

func (o *staticOrigin) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	o.calls.Add(1)
	if r.Header.Get("Cookie") != "" || r.URL.Query().Get("Signature") != "" {
		http.Error(w, "signing data reached the origin", http.StatusTeapot)
		return
	}
	etag := `"` + strconv.Itoa(len(r.URL.Path)) + `"`
	if r.Header.Get("If-None-Match") == etag {
		o.inm.Add(1)
		w.WriteHeader(http.StatusNotModified)
		return
	}
	if cc, ok := o.cc[r.URL.Path]; ok {
		w.Header().Set("Cache-Control", cc)
	}
	w.Header().Set("ETag", etag)
	w.Header().Set("Content-Type", "text/plain")
	w.Header().Set("X-Amz-Meta-Secret", "not for viewers")
	io.WriteString(w, "body of "+r.URL.Path)
}

type edgeFixture struct {
	srv    *privates3test.Server // only for its clock
	edge   *privates3test.Edge
	origin *staticOrigin
}

func newEdgeFixture(t *testing.T, allowOrigin string) *edgeFixture {
	t.Helper()
	srv := privates3test.NewServer()
	t.Cleanup(srv.Close)
	o := &staticOrigin{cc: map[string]string{"/tiles/cached": "max-age=60", "/tiles/nostore": "no-store", "/tiles/private": "private, max-age=60", "/tiles/smax": "max-age=0, s-maxage=30"}}
	e := privates3test.NewEdge(privates3test.EdgeConfig{
		PublicKeys:  map[string]crypto.PublicKey{edgeKeyID: edgeKey().Public()},
		Origin:      o,
		Clock:       srv.Now,
		AllowOrigin: allowOrigin,
	})
	t.Cleanup(e.Close)
	return &edgeFixture{srv: srv, edge: e, origin: o}
}

// get requests path (absolute URL or path on the edge) with cookies and returns status, body.
func (f *edgeFixture) get(t *testing.T, u string, cookies ...*http.Cookie) (int, string, http.Header) {
	t.Helper()
	if strings.HasPrefix(u, "/") {
		u = f.edge.URL + u
	}
	req, err := http.NewRequest(http.MethodGet, u, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range cookies {
		req.AddCookie(c)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), resp.Header
}

func (f *edgeFixture) signURL(t *testing.T, u string, p *sign.Policy) string {
	t.Helper()
	if strings.HasPrefix(u, "/") {
		u = f.edge.URL + u
	}
	s := sign.NewURLSigner(edgeKeyID, edgeKey())
	var out string
	var err error
	if p == nil {
		out, err = s.Sign(u, f.srv.Now().Add(time.Hour))
	} else {
		out, err = s.SignWithPolicy(u, p)
	}
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func policy(resource string, notAfter time.Time, mod func(*sign.Condition)) *sign.Policy {
	c := sign.Condition{DateLessThan: sign.NewAWSEpochTime(notAfter)}
	if mod != nil {
		mod(&c)
	}
	return &sign.Policy{Statements: []sign.Statement{{Resource: resource, Condition: c}}}
}

func errorCode(body string) string {
	_, after, _ := strings.Cut(body, "<Code>")
	code, _, _ := strings.Cut(after, "</Code>")
	return code
}

func TestEdgeSignedURLs(t *testing.T) {
	f := newEdgeFixture(t, "")
	now := f.srv.Now()
	all := f.edge.URL + "/tiles/*"
	signWith := func(u string, p *sign.Policy) string { return f.signURL(t, u, p) }
	tests := []struct {
		name string
		url  string
		code string // "" for 200
	}{
		{"canned", signWith("/tiles/a.png", nil), ""},
		{"canned with own query", signWith("/tiles/a.png?style=dark&v=2", nil), ""},
		{"custom wildcard", signWith("/tiles/1/2/3.png", policy(all, now.Add(time.Hour), nil)), ""},
		{"custom http*", signWith("/tiles/b.png", policy("http*://"+strings.TrimPrefix(f.edge.URL, "http://")+"/tiles/?.png", now.Add(time.Hour), nil)), ""},
		{"custom ip ok", signWith("/tiles/c.png", policy(all, now.Add(time.Hour), func(c *sign.Condition) { c.IPAddress = &sign.IPAddress{SourceIP: "127.0.0.0/8"} })), ""},
		{"custom ip refused", signWith("/tiles/c.png", policy(all, now.Add(time.Hour), func(c *sign.Condition) { c.IPAddress = &sign.IPAddress{SourceIP: "192.0.2.0/24"} })), "AccessDenied"},
		{"not yet valid", signWith("/tiles/d.png", policy(all, now.Add(time.Hour), func(c *sign.Condition) { c.DateGreaterThan = sign.NewAWSEpochTime(now.Add(time.Minute)) })), "AccessDenied"},
		{"started", signWith("/tiles/d.png", policy(all, now.Add(time.Hour), func(c *sign.Condition) { c.DateGreaterThan = sign.NewAWSEpochTime(now.Add(-time.Minute)) })), ""},
		{"expired", signWith("/tiles/e.png", policy(all, now.Add(-time.Second), nil)), "AccessDenied"},
		{"other path", signWith("/private/x.png", policy(all, now.Add(time.Hour), nil)), "AccessDenied"},
		{"unsigned", f.edge.URL + "/tiles/a.png", "MissingKey"},
		{"unknown key", strings.Replace(signWith("/tiles/a.png", nil), "Key-Pair-Id="+edgeKeyID, "Key-Pair-Id=KOTHER", 1), "InvalidKey"},
		{"empty key", strings.Replace(signWith("/tiles/a.png", nil), "Key-Pair-Id="+edgeKeyID, "Key-Pair-Id=", 1), "MissingKey"},
		{"malformed policy", f.edge.URL + "/tiles/a.png?Policy=%21%21&Signature=AAAA&Key-Pair-Id=" + edgeKeyID, "MalformedPolicy"},
		{"query changed", strings.Replace(signWith("/tiles/a.png?v=1", nil), "v=1", "v=2", 1), "AccessDenied"},
		{"path changed", strings.Replace(signWith("/tiles/a.png", nil), "/a.png", "/b.png", 1), "AccessDenied"},
		{"expires changed", bumpExpires(signWith("/tiles/a.png", nil)), "AccessDenied"},
		{"unknown hash", signWith("/tiles/a.png", nil) + "&Hash-Algorithm=MD5", "AccessDenied"},
		{"sha1 signature claimed sha256", signWith("/tiles/a.png", nil) + "&Hash-Algorithm=SHA256", "AccessDenied"},
		{"sha256", signSHA256(t, f.edge.URL+"/tiles/s.png", now.Add(time.Hour)), ""},
	}
	for _, tt := range tests {
		status, body, _ := f.get(t, tt.url)
		switch {
		case tt.code == "" && status != http.StatusOK:
			t.Errorf("%s: %d %s, want 200", tt.name, status, body)
		case tt.code != "" && (status != http.StatusForbidden || errorCode(body) != tt.code):
			t.Errorf("%s: %d %s, want 403 %s", tt.name, status, body, tt.code)
		}
	}
	// One-byte tampering of the policy and of the signature.
	u := signWith("/tiles/t.png", policy(all, now.Add(time.Hour), nil))
	for _, param := range []string{"Policy=", "Signature="} {
		for _, at := range []int{0, 10, 40} {
			bad := flipAfter(u, param, at)
			if status, body, _ := f.get(t, bad); status != http.StatusForbidden {
				t.Errorf("%s byte %d changed: %d %s", param, at, status, body)
			}
		}
	}
	st := f.edge.Stats()
	if st.Denied == 0 || st.Requests < st.Denied || st.OriginRequests == 0 {
		t.Fatalf("stats %+v", st)
	}
}

// bumpExpires adds one second to the Expires parameter.
func bumpExpires(u string) string {
	_, after, _ := strings.Cut(u, "Expires=")
	n, _, _ := strings.Cut(after, "&")
	v, _ := strconv.ParseInt(n, 10, 64)
	return strings.Replace(u, "Expires="+n, "Expires="+strconv.FormatInt(v+1, 10), 1)
}

// flipAfter changes one character of the value after param (at offset at) to another character
// of CloudFront's base64 alphabet.
func flipAfter(u, param string, at int) string {
	i := strings.Index(u, param) + len(param) + at
	c := byte('A')
	if u[i] == 'A' {
		c = 'B'
	}
	return u[:i] + string(c) + u[i+1:]
}

// signSHA256 makes a canned-policy URL with Hash-Algorithm=SHA256, signing by hand (the SDK
// knows only SHA-1).
func signSHA256(t *testing.T, u string, expires time.Time) string {
	t.Helper()
	policy := `{"Statement":[{"Resource":"` + u + `","Condition":{"DateLessThan":{"AWS:EpochTime":` + strconv.FormatInt(expires.Unix(), 10) + `}}}]}`
	sum := sha256.Sum256([]byte(policy))
	sig, err := rsa.SignPKCS1v15(nil, edgeKey(), crypto.SHA256, sum[:])
	if err != nil {
		t.Fatal(err)
	}
	enc := strings.NewReplacer("+", "-", "=", "_", "/", "~").Replace(base64.StdEncoding.EncodeToString(sig))
	return fmt.Sprintf("%s?Expires=%d&Signature=%s&Key-Pair-Id=%s&Hash-Algorithm=SHA256", u, expires.Unix(), enc, edgeKeyID)
}

func TestEdgeSignedCookies(t *testing.T) {
	f := newEdgeFixture(t, "")
	now := f.srv.Now()
	sig, pol, err := policy(f.edge.URL+"/tiles/*", now.Add(time.Hour), nil).Sign(edgeKey())
	if err != nil {
		t.Fatal(err)
	}
	cookies := []*http.Cookie{
		{Name: "CloudFront-Policy", Value: string(pol)},
		{Name: "CloudFront-Signature", Value: string(sig)},
		{Name: "CloudFront-Key-Pair-Id", Value: edgeKeyID},
	}
	if status, body, _ := f.get(t, "/tiles/1.png", cookies...); status != http.StatusOK || body != "body of /tiles/1.png" {
		t.Fatalf("with cookies: %d %s", status, body)
	}
	if status, body, _ := f.get(t, "/private/1.png", cookies...); status != http.StatusForbidden || errorCode(body) != "AccessDenied" {
		t.Fatalf("/private with a /tiles/* cookie: %d %s", status, body)
	}
	if status, body, _ := f.get(t, "/tiles/1.png", cookies[0], cookies[1]); status != http.StatusForbidden || errorCode(body) != "MissingKey" {
		t.Fatalf("without the key cookie: %d %s", status, body)
	}
	// A canned-policy cookie (CloudFront-Expires) opens exactly one URL.
	u := f.edge.URL + "/tiles/canned.png"
	csig, _, err := sign.NewCannedPolicy(u, now.Add(time.Hour)).Sign(edgeKey())
	if err != nil {
		t.Fatal(err)
	}
	canned := []*http.Cookie{
		{Name: "CloudFront-Expires", Value: strconv.FormatInt(now.Add(time.Hour).Unix(), 10)},
		{Name: "CloudFront-Signature", Value: string(csig)},
		{Name: "CloudFront-Key-Pair-Id", Value: edgeKeyID},
	}
	if status, body, _ := f.get(t, u, canned...); status != http.StatusOK {
		t.Fatalf("canned cookie: %d %s", status, body)
	}
	if status, _, _ := f.get(t, "/tiles/other.png", canned...); status != http.StatusForbidden {
		t.Fatalf("canned cookie for another URL: %d", status)
	}
	// The fake's clock expires them.
	f.srv.Advance(time.Hour)
	if status, body, _ := f.get(t, "/tiles/1.png", cookies...); status != http.StatusForbidden || errorCode(body) != "AccessDenied" {
		t.Fatalf("expired cookies: %d %s", status, body)
	}
}

func TestEdgeCache(t *testing.T) {
	f := newEdgeFixture(t, "")
	signed := func(p string) string {
		return f.signURL(t, p, policy(f.edge.URL+"/tiles/*", f.srv.Now().Add(10*time.Hour), nil))
	}
	for _, tt := range []struct {
		path   string
		n      int
		origin int64
	}{
		{"/tiles/cached", 5, 1},
		{"/tiles/nostore", 3, 3},
		{"/tiles/private", 2, 2},
		{"/tiles/smax", 4, 1},
		{"/tiles/default", 4, 1}, // no Cache-Control: DefaultEdgeTTL
	} {
		before := f.origin.calls.Load()
		u := signed(tt.path)
		for i := range tt.n {
			status, body, h := f.get(t, u)
			if status != http.StatusOK || body != "body of "+tt.path {
				t.Fatalf("%s: %d %q", tt.path, status, body)
			}
			if h.Get("X-Amz-Meta-Secret") != "" {
				t.Fatalf("%s: origin metadata passed to the viewer", tt.path)
			}
			if want := "Hit from cloudfront"; tt.origin == 1 && i > 0 && h.Get("X-Cache") != want {
				t.Fatalf("%s #%d: X-Cache %q", tt.path, i, h.Get("X-Cache"))
			}
		}
		if got := f.origin.calls.Load() - before; got != tt.origin {
			t.Errorf("%s: %d origin requests for %d viewer requests, want %d", tt.path, got, tt.n, tt.origin)
		}
	}
	// Stale after max-age on the edge's clock: revalidated with If-None-Match (304 renews).
	f.srv.Advance(61 * time.Second)
	u := signed("/tiles/cached")
	if status, body, h := f.get(t, u); status != http.StatusOK || body != "body of /tiles/cached" || h.Get("Age") != "0" {
		t.Fatalf("revalidated: %d %q age %q", status, body, h.Get("Age"))
	}
	if f.origin.inm.Load() != 1 {
		t.Fatalf("%d conditional origin requests, want 1", f.origin.inm.Load())
	}
	// Ranges and conditionals from the edge cache.
	req, _ := http.NewRequest(http.MethodGet, u, nil)
	req.Header.Set("Range", "bytes=0-3")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusPartialContent || string(b) != "body" {
		t.Fatalf("range: %d %q", resp.StatusCode, b)
	}
	st := f.edge.Stats()
	if st.Hits == 0 || st.Misses == 0 || st.OriginRequests != f.origin.calls.Load() {
		t.Fatalf("stats %+v, origin saw %d", st, f.origin.calls.Load())
	}
	f.edge.ResetStats()
	if f.edge.Stats() != (privates3test.EdgeStats{}) {
		t.Fatal("ResetStats left counts")
	}
}

// TestEdgeMinTTL: with a minimum TTL, the edge caches even private and no-store answers.
func TestEdgeMinTTL(t *testing.T) {
	srv := privates3test.NewServer()
	defer srv.Close()
	o := &staticOrigin{cc: map[string]string{"/tiles/private": "private, max-age=60", "/tiles/nostore": "no-store", "/tiles/short": "max-age=1"}}
	e := privates3test.NewEdge(privates3test.EdgeConfig{
		PublicKeys: map[string]crypto.PublicKey{edgeKeyID: edgeKey().Public()},
		Origin:     o, Clock: srv.Now, MinTTL: time.Hour,
	})
	defer e.Close()
	f := &edgeFixture{srv: srv, edge: e, origin: o}
	for _, p := range []string{"/tiles/private", "/tiles/nostore", "/tiles/short"} {
		u := f.signURL(t, p, nil)
		for range 3 {
			if status, _, _ := f.get(t, u); status != http.StatusOK {
				t.Fatalf("%s: %d", p, status)
			}
		}
		srv.Advance(30 * time.Minute) // beyond max-age=1, within MinTTL
		if status, _, h := f.get(t, f.signURL(t, p, nil)); status != http.StatusOK || h.Get("X-Cache") != "Hit from cloudfront" {
			t.Fatalf("%s after 30m: %d %s", p, status, h.Get("X-Cache"))
		}
	}
	if n := o.calls.Load(); n != 3 {
		t.Fatalf("%d origin requests, want 3", n)
	}
}

func TestEdgeCORS(t *testing.T) {
	const site = "http://127.0.0.1:8080"
	f := newEdgeFixture(t, site)
	req, _ := http.NewRequest(http.MethodOptions, f.edge.URL+"/tiles/a.png", nil)
	req.Header.Set("Origin", site)
	req.Header.Set("Access-Control-Request-Method", "GET")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent || resp.Header.Get("Access-Control-Allow-Origin") != site || resp.Header.Get("Access-Control-Allow-Credentials") != "true" {
		t.Fatalf("preflight: %d %v", resp.StatusCode, resp.Header)
	}
	for _, o := range []struct {
		origin string
		allow  string
	}{{site, site}, {"http://evil.example", ""}} {
		req, _ := http.NewRequest(http.MethodGet, f.signURL(t, "/tiles/a.png", nil), nil)
		req.Header.Set("Origin", o.origin)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || resp.Header.Get("Access-Control-Allow-Origin") != o.allow {
			t.Fatalf("GET from %s: %d, Allow-Origin %q", o.origin, resp.StatusCode, resp.Header.Get("Access-Control-Allow-Origin"))
		}
	}
	// A refusal still carries the CORS headers, so that the page can see the 403.
	req, _ = http.NewRequest(http.MethodGet, f.edge.URL+"/tiles/a.png", nil)
	req.Header.Set("Origin", site)
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden || resp.Header.Get("Access-Control-Allow-Credentials") != "true" {
		t.Fatalf("unsigned GET: %d %v", resp.StatusCode, resp.Header)
	}
}

// TestEdgeOAC: the edge reads the fake bucket with SigV4; one S3 GET for many viewer requests.
func TestEdgeOAC(t *testing.T) {
	srv := privates3test.NewServer()
	defer srv.Close()
	srv.PutObject("tiles", "tiles/3/4/2.png", []byte("png bytes"), privates3test.ContentType("image/png"), privates3test.CacheControl("max-age=300"))
	e := privates3test.NewEdge(privates3test.EdgeConfig{
		PublicKeys: map[string]crypto.PublicKey{edgeKeyID: edgeKey().Public()},
		Origin:     privates3test.OACOrigin(srv, "tiles"),
		Clock:      srv.Now,
	})
	defer e.Close()
	f := &edgeFixture{srv: srv, edge: e}
	u := f.signURL(t, "/tiles/3/4/2.png", nil)
	for range 3 {
		status, body, h := f.get(t, u)
		if status != http.StatusOK || body != "png bytes" || h.Get("Content-Type") != "image/png" || h.Get("ETag") == "" {
			t.Fatalf("%d %q %v", status, body, h)
		}
	}
	if n := srv.Count(privates3test.OpGetObject); n != 1 {
		t.Fatalf("%d S3 GETs, want 1", n)
	}
	// A missing object: S3's 404 passes through, uncached.
	if status, _, _ := f.get(t, f.signURL(t, "/tiles/none.png", nil)); status != http.StatusNotFound {
		t.Fatalf("missing object: %d", status)
	}
}

func TestStartEdgeErrors(t *testing.T) {
	keys := map[string]crypto.PublicKey{edgeKeyID: edgeKey().Public()}
	origin := http.NotFoundHandler()
	for _, cfg := range []privates3test.EdgeConfig{
		{PublicKeys: keys},
		{Origin: origin},
		{PublicKeys: map[string]crypto.PublicKey{"K": "not a key"}, Origin: origin},
		{PublicKeys: keys, Origin: origin, Addr: "0.0.0.0:0"},
		{PublicKeys: keys, Origin: origin, Addr: "nonsense"},
	} {
		if e, err := privates3test.StartEdge(cfg); err == nil {
			e.Close()
			t.Errorf("StartEdge(%+v) did not fail", cfg)
		}
	}
	e := privates3test.NewEdge(privates3test.EdgeConfig{PublicKeys: keys, Origin: origin})
	e.Close()
	e.Close() // idempotent
}
