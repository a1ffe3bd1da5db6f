package privates3

import (
	"context"
	"fmt"
	"net/http"
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
)

// Internal bounds of the Presign and ScopedCredentials memories.
const (
	// defaultPresignEntries bounds one generation of remembered URLs; at most twice as many are
	// held (a URL with a session token is about 1.5 KB, so at most about 6 MB).
	defaultPresignEntries = 2048
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
	now := time.Now()
	start := now.Truncate(prm.window).UTC()
	want := now.Add(prm.expiry - prm.window) // the guaranteed minimum deadline
	k := presignKey{
		key: full, start: start.Unix(), expiry: prm.expiry, window: prm.window,
		contentType: prm.contentType, disposition: prm.disposition, cacheControl: prm.cacheControl,
	}
	cached, hit := c.presign.lookup(k)
	if hit && !cached.url.Deadline.Before(want) {
		c.stats.presignCacheHits.Add(1)
		return cached.url, nil
	}
	creds, err := c.presignCredentials(ctx, prm.expiry-prm.window, now)
	if err != nil {
		return PresignedURL{}, err
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
	u, err := c.sign(ctx, k, creds)
	if err != nil {
		return PresignedURL{}, fmt.Errorf("%w: presigning %q: %v", ErrInvalidConfig, key, err)
	}
	u.Deadline = deadline
	c.presign.store(k, presignEntry{url: u, accessKeyID: creds.AccessKeyID})
	c.stats.presigned.Add(1)
	return u, nil
}

// sign presigns the GET of k with creds at the start of k's window. Presigning is local; it fails
// only on a bad endpoint or region.
func (c *Client) sign(ctx context.Context, k presignKey, creds aws.Credentials) (PresignedURL, error) {
	p := &c.presign
	p.init(c)
	in := &s3.GetObjectInput{Bucket: aws.String(c.cfg.Bucket), Key: aws.String(k.key)}
	for _, o := range []struct {
		v   string
		dst **string
	}{{k.contentType, &in.ResponseContentType}, {k.disposition, &in.ResponseContentDisposition}, {k.cacheControl, &in.ResponseCacheControl}} {
		if o.v != "" {
			*o.dst = aws.String(o.v)
		}
	}
	at := time.Unix(k.start, 0).UTC()
	static := aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) { return creds, nil })
	req, err := p.client.PresignGetObject(ctx, in, func(o *s3.PresignOptions) {
		o.Expires = k.expiry
		o.Presigner = windowSigner{signer: p.signer, at: at}
		o.ClientOptions = append(o.ClientOptions, func(o *s3.Options) { o.Credentials = static })
	})
	if err != nil {
		return PresignedURL{}, err
	}
	return PresignedURL{URL: req.URL, SignedAt: at}, nil
}

// presignCredentials returns credentials valid for at least life from now if it can get them:
// the current ones when they are, else refreshed ones. When a refresh cannot extend the
// credentials (STS failing, or a session duration shorter than life), it returns the best it has
// and asks again for the same credentials only after refreshRetryInterval, so that Presign
// traffic does not turn into STS traffic.
func (c *Client) presignCredentials(ctx context.Context, life time.Duration, now time.Time) (aws.Credentials, error) {
	cur, err := c.creds.Retrieve(ctx)
	if err != nil || !cur.CanExpire || !cur.Expires.Before(now.Add(life)) {
		return cur, err
	}
	p := &c.presign
	p.shortMu.Lock()
	skip := p.shortKeyID == cur.AccessKeyID && now.Before(p.shortUntil)
	p.shortMu.Unlock()
	if skip {
		return cur, nil
	}
	got, err := c.creds.validFor(ctx, life)
	if err != nil {
		if !cur.CanExpire || cur.Expires.After(time.Now()) {
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
