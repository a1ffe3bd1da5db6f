package privates3

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// Presign limits and defaults.
const (
	// DefaultPresignExpiry is the lifetime of a presigned URL when PresignOptions.Expiry is zero.
	DefaultPresignExpiry = time.Hour
	// MaxPresignExpiry is the longest lifetime S3 accepts for a presigned URL (SigV4).
	MaxPresignExpiry = 7 * 24 * time.Hour
	// MaxDefaultPresignWindow caps the window derived from the expiry when PresignOptions.Window
	// is zero.
	MaxDefaultPresignWindow = time.Hour
	// DefaultScopedDuration is the lifetime of scoped credentials when the requested duration is
	// zero.
	DefaultScopedDuration = time.Hour
)

// Internal bounds of the Presign and ScopedCredentials memories.
const (
	// defaultPresignEntries bounds one generation of remembered URLs; at most twice as many are
	// held (a URL with a session token is about 1.5 KB, so at most about 6 MB).
	defaultPresignEntries = 2048
	// defaultScopedEntries bounds the number of prefixes with remembered scoped credentials.
	defaultScopedEntries = 1024
	// refreshRetryInterval is how long Presign waits before asking again for fresher credentials
	// after a refresh that could not give the guaranteed minimum life.
	refreshRetryInterval = time.Minute
)

// PresignOptions configures [Client.Presign]. A nil *PresignOptions means the zero value: a GET URL
// valid for DefaultPresignExpiry, no response overrides.
type PresignOptions struct {
	// Expiry is how long the URL is valid after its signing time (X-Amz-Expires), rounded down to
	// whole seconds. It must be at least 1s and at most MaxPresignExpiry (7 days). If zero,
	// DefaultPresignExpiry (1h).
	Expiry time.Duration

	// Window makes URLs stable: the signing time is the current time rounded down to a multiple of
	// Window (rounded down to whole seconds), so identical calls within one window return the
	// byte-identical URL. A URL handed out stays valid for at least Expiry-Window (unless the
	// credentials cannot be refreshed, see [Client.Presign]). It must be less than Expiry. If zero,
	// Expiry/4, at least 1s and at most MaxDefaultPresignWindow (1h): 15m for the default expiry,
	// so a URL is valid for at least 45m.
	Window time.Duration

	// ResponseContentType, ResponseContentDisposition and ResponseCacheControl ask S3 to send the
	// given Content-Type, Content-Disposition and Cache-Control headers with the object instead of
	// the stored ones. If empty, the stored ones.
	ResponseContentType        string
	ResponseContentDisposition string
	ResponseCacheControl       string
}

// PresignedURL is a presigned GET URL and the time until which it works.
type PresignedURL struct {
	// URL is the presigned URL; anyone holding it can GET the object until Deadline.
	URL string
	// SignedAt is the signing time (X-Amz-Date): the start of the window the URL belongs to.
	SignedAt time.Time
	// Deadline is when the URL stops working: the earlier of SignedAt+Expiry and the expiry of
	// the credentials that signed it (S3 refuses a URL whose session token has expired).
	Deadline time.Time
}

// presignParams are the validated options of one Presign call.
type presignParams struct {
	expiry, window time.Duration
	contentType    string
	disposition    string
	cacheControl   string
}

// params validates o and applies its defaults. Errors wrap ErrInvalidOption.
func (o *PresignOptions) params() (presignParams, error) {
	var p presignParams
	if o != nil {
		p = presignParams{
			expiry: o.Expiry, window: o.Window,
			contentType: o.ResponseContentType, disposition: o.ResponseContentDisposition,
			cacheControl: o.ResponseCacheControl,
		}
	}
	if p.expiry == 0 {
		p.expiry = DefaultPresignExpiry
	}
	if p.expiry < time.Second || p.expiry > MaxPresignExpiry {
		return p, fmt.Errorf("%w: PresignOptions.Expiry must be between 1s and 168h (got %v)", ErrInvalidOption, p.expiry)
	}
	p.expiry = p.expiry.Truncate(time.Second)
	if p.window < 0 {
		return p, fmt.Errorf("%w: PresignOptions.Window must not be negative (got %v)", ErrInvalidOption, p.window)
	}
	if p.window == 0 {
		p.window = min(max(p.expiry/4, time.Second), MaxDefaultPresignWindow)
	}
	p.window = max(p.window.Truncate(time.Second), time.Second)
	if p.window >= p.expiry {
		return p, fmt.Errorf("%w: PresignOptions.Window must be less than Expiry %v (got %v)", ErrInvalidOption, p.expiry, p.window)
	}
	for _, h := range []struct{ name, v string }{
		{"ResponseContentType", p.contentType},
		{"ResponseContentDisposition", p.disposition},
		{"ResponseCacheControl", p.cacheControl},
	} {
		if !validHeaderValue(h.v) {
			return p, fmt.Errorf("%w: PresignOptions.%s must be a valid header value", ErrInvalidOption, h.name)
		}
	}
	return p, nil
}

