// Package privates3 serves content from a private Amazon S3 bucket to restricted clients, safely and
// fast.
//
// A [Client] assumes an IAM role through STS and refreshes the temporary credentials in the
// background before they expire, so no request waits for STS. [Client.GetObject] caches small
// objects in a byte-bounded cache, streams large ones in constant memory and merges concurrent
// fetches of one key into one upstream GET; [Client.ReadRange] reads byte ranges, cached by
// ETag. [Client.Presign] returns presigned GET URLs that never
// outlive the credentials that signed them and stay identical within a time window, so browsers and
// CDNs can cache them. [Client.Handler] is an [net/http.Handler] that existing servers mount, in
// proxy or redirect mode, with full HTTP semantics (Range, ETag and 304, HEAD, Cache-Control).
//
// The package privates3test provides fake S3 and STS servers for tests.
//
// A server creates one Client and uses it for every request:
//
//	c, err := privates3.New(ctx, privates3.Config{
//		Bucket:  "tiles",
//		RoleARN: "arn:aws:iam::123456789012:role/tiles-reader",
//	})
//	if err != nil {
//		log.Fatal(err)
//	}
//	defer c.Close()
//	http.Handle("/tiles/", http.StripPrefix("/tiles/", c.Handler(nil)))
//
// # Errors
//
// Errors returned by the Client wrap one of the sentinel errors below; test for them with
// [errors.Is]:
//
//   - [ErrInvalidConfig]: a Config field is out of range (returned by [New]).
//   - [ErrInvalidKey]: the key is empty, too long, not valid UTF-8, or contains control bytes,
//     backslashes, empty or dot segments. Nothing was sent upstream.
//   - [ErrInvalidOption]: an option of a call (such as a presign expiry) is out of range.
//   - [ErrNotFound]: the object does not exist.
//   - [ErrAccessDenied]: S3 or STS refused the request; usually a policy mistake.
//   - [ErrThrottled]: S3 or STS asked the client to slow down.
//   - [ErrTimeout]: the upstream call did not finish in time.
//   - [ErrCredentials]: no valid credentials could be obtained.
//   - [ErrUpstream]: any other failure of S3 or STS.
//   - [ErrPreconditionFailed]: the object's ETag is not the one [Client.ReadRange] was given (the
//     object was replaced).
//   - [ErrRangeNotSatisfiable]: [Client.ReadRange] asked for bytes beyond the object's end.
//   - [ErrClosed]: the Client was closed.
//   - [ErrUnauthorized]: returned by a [HandlerOptions.Authorize] hook to answer 401 instead of 403.
//
// Error texts may name the key and the S3 error code; they never contain secret keys or session
// tokens. One table maps the sentinels to the HTTP statuses of both handlers (see
// [Client.Handler]).
package privates3

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"go.opentelemetry.io/otel/metric"
)

// Defaults of the Config fields, for users who want to derive their own values from them.
const (
	DefaultRoleSessionName  = "privates3"
	DefaultSessionDuration  = time.Hour
	MinSessionDuration      = 15 * time.Minute
	MaxSessionDuration      = 12 * time.Hour
	DefaultRefreshBefore    = 10 * time.Minute
	DefaultCacheBytes       = 64 << 20
	DefaultMaxCacheableSize = 1 << 20
	DefaultTTL              = time.Minute
	DefaultNegativeTTL      = 10 * time.Second
	DefaultFetchTimeout     = 30 * time.Second
	DefaultSTSTimeout       = 10 * time.Second
	DefaultMaxConnsPerHost  = 256
	// MaxKeyLength is the longest key S3 accepts, in bytes, Prefix included.
	MaxKeyLength = 1024
	// maxSessionPolicy is the largest session policy STS accepts, in bytes.
	maxSessionPolicy = 2048
)

