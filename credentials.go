package privates3

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/ratelimit"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/service/sts"
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

// reason says why a renewal was started; it appears in log lines.
type reason string

const (
	reasonInitial   reason = "initial"   // New
	reasonScheduled reason = "scheduled" // the refresher, ahead of expiry or retrying
	reasonExpired   reason = "expired"   // a caller found the credentials expired
	reasonForced    reason = "forced"    // S3 rejected the credentials (ExpiredToken, InvalidAccessKeyId)
	reasonValidFor  reason = "valid-for" // a caller needs credentials valid for longer
)

// Timing of renewals.
const (
	minBackoff  = time.Second // first retry delay after a failed refresh (before jitter)
	maxBackoff  = time.Minute // cap of the retry delay
	failureMemo = time.Second // callers reuse a failed renewal's error this long
	// minForcedInterval spaces forced renewals: when S3 keeps rejecting freshly issued
	// credentials (clock skew, a revoked session), STS calls stay bounded whatever the traffic.
	minForcedInterval = 30 * time.Second
)

// credentials provides the Client's S3 credentials: the assumed role's (Config.RoleARN), or the
// base credentials of Config.AWS. It implements aws.CredentialsProvider. Retrieve is lock-free
// while the credentials are valid; a background refresher (started by start, stopped by the
// lifecycle) renews them ahead of expiry. Safe for concurrent use.
type credentials struct {
	cfg   Config
	log   *slog.Logger
	stats *counters
	life  *lifecycle
	fetch func(ctx context.Context) (aws.Credentials, error) // new credentials; ctx has the STS timeout
	rand  func() float64                                     // in [0, 1), for jitter

	renewals group[struct{}, aws.Credentials]
	cur      atomic.Pointer[credState] // never nil after start
	kick     chan struct{}             // capacity 1: new credentials were stored; the refresher reschedules
	forcedAt atomic.Int64              // Unix nanoseconds of the last forced renewal
}

// newCredentials returns credentials from fetch, with jitter from rand, living in life.
func newCredentials(cfg Config, life *lifecycle, stats *counters, fetch func(context.Context) (aws.Credentials, error), rand func() float64) *credentials {
	cr := &credentials{cfg: cfg, log: cfg.Logger, stats: stats, life: life, fetch: fetch, rand: rand, kick: make(chan struct{}, 1)}
	// abandon: a base credentials provider may ignore cancellation (the SDK's CredentialsCache
	// strips it), so waiters do not wait past the STS timeout for it.
	cr.renewals = group[struct{}, aws.Credentials]{life: life, timeout: cfg.STSTimeout, memo: failureMemo, abandon: true}
	return cr
}

// start fetches the first credentials, bounded by ctx and Config.STSTimeout, and starts the
// refresher.
func (cr *credentials) start(ctx context.Context) error {
	if _, err := cr.renew(ctx, reasonInitial, func(*credState) bool { return true }); err != nil {
		return err
	}
	cr.life.goDo(cr.run)
	return nil
}