// validHeaderValue reports whether v may be sent as an HTTP header value: no control bytes
// other than tab.
func validHeaderValue(v string) bool {
	for i := 0; i < len(v); i++ {
		if ch := v[i]; ch < 0x20 && ch != '\t' || ch == 0x7f {
			return false
		}
	}
	return true
}

// presignKey identifies one remembered URL.
type presignKey struct {
	key                                    string // full S3 key
	start                                  int64  // window start, Unix seconds
	expiry, window                         time.Duration
	contentType, disposition, cacheControl string
}

// presignEntry is a remembered URL and the access key that signed it.
type presignEntry struct {
	url         PresignedURL
	accessKeyID string
}

// presignState is the Presign side of a Client. The zero value is ready to use.
type presignState struct {
	initOnce sync.Once
	client   *s3.PresignClient // built from Client.s3 on first use
	signer   *v4.Signer        // S3's settings: no double escaping of the path

	// max bounds one generation of remembered URLs; if zero, defaultPresignEntries.
	max int

	mu  sync.RWMutex // guards cur, old
	cur map[presignKey]presignEntry
	old map[presignKey]presignEntry // the previous generation, dropped when cur fills up

	shortMu    sync.Mutex // guards shortKeyID, shortUntil
	shortKeyID string     // credentials a refresh could not extend, ...
	shortUntil time.Time  // ... until then no new refresh is asked for them
}

// init builds the presign client once.
func (p *presignState) init(c *Client) {
	p.initOnce.Do(func() {
		p.signer = v4.NewSigner(func(o *v4.SignerOptions) {
			// As the SDK's default S3 presigner: S3 signs the path as sent, without escaping
			// it a second time.
			o.DisableURIPathEscaping = true
		})
		p.client = s3.NewPresignClient(c.s3)
	})
}

// lookup returns the remembered URL for k. An entry found in the previous generation is moved to
// the current one, so that URLs in use survive the next rotation.
func (p *presignState) lookup(k presignKey) (presignEntry, bool) {
	p.mu.RLock()
	e, ok := p.cur[k]
	old := false
	if !ok {
		e, ok = p.old[k]
		old = ok
	}
	p.mu.RUnlock()
	if old {
		p.store(k, e)
	}
	return e, ok
}