// Config configures a [Client]. Only Bucket is required; every other field documents its default.
type Config struct {
	// Bucket is the S3 bucket to read. Required.
	Bucket string

	// Prefix confines every key under it: a key k names the object Prefix+k. If empty, the whole
	// bucket. It is used as given, so include the trailing slash ("tiles/").
	Prefix string

	// RoleARN is the IAM role to assume through STS with the base credentials of AWS. If empty, the
	// base credentials are used directly (still cached and refreshed ahead of expiry).
	RoleARN string

	// RoleSessionName names the STS session (2 to 64 characters of [\w+=,.@-]). If empty,
	// DefaultRoleSessionName.
	RoleSessionName string

	// ExternalID is passed to AssumeRole when the role's trust policy requires one. If empty, none.
	ExternalID string

	// SessionPolicy is an IAM policy document (JSON, at most 2048 bytes) that further narrows the
	// assumed role's permissions. If empty, none.
	SessionPolicy string

	// SessionDuration is the lifetime of assumed-role credentials, from 15m to 12h (the role's
	// maximum session duration must allow it). If zero, DefaultSessionDuration (1h).
	SessionDuration time.Duration

	// RefreshBefore is how long before the credentials expire the background refresh starts
	// (with jitter of up to a tenth of it earlier). It must be less than half of SessionDuration.
	// If zero, DefaultRefreshBefore (10m), or SessionDuration/4 if that is smaller.
	RefreshBefore time.Duration

	// AWS is the SDK configuration: region, the base credentials used to call STS (or S3, without
	// RoleARN), HTTP client and retryer. If nil, config.LoadDefaultConfig (environment, shared
	// files, EC2/ECS/EKS roles). If its HTTPClient is nil, the Client uses a transport sized for
	// MaxConnsPerHost concurrent requests.
	AWS *aws.Config

	// Endpoint overrides the S3 endpoint ("http://127.0.0.1:9000") for S3-compatible stores and
	// fakes. If empty, AWS.BaseEndpoint, else the regional AWS endpoint.
	Endpoint string

	// STSEndpoint overrides the STS endpoint. If empty, AWS.BaseEndpoint, else the regional AWS
	// endpoint.
	STSEndpoint string

	// UsePathStyle addresses the bucket as https://endpoint/bucket/key instead of
	// https://bucket.endpoint/key. If false, virtual-hosted style (AWS's default).
	UsePathStyle bool

	// CacheBytes bounds the memory of the object cache, counting per-entry overhead. If zero,
	// DefaultCacheBytes (64 MiB). If negative, nothing is cached.
	CacheBytes int64

	// MaxCacheableSize is the largest object kept in the cache; larger objects are streamed from S3
	// with memory independent of their size. If zero, DefaultMaxCacheableSize (1 MiB).
	MaxCacheableSize int64

	// TTL is how long a cached object is served without asking S3; after it, the entry is
	// revalidated with If-None-Match. If zero, DefaultTTL (1m).
	TTL time.Duration

	// NegativeTTL is how long a "not found" answer is remembered. If zero, DefaultNegativeTTL
	// (10s). If negative, not-found answers are not cached.
	NegativeTTL time.Duration

	// FetchTimeout bounds one upstream fetch shared by concurrent callers (a whole cacheable object,
	// or the headers of a streamed one). If zero, DefaultFetchTimeout (30s).
	FetchTimeout time.Duration

	// STSTimeout bounds one STS call. If zero, DefaultSTSTimeout (10s).
	STSTimeout time.Duration

	// MaxConnsPerHost sizes the idle connection pool of the default S3 transport; set it to the
	// concurrency the server handles. Ignored when AWS.HTTPClient is set. If zero,
	// DefaultMaxConnsPerHost (256).
	MaxConnsPerHost int

	// SharedCache is a cache tier shared by many Clients (processes), such as a
	// rediscache.Cache on Redis or Valkey: looked up after the memory cache and before S3, filled
	// with every cacheable object (and not-found answer) this Client fetches, with a lease so
	// that concurrent instances make one S3 GET per object between them. Its failures fall back
	// to S3. If nil, none.
	SharedCache SharedCache

	// SharedCacheWait is how long a fetch waits for another instance that holds the key's lease
	// in SharedCache before it fetches from S3 itself, and so also the lifetime of a lease. For
	// SharedCacheWait after a failed call of SharedCache, fetches do not wait at all (a lease
	// may have been lost with the failure). Ignored without SharedCache. If zero,
	// DefaultSharedCacheWait (2s).
	SharedCacheWait time.Duration

	// Logger receives the Client's log lines; they never contain secrets. If nil, nothing is
	// logged.
	Logger *slog.Logger

	// MeterProvider receives the Client's OpenTelemetry metrics (cache, S3 and STS calls,
	// credentials, handler requests; listed in README.md, "Metrics and health") under the
	// meter MeterName. If nil, no metrics are recorded (and the handler measures nothing).
	MeterProvider metric.MeterProvider
}

