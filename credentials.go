package privates3

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/ratelimit"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/aws/smithy-go"
)

// Why not just aws.CredentialsCache around stscreds.AssumeRoleProvider? The SDK's cache refreshes
// only when a request finds the credentials expired (or inside its expiry window), and then that
// request, and every request arriving meanwhile, waits for STS: once an hour a burst of requests
// stalls. It runs the shared refresh on a context with cancellation stripped and sets no timeout of
// its own, so a hung STS call holds every caller that has no deadline, and keeps the singleflight
// occupied, for as long as the connection hangs. And when the refresh fails it returns the error
// and forgets the credentials it had, although they may still be valid for minutes: one failed STS
// call fails every request. The credentials below keep the last good credentials in an
// atomic.Pointer (a lock-free read for every request), renew them in the background well before
// they expire, retry failures with backoff while requests go on with the old ones, and bound every
// STS call, and every caller's wait for one, by Config.STSTimeout.

// credState is one set of credentials and when to renew them. Immutable once stored.
type credState struct {
	creds     aws.Credentials
	fetched   time.Time // when they were obtained
	refreshAt time.Time // when the refresher renews them; zero if they never expire
}

// valid reports whether the credentials can still sign a request at now.
func (st *credState) valid(now time.Time) bool {
	return !st.creds.CanExpire || now.Before(st.creds.Expires)
}

// flight is one shared fetch of new credentials. creds and err are set before done is closed.
type flight struct {
	done     chan struct{}
	deadline time.Time // waiters give up at this time even if the fetch ignores its context
	creds    aws.Credentials
	err      error
}

// abandonAfter is how long past its deadline a flight is waited for. A fetch that ignores its
// context's deadline is then left behind: waiters get ErrTimeout and the next caller starts
// another fetch.
const abandonAfter = time.Second

// doneFlight returns a finished flight that failed with err.
func doneFlight(err error) *flight {
	f := &flight{done: make(chan struct{}), err: err}
	close(f.done)
	return f
}

// reason says why a fetch was started; it appears in log lines.
type reason int

const (
	reasonInitial   reason = iota // New
	reasonScheduled               // the refresher, ahead of expiry or retrying
	reasonExpired                 // a caller found the credentials expired
	reasonForced                  // S3 rejected the credentials (ExpiredToken, InvalidAccessKeyId)
	reasonValidFor                // a caller needs credentials valid for longer
)

func (r reason) String() string {
	switch r {
	case reasonInitial:
		return "initial"
	case reasonScheduled:
		return "scheduled"
	case reasonExpired:
		return "expired"
	case reasonForced:
		return "forced"
	case reasonValidFor:
		return "valid-for"
	}
	return "unknown"
}

// credentials provides the Client's S3 credentials: the assumed role's (Config.RoleARN), or the
// base credentials of Config.AWS. It implements aws.CredentialsProvider. Retrieve is lock-free
// while the credentials are valid; a background refresher (started by newCredentials, stopped by
// Close) renews them ahead of expiry. Safe for concurrent use.
type credentials struct {
	cfg   Config
	log   *slog.Logger
	stats *counters
	base  aws.CredentialsProvider // signs STS calls, or is used directly without RoleARN

	// Seams, set by tests before start.
	fetch func(ctx context.Context) (aws.Credentials, error) // new credentials; ctx has the STS timeout
	now   func() time.Time
	rand  func() float64 // in [0, 1), for jitter

	minBackoff  time.Duration // first retry delay after a failed refresh (before jitter)
	maxBackoff  time.Duration // cap of the retry delay
	failureMemo time.Duration // callers reuse a failed fetch's error this long instead of calling again

	sts          *sts.Client     // nil without RoleARN
	stsTransport *http.Transport // the STS client's own transport; nil if Config.AWS.HTTPClient is set

	cur atomic.Pointer[credState] // never nil after start

	life     context.Context // parent of every fetch; cancelled by shutdown
	stopLife context.CancelFunc
	kick     chan struct{} // capacity 1: new credentials were stored; the refresher reschedules
	shutOnce sync.Once

	mu        sync.Mutex // guards flight, closed, lastErr, lastErrAt, and flights.Add
	flight    *flight    // the fetch in progress, if any
	closed    bool
	lastErr   error     // error of the last fetch, nil if it succeeded
	lastErrAt time.Time // when lastErr happened
	flights   sync.WaitGroup
}

