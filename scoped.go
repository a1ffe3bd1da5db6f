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
)

// DefaultScopedDuration is the lifetime of scoped credentials when the requested duration is
// zero.
const DefaultScopedDuration = time.Hour

// defaultScopedEntries bounds the number of prefixes with remembered scoped credentials.
const defaultScopedEntries = 1024

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

// scopedState is the ScopedCredentials side of a Client: one flight per key, and the issued
// credentials, reused while they have at least half their duration left.
type scopedState struct {
	issues group[scopedKey, ScopedCredentials]
	max    int // bounds issued; if zero, defaultScopedEntries

	mu     sync.Mutex // guards issued
	issued map[scopedKey]ScopedCredentials
}

// reusable reports whether credentials issued for duration d may still be handed out: they have
// at least half of d left.
func reusable(cr ScopedCredentials, d time.Duration, now time.Time) bool {
	return cr.Expires.Sub(now) >= d/2
}

// lookup returns the reusable credentials issued for k.
func (s *scopedState) lookup(k scopedKey) (ScopedCredentials, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	sc, ok := s.issued[k]
	return sc, ok && reusable(sc, k.d, time.Now())
}

// store remembers sc for k. When full, it first drops credentials no longer reusable, then
// arbitrary ones.
func (s *scopedState) store(k scopedKey, sc ScopedCredentials) {
	s.mu.Lock()
	defer s.mu.Unlock()
	limit := s.max
	if limit <= 0 {
		limit = defaultScopedEntries
	}
	if s.issued == nil {
		s.issued = make(map[scopedKey]ScopedCredentials)
	}
	now := time.Now()
	for k2, sc2 := range s.issued {
		if len(s.issued) < limit {
			break
		}
		if !reusable(sc2, k2.d, now) {
			delete(s.issued, k2)
		}
	}
	for k2 := range s.issued {
		if len(s.issued) < limit {
			break
		}
		delete(s.issued, k2)
	}
	s.issued[k] = sc
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
			return "", err
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
	if sc, ok := s.lookup(k); ok {
		return sc, nil
	}
	sc, _, release, err := s.issues.do(ctx, k, false, func(ctx context.Context) (ScopedCredentials, error) {
		if sc, ok := s.lookup(k); ok { // issued by a flight that ended after the caller looked
			return sc, nil
		}
		creds, err := c.assumeRole(ctx, c.scopedPolicy(full), d)
		if err != nil {
			c.log.Warn("privates3: issuing scoped credentials failed", "prefix", full, "error", err)
			return ScopedCredentials{}, fmt.Errorf("%w: scoped credentials for prefix %q: %w", ErrCredentials, full, err)
		}
		sc := ScopedCredentials{
			AccessKeyID: creds.AccessKeyID, SecretAccessKey: creds.SecretAccessKey,
			SessionToken: creds.SessionToken, Expires: creds.Expires,
			Bucket: c.cfg.Bucket, Prefix: full, Region: c.awsCfg.Region,
		}
		c.stats.scopedCredentials.Add(1)
		s.store(k, sc)
		return sc, nil
	})
	release()
	if err != nil && ctx.Err() != nil {
		return ScopedCredentials{}, fmt.Errorf("privates3: waiting for scoped credentials: %w", ctx.Err())
	}
	return sc, err
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
			WriteError(w, http.StatusMethodNotAllowed)
			return
		}
		if o.Authorize == nil {
			WriteError(w, http.StatusForbidden)
			return
		}
		prefix, err := o.Authorize(r)
		if err != nil {
			c.log.Info("privates3: credentials request refused", "error", err)
			WriteError(w, http.StatusForbidden)
			return
		}
		sc, err := c.ScopedCredentials(r.Context(), prefix, o.Duration)
		if err != nil {
			if r.Context().Err() != nil {
				return // the client is gone
			}
			status := HTTPStatus(err)
			if errors.Is(err, ErrInvalidKey) {
				status = http.StatusInternalServerError // the prefix came from Authorize
			}
			c.log.Error("privates3: issuing credentials failed", "prefix", prefix, "status", status, "error", err)
			WriteError(w, status)
			return
		}
		body, err := json.Marshal(credentialsJSON{
			AccessKeyID: sc.AccessKeyID, SecretAccessKey: sc.SecretAccessKey, SessionToken: sc.SessionToken,
			Expiration: sc.Expires.UTC().Format(time.RFC3339),
			Bucket:     sc.Bucket, Region: sc.Region, Prefix: sc.Prefix,
		})
		if err != nil {
			WriteError(w, http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("X-Content-Type-Options", "nosniff")
		_, _ = w.Write(append(body, '\n'))
	})
}