// store remembers e under k. When the current generation is full it becomes the previous one
// (and the previous one is dropped), so at most 2*max entries are held.
func (p *presignState) store(k presignKey, e presignEntry) {
	limit := p.max
	if limit <= 0 {
		limit = defaultPresignEntries
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cur == nil {
		p.cur = make(map[presignKey]presignEntry)
	}
	if _, ok := p.cur[k]; !ok && len(p.cur) >= limit {
		p.old, p.cur = p.cur, make(map[presignKey]presignEntry, limit)
	}
	p.cur[k] = e
}

// len returns the number of remembered URLs.
func (p *presignState) len() int {
	p.mu.RLock()
	defer p.mu.RUnlock()
	return len(p.cur) + len(p.old)
}

// windowSigner presigns with a fixed signing time (the window start) instead of the SDK's
// current time; everything else is the SDK's SigV4 presigner.
type windowSigner struct {
	signer *v4.Signer
	at     time.Time
}

// PresignHTTP implements s3.HTTPPresignerV4.
func (w windowSigner) PresignHTTP(ctx context.Context, creds aws.Credentials, r *http.Request,
	payloadHash, service, region string, _ time.Time, optFns ...func(*v4.SignerOptions),
) (string, http.Header, error) {
	return w.signer.PresignHTTP(ctx, creds, r, payloadHash, service, region, w.at, optFns...)
}

// Presign returns a presigned GET URL for key (under Config.Prefix) and the time until which it
// works.
//
// The signing time is the current time rounded down to opts.Window, so identical calls (same
// key and options) within one window return the byte-identical URL, which browsers and CDNs can
// cache. Such repeated calls are answered from memory without signing again; the memory is
// bounded (a few thousand URLs; those not asked for in a while are dropped first).
//
// The URL is valid until Deadline = min(SignedAt+Expiry, expiry of the signing credentials),
// which is at least Expiry-Window from the call: if the Client's current credentials expire
// sooner, Presign first refreshes them (one shared STS call). Only if that refresh fails, or the
// role's session duration is too short for the requested expiry, the URL is signed with the
// credentials at hand and Deadline says how much shorter it lives; it is never later than the
// expiry of the session token that signed it. A remembered URL is returned while it still has at
// least Expiry-Window of life, even if the Client's credentials were refreshed since.
//
// Errors wrap [ErrInvalidKey] (bad key) or [ErrInvalidOption] (bad opts), in which case nothing is
// sent to STS or S3, [ErrClosed], or the errors of obtaining credentials ([ErrCredentials],
// [ErrAccessDenied], [ErrThrottled], [ErrTimeout]).
func (c *Client) Presign(ctx context.Context, key string, opts *PresignOptions) (PresignedURL, error) {
	if err := c.checkOpen(); err != nil {
		return PresignedURL{}, err
	}
	prm, err := opts.params()
	if err != nil {
		return PresignedURL{}, err
	}
	full, err := c.objectKey(key)
	if err != nil {
		return PresignedURL{}, err
	}
	now := c.now()
	start := now.Truncate(prm.window).UTC()
	want := now.Add(prm.expiry - prm.window) // the guaranteed minimum deadline
	k := presignKey{
		key: full, start: start.Unix(), expiry: prm.expiry, window: prm.window,
		contentType: prm.contentType, disposition: prm.disposition, cacheControl: prm.cacheControl,
	}
	p := &c.presign
	cached, hit := p.lookup(k)
	if hit && !cached.url.Deadline.Before(want) {
		c.stats.presignCacheHits.Add(1)
		return cached.url, nil
	}

	creds, err := c.creds.Retrieve(ctx)
	if err != nil {
		return PresignedURL{}, err
	}
	if creds.CanExpire && creds.Expires.Before(want) {
		if creds, err = c.presignCredentials(ctx, creds, prm.expiry-prm.window, now); err != nil {
			return PresignedURL{}, err
		}
	}
	deadline := start.Add(prm.expiry)
	if creds.CanExpire && creds.Expires.Before(deadline) {
		deadline = creds.Expires
	}
	if !deadline.After(now) {
		return PresignedURL{}, fmt.Errorf("%w: the credentials have expired", ErrCredentials)
	}
	if hit && cached.accessKeyID == creds.AccessKeyID {
		// The same credentials could not do better: the remembered URL is as good as a new one.
		c.stats.presignCacheHits.Add(1)
		return cached.url, nil
	}

	p.init(c)
	in := &s3.GetObjectInput{Bucket: aws.String(c.cfg.Bucket), Key: aws.String(full)}
	if prm.contentType != "" {
		in.ResponseContentType = aws.String(prm.contentType)
	}
	if prm.disposition != "" {
		in.ResponseContentDisposition = aws.String(prm.disposition)
	}
	if prm.cacheControl != "" {
		in.ResponseCacheControl = aws.String(prm.cacheControl)
	}
	static := aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) { return creds, nil })
	req, err := p.client.PresignGetObject(ctx, in, func(o *s3.PresignOptions) {
		o.Expires = prm.expiry
		o.Presigner = windowSigner{signer: p.signer, at: start}
		o.ClientOptions = append(o.ClientOptions, func(o *s3.Options) { o.Credentials = static })
	})
	if err != nil {
		// Presigning is local; it fails only on a bad endpoint or region.
		return PresignedURL{}, fmt.Errorf("%w: presigning %q: %v", ErrInvalidConfig, key, err)
	}
	u := PresignedURL{URL: req.URL, SignedAt: start, Deadline: deadline}
	p.store(k, presignEntry{url: u, accessKeyID: creds.AccessKeyID})
	c.stats.presigned.Add(1)
	return u, nil
}