// newCredentials returns the Client's credentials provider: it fetches the first credentials
// (bounded by ctx and Config.STSTimeout) and starts the refresher with c.goBackground.
func newCredentials(ctx context.Context, c *Client) (*credentials, error) {
	cr := newCredentialsUnstarted(c)
	if err := cr.start(ctx, c.goBackground); err != nil {
		return nil, err
	}
	return cr, nil
}

// newCredentialsUnstarted builds the provider without fetching anything, so that tests can
// replace the seams before start.
func newCredentialsUnstarted(c *Client) *credentials {
	now := c.now
	if now == nil {
		now = time.Now
	}
	cr := &credentials{
		cfg:         c.cfg,
		log:         c.log,
		stats:       &c.stats,
		base:        c.awsCfg.Credentials,
		now:         now,
		rand:        rand.Float64,
		minBackoff:  time.Second,
		maxBackoff:  time.Minute,
		failureMemo: time.Second,
		kick:        make(chan struct{}, 1),
	}
	if cr.log == nil {
		cr.log = slog.New(slog.DiscardHandler)
	}
	cr.life, cr.stopLife = context.WithCancel(context.Background())
	if c.cfg.RoleARN != "" {
		cr.sts, cr.stsTransport = newSTSClient(c.awsCfg, c.cfg)
		cr.fetch = func(ctx context.Context) (aws.Credentials, error) {
			return cr.assumeRole(ctx, cr.cfg.SessionPolicy, cr.cfg.SessionDuration)
		}
	} else {
		cr.fetch = cr.retrieveBase
	}
	return cr
}

// newSTSClient returns the STS client for AssumeRole, and its transport if it made one.
//
// Retries: the whole AssumeRole operation, every attempt and backoff sleep of the SDK's retryer
// included, runs under one context bounded by Config.STSTimeout, so retries can never stretch a
// call beyond it. Within that budget a quick retry is still worth having (a reset connection, a
// 500 from STS), so the default retryer makes at most 3 attempts with backoff capped at a small
// fraction of the timeout, leaving room for the next attempt; a hung attempt simply uses up the
// budget and the call fails with ErrTimeout. The retry quota (token bucket) is disabled: the
// refresher already spaces its attempts with its own backoff, and a drained bucket would turn
// real STS errors into "retry quota exceeded". A retryer set in Config.AWS is used as is (still
// bounded by the timeout).
func newSTSClient(awsCfg aws.Config, cfg Config) (*sts.Client, *http.Transport) {
	var tr *http.Transport
	client := sts.NewFromConfig(awsCfg, func(o *sts.Options) {
		if cfg.STSEndpoint != "" {
			o.BaseEndpoint = aws.String(cfg.STSEndpoint)
		}
		if awsCfg.HTTPClient == nil {
			tr = awshttp.NewBuildableClient().GetTransport()
			o.HTTPClient = &http.Client{Transport: tr}
		}
		if awsCfg.Retryer == nil {
			o.Retryer = retry.NewStandard(func(so *retry.StandardOptions) {
				so.MaxAttempts = 3
				so.MaxBackoff = min(time.Second, cfg.STSTimeout/8)
				so.RateLimiter = ratelimit.None
			})
		}
	})
	return client, tr
}

// start fetches the first credentials, bounded by ctx and Config.STSTimeout, and starts the
// refresher through goBackground.
func (cr *credentials) start(ctx context.Context, goBackground func(func(stop <-chan struct{}))) error {
	f := cr.join(reasonInitial, func(*credState) bool { return true })
	if _, err := cr.await(ctx, nil, f); err != nil {
		cr.shutdown()
		return err
	}
	goBackground(cr.run)
	return nil
}

