// Package rediscache is a cache tier shared by many privates3 processes, on Redis or Valkey
// (Amazon ElastiCache and MemoryDB included). Set a [*Cache] as privates3.Config.SharedCache and
// every instance behind a load balancer finds what any of them fetched, so N instances make one
// S3 GET per object per TTL instead of N, and a fresh instance starts warm.
//
//	sc, err := rediscache.New(rediscache.Options{URL: "rediss://user:password@cache.example:6379/0"})
//	if err != nil {
//		log.Fatal(err)
//	}
//	defer sc.Close()
//	c, err := privates3.New(ctx, privates3.Config{Bucket: "tiles", SharedCache: sc})
//
// The tier is an optimisation that must never cost availability. Every call has its own short
// deadline ([Options.Timeout]); a Redis that is down, slow or refusing makes calls fail promptly
// with an error, which privates3 treats as a miss (it asks S3). After [Options.BreakerErrors]
// consecutive failures a circuit breaker stops asking Redis for [Options.BreakerCooldown]; then
// one call probes, and its success closes the breaker again. [New] does not wait for Redis: it
// connects in the background, so a process starts even while Redis is unreachable.
//
// Every key written is prefixed with the namespace and the format version of this package
// ("privates3:v1:..."), so deployments that share a Redis but not a namespace never read each
// other's entries. Values are opaque bytes; privates3 encodes and verifies them itself (a value
// truncated or rewritten in Redis is a miss, never served).
//
// # Errors
//
// Failed calls return errors that wrap one of the sentinels below (test them with [errors.Is]),
// or the error of the caller's ctx when it ended first:
//
//   - [ErrTimeout]: Redis did not answer within Options.Timeout.
//   - [ErrUnavailable]: the breaker is open, or no connection could be made.
//   - [ErrRedis]: Redis answered with an error (for example NOAUTH, NOPERM, OOM, WRONGTYPE) or the
//     connection failed.
//   - [ErrClosed]: the Cache was closed.
//   - [ErrInvalidOptions], [ErrInvalidArgument]: bad Options (from [New]) or a bad argument.
//
// Error texts never contain the password or the values.
package rediscache

import (
	"cmp"
	"context"
	"crypto/rand"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/privates3/privates3"
	"github.com/redis/rueidis"
)

var _ privates3.SharedCache = (*Cache)(nil)

// Defaults of the Options fields.
const (
	DefaultURL             = "redis://127.0.0.1:6379/0"
	DefaultNamespace       = "privates3"
	DefaultTimeout         = 100 * time.Millisecond
	DefaultBreakerErrors   = 5
	DefaultBreakerCooldown = time.Second
)

// FormatVersion is the version of this package's key layout, part of every key it writes. It
// changes when the layout does, so an old and a new release never read each other's entries.
const FormatVersion = "v1"

// Sentinel errors. See the package documentation, section Errors.
var (
	ErrClosed          = errors.New("rediscache: cache closed")
	ErrTimeout         = errors.New("rediscache: redis timeout")
	ErrUnavailable     = errors.New("rediscache: redis unavailable")
	ErrRedis           = errors.New("rediscache: redis error")
	ErrInvalidOptions  = errors.New("rediscache: invalid options")
	ErrInvalidArgument = errors.New("rediscache: invalid argument")
)