// withDefaults returns cfg with every zero field set to its default.
func (cfg Config) withDefaults() Config {
	orDefault(&cfg.RoleSessionName, DefaultRoleSessionName)
	orDefault(&cfg.SessionDuration, DefaultSessionDuration)
	orDefault(&cfg.RefreshBefore, min(DefaultRefreshBefore, cfg.SessionDuration/4))
	orDefault(&cfg.CacheBytes, DefaultCacheBytes)
	orDefault(&cfg.MaxCacheableSize, DefaultMaxCacheableSize)
	orDefault(&cfg.TTL, DefaultTTL)
	orDefault(&cfg.NegativeTTL, DefaultNegativeTTL)
	orDefault(&cfg.FetchTimeout, DefaultFetchTimeout)
	orDefault(&cfg.STSTimeout, DefaultSTSTimeout)
	orDefault(&cfg.MaxConnsPerHost, DefaultMaxConnsPerHost)
	orDefault(&cfg.SharedCacheWait, DefaultSharedCacheWait)
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return cfg
}

// orDefault sets *v to def if *v is its type's zero value.
func orDefault[T comparable](v *T, def T) {
	var zero T
	if *v == zero {
		*v = def
	}
}

// validate reports the first invalid field of cfg, which has its defaults applied.
func (cfg Config) validate() error {
	const lower = "abcdefghijklmnopqrstuvwxyz0123456789"
	chars := func(s string, lo, hi int, set string) bool {
		return len(s) >= lo && len(s) <= hi && strings.Trim(s, set) == ""
	}
	isURL := func(v string) bool {
		return v == "" || strings.HasPrefix(v, "http://") || strings.HasPrefix(v, "https://")
	}
	q := strconv.Quote
	for _, c := range []struct {
		ok          bool
		field, want string
		got         any
	}{
		{cfg.Bucket != "", "Bucket", "is required", q(cfg.Bucket)},
		{chars(cfg.Bucket, 3, 63, lower+".-"), "Bucket", "must be 3 to 63 characters of a-z, 0-9, '.' and '-'", q(cfg.Bucket)},
		{len(cfg.Prefix) < MaxKeyLength, "Prefix", fmt.Sprintf("must be shorter than %d bytes", MaxKeyLength), len(cfg.Prefix)},
		{cfg.Prefix == "" || validateKey(cfg.Prefix+"x") == nil, "Prefix", "must be a valid key prefix", q(cfg.Prefix)},
		{cfg.RoleARN == "" || strings.HasPrefix(cfg.RoleARN, "arn:"), "RoleARN", "must be an ARN (arn:aws:iam::ACCOUNT:role/NAME)", q(cfg.RoleARN)},
		{chars(cfg.RoleSessionName, 2, 64, lower+strings.ToUpper(lower)+"_+=,.@-"), "RoleSessionName", `must be 2 to 64 characters of [\w+=,.@-]`, q(cfg.RoleSessionName)},
		{len(cfg.SessionPolicy) <= maxSessionPolicy, "SessionPolicy", "must be at most 2048 bytes", fmt.Sprintf("%d bytes", len(cfg.SessionPolicy))},
		{cfg.SessionDuration >= MinSessionDuration && cfg.SessionDuration <= MaxSessionDuration, "SessionDuration", "must be between 15m and 12h", cfg.SessionDuration},
		{cfg.RefreshBefore >= 0 && cfg.RefreshBefore < cfg.SessionDuration/2, "RefreshBefore", "must be positive and less than half of SessionDuration", cfg.RefreshBefore},
		{cfg.MaxCacheableSize >= 0, "MaxCacheableSize", "must not be negative", cfg.MaxCacheableSize},
		{cfg.TTL >= 0, "TTL", "must not be negative", cfg.TTL},
		{cfg.FetchTimeout >= 0, "FetchTimeout", "must not be negative", cfg.FetchTimeout},
		{cfg.STSTimeout >= 0, "STSTimeout", "must not be negative", cfg.STSTimeout},
		{cfg.MaxConnsPerHost >= 0, "MaxConnsPerHost", "must not be negative", cfg.MaxConnsPerHost},
		{isURL(cfg.Endpoint), "Endpoint", "must be an http:// or https:// URL", q(cfg.Endpoint)},
		{isURL(cfg.STSEndpoint), "STSEndpoint", "must be an http:// or https:// URL", q(cfg.STSEndpoint)},
		{cfg.SharedCacheWait >= 0, "SharedCacheWait", "must not be negative", cfg.SharedCacheWait},
	} {
		if !c.ok {
			return fmt.Errorf("%w: Config.%s %s (got %v)", ErrInvalidConfig, c.field, c.want, c.got)
		}
	}
	return nil
}