// Retrieve implements aws.CredentialsProvider. While the current credentials are valid it returns
// them without locking or waiting, even if their renewal is failing. Once they expired, the caller
// waits for one fetch shared with every other caller, at most Config.STSTimeout (or until ctx is
// done); its error wraps ErrCredentials and the cause's sentinel (ErrAccessDenied, ErrThrottled,
// ErrTimeout), and never contains secrets.
func (cr *credentials) Retrieve(ctx context.Context) (aws.Credentials, error) {
	st := cr.cur.Load()
	if st != nil && st.valid(cr.now()) {
		return st.creds, nil
	}
	f := cr.join(reasonExpired, func(st *credState) bool { return st == nil || !st.valid(cr.now()) })
	creds, err := cr.await(ctx, nil, f)
	if err != nil {
		if st := cr.cur.Load(); st != nil && st.valid(cr.now()) {
			return st.creds, nil // renewed meanwhile by someone else
		}
		if errors.Is(err, ErrClosed) || ctx.Err() != nil {
			return aws.Credentials{}, err
		}
		exp := "never obtained"
		if st != nil {
			exp = "expired at " + st.creds.Expires.UTC().Format(time.RFC3339)
		}
		return aws.Credentials{}, fmt.Errorf("%w: %s, renewal failed: %w", ErrCredentials, exp, err)
	}
	return creds, nil
}

// forceRefresh replaces the credentials after S3 rejected stale (ExpiredToken, InvalidToken,
// InvalidAccessKeyId). It is a no-op if the current credentials already differ from stale; many
// callers reporting the same stale credentials share one fetch.
func (cr *credentials) forceRefresh(ctx context.Context, stale aws.Credentials) error {
	f := cr.join(reasonForced, func(st *credState) bool {
		return st == nil || (st.creds.AccessKeyID == stale.AccessKeyID && st.creds.SessionToken == stale.SessionToken)
	})
	_, err := cr.await(ctx, nil, f)
	return err
}

// validFor returns credentials that stay valid at least d from now if possible. When the current
// ones expire sooner, it first renews them (one shared fetch, bounded by Config.STSTimeout), but
// only if that can help: credentials younger than a quarter of their lifetime are not renewed for
// this (so callers asking for more than a session's length cause at most four fetches per
// session). If the renewal fails, the current credentials are returned while they are valid. The
// caller checks Expires and CanExpire of the result.
func (cr *credentials) validFor(ctx context.Context, d time.Duration) (aws.Credentials, error) {
	now := cr.now()
	st := cr.cur.Load()
	if st != nil && (!st.creds.CanExpire || st.creds.Expires.Sub(now) >= d) {
		return st.creds, nil
	}
	f := cr.join(reasonValidFor, func(st *credState) bool {
		if st == nil || !st.valid(now) {
			return true
		}
		if !st.creds.CanExpire || st.creds.Expires.Sub(now) >= d {
			return false
		}
		age, life := now.Sub(st.fetched), st.creds.Expires.Sub(st.fetched)
		return age >= max(life/4, cr.minBackoff)
	})
	creds, err := cr.await(ctx, nil, f)
	if err != nil {
		if st := cr.cur.Load(); st != nil && st.valid(cr.now()) {
			return st.creds, nil
		}
		return aws.Credentials{}, err
	}
	return creds, nil
}

// join returns the fetch in progress, or starts one if need(current state) says so. It returns
// nil if no fetch is needed (the current credentials are then the answer). Callers other than the
// refresher get the previous fetch's error, without a new fetch, if that failed less than
// failureMemo ago: traffic does not multiply STS calls during an outage.
func (cr *credentials) join(r reason, need func(*credState) bool) *flight {
	cr.mu.Lock()
	defer cr.mu.Unlock()
	now := cr.now()
	if f := cr.flight; f != nil && now.Before(f.deadline.Add(abandonAfter)) {
		return f
	} // else its fetch ignores its deadline: leave it behind and start another
	if cr.closed {
		return doneFlight(ErrClosed)
	}
	if !need(cr.cur.Load()) {
		return nil
	}
	if r != reasonScheduled && r != reasonInitial && cr.lastErr != nil && now.Sub(cr.lastErrAt) < cr.failureMemo {
		return doneFlight(cr.lastErr)
	}
	if r == reasonForced {
		cr.stats.forcedRefreshes.Add(1)
	}
	f := &flight{done: make(chan struct{}), deadline: now.Add(cr.cfg.STSTimeout)}
	cr.flight = f
	cr.flights.Add(1)
	go cr.fly(f, r)
	return f
}