// presignCredentials returns credentials valid for at least life from now if it can get them:
// cur when they are, else refreshed ones. When a refresh cannot extend the credentials (STS
// failing, or a session duration shorter than life), it returns the best it has and asks again
// for the same credentials only after refreshRetryInterval, so that Presign traffic does not turn
// into STS traffic.
func (c *Client) presignCredentials(ctx context.Context, cur aws.Credentials, life time.Duration, now time.Time) (aws.Credentials, error) {
	p := &c.presign
	p.shortMu.Lock()
	skip := p.shortKeyID == cur.AccessKeyID && now.Before(p.shortUntil)
	p.shortMu.Unlock()
	if skip {
		return cur, nil
	}
	got, err := c.creds.validFor(ctx, life)
	if err != nil {
		if !cur.CanExpire || cur.Expires.After(c.now()) {
			c.log.Warn("privates3: presign: refreshing credentials failed; signing with the current ones", "error", err)
			got = cur
		} else {
			return aws.Credentials{}, err
		}
	}
	if got.CanExpire && got.Expires.Before(now.Add(life)) {
		p.shortMu.Lock()
		p.shortKeyID, p.shortUntil = got.AccessKeyID, now.Add(refreshRetryInterval)
		p.shortMu.Unlock()
	}
	return got, nil
}

// ScopedCredentials are temporary AWS credentials that allow only s3:GetObject on the objects of
// Bucket whose keys start with Prefix, for clients that read from S3 themselves.
//
// SecretAccessKey and SessionToken are secrets: printing the value with the fmt package or
// logging it with log/slog shows them as "REDACTED". Marshal the fields explicitly where they
// must be sent (as [Client.CredentialsHandler] does).
type ScopedCredentials struct {
	AccessKeyID     string
	SecretAccessKey string
	SessionToken    string
	Expires         time.Time // the credentials stop working at this time
	Bucket          string    // the bucket they may read
	Prefix          string    // the S3 key prefix they may read (Config.Prefix included)
	Region          string    // the bucket's region
}

const redacted = "REDACTED"

// String returns a description of s with its secrets redacted.
func (s ScopedCredentials) String() string {
	return fmt.Sprintf("ScopedCredentials{AccessKeyID:%s SecretAccessKey:%s SessionToken:%s Expires:%s Bucket:%s Prefix:%q Region:%s}",
		s.AccessKeyID, redactedIf(s.SecretAccessKey), redactedIf(s.SessionToken),
		s.Expires.UTC().Format(time.RFC3339), s.Bucket, s.Prefix, s.Region)
}

// GoString returns a Go-syntax description of s with its secrets redacted.
func (s ScopedCredentials) GoString() string {
	return fmt.Sprintf("privates3.ScopedCredentials{AccessKeyID:%q, SecretAccessKey:%q, SessionToken:%q, Expires:%q, Bucket:%q, Prefix:%q, Region:%q}",
		s.AccessKeyID, redactedIf(s.SecretAccessKey), redactedIf(s.SessionToken),
		s.Expires.UTC().Format(time.RFC3339), s.Bucket, s.Prefix, s.Region)
}

// Format implements fmt.Formatter so that no verb (%v, %+v, %s, %q, %x, %d, ...) prints the
// secrets: %#v prints GoString, every other verb String.
func (s ScopedCredentials) Format(f fmt.State, verb rune) {
	if verb == 'v' && f.Flag('#') {
		fmt.Fprint(f, s.GoString())
		return
	}
	fmt.Fprint(f, s.String())
}

// LogValue implements slog.LogValuer: the secrets are logged as "REDACTED".
func (s ScopedCredentials) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("access_key_id", s.AccessKeyID),
		slog.String("secret_access_key", redactedIf(s.SecretAccessKey)),
		slog.String("session_token", redactedIf(s.SessionToken)),
		slog.Time("expires", s.Expires),
		slog.String("bucket", s.Bucket),
		slog.String("prefix", s.Prefix),
		slog.String("region", s.Region),
	)
}