// Client reads objects of one bucket with credentials it keeps fresh. Create it once with [New]
// and reuse it: it is safe for concurrent use, and its cache and credentials are shared by all
// callers. The zero value is not usable. Call [Client.Close] when done.
type Client struct {
	cfg    Config
	log    *slog.Logger
	awsCfg aws.Config // base configuration, with the resolved region and base credentials
	s3     *s3.Client
	sts    *sts.Client // nil without RoleARN

	life    *lifecycle   // flight.go: the root context and WaitGroup that Close ends
	closed  atomic.Bool  // set by Close: calls return ErrClosed
	creds   *credentials // credentials.go
	cache   *cache       // cache.go
	gets    group[string, *fetched]
	heads   group[string, *fetched]
	presign presignState // presign.go; zero value usable
	scoped  scopedState  // scoped.go

	sharedTrouble atomic.Int64 // sharedcache.go: Unix ns until which fetches do not wait for leases

	stats      counters
	metrics    *metrics          // metrics.go
	transports []*http.Transport // made by the Client (transport.go); Close closes their idle connections
}

// New validates cfg, obtains the first credentials (assuming RoleARN if set) and returns a Client
// whose background refresher keeps them fresh. An invalid cfg gives an error wrapping
// [ErrInvalidConfig] that names the field and its value; credentials that cannot be obtained give
// an error wrapping [ErrCredentials] (or [ErrAccessDenied], [ErrThrottled], [ErrTimeout]).
func New(ctx context.Context, cfg Config) (*Client, error) {
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	var awsCfg aws.Config
	if cfg.AWS != nil {
		awsCfg = cfg.AWS.Copy()
	} else {
		loaded, err := config.LoadDefaultConfig(ctx)
		if err != nil {
			return nil, fmt.Errorf("%w: loading the default AWS config: %v", ErrCredentials, err)
		}
		awsCfg = loaded
	}
	if awsCfg.Region == "" {
		return nil, fmt.Errorf("%w: Config.AWS.Region is required (got \"\")", ErrInvalidConfig)
	}
	if awsCfg.Credentials == nil {
		return nil, fmt.Errorf("%w: Config.AWS.Credentials is required (got nil)", ErrInvalidConfig)
	}
	c := &Client{cfg: cfg, log: cfg.Logger, awsCfg: awsCfg, life: newLifecycle()}
	c.gets = group[string, *fetched]{life: c.life, timeout: cfg.FetchTimeout, free: freeFetched}
	c.heads = group[string, *fetched]{life: c.life, timeout: cfg.FetchTimeout}
	c.scoped.issues = group[scopedKey, ScopedCredentials]{life: c.life, timeout: cfg.STSTimeout}
	c.cache = newCache(cfg.CacheBytes, &c.stats)
	fetch := baseFetch(awsCfg.Credentials, cfg.STSTimeout)
	if cfg.RoleARN != "" {
		c.sts = newSTSClient(awsCfg, cfg, c.httpClient("STS"))
		fetch = func(ctx context.Context) (aws.Credentials, error) {
			return c.assumeRole(ctx, cfg.SessionPolicy, cfg.SessionDuration)
		}
	}
	c.creds = newCredentials(cfg, c.life, &c.stats, fetch, rand.Float64)
	m, err := newMetrics(cfg.MeterProvider, c)
	if err != nil {
		c.Close()
		return nil, err
	}
	c.metrics = m
	c.s3 = newS3Client(awsCfg, cfg, c.httpClient("S3"), c.creds)
	if err := c.creds.start(ctx); err != nil {
		c.Close()
		return nil, err
	}
	return c, nil
}