// Options configure a Cache. The zero value connects to DefaultURL without TLS or AUTH.
type Options struct {
	// URL addresses the server: redis://[user[:password]@]host[:port][/db] for plain TCP,
	// rediss://... for TLS (valkey:// and valkeys:// are synonyms), unix:///path for a Unix
	// socket. The port defaults to 6379, the database to 0. If empty, DefaultURL.
	URL string

	// Username and Password authenticate the connection (AUTH: a password alone for
	// requirepass, a username too for an ACL user). If empty, the URL's (none if it has none).
	Username string
	Password string

	// TLSConfig, if not nil, makes connections use TLS with a clone of it, whatever the URL's
	// scheme; its ServerName defaults to the URL's host. If nil, rediss:// URLs use TLS 1.2 or
	// later with the system's roots and the URL's host as ServerName, and redis:// URLs plain TCP.
	TLSConfig *tls.Config

	// Namespace starts every key, followed by FormatVersion: "namespace:v1:...". Give each
	// deployment (bucket and prefix) its own. 1 to 64 bytes of letters, digits and ".-_/". If
	// empty, DefaultNamespace.
	Namespace string

	// Timeout bounds every call (Get, Set, Lease, Release, Ping), the wait for a connection
	// included; a shorter deadline of the caller's ctx wins. It also bounds connecting and each
	// connection's handshake (TLS, HELLO, AUTH), so that a call waiting for a reconnection does
	// not wait longer than that either. A connection whose server leaves its keep-alive PING
	// unanswered for max(1s, 10×Timeout) is closed and redialled. If zero, DefaultTimeout.
	Timeout time.Duration

	// BreakerErrors is the number of consecutive failed calls that opens the breaker. If zero,
	// DefaultBreakerErrors.
	BreakerErrors int

	// BreakerCooldown is how long an open breaker refuses calls (with ErrUnavailable, without
	// asking Redis) before one call probes Redis again. If zero, DefaultBreakerCooldown.
	BreakerCooldown time.Duration

	// Logger receives a warning when the breaker opens and a line when it closes. If nil,
	// nothing is logged.
	Logger *slog.Logger
}

// Stats is a snapshot of a Cache's counters, all since New.
type Stats struct {
	Hits         int64 // Get calls that found a value
	Misses       int64 // Get calls that found none
	Sets         int64 // values stored by Set
	LeasesTaken  int64 // Lease calls that took the lease
	LeasesBusy   int64 // Lease calls that found it held by someone else
	Releases     int64 // leases deleted by Release (a lease that had expired or passed on is not)
	Errors       int64 // calls that failed after asking Redis or waiting for a connection
	Rejected     int64 // calls refused without asking Redis because the breaker was open
	BreakerOpens int64 // times the breaker opened (a failed probe re-opening it counts too)
}

// Cache is a shared cache tier on one Redis or Valkey server (or cluster). It implements
// privates3.SharedCache. Create it with New and share it: it is safe for concurrent use and
// keeps its connections for all callers. The zero value is not usable. Call Close when done.
type Cache struct {
	prefix  string // namespace + ":" + FormatVersion + ":"
	timeout time.Duration
	opt     rueidis.ClientOption
	log     *slog.Logger
	br      breaker
	release *rueidis.Lua

	root     context.Context // cancelled by Close: ends dials in progress
	stopRoot context.CancelFunc
	wg       sync.WaitGroup // the connecting goroutine
	callsMu  sync.RWMutex   // read-held to add to calls, write-held by Close to set closed
	calls    sync.WaitGroup // the goroutines running calls
	client   atomic.Pointer[clientBox]
	closed   atomic.Bool

	mu      sync.Mutex // guards dialing, and closed's transition
	dialing *attempt   // the connection attempt in progress, or nil

	leaseMu   sync.Mutex // guards leases, nextSweep
	leases    map[string]heldLease
	nextSweep int

	hits, misses, sets, leasesTaken, leasesBusy, releases, errs, rejected, opens atomic.Int64
}

// connectError is the failure of a connection attempt.
type connectError struct{ err error }

func (e *connectError) Error() string { return "connecting: " + e.err.Error() }

// clientBox holds the connected client (an interface) for atomic.Pointer.
type clientBox struct{ rueidis.Client }

// attempt is one background connection attempt; err is set before done is closed.
type attempt struct {
	done chan struct{}
	err  error
}

// heldLease is a lease this Cache took: its random token and when Redis drops it anyway.
type heldLease struct {
	token   string
	expires time.Time
}

// releaseScript deletes the lease only if it still holds this caller's token, so a lease that
// expired and was taken by another instance is left alone.
const releaseScript = `if redis.call("GET", KEYS[1]) == ARGV[1] then return redis.call("DEL", KEYS[1]) end return 0`

