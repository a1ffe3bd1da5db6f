package privates3test

import (
	"context"
	"crypto"
	"crypto/rsa"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"time"
)

// Defaults of an [EdgeConfig], CloudFront's for the managed cache policy CachingOptimized.
const (
	// DefaultEdgeTTL is how long the edge keeps a response whose Cache-Control sets no max-age.
	DefaultEdgeTTL = 24 * time.Hour
	// MaxEdgeTTL caps the time the edge keeps any response.
	MaxEdgeTTL = 365 * 24 * time.Hour
	// MaxEdgeObject is the largest origin response the edge handles (it buffers whole bodies);
	// larger ones are answered 502.
	MaxEdgeObject = 64 << 20
)

// EdgeConfig configures a fake CloudFront edge ([NewEdge]): one cache behaviour that restricts
// viewer access to a trusted key group, in front of one origin.
type EdgeConfig struct {
	// PublicKeys is the trusted key group: public key ID (the Key-Pair-Id of signed URLs and
	// cookies) to RSA-2048 public key (*rsa.PublicKey), such as cloudfront.Signer.PublicKeys
	// returns. Required (CloudFront's key groups hold 1 to 5 keys; the fake takes any number).
	PublicKeys map[string]crypto.PublicKey
	// Origin answers the requests the edge forwards: the viewer's path and query without the
	// signing parameters, with no cookies and no Authorization, and If-None-Match when the edge
	// revalidates a stale response. [OACOrigin] reaches a bucket of a [Server] with SigV4, as an
	// Origin Access Control does; any http.Handler (such as privates3.Client.Handler) works.
	// Required.
	Origin http.Handler
	// Clock is the edge's clock, against which signed URLs and cookies expire and cached
	// responses age. Pass [Server.Now] to share a Server's clock ([Server.Advance] then expires
	// cookies too). If nil, time.Now.
	Clock func() time.Time
	// DefaultTTL is how long a response without max-age or s-maxage is cached. If zero,
	// DefaultEdgeTTL (24h); negative means such responses are not cached.
	DefaultTTL time.Duration
	// MinTTL, if positive, is the cache policy's minimum TTL: every GET answered 200 is cached at
	// least this long, even with Cache-Control no-cache, no-store or private, as CloudFront does
	// when the minimum TTL is not zero. If zero, those responses are not cached.
	MinTTL time.Duration
	// AllowOrigin, if set, is the one web origin (such as "http://127.0.0.1:8080") for which the
	// edge answers CORS with credentials (Access-Control-Allow-Origin set to it,
	// Access-Control-Allow-Credentials: true), as a response headers policy does; preflight
	// OPTIONS requests from it are answered 204 without a signature. If empty, no CORS headers.
	AllowOrigin string
	// Addr is the loopback address (host:port) to listen on. If empty, 127.0.0.1 on a random
	// port. A non-loopback host is refused.
	Addr string
}

// EdgeStats are the counters of an [Edge].
type EdgeStats struct {
	// Requests is every request the edge received.
	Requests int64
	// Denied is the requests answered 403 because of a missing, invalid or expired signature.
	Denied int64
	// Hits is the authorized requests answered from the edge cache.
	Hits int64
	// Misses is the authorized requests that needed the origin (shared by concurrent identical
	// requests: request collapsing).
	Misses int64
	// OriginRequests is the requests the edge sent to the origin.
	OriginRequests int64
}