// freeFetched releases the large object's response of a shared fetch that no reader took.
func freeFetched(f *fetched) {
	if f != nil && f.handoff != nil {
		f.handoff.abandon()
	}
}

// Close stops the background refresher and cancels every upstream call and shared fetch (streams
// being read included), waits for the goroutines the Client started, and releases idle
// connections. Calls after Close return [ErrClosed]. Close is idempotent and always returns nil.
func (c *Client) Close() error {
	c.closed.Store(true)
	c.life.close()
	c.metrics.close()
	for _, t := range c.transports {
		t.CloseIdleConnections()
	}
	return nil
}

// checkOpen returns ErrClosed after Close.
func (c *Client) checkOpen() error {
	if c.closed.Load() {
		return ErrClosed
	}
	return nil
}

// Stats is a snapshot of a Client's counters, all since New.
type Stats struct {
	CacheHits         int64 // GetObject calls answered from the cache without asking S3
	CacheMisses       int64 // GetObject calls that found no fresh cache entry
	Revalidations     int64 // expired entries revalidated with If-None-Match
	NotModified       int64 // revalidations answered 304 (no body downloaded)
	Evictions         int64 // entries evicted to stay within CacheBytes
	CachedBytes       int64 // bytes held by the cache now, per-entry overhead included
	CachedObjects     int64 // entries in the cache now, negative entries included
	UpstreamGets      int64 // GetObject requests sent to S3
	UpstreamHeads     int64 // HeadObject requests sent to S3
	Deduplicated      int64 // callers that shared another caller's upstream fetch
	Streamed          int64 // objects streamed from S3 without caching
	STSCalls          int64 // AssumeRole calls (scoped credentials included)
	Refreshes         int64 // successful refreshes of the Client's own credentials
	RefreshFailures   int64 // failed refresh attempts (each retry counts)
	ForcedRefreshes   int64 // refreshes forced by an S3 ExpiredToken or InvalidAccessKeyId answer
	Presigned         int64 // URLs signed by Presign
	PresignCacheHits  int64 // Presign calls answered with a remembered URL
	ScopedCredentials int64 // scoped credentials issued (reuses excluded)
	SharedHits        int64 // fetches answered by Config.SharedCache (at once or after waiting)
	SharedMisses      int64 // fetches that Config.SharedCache could not answer (they went to S3)
	SharedWaits       int64 // fetches that waited for another instance holding the key's lease
	SharedErrors      int64 // failed calls of Config.SharedCache (each was treated as a miss)
	SharedInvalid     int64 // entries of Config.SharedCache rejected (truncated, corrupt, foreign)
}

// counters holds the live values behind Stats.
type counters struct {
	cacheHits, cacheMisses, revalidations, notModified, evictions      atomic.Int64
	cachedBytes, cachedObjects                                         atomic.Int64
	upstreamGets, upstreamHeads, deduplicated, streamed                atomic.Int64
	stsCalls, refreshes, refreshFailures, forcedRefreshes              atomic.Int64
	presigned, presignCacheHits, scopedCredentials                     atomic.Int64
	sharedHits, sharedMisses, sharedWaits, sharedErrors, sharedInvalid atomic.Int64
}