// fly runs the fetch of flight f, stores its result and wakes the waiters.
func (cr *credentials) fly(f *flight, r reason) {
	defer cr.flights.Done()
	ctx, cancel := context.WithTimeout(cr.life, cr.cfg.STSTimeout)
	creds, err := cr.fetch(ctx)
	cancel()
	now := cr.now()
	switch {
	case err != nil && cr.life.Err() != nil:
		err = ErrClosed
	case err != nil:
	case !creds.HasKeys():
		err = fmt.Errorf("%w: the credentials provider returned no keys", ErrCredentials)
	case creds.CanExpire && !creds.Expires.After(now):
		err = fmt.Errorf("%w: the credentials provider returned credentials that expired at %s",
			ErrCredentials, creds.Expires.UTC().Format(time.RFC3339))
	}

	cr.mu.Lock()
	prev := cr.cur.Load()
	if err == nil {
		cr.cur.Store(&credState{creds: creds, fetched: now, refreshAt: cr.refreshTime(creds, now)})
		cr.lastErr = nil
	} else {
		cr.lastErr, cr.lastErrAt = err, now
	}
	if cr.flight == f {
		cr.flight = nil
	}
	cr.mu.Unlock()

	if err == nil {
		select {
		case cr.kick <- struct{}{}:
		default:
		}
	}
	if r != reasonInitial && !errors.Is(err, ErrClosed) {
		if err == nil {
			cr.stats.refreshes.Add(1)
		} else {
			cr.stats.refreshFailures.Add(1)
			attrs := []any{"reason", r.String(), "err", err}
			if prev != nil && prev.creds.CanExpire {
				if prev.valid(now) {
					attrs = append(attrs, "current_valid_for", prev.creds.Expires.Sub(now).Round(time.Second))
				} else {
					attrs = append(attrs, "current_expired_ago", now.Sub(prev.creds.Expires).Round(time.Second))
				}
			}
			cr.log.Warn("privates3: credentials refresh failed", attrs...)
		}
	}
	if err != nil {
		creds = aws.Credentials{}
	}
	f.creds, f.err = creds, err
	close(f.done)
}

// await waits for f (nil: no fetch needed, the current credentials are the answer) until it is
// done, ctx is done, f's deadline passed, or stop is closed (then it returns ErrClosed).
func (cr *credentials) await(ctx context.Context, stop <-chan struct{}, f *flight) (aws.Credentials, error) {
	if f == nil {
		return cr.cur.Load().creds, nil
	}
	select {
	case <-f.done:
		return f.creds, f.err
	default:
	}
	// The fetch's context expires at the deadline too; the timer only guards against a provider
	// that ignores its context (the SDK's CredentialsCache strips cancellation).
	t := time.NewTimer(f.deadline.Sub(cr.now()) + abandonAfter)
	defer t.Stop()
	select {
	case <-f.done:
		return f.creds, f.err
	case <-ctx.Done():
		return aws.Credentials{}, fmt.Errorf("privates3: waiting for credentials: %w", ctx.Err())
	case <-stop:
		return aws.Credentials{}, ErrClosed
	case <-t.C:
		return aws.Credentials{}, fmt.Errorf("%w: no credentials within %s", ErrTimeout, cr.cfg.STSTimeout)
	}
}