func redactedIf(secret string) string {
	if secret == "" {
		return ""
	}
	return redacted
}

// scopedKey identifies shared scoped credentials.
type scopedKey struct {
	prefix string // full S3 prefix
	d      time.Duration
}

// scopedFlight is one AssumeRole for a scoped key, shared by every caller that asks while it runs,
// and its result, shared until near expiry.
type scopedFlight struct {
	done  chan struct{} // closed when creds and err are set
	creds ScopedCredentials
	err   error
}

// scopedState is the ScopedCredentials side of a Client. The zero value is ready to use.
type scopedState struct {
	// max bounds the number of remembered prefixes; if zero, defaultScopedEntries.
	max int

	mu sync.Mutex // guards m
	m  map[scopedKey]*scopedFlight
}

// reusable reports whether credentials issued for duration d may still be handed out: they have
// at least half of d left.
func reusable(cr ScopedCredentials, d time.Duration, now time.Time) bool {
	return cr.Expires.Sub(now) >= d/2
}

// evictLocked makes room for one more entry: it drops finished entries that are failed or no
// longer reusable, then, if still full, arbitrary finished ones. Flights in progress stay.
func (s *scopedState) evictLocked(now time.Time) {
	limit := s.max
	if limit <= 0 {
		limit = defaultScopedEntries
	}
	if len(s.m) < limit {
		return
	}
	for k, f := range s.m {
		select {
		case <-f.done:
			if f.err != nil || !reusable(f.creds, k.d, now) {
				delete(s.m, k)
			}
		default:
		}
	}
	for k, f := range s.m {
		if len(s.m) < limit {
			return
		}
		select {
		case <-f.done:
			delete(s.m, k)
		default:
		}
	}
}

// scopedPrefix validates prefix (relative to Config.Prefix) and returns the full S3 prefix.
// Errors wrap ErrInvalidKey.
func (c *Client) scopedPrefix(prefix string) (string, error) {
	full := c.cfg.Prefix + prefix
	if len(full) >= MaxKeyLength {
		return "", fmt.Errorf("%w: prefix longer than %d bytes (got %d)", ErrInvalidKey, MaxKeyLength-1, len(full))
	}
	// IAM resource wildcards and policy variables would widen the policy beyond the prefix.
	if i := strings.IndexAny(prefix, "*?$"); i >= 0 {
		return "", fmt.Errorf("%w: prefix contains %q at offset %d", ErrInvalidKey, prefix[i], i)
	}
	if full != "" {
		// The prefix must be the start of a valid key: no "..", ".", empty segments or control
		// bytes, so it cannot reach outside Config.Prefix.
		if err := validateKey(full + "x"); err != nil {
			return "", fmt.Errorf("prefix: %w", err)
		}
		if last := full[strings.LastIndexByte(full, '/')+1:]; last == "." || last == ".." {
			return "", fmt.Errorf("%w: prefix: %q path segment", ErrInvalidKey, last)
		}
	}
	return full, nil
}

// scopedPolicy returns the session policy allowing s3:GetObject under the full prefix.
func (c *Client) scopedPolicy(full string) string {
	partition := "aws"
	if parts := strings.SplitN(c.cfg.RoleARN, ":", 3); len(parts) == 3 && parts[1] != "" {
		partition = parts[1] // aws-cn, aws-us-gov
	}
	type statement struct {
		Effect   string
		Action   string
		Resource string
	}
	policy := struct {
		Version   string
		Statement []statement
	}{
		Version: "2012-10-17",
		Statement: []statement{{
			Effect:   "Allow",
			Action:   "s3:GetObject",
			Resource: "arn:" + partition + ":s3:::" + c.cfg.Bucket + "/" + full + "*",
		}},
	}
	b, _ := json.Marshal(policy) // cannot fail: strings only
	return string(b)
}