// Stats returns a snapshot of the Client's counters. It is cheap and safe to call at any time,
// also after Close.
func (c *Client) Stats() Stats {
	s := &c.stats
	return Stats{
		CacheHits: s.cacheHits.Load(), CacheMisses: s.cacheMisses.Load(),
		Revalidations: s.revalidations.Load(), NotModified: s.notModified.Load(),
		Evictions: s.evictions.Load(), CachedBytes: s.cachedBytes.Load(), CachedObjects: s.cachedObjects.Load(),
		UpstreamGets: s.upstreamGets.Load(), UpstreamHeads: s.upstreamHeads.Load(),
		Deduplicated: s.deduplicated.Load(), Streamed: s.streamed.Load(),
		STSCalls: s.stsCalls.Load(), Refreshes: s.refreshes.Load(), RefreshFailures: s.refreshFailures.Load(),
		ForcedRefreshes: s.forcedRefreshes.Load(),
		Presigned:       s.presigned.Load(), PresignCacheHits: s.presignCacheHits.Load(),
		ScopedCredentials: s.scopedCredentials.Load(),
		SharedHits:        s.sharedHits.Load(), SharedMisses: s.sharedMisses.Load(),
		SharedWaits: s.sharedWaits.Load(), SharedErrors: s.sharedErrors.Load(),
		SharedInvalid: s.sharedInvalid.Load(),
	}
}

// Object is an object read from the bucket. The caller must close Body.
type Object struct {
	// Body reads the object's bytes. For objects returned by GetObject it is an
	// io.ReadSeekCloser: seeking a streamed object sends no request, the next Read opens a
	// ranged GET.
	Body            io.ReadCloser
	Size            int64     // length of the whole object in bytes; -1 if S3 sent none
	ContentType     string    // as stored in S3; empty if none
	ContentEncoding string    // as stored in S3 ("gzip" for pre-compressed tiles); empty if none
	CacheControl    string    // as stored in S3; empty if none
	ETag            string    // quoted, as S3 sends it
	LastModified    time.Time // zero if S3 sent none
}

// validateKey reports whether key (already joined with Prefix) may be sent to S3: at most
// MaxKeyLength bytes of valid UTF-8, no control bytes, no backslash, and no empty, "." or ".."
// segments. The error wraps ErrInvalidKey and does not echo the key.
func validateKey(key string) error {
	if key == "" {
		return fmt.Errorf("%w: empty", ErrInvalidKey)
	}
	if len(key) > MaxKeyLength {
		return fmt.Errorf("%w: longer than %d bytes (got %d)", ErrInvalidKey, MaxKeyLength, len(key))
	}
	if !utf8.ValidString(key) {
		return fmt.Errorf("%w: not valid UTF-8", ErrInvalidKey)
	}
	for i := 0; i < len(key); i++ {
		if ch := key[i]; ch < 0x20 || ch == 0x7f {
			return fmt.Errorf("%w: control byte 0x%02x at offset %d", ErrInvalidKey, ch, i)
		} else if ch == '\\' {
			return fmt.Errorf("%w: backslash at offset %d", ErrInvalidKey, i)
		}
	}
	for seg := range strings.SplitSeq(key, "/") {
		switch seg {
		case "":
			return fmt.Errorf("%w: empty path segment", ErrInvalidKey)
		case ".", "..":
			return fmt.Errorf("%w: %q path segment", ErrInvalidKey, seg)
		}
	}
	return nil
}

// objectKey validates key and returns the S3 key Prefix+key. Errors wrap ErrInvalidKey.
func (c *Client) objectKey(key string) (string, error) {
	full := c.cfg.Prefix + key
	if key == "" {
		return "", fmt.Errorf("%w: empty", ErrInvalidKey)
	}
	if err := validateKey(full); err != nil {
		return "", err
	}
	return full, nil
}