// refreshTime returns when the refresher renews creds fetched at now: RefreshBefore ahead of
// their expiry (at most half their remaining life, for short-lived base credentials), up to a
// tenth of that earlier at random so that many processes do not call STS at once, but never
// sooner than minBackoff from now. Zero if they never expire.
func (cr *credentials) refreshTime(creds aws.Credentials, now time.Time) time.Time {
	if !creds.CanExpire {
		return time.Time{}
	}
	before := min(cr.cfg.RefreshBefore, creds.Expires.Sub(now)/2)
	before += time.Duration(cr.rand() * float64(before) / 10)
	return maxTime(creds.Expires.Add(-before), now.Add(cr.minBackoff))
}

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// backoff returns the delay before retry number n (n >= 1) of a failed refresh: minBackoff doubled
// for each earlier failure, capped at maxBackoff, of which a random half is taken off ("equal
// jitter": the delay lies in [d/2, d)).
func (cr *credentials) backoff(n int) time.Duration {
	d := cr.maxBackoff
	if n-1 < 30 {
		d = min(cr.minBackoff<<(n-1), cr.maxBackoff)
	}
	return d/2 + time.Duration(cr.rand()*float64(d/2))
}

// run is the refresher: it renews the credentials at their refresh time and retries failures with
// backoff, until stop is closed. Credentials that never expire are not renewed.
func (cr *credentials) run(stop <-chan struct{}) {
	defer cr.shutdown()
	failures := 0
	for {
		var wake <-chan time.Time
		var timer *time.Timer
		if st := cr.cur.Load(); failures > 0 {
			timer = time.NewTimer(cr.backoff(failures))
		} else if !st.refreshAt.IsZero() {
			timer = time.NewTimer(st.refreshAt.Sub(cr.now()))
		}
		if timer != nil {
			wake = timer.C
		}
		select {
		case <-stop:
			if timer != nil {
				timer.Stop()
			}
			return
		case <-cr.kick: // someone else stored new credentials: reschedule
			if timer != nil {
				timer.Stop()
			}
			failures = 0
			continue
		case <-wake:
		}
		f := cr.join(reasonScheduled, func(*credState) bool { return true })
		if _, err := cr.await(context.Background(), stop, f); errors.Is(err, ErrClosed) {
			return
		} else if err != nil {
			failures++
		} else {
			failures = 0
		}
	}
}

// shutdown stops every fetch and waits for them; later fetches fail with ErrClosed.
func (cr *credentials) shutdown() {
	cr.shutOnce.Do(func() {
		cr.mu.Lock()
		cr.closed = true
		cr.mu.Unlock()
		cr.stopLife()
		cr.flights.Wait()
		if cr.stsTransport != nil {
			cr.stsTransport.CloseIdleConnections()
		}
	})
}

// retrieveBase fetches the base credentials (without RoleARN). A base provider wrapped in the
// SDK's CredentialsCache is invalidated first, so that a renewal really fetches new credentials
// instead of returning the cached ones until they expire.
func (cr *credentials) retrieveBase(ctx context.Context) (aws.Credentials, error) {
	if cc, ok := cr.base.(*aws.CredentialsCache); ok && cr.cur.Load() != nil {
		cc.Invalidate()
	}
	creds, err := cr.base.Retrieve(ctx)
	if err != nil {
		if ctx.Err() != nil {
			return aws.Credentials{}, fmt.Errorf("%w: base credentials: no answer within %s", ErrTimeout, cr.cfg.STSTimeout)
		}
		return aws.Credentials{}, fmt.Errorf("%w: base credentials: %v", ErrCredentials, err)
	}
	return creds, nil
}

// assumeRole makes one AssumeRole call for Config.RoleARN with Config.RoleSessionName and
// ExternalID, the given session policy (empty: none) and duration (zero: Config.SessionDuration;
// else 15m to 12h), bounded by Config.STSTimeout. It counts Stats.STSCalls. Errors wrap
// ErrAccessDenied, ErrThrottled, ErrTimeout or ErrCredentials (ErrInvalidOption for a bad
// duration) and contain no secrets. It requires Config.RoleARN.
func (c *Client) assumeRole(ctx context.Context, policy string, d time.Duration) (aws.Credentials, error) {
	if c.creds == nil {
		return aws.Credentials{}, fmt.Errorf("%w: the Client is not initialized", ErrCredentials)
	}
	return c.creds.assumeRole(ctx, policy, d)
}