// ScopedCredentials returns temporary credentials that allow only s3:GetObject on keys starting
// with Config.Prefix+prefix, valid for d (from 15m to 12h, and at most the role's maximum session
// duration; if zero, DefaultScopedDuration). They are obtained by assuming Config.RoleARN with a
// session policy, so they require RoleARN; Config.SessionPolicy does not apply to them.
//
// Credentials for one prefix and duration are shared: every caller gets the same ones while they
// have at least d/2 left, and concurrent callers wait for one STS call (bounded by
// Config.STSTimeout); a caller whose ctx ends stops waiting without failing the others. A few
// thousand prefixes are remembered at most.
//
// prefix must not contain "*", "?" or "$", nor make Config.Prefix+prefix an invalid key start
// (".." or empty segments, control bytes, ...): such errors wrap [ErrInvalidKey]; a d out of range
// wraps [ErrInvalidOption]. Neither makes an STS call. STS errors wrap [ErrAccessDenied],
// [ErrThrottled], [ErrTimeout] or [ErrCredentials].
func (c *Client) ScopedCredentials(ctx context.Context, prefix string, d time.Duration) (ScopedCredentials, error) {
	if err := c.checkOpen(); err != nil {
		return ScopedCredentials{}, err
	}
	if d == 0 {
		d = DefaultScopedDuration
	}
	if d < MinSessionDuration || d > MaxSessionDuration {
		return ScopedCredentials{}, fmt.Errorf("%w: scoped credentials duration must be between 15m and 12h (got %v)", ErrInvalidOption, d)
	}
	full, err := c.scopedPrefix(prefix)
	if err != nil {
		return ScopedCredentials{}, err
	}
	if c.cfg.RoleARN == "" {
		return ScopedCredentials{}, fmt.Errorf("%w: scoped credentials require Config.RoleARN", ErrInvalidConfig)
	}
	k := scopedKey{prefix: full, d: d}
	s := &c.scoped
	s.mu.Lock()
	f := s.m[k]
	if f != nil {
		select {
		case <-f.done:
			if f.err == nil && reusable(f.creds, d, c.now()) {
				s.mu.Unlock()
				return f.creds, nil
			}
			delete(s.m, k)
			f = nil
		default: // in flight: wait for it
		}
	}
	if f == nil {
		if s.m == nil {
			s.m = make(map[scopedKey]*scopedFlight)
		}
		s.evictLocked(c.now())
		f = &scopedFlight{done: make(chan struct{})}
		s.m[k] = f
		c.goBackground(func(stop <-chan struct{}) { c.issueScoped(ctx, k, f, stop) })
	}
	s.mu.Unlock()
	select {
	case <-f.done:
		return f.creds, f.err
	case <-ctx.Done():
		return ScopedCredentials{}, fmt.Errorf("privates3: waiting for scoped credentials: %w", ctx.Err())
	}
}

// issueScoped runs the shared AssumeRole of f. It does not stop when the caller that started it
// gives up (the others still wait), only when the Client is closed; assumeRole bounds it by
// Config.STSTimeout.
func (c *Client) issueScoped(ctx context.Context, k scopedKey, f *scopedFlight, stop <-chan struct{}) {
	ctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	watched := make(chan struct{})
	go func() {
		defer close(watched)
		select {
		case <-stop:
			cancel()
		case <-ctx.Done():
		}
	}()
	defer func() {
		cancel()
		<-watched
	}()

	creds, err := c.assumeRole(ctx, c.scopedPolicy(k.prefix), k.d)
	if err != nil {
		f.err = fmt.Errorf("scoped credentials for prefix %q: %w", k.prefix, err)
		c.log.Warn("privates3: issuing scoped credentials failed", "prefix", k.prefix, "error", err)
	} else {
		f.creds = ScopedCredentials{
			AccessKeyID: creds.AccessKeyID, SecretAccessKey: creds.SecretAccessKey,
			SessionToken: creds.SessionToken, Expires: creds.Expires,
			Bucket: c.cfg.Bucket, Prefix: k.prefix, Region: c.awsCfg.Region,
		}
		c.stats.scopedCredentials.Add(1)
	}
	if err != nil {
		// Failures are not remembered: the next caller tries again.
		c.scoped.mu.Lock()
		if c.scoped.m[k] == f {
			delete(c.scoped.m, k)
		}
		c.scoped.mu.Unlock()
	}
	close(f.done)
}