// New validates opts and returns a Cache that connects to Redis in the background. It does no
// I/O itself and succeeds while Redis is unreachable; calls fail (as misses) until it is reachable.
// Invalid opts give an error wrapping ErrInvalidOptions that names the field (never the password).
func New(opts Options) (*Cache, error) {
	if opts.URL == "" {
		opts.URL = DefaultURL
	}
	if opts.Namespace == "" {
		opts.Namespace = DefaultNamespace
	}
	if opts.Timeout == 0 {
		opts.Timeout = DefaultTimeout
	}
	if opts.BreakerErrors == 0 {
		opts.BreakerErrors = DefaultBreakerErrors
	}
	if opts.BreakerCooldown == 0 {
		opts.BreakerCooldown = DefaultBreakerCooldown
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if err := validNamespace(opts.Namespace); err != nil {
		return nil, err
	}
	switch {
	case opts.Timeout < 0:
		return nil, fmt.Errorf("%w: Options.Timeout must be positive (got %v)", ErrInvalidOptions, opts.Timeout)
	case opts.BreakerErrors < 0:
		return nil, fmt.Errorf("%w: Options.BreakerErrors must be positive (got %d)", ErrInvalidOptions, opts.BreakerErrors)
	case opts.BreakerCooldown < 0:
		return nil, fmt.Errorf("%w: Options.BreakerCooldown must be positive (got %v)", ErrInvalidOptions, opts.BreakerCooldown)
	}
	c := &Cache{
		prefix:  opts.Namespace + ":" + FormatVersion + ":",
		timeout: opts.Timeout,
		log:     opts.Logger,
		br:      breaker{threshold: int64(opts.BreakerErrors), cooldown: opts.BreakerCooldown, now: time.Now},
		release: rueidis.NewLuaScript(releaseScript),
		leases:  make(map[string]heldLease),
	}
	opt, err := c.clientOption(opts)
	if err != nil {
		return nil, err
	}
	c.opt = opt
	c.root, c.stopRoot = context.WithCancel(context.Background())
	c.mu.Lock()
	c.startConnectLocked()
	c.mu.Unlock()
	return c, nil
}

// validNamespace checks Options.Namespace. It may not contain ':' so that the namespace ends
// unambiguously at the first colon: no two namespaces share a key.
func validNamespace(ns string) error {
	if len(ns) > 64 {
		return fmt.Errorf("%w: Options.Namespace must be at most 64 bytes (got %d)", ErrInvalidOptions, len(ns))
	}
	for i := 0; i < len(ns); i++ {
		b := ns[i]
		if !('a' <= b && b <= 'z' || 'A' <= b && b <= 'Z' || '0' <= b && b <= '9' || strings.IndexByte(".-_/", b) >= 0) {
			return fmt.Errorf("%w: Options.Namespace may contain only letters, digits and \".-_/\" (got %q)", ErrInvalidOptions, ns)
		}
	}
	return nil
}

// clientOption turns opts into the Redis client's options.
func (c *Cache) clientOption(opts Options) (rueidis.ClientOption, error) {
	u, err := url.Parse(opts.URL)
	if err != nil {
		// url.Parse's error repeats the whole URL, password included: say only what is wrong.
		return rueidis.ClientOption{}, fmt.Errorf("%w: Options.URL is not a valid URL", ErrInvalidOptions)
	}
	network := "tcp"
	switch u.Scheme {
	case "redis", "rediss", "valkey", "valkeys":
		if u.Hostname() == "" {
			return rueidis.ClientOption{}, fmt.Errorf("%w: Options.URL has no host (got %q)", ErrInvalidOptions, u.Redacted())
		}
	case "unix":
		network = "unix"
	default:
		return rueidis.ClientOption{}, fmt.Errorf("%w: Options.URL must start with redis://, rediss://, valkey://, valkeys:// or unix:// (got %q)", ErrInvalidOptions, u.Redacted())
	}
	opt, err := rueidis.ParseURL(opts.URL)
	if err != nil {
		return rueidis.ClientOption{}, fmt.Errorf("%w: Options.URL %q: %v", ErrInvalidOptions, u.Redacted(), err)
	}
	if opts.Username != "" {
		opt.Username = opts.Username
	}
	if opts.Password != "" {
		opt.Password = opts.Password
	}
	if opts.TLSConfig != nil {
		cfg := opts.TLSConfig.Clone()
		if cfg.ServerName == "" {
			cfg.ServerName = u.Hostname()
		}
		opt.TLSConfig = cfg
	}
	opt.ClientName = "privates3"
	// The tier wants no client-side caching (privates3 has its own memory cache) and one attempt
	// per call: a failure is a miss, and the breaker, not a retry loop, handles a dead server.
	opt.DisableCache = true
	opt.DisableRetry = true
	// The client makes a caller wait for a reconnection in progress without looking at the
	// caller's ctx, so connecting gets no more time than a call.
	opt.Dialer.Timeout = opts.Timeout
	opt.ConnWriteTimeout = max(time.Second, 10*opts.Timeout)
	opt.DialCtxFn = func(ctx context.Context, addr string, d *net.Dialer, cfg *tls.Config) (net.Conn, error) {
		ctx, cancel := context.WithCancel(ctx)
		defer cancel()
		stop := context.AfterFunc(c.root, cancel) // Close ends a dial in progress
		defer stop()
		var nc net.Conn
		var err error
		if cfg != nil {
			nc, err = (&tls.Dialer{NetDialer: d, Config: cfg}).DialContext(ctx, network, addr)
		} else {
			nc, err = d.DialContext(ctx, network, addr)
		}
		if err != nil {
			return nil, err
		}
		// Close also ends a handshake in progress (HELLO, AUTH) on a server that does not answer.
		lc := &rootConn{Conn: nc}
		lc.stop = context.AfterFunc(c.root, func() { nc.Close() })
		return lc, nil
	}
	return opt, nil
}

// rootConn is a connection that Cache.Close closes; closing it earlier forgets that.
type rootConn struct {
	net.Conn
	stop func() bool
}

func (c *rootConn) Close() error {
	c.stop()
	return c.Conn.Close()
}

// startConnectLocked starts a background connection attempt. c.mu must be held.
func (c *Cache) startConnectLocked() *attempt {
	a := &attempt{done: make(chan struct{})}
	c.dialing = a
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		cl, err := rueidis.NewClient(c.opt)
		c.mu.Lock()
		defer c.mu.Unlock()
		switch {
		case err != nil:
			a.err = &connectError{err}
		case c.closed.Load():
			cl.Close()
			a.err = ErrClosed
		default:
			c.client.Store(&clientBox{cl})
		}
		c.dialing = nil
		close(a.done)
	}()
	return a
}