// Edge is a fake CloudFront edge location with one cache behaviour: it verifies signed URLs and
// signed cookies as CloudFront does, caches the origin's answers honouring Cache-Control, and
// counts what it did. Create it with [NewEdge] (or [StartEdge]) and stop it with [Edge.Close];
// its methods are safe for concurrent use.
//
// Verification follows CloudFront's rules for trusted key groups: a signed URL carries
// Expires (canned policy) or Policy (custom policy), Signature and Key-Pair-Id, and optionally
// Hash-Algorithm=SHA256; signed cookies carry CloudFront-Expires or CloudFront-Policy,
// CloudFront-Signature, CloudFront-Key-Pair-Id (and CloudFront-Hash-Algorithm); query
// parameters win over cookies. Policies and signatures are CloudFront's base64 with -, _ and ~
// for +, = and /. The signature is RSA PKCS#1 v1.5 over the SHA-1 (or SHA-256) of the policy
// JSON; a canned policy is rebuilt from the viewer's URL. The policy must have one statement
// whose Resource (wildcards * and ?) matches the viewer's URL (scheme, Host header, path and
// the query without the signing parameters), DateLessThan after the edge's clock,
// DateGreaterThan (if any) before it, and IpAddress (if any) containing the viewer's address.
// Refusals are 403 with CloudFront's XML error body: MissingKey ("Missing Key-Pair-Id query
// parameter or cookie value"), InvalidKey ("Unknown Key"), MalformedPolicy ("Malformed
// Policy"), else AccessDenied ("Access denied").
//
// Caching: GET answers with status 200 are cached by path and query (never by cookie) for
// s-maxage, else max-age, else DefaultTTL, at least MinTTL and at most MaxEdgeTTL; no-store,
// no-cache and private are cached only with a MinTTL (for MinTTL). Stale entries with an ETag are revalidated with If-None-Match. Concurrent
// misses for one path share one origin request. Cached answers serve ranges and conditionals
// (http.ServeContent) and carry X-Cache "Hit from cloudfront" or "Miss from cloudfront" and
// Age.
//
// Limits: one cache behaviour, RSA keys only, no invalidations but [Edge.Purge], no error
// caching, no compression, origin bodies up to MaxEdgeObject; CORS preflights from AllowOrigin
// are answered without a signature; the viewer's scheme is http (https only when served over
// TLS through [Edge.Handler]).
type Edge struct {
	// URL is the edge's base URL, "http://127.0.0.1:port" without a trailing slash.
	URL string

	cfg                                            EdgeConfig
	srv                                            *httptest.Server
	handler                                        http.Handler
	ctx                                            context.Context // the root of origin fetches; cancelled by Close
	cancel                                         context.CancelFunc
	wg                                             sync.WaitGroup // origin fetches in flight
	keys                                           atomic.Pointer[map[string]*rsa.PublicKey]
	requests, denied, hits, misses, originRequests atomic.Int64

	mu      sync.Mutex             // guards cache, bytes, flights, closed
	cache   map[string]*edgeEntry  // by path and filtered query
	flights map[string]*edgeFlight // origin requests in flight, by cache key
	bytes   int64
	closed  bool

	closeOnce sync.Once
}

// maxEdgeCacheBytes bounds the memory of the edge cache; entries beyond it are not stored.
const maxEdgeCacheBytes = 256 << 20

// NewEdge starts a fake CloudFront edge for cfg on a loopback address and returns it; the caller
// must Close it. Like [NewServer], it panics on an invalid configuration or if it cannot listen;
// commands use [StartEdge] instead.
func NewEdge(cfg EdgeConfig) *Edge {
	e, err := StartEdge(cfg)
	if err != nil {
		panic(err)
	}
	return e
}

// StartEdge is NewEdge for commands: it returns an error instead of panicking.
func StartEdge(cfg EdgeConfig) (*Edge, error) {
	if cfg.Origin == nil {
		return nil, fmt.Errorf("privates3test: EdgeConfig.Origin is nil")
	}
	if cfg.Clock == nil {
		cfg.Clock = time.Now
	}
	if cfg.DefaultTTL == 0 {
		cfg.DefaultTTL = DefaultEdgeTTL
	}
	e := &Edge{cfg: cfg, cache: make(map[string]*edgeEntry), flights: make(map[string]*edgeFlight)}
	if err := e.SetPublicKeys(cfg.PublicKeys); err != nil {
		return nil, err
	}
	addr := cfg.Addr
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, fmt.Errorf("privates3test: EdgeConfig.Addr %q: %v", addr, err)
	}
	if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
		return nil, fmt.Errorf("privates3test: EdgeConfig.Addr %q is not a loopback address", addr)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("privates3test: edge: %w", err)
	}
	e.ctx, e.cancel = context.WithCancel(context.Background())
	e.handler = http.HandlerFunc(e.serve)
	e.srv = &httptest.Server{Listener: ln, Config: &http.Server{Handler: e.handler, ReadHeaderTimeout: 10 * time.Second}}
	e.srv.Start()
	e.URL = e.srv.URL
	return e, nil
}

// SetPublicKeys replaces the trusted key group (for key rotation tests): requests signed with a
// key no longer in it get InvalidKey. Every key must be an RSA public key.
func (e *Edge) SetPublicKeys(keys map[string]crypto.PublicKey) error {
	if len(keys) == 0 {
		return fmt.Errorf("privates3test: EdgeConfig.PublicKeys is empty")
	}
	m := make(map[string]*rsa.PublicKey, len(keys))
	for id, k := range keys {
		rk, ok := k.(*rsa.PublicKey)
		if !ok || id == "" {
			return fmt.Errorf("privates3test: edge public key %q is %T, not an *rsa.PublicKey", id, k)
		}
		m[id] = rk
	}
	e.keys.Store(&m)
	return nil
}