// CredentialsHandlerOptions configures [Client.CredentialsHandler].
type CredentialsHandlerOptions struct {
	// Authorize decides whether the request may have credentials and for which prefix (relative
	// to Config.Prefix; "" means everything under it). An error refuses the request with 403; its
	// text is logged, never sent. If nil, every request is refused: there is no safe default.
	Authorize func(r *http.Request) (prefix string, err error)

	// Duration is the lifetime of the issued credentials (see [Client.ScopedCredentials]). If
	// zero, DefaultScopedDuration (1h).
	Duration time.Duration
}

// credentialsJSON is the handler's answer, in the field names of the AWS SDK for JavaScript's
// credentials objects, plus where to use them.
type credentialsJSON struct {
	AccessKeyID     string `json:"accessKeyId"`
	SecretAccessKey string `json:"secretAccessKey"`
	SessionToken    string `json:"sessionToken"`
	Expiration      string `json:"expiration"` // RFC 3339, UTC
	Bucket          string `json:"bucket"`
	Region          string `json:"region"`
	Prefix          string `json:"prefix"` // the S3 key prefix, Config.Prefix included
}

// CredentialsHandler returns an http.Handler that answers a GET with scoped credentials (see
// [Client.ScopedCredentials]) for the prefix opts.Authorize allows, as JSON:
//
//	{"accessKeyId":"ASIA...","secretAccessKey":"...","sessionToken":"...",
//	 "expiration":"2026-01-02T15:04:05Z","bucket":"tiles","region":"us-east-1","prefix":"tiles/user1/"}
//
// The first four fields are what the AWS SDK for JavaScript expects of credentials; prefix is the
// full S3 key prefix the client may read. The answer carries Cache-Control: no-store.
//
// Other methods than GET get 405 with Allow: GET; a refused request (Authorize returned an error,
// or is nil) 403; an invalid prefix from Authorize 500; STS throttling 503 with Retry-After; an
// STS timeout 504; other STS failures 502. Error bodies are short fixed texts; neither bodies nor
// log lines contain secrets.
func (c *Client) CredentialsHandler(opts *CredentialsHandlerOptions) http.Handler {
	var o CredentialsHandlerOptions
	if opts != nil {
		o = *opts
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-store")
		if r.Method != http.MethodGet {
			w.Header().Set("Allow", http.MethodGet)
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		if o.Authorize == nil {
			http.Error(w, "forbidden", http.StatusForbidden)
			return
		}
		prefix, err := o.Authorize(r)
		if err != nil {
			c.log.Info("privates3: credentials request refused", "error", err)
			http.Error(w, "forbidden", http.StatusForbidden)
			return
		}
		sc, err := c.ScopedCredentials(r.Context(), prefix, o.Duration)
		if err != nil {
			if r.Context().Err() != nil {
				return // the client is gone
			}
			status, text := credentialsErrorStatus(err)
			c.log.Error("privates3: issuing credentials failed", "prefix", prefix, "status", status, "error", err)
			if status == http.StatusServiceUnavailable {
				w.Header().Set("Retry-After", "1")
			}
			http.Error(w, text, status)
			return
		}
		body, err := json.Marshal(credentialsJSON{
			AccessKeyID: sc.AccessKeyID, SecretAccessKey: sc.SecretAccessKey, SessionToken: sc.SessionToken,
			Expiration: sc.Expires.UTC().Format(time.RFC3339),
			Bucket:     sc.Bucket, Region: sc.Region, Prefix: sc.Prefix,
		})
		if err != nil {
			http.Error(w, "internal server error", http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("X-Content-Type-Options", "nosniff")
		_, _ = w.Write(append(body, '\n'))
	})
}

// credentialsErrorStatus maps a ScopedCredentials error to a status and a fixed text.
func credentialsErrorStatus(err error) (int, string) {
	switch {
	case errors.Is(err, ErrInvalidKey), errors.Is(err, ErrInvalidOption), errors.Is(err, ErrInvalidConfig):
		return http.StatusInternalServerError, "internal server error"
	case errors.Is(err, ErrClosed):
		return http.StatusServiceUnavailable, "service unavailable"
	case errors.Is(err, ErrThrottled):
		return http.StatusServiceUnavailable, "service unavailable"
	case errors.Is(err, ErrTimeout), errors.Is(err, context.DeadlineExceeded):
		return http.StatusGatewayTimeout, "gateway timeout"
	default:
		return http.StatusBadGateway, "bad gateway"
	}
}