func (cr *credentials) assumeRole(ctx context.Context, policy string, d time.Duration) (aws.Credentials, error) {
	if cr.sts == nil || cr.cfg.RoleARN == "" {
		return aws.Credentials{}, fmt.Errorf("%w: AssumeRole needs Config.RoleARN", ErrCredentials)
	}
	if d == 0 {
		d = cr.cfg.SessionDuration
	}
	if d < MinSessionDuration || d > MaxSessionDuration {
		return aws.Credentials{}, fmt.Errorf("%w: session duration must be between 15m and 12h (got %s)", ErrInvalidOption, d)
	}
	if len(policy) > maxSessionPolicy {
		return aws.Credentials{}, fmt.Errorf("%w: session policy must be at most %d bytes (got %d)", ErrInvalidOption, maxSessionPolicy, len(policy))
	}
	in := &sts.AssumeRoleInput{
		RoleArn:         aws.String(cr.cfg.RoleARN),
		RoleSessionName: aws.String(cr.cfg.RoleSessionName),
		DurationSeconds: aws.Int32(int32(d / time.Second)),
	}
	if cr.cfg.ExternalID != "" {
		in.ExternalId = aws.String(cr.cfg.ExternalID)
	}
	if policy != "" {
		in.Policy = aws.String(policy)
	}
	ctx, cancel := context.WithTimeout(ctx, cr.cfg.STSTimeout)
	defer cancel()
	cr.stats.stsCalls.Add(1)
	out, err := cr.sts.AssumeRole(ctx, in)
	if err != nil {
		return aws.Credentials{}, cr.stsError(ctx, err)
	}
	c := out.Credentials
	if c == nil || c.AccessKeyId == nil || c.SecretAccessKey == nil || c.SessionToken == nil || c.Expiration == nil {
		return aws.Credentials{}, fmt.Errorf("%w: AssumeRole %s: answer without credentials", ErrCredentials, cr.cfg.RoleARN)
	}
	return aws.Credentials{
		AccessKeyID:     *c.AccessKeyId,
		SecretAccessKey: *c.SecretAccessKey,
		SessionToken:    *c.SessionToken,
		Source:          "privates3",
		CanExpire:       true,
		Expires:         *c.Expiration,
	}, nil
}

// stsError maps an AssumeRole failure to the sentinels. The text names the role and the STS error
// code and message (which never carry secrets), not the SDK's whole error chain.
func (cr *credentials) stsError(ctx context.Context, err error) error {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		sentinel := ErrCredentials
		switch ae.ErrorCode() {
		case "AccessDenied", "AccessDeniedException":
			sentinel = ErrAccessDenied
		case "Throttling", "ThrottlingException", "RequestLimitExceeded", "TooManyRequestsException", "SlowDown":
			sentinel = ErrThrottled
		}
		msg := ae.ErrorMessage()
		if len(msg) > 300 {
			msg = msg[:300] + "..."
		}
		return fmt.Errorf("%w: AssumeRole %s: %s: %s", sentinel, cr.cfg.RoleARN, ae.ErrorCode(), msg)
	}
	var ne net.Error
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(ctx.Err(), context.DeadlineExceeded) ||
		(errors.As(err, &ne) && ne.Timeout()) {
		return fmt.Errorf("%w: AssumeRole %s: no answer within %s", ErrTimeout, cr.cfg.RoleARN, cr.cfg.STSTimeout)
	}
	if errors.Is(err, context.Canceled) {
		return fmt.Errorf("%w: AssumeRole %s: %w", ErrCredentials, cr.cfg.RoleARN, context.Canceled)
	}
	return fmt.Errorf("%w: AssumeRole %s: %v", ErrCredentials, cr.cfg.RoleARN, err)
}

// isCredentialError reports whether S3 rejected the request's credentials (ExpiredToken,
// InvalidToken or InvalidAccessKeyId): the caller should forceRefresh and retry once.
func isCredentialError(err error) bool {
	var ae smithy.APIError
	if !errors.As(err, &ae) {
		return false
	}
	switch ae.ErrorCode() {
	case "ExpiredToken", "ExpiredTokenException", "InvalidToken", "InvalidAccessKeyId":
		return true
	}
	return false
}