// Handler returns the edge's http.Handler, for serving it another way (such as
// httptest.NewRecorder). The viewer URL it checks signatures against is built from the
// request's Host header.
func (e *Edge) Handler() http.Handler { return e.handler }

// Stats returns the edge's counters.
func (e *Edge) Stats() EdgeStats {
	return EdgeStats{
		Requests: e.requests.Load(), Denied: e.denied.Load(), Hits: e.hits.Load(),
		Misses: e.misses.Load(), OriginRequests: e.originRequests.Load(),
	}
}

// ResetStats sets every counter to zero.
func (e *Edge) ResetStats() {
	for _, c := range []*atomic.Int64{&e.requests, &e.denied, &e.hits, &e.misses, &e.originRequests} {
		c.Store(0)
	}
}

// Purge empties the edge cache, as an invalidation of /* does.
func (e *Edge) Purge() {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.cache = make(map[string]*edgeEntry)
	e.bytes = 0
}

// Close stops the edge: it closes the listener and every connection, cancels origin requests
// in flight and waits for them. It is idempotent.
func (e *Edge) Close() {
	e.closeOnce.Do(func() {
		e.mu.Lock()
		e.closed = true
		e.mu.Unlock()
		e.cancel()
		e.srv.CloseClientConnections()
		e.srv.Close()
		e.wg.Wait()
	})
}

// serve is the edge's handler.
func (e *Edge) serve(w http.ResponseWriter, r *http.Request) {
	e.requests.Add(1)
	h := w.Header()
	h.Set("Server", "CloudFront")
	h.Set("Via", "1.1 privates3test.cloudfront.invalid (CloudFront)")
	origin := r.Header.Get("Origin")
	cors := e.cfg.AllowOrigin != "" && origin == e.cfg.AllowOrigin
	if cors {
		h.Set("Access-Control-Allow-Origin", origin)
		h.Set("Access-Control-Allow-Credentials", "true")
		h.Set("Access-Control-Expose-Headers", "ETag, Content-Length, Content-Range, Age, X-Cache")
	}
	if e.cfg.AllowOrigin != "" {
		h.Add("Vary", "Origin")
	}
	switch r.Method {
	case http.MethodGet, http.MethodHead:
	case http.MethodOptions:
		if cors && r.Header.Get("Access-Control-Request-Method") != "" {
			h.Set("Access-Control-Allow-Methods", "GET, HEAD")
			if rh := r.Header.Get("Access-Control-Request-Headers"); rh != "" {
				h.Set("Access-Control-Allow-Headers", rh)
			}
			h.Set("Access-Control-Max-Age", "600")
			w.WriteHeader(http.StatusNoContent)
			return
		}
		fallthrough
	default:
		e.fail(w, r, edgeError{http.StatusForbidden, "MethodNotAllowed", "This distribution is not configured to allow the HTTP request method that was used for this request. The distribution supports only cachable requests."})
		return
	}
	v, ferr := e.viewerRequest(r)
	if ferr == nil {
		ferr = e.authorize(r, v, e.cfg.Clock())
	}
	if ferr != nil {
		e.denied.Add(1)
		e.fail(w, r, *ferr)
		return
	}
	e.respond(w, r, v)
}

// edgeError is a CloudFront error answer.
type edgeError struct {
	status        int
	code, message string
}

var (
	errMissingKey      = &edgeError{http.StatusForbidden, "MissingKey", "Missing Key-Pair-Id query parameter or cookie value"}
	errUnknownKey      = &edgeError{http.StatusForbidden, "InvalidKey", "Unknown Key"}
	errMalformedPolicy = &edgeError{http.StatusForbidden, "MalformedPolicy", "Malformed Policy"}
	errAccessDenied    = &edgeError{http.StatusForbidden, "AccessDenied", "Access denied"}
)

// fail writes CloudFront's XML error document.
func (e *Edge) fail(w http.ResponseWriter, r *http.Request, ee edgeError) {
	h := w.Header()
	h.Set("Content-Type", "text/xml")
	h.Set("X-Cache", "Error from cloudfront")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(ee.status)
	if r.Method == http.MethodHead {
		return
	}
	fmt.Fprintf(w, "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Error><Code>%s</Code><Message>%s</Message></Error>", ee.code, ee.message)
}