// Retrieve implements aws.CredentialsProvider. While the current credentials are valid it returns
// them without locking or waiting, even if their renewal is failing. Once they expired, the caller
// waits for one renewal shared with every other caller, at most Config.STSTimeout (or until ctx is
// done); its error wraps ErrCredentials and the cause's sentinel (ErrAccessDenied, ErrThrottled,
// ErrTimeout), and never contains secrets.
func (cr *credentials) Retrieve(ctx context.Context) (aws.Credentials, error) {
	st := cr.cur.Load()
	if st != nil && st.valid(time.Now()) {
		return st.creds, nil
	}
	creds, err := cr.renew(ctx, reasonExpired, func(st *credState) bool { return st == nil || !st.valid(time.Now()) })
	if err != nil {
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
// callers reporting the same stale credentials share one renewal; and within minForcedInterval
// of a forced renewal that succeeded (S3 rejecting even fresh credentials), it fails without an
// STS call.
func (cr *credentials) forceRefresh(ctx context.Context, stale aws.Credentials) error {
	same := func(st *credState) bool {
		return st == nil || (st.creds.AccessKeyID == stale.AccessKeyID && st.creds.SessionToken == stale.SessionToken)
	}
	_, err := cr.renew(ctx, reasonForced, same)
	return err
}

// validFor returns credentials that stay valid at least d from now if possible. When the current
// ones expire sooner, it first renews them (one shared renewal), but only if that can help:
// credentials younger than a quarter of their lifetime are not renewed for this (so callers
// asking for more than a session's length cause at most four renewals per session). If the
// renewal fails, the current credentials are returned while they are valid. The caller checks
// Expires and CanExpire of the result.
func (cr *credentials) validFor(ctx context.Context, d time.Duration) (aws.Credentials, error) {
	long := func(st *credState, now time.Time) bool { return !st.creds.CanExpire || st.creds.Expires.Sub(now) >= d }
	if st := cr.cur.Load(); st != nil && long(st, time.Now()) {
		return st.creds, nil
	}
	creds, err := cr.renew(ctx, reasonValidFor, func(st *credState) bool {
		now := time.Now()
		if st == nil || !st.valid(now) {
			return true
		}
		age, life := now.Sub(st.fetched), st.creds.Expires.Sub(st.fetched)
		return !long(st, now) && age >= max(life/4, minBackoff)
	})
	if err != nil {
		if st := cr.cur.Load(); st != nil && st.valid(time.Now()) {
			return st.creds, nil
		}
		return aws.Credentials{}, err
	}
	return creds, nil
}

// renew returns the credentials after a renewal, if need (checked again inside the shared flight,
// against the credentials then current) says one is needed; otherwise the current ones. Callers
// other than the refresher get the previous renewal's error, without an STS call, if it failed
// less than failureMemo ago: traffic does not multiply STS calls during an outage.
func (cr *credentials) renew(ctx context.Context, r reason, need func(*credState) bool) (aws.Credentials, error) {
	memo := r != reasonScheduled && r != reasonInitial
	creds, _, release, err := cr.renewals.do(ctx, struct{}{}, memo, func(ctx context.Context) (aws.Credentials, error) {
		prev := cr.cur.Load()
		if !need(prev) {
			return prev.creds, nil
		}
		if r == reasonForced {
			if last := time.Unix(0, cr.forcedAt.Load()); time.Since(last) < minForcedInterval {
				return aws.Credentials{}, fmt.Errorf("%w: S3 rejected credentials renewed %s ago; not renewing them again so soon",
					ErrCredentials, time.Since(last).Round(time.Second))
			}
			cr.stats.forcedRefreshes.Add(1)
			creds, err := cr.fly(ctx, r, prev)
			if err == nil {
				cr.forcedAt.Store(time.Now().UnixNano())
			}
			return creds, err
		}
		return cr.fly(ctx, r, prev)
	})
	release()
	if err != nil && ctx.Err() != nil {
		return aws.Credentials{}, fmt.Errorf("privates3: waiting for credentials: %w", ctx.Err())
	}
	return creds, err
}

// fly fetches new credentials, stores them, and logs and counts the outcome.
func (cr *credentials) fly(ctx context.Context, r reason, prev *credState) (aws.Credentials, error) {
	creds, err := cr.fetch(ctx)
	now := time.Now()
	switch {
	case err != nil && errors.Is(context.Cause(ctx), ErrClosed):
		err = ErrClosed
	case err != nil:
	case !creds.HasKeys():
		err = fmt.Errorf("%w: the credentials provider returned no keys", ErrCredentials)
	case creds.CanExpire && !creds.Expires.After(now):
		err = fmt.Errorf("%w: the credentials provider returned credentials that expired at %s",
			ErrCredentials, creds.Expires.UTC().Format(time.RFC3339))
	}
	if err == nil {
		cr.cur.Store(&credState{creds: creds, fetched: now, refreshAt: cr.refreshTime(creds, now)})
		select {
		case cr.kick <- struct{}{}:
		default:
		}
	}
	if r == reasonInitial || errors.Is(err, ErrClosed) {
		return creds, err
	}
	if err == nil {
		cr.stats.refreshes.Add(1)
		return creds, nil
	}
	cr.stats.refreshFailures.Add(1)
	attrs := []any{"reason", string(r), "err", err}
	if prev != nil && prev.creds.CanExpire {
		if prev.valid(now) {
			attrs = append(attrs, "current_valid_for", prev.creds.Expires.Sub(now).Round(time.Second))
		} else {
			attrs = append(attrs, "current_expired_ago", now.Sub(prev.creds.Expires).Round(time.Second))
		}
	}
	cr.log.Warn("privates3: credentials refresh failed", attrs...)
	return aws.Credentials{}, err
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
	if at := creds.Expires.Add(-before); at.After(now.Add(minBackoff)) {
		return at
	}
	return now.Add(minBackoff)
}

// backoff returns the delay before retry number n (n >= 1) of a failed refresh: minBackoff doubled
// for each earlier failure, capped at maxBackoff, of which a random half is taken off ("equal
// jitter": the delay lies in [d/2, d)).
func (cr *credentials) backoff(n int) time.Duration {
	d := maxBackoff
	if n-1 < 30 {
		d = min(minBackoff<<(n-1), maxBackoff)
	}
	return d/2 + time.Duration(cr.rand()*float64(d/2))
}

// run is the refresher: it renews the credentials at their refresh time and retries failures with
// backoff, until the Client is closed. Credentials that never expire are not renewed.
func (cr *credentials) run() {
	stop := cr.life.root.Done()
	failures := 0
	for {
		var wake <-chan time.Time
		t := time.NewTimer(0)
		t.Stop()
		if st := cr.cur.Load(); failures > 0 || !st.refreshAt.IsZero() {
			d := time.Until(st.refreshAt)
			if failures > 0 {
				d = cr.backoff(failures)
			}
			t.Reset(d)
			wake = t.C
		}
		select {
		case <-stop:
			t.Stop()
			return
		case <-cr.kick: // someone else stored new credentials: reschedule
			t.Stop()
			failures = 0
			continue
		case <-wake:
		}
		if _, err := cr.renew(cr.life.root, reasonScheduled, func(*credState) bool { return true }); cr.life.root.Err() != nil {
			return
		} else if err != nil {
			failures++
		} else {
			failures = 0
		}
	}
}

// newSTSClient returns the STS client for AssumeRole.
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
func newSTSClient(awsCfg aws.Config, cfg Config, hc aws.HTTPClient) *sts.Client {
	return sts.NewFromConfig(awsCfg, func(o *sts.Options) {
		if cfg.STSEndpoint != "" {
			o.BaseEndpoint = aws.String(cfg.STSEndpoint)
		}
		o.HTTPClient = hc
		if awsCfg.Retryer == nil {
			o.Retryer = retry.NewStandard(func(so *retry.StandardOptions) {
				so.MaxAttempts = 3
				so.MaxBackoff = min(time.Second, cfg.STSTimeout/8)
				so.RateLimiter = ratelimit.None
			})
		}
	})
}

// baseFetch returns the fetch of the base credentials (without RoleARN). A base provider wrapped
// in the SDK's CredentialsCache is invalidated before each renewal, so that a renewal really
// fetches new credentials instead of returning the cached ones until they expire.
func baseFetch(base aws.CredentialsProvider, timeout time.Duration) func(context.Context) (aws.Credentials, error) {
	var fetched atomic.Bool
	return func(ctx context.Context) (aws.Credentials, error) {
		if cc, ok := base.(*aws.CredentialsCache); ok && fetched.Swap(true) {
			cc.Invalidate()
		}
		creds, err := base.Retrieve(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return aws.Credentials{}, fmt.Errorf("%w: base credentials: no answer within %s", ErrTimeout, timeout)
			}
			return aws.Credentials{}, fmt.Errorf("%w: base credentials: %v", ErrCredentials, err)
		}
		return creds, nil
	}
}

// assumeRole makes one AssumeRole call for Config.RoleARN with Config.RoleSessionName and
// ExternalID, the given session policy (empty: none) and duration (zero: Config.SessionDuration;
// else 15m to 12h). ctx bounds it (a flight's context, with Config.STSTimeout). It counts
// Stats.STSCalls. Errors wrap ErrAccessDenied, ErrThrottled, ErrTimeout or ErrCredentials
// (ErrInvalidOption for a bad duration) and contain no secrets.
func (c *Client) assumeRole(ctx context.Context, policy string, d time.Duration) (aws.Credentials, error) {
	if c.sts == nil {
		return aws.Credentials{}, fmt.Errorf("%w: AssumeRole needs Config.RoleARN", ErrCredentials)
	}
	if d == 0 {
		d = c.cfg.SessionDuration
	}
	if d < MinSessionDuration || d > MaxSessionDuration {
		return aws.Credentials{}, fmt.Errorf("%w: session duration must be between 15m and 12h (got %s)", ErrInvalidOption, d)
	}
	if len(policy) > maxSessionPolicy {
		return aws.Credentials{}, fmt.Errorf("%w: session policy must be at most %d bytes (got %d)", ErrInvalidOption, maxSessionPolicy, len(policy))
	}
	in := &sts.AssumeRoleInput{
		RoleArn:         aws.String(c.cfg.RoleARN),
		RoleSessionName: aws.String(c.cfg.RoleSessionName),
		DurationSeconds: aws.Int32(int32(d / time.Second)),
	}
	if c.cfg.ExternalID != "" {
		in.ExternalId = aws.String(c.cfg.ExternalID)
	}
	if policy != "" {
		in.Policy = aws.String(policy)
	}
	c.stats.stsCalls.Add(1)
	begin := time.Now()
	out, err := c.sts.AssumeRole(ctx, in)
	if err != nil {
		err = stsError(ctx, c.cfg.RoleARN, err, c.cfg.STSTimeout)
	}
	c.stsCall(ctx, begin, err)
	if err != nil {
		return aws.Credentials{}, err
	}
	cr := out.Credentials
	if cr == nil || cr.AccessKeyId == nil || cr.SecretAccessKey == nil || cr.SessionToken == nil || cr.Expiration == nil {
		return aws.Credentials{}, fmt.Errorf("%w: AssumeRole %s: answer without credentials", ErrCredentials, c.cfg.RoleARN)
	}
	return aws.Credentials{
		AccessKeyID: *cr.AccessKeyId, SecretAccessKey: *cr.SecretAccessKey, SessionToken: *cr.SessionToken,
		Source: "privates3", CanExpire: true, Expires: *cr.Expiration,
	}, nil
}

// stsError is upstreamError for AssumeRole of role: an STS failure that is not access denied,
// throttling or a timeout means that no credentials can be had.
func stsError(ctx context.Context, role string, err error, timeout time.Duration) error {
	err = upstreamError(ctx, "AssumeRole", role, err, timeout)
	if oe := (*opError)(nil); errors.As(err, &oe) && oe.kind == ErrUpstream {
		oe.kind = ErrCredentials
	}
	return err
}