// conn returns the connected client, starting a connection attempt if there is none and waiting
// for it at most until ctx ends.
func (c *Cache) conn(ctx context.Context) (rueidis.Client, error) {
	if b := c.client.Load(); b != nil {
		return b.Client, nil
	}
	c.mu.Lock()
	if c.closed.Load() {
		c.mu.Unlock()
		return nil, ErrClosed
	}
	if b := c.client.Load(); b != nil {
		c.mu.Unlock()
		return b.Client, nil
	}
	a := c.dialing
	if a == nil {
		a = c.startConnectLocked()
	}
	c.mu.Unlock()
	select {
	case <-a.done:
		if a.err != nil {
			return nil, a.err
		}
		return c.client.Load().Client, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// result is what a call's function returns, sent from the goroutine that runs it.
type result[T any] struct {
	v   T
	err error
}

// do runs f with a connected client under the breaker and the per-call timeout, and turns its
// outcome into the error the caller gets; f returns Redis's error as is. f runs on a goroutine of
// its own, and do returns when the deadline passes even if f has not (the client does not honour
// ctx everywhere: a call waiting for another's reconnection waits for that one's deadline); the
// cancelled ctx then ends f soon after, and Close waits for it.
func do[T any](c *Cache, ctx context.Context, op string, f func(ctx context.Context, cl rueidis.Client) (T, error)) (T, error) {
	var zero T
	probe, ok := c.br.allow()
	if !ok {
		c.rejected.Add(1)
		return zero, fmt.Errorf("%w: %s: breaker open", ErrUnavailable, op)
	}
	own := time.Now().Add(c.timeout)
	d, ok := ctx.Deadline()
	callerFirst := ok && d.Before(own) // the caller's deadline, not ours, bounds this call
	cctx, cancel := context.WithDeadline(ctx, own)
	defer cancel()

	c.callsMu.RLock()
	if c.closed.Load() {
		c.callsMu.RUnlock()
		c.record(probe, neutral, nil)
		return zero, ErrClosed
	}
	c.calls.Add(1)
	c.callsMu.RUnlock()
	done := make(chan result[T], 1)
	go func() {
		defer c.calls.Done()
		cl, err := c.conn(cctx)
		if err != nil {
			done <- result[T]{err: err}
			return
		}
		v, err := f(cctx, cl)
		done <- result[T]{v, err}
	}()
	var r result[T]
	select {
	case r = <-done:
	case <-cctx.Done():
		select {
		case r = <-done: // it finished at the same moment
		default:
			r.err = cctx.Err()
		}
	}
	if r.err == nil {
		c.record(probe, success, nil)
		return r.v, nil
	}
	c.errs.Add(1)
	verdict, err := c.classify(ctx, cctx, callerFirst, op, r.err)
	c.record(probe, verdict, err)
	return zero, err
}

// classify turns the error of call op into the caller's error and the breaker's verdict. ctx is
// the caller's context, cctx the call's (ctx with the call's deadline); callerFirst says that
// ctx's deadline came before the call's own.
func (c *Cache) classify(ctx, cctx context.Context, callerFirst bool, op string, err error) (outcome, error) {
	switch {
	case ctx.Err() != nil || callerFirst && errors.Is(err, context.DeadlineExceeded):
		// The caller gave up; that says nothing about Redis.
		return neutral, fmt.Errorf("rediscache: %s: %w", op, cmp.Or(ctx.Err(), context.DeadlineExceeded))
	case errors.Is(err, ErrClosed) || c.closed.Load():
		return neutral, ErrClosed
	case cctx.Err() != nil || errors.Is(err, context.DeadlineExceeded):
		// (The client may give up a moment before cctx's timer fires.)
		return failure, fmt.Errorf("%w: %s: no answer within %v", ErrTimeout, op, c.timeout)
	case errors.As(err, new(*connectError)):
		return failure, fmt.Errorf("%w: %s: %v", ErrUnavailable, op, err)
	}
	verdict := failure
	if re, ok := rueidis.IsRedisErr(err); ok && strings.HasPrefix(re.Error(), "WRONGTYPE") {
		verdict = neutral // one key holds a foreign value; the server is fine
	}
	return verdict, fmt.Errorf("%w: %s: %v", ErrRedis, op, err)
}

// record feeds a call's outcome to the breaker and logs the breaker's transitions.
func (c *Cache) record(probe bool, o outcome, err error) {
	switch c.br.record(probe, o) {
	case opened:
		c.opens.Add(1)
		c.log.Warn("rediscache: breaker open, not asking Redis for a while", "cooldown", c.br.cooldown, "err", err)
	case closed:
		c.log.Info("rediscache: breaker closed, Redis answers again")
	}
}

// entryKey and leaseKey place values and leases in separate parts of the namespace.
func (c *Cache) entryKey(key string) string { return c.prefix + "e:" + key }
func (c *Cache) leaseKey(key string) string { return c.prefix + "l:" + key }

// Get returns the value stored under key, or (nil, nil) if there is none. The returned slice is
// the caller's. A failure (see the package doc) returns (nil, error) within Options.Timeout.
func (c *Cache) Get(ctx context.Context, key string) ([]byte, error) {
	v, err := do(c, ctx, "GET", func(ctx context.Context, cl rueidis.Client) ([]byte, error) {
		b, err := cl.Do(ctx, cl.B().Get().Key(c.entryKey(key)).Build()).AsBytes()
		switch {
		case rueidis.IsRedisNil(err):
			return nil, nil
		case err == nil && b == nil:
			return []byte{}, nil
		}
		return b, err
	})
	switch {
	case err != nil:
		return nil, err
	case v == nil:
		c.misses.Add(1)
	default:
		c.hits.Add(1)
	}
	return v, nil
}

// Set stores value under key for ttl (at least 1 ms; a fraction of a millisecond is rounded up).
// A ttl <= 0 is an error wrapping ErrInvalidArgument, and nothing is sent.
func (c *Cache) Set(ctx context.Context, key string, value []byte, ttl time.Duration) error {
	ms, err := millis(ttl)
	if err != nil {
		return err
	}
	_, err = do(c, ctx, "SET", func(ctx context.Context, cl rueidis.Client) (struct{}, error) {
		return struct{}{}, cl.Do(ctx, cl.B().Set().Key(c.entryKey(key)).Value(rueidis.BinaryString(value)).PxMilliseconds(ms).Build()).Error()
	})
	if err == nil {
		c.sets.Add(1)
	}
	return err
}

// Lease tries to take the lease on key for ttl with SET NX PX and a random token, and reports
// whether this call took it. false with a nil error means someone holds it (another Cache, or
// another caller of this one). The lease ends with Release or, at the latest, after ttl.
// A ttl <= 0 is an error wrapping ErrInvalidArgument.
func (c *Cache) Lease(ctx context.Context, key string, ttl time.Duration) (bool, error) {
	ms, err := millis(ttl)
	if err != nil {
		return false, err
	}
	token := rand.Text()
	start := time.Now()
	taken, err := do(c, ctx, "LEASE", func(ctx context.Context, cl rueidis.Client) (bool, error) {
		err := cl.Do(ctx, cl.B().Set().Key(c.leaseKey(key)).Value(token).Nx().PxMilliseconds(ms).Build()).Error()
		if rueidis.IsRedisNil(err) {
			return false, nil // NX: the key exists
		}
		return err == nil, err
	})
	if err != nil {
		return false, err
	}
	if !taken {
		c.leasesBusy.Add(1)
		return false, nil
	}
	c.leasesTaken.Add(1)
	c.leaseMu.Lock()
	c.leases[key] = heldLease{token: token, expires: start.Add(ttl)}
	c.sweepLocked(start)
	c.leaseMu.Unlock()
	return true, nil
}

// sweepLocked forgets leases that Redis has dropped by now, when the map has doubled since the
// last sweep, so that leases never released cost memory only until they expire. c.leaseMu must
// be held.
func (c *Cache) sweepLocked(now time.Time) {
	if len(c.leases) < c.nextSweep {
		return
	}
	for k, l := range c.leases {
		if !now.Before(l.expires) {
			delete(c.leases, k)
		}
	}
	c.nextSweep = 2*len(c.leases) + 64
}

// Release drops the lease on key if, and only if, this Cache still holds it (compare-and-delete
// in one Lua script): a lease that expired and was taken by another instance stays theirs.
// Releasing a lease this Cache does not hold does nothing and returns nil.
func (c *Cache) Release(ctx context.Context, key string) error {
	c.leaseMu.Lock()
	l, ok := c.leases[key]
	delete(c.leases, key)
	c.leaseMu.Unlock()
	if !ok {
		return nil
	}
	n, err := do(c, ctx, "RELEASE", func(ctx context.Context, cl rueidis.Client) (int64, error) {
		return c.release.Exec(ctx, cl, []string{c.leaseKey(key)}, []string{l.token}).AsInt64()
	})
	if n == 1 {
		c.releases.Add(1)
	}
	return err
}

// Ping asks Redis for a PONG under the same timeout and breaker as the other calls. It tells
// whether the tier works now, for start-up logs and health checks.
func (c *Cache) Ping(ctx context.Context) error {
	_, err := do(c, ctx, "PING", func(ctx context.Context, cl rueidis.Client) (struct{}, error) {
		return struct{}{}, cl.Do(ctx, cl.B().Ping().Build()).Error()
	})
	return err
}

// Stats returns a snapshot of the counters. It is cheap and safe to call at any time, also after
// Close.
func (c *Cache) Stats() Stats {
	return Stats{
		Hits:         c.hits.Load(),
		Misses:       c.misses.Load(),
		Sets:         c.sets.Load(),
		LeasesTaken:  c.leasesTaken.Load(),
		LeasesBusy:   c.leasesBusy.Load(),
		Releases:     c.releases.Load(),
		Errors:       c.errs.Load(),
		Rejected:     c.rejected.Load(),
		BreakerOpens: c.opens.Load(),
	}
}

// Close ends a connection attempt in progress, waits for it, and closes the connections; calls
// in flight fail and later calls return ErrClosed. Leases still held are left to expire. Close
// is idempotent and always returns nil.
func (c *Cache) Close() error {
	c.callsMu.Lock()
	c.mu.Lock()
	already := c.closed.Swap(true)
	c.mu.Unlock()
	c.callsMu.Unlock()
	if already {
		return nil
	}
	c.stopRoot() // ends dials and closes connections, so calls in flight return
	c.wg.Wait()
	if b := c.client.Load(); b != nil {
		b.Close()
	}
	c.calls.Wait()
	return nil
}

// millis converts a TTL to whole milliseconds for PX, rounding up.
func millis(ttl time.Duration) (int64, error) {
	if ttl <= 0 {
		return 0, fmt.Errorf("%w: ttl must be positive (got %v)", ErrInvalidArgument, ttl)
	}
	return int64((ttl + time.Millisecond - 1) / time.Millisecond), nil
}
