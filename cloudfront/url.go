package cloudfront

import (
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/feature/cloudfront/sign"
)

// URLOptions configures [Signer.SignURL]. A nil *URLOptions and the zero value mean a canned
// policy for the URL itself, valid for DefaultExpiry, stable within a quarter of it.
type URLOptions struct {
	// Expiry is how long after the start of its window the URL works (rounded down to whole
	// seconds, at least 2s). If zero, DefaultExpiry (1h).
	Expiry time.Duration
	// Window makes URLs stable: the deadline is the current time rounded down to a multiple of
	// Window (aligned on the Unix epoch, whole seconds) plus Expiry, so identical calls within
	// one window return the byte-identical URL, and a URL handed out works for at least
	// Expiry-Window. It must be less than Expiry. If zero, Expiry/4, at least 1s and at most
	// MaxDefaultWindow (1h).
	Window time.Duration
	// Resource, if set, makes a custom policy for this resource pattern instead of the URL itself,
	// with the wildcards * (any run of characters) and ? (one character), such as
	// "https://d111111abcdef8.cloudfront.net/tiles/*". The URL must match it. If empty, the
	// URL (and a canned policy unless NotBefore, IPAddress or Custom ask for a custom one).
	Resource string
	// NotBefore, if not zero, makes a custom policy with DateGreaterThan: CloudFront refuses the
	// URL before this time (whole seconds). It must be before the deadline.
	NotBefore time.Time
	// IPAddress, if set, makes a custom policy with IpAddress: only viewers in this CIDR prefix
	// (IPv4 or IPv6, such as "192.0.2.0/24"; a bare address means just that address) may use
	// the URL.
	IPAddress string
	// Custom forces a custom policy (the Policy query parameter) even when no other option needs
	// one. If false, the short canned form (Expires) is used when it can express the options.
	Custom bool
}

// SignedURL is a CloudFront signed URL and the exact time until which it works.
type SignedURL struct {
	// URL is the signed URL.
	URL string
	// Expires is the policy's DateLessThan: CloudFront accepts the URL before this instant and
	// refuses it from then on. It is at least Expiry-Window after the call.
	Expires time.Time
	// KeyID is the ID of the key that signed it.
	KeyID string
}

// signingParams are the query parameters CloudFront reserves for signed URLs.
var signingParams = []string{"Expires", "Policy", "Signature", "Key-Pair-Id", "Hash-Algorithm"}

// SignURL signs rawURL, an absolute http or https URL of the distribution (with its own query,
// if any, but no fragment and none of the parameters Expires, Policy, Signature, Key-Pair-Id,
// Hash-Algorithm), with the current key. Identical calls within one window return the
// byte-identical URL (see URLOptions.Window). Invalid options or URLs are errors wrapping
// [ErrInvalidOption].
func (s *Signer) SignURL(rawURL string, opts *URLOptions) (SignedURL, error) {
	var o URLOptions
	if opts != nil {
		o = *opts
	}
	if err := checkURL(rawURL); err != nil {
		return SignedURL{}, err
	}
	t, err := windowAt(s.now(), o.Expiry, o.Window, "URLOptions")
	if err != nil {
		return SignedURL{}, err
	}
	c, err := parseConditions(o.NotBefore, o.IPAddress, t.deadline, "URLOptions")
	if err != nil {
		return SignedURL{}, err
	}
	custom := o.Custom || o.Resource != "" || !c.notBefore.IsZero() || c.ip != ""
	resource := rawURL
	if o.Resource != "" {
		if err := checkResource(o.Resource, "URLOptions"); err != nil {
			return SignedURL{}, err
		}
		if !match(o.Resource, rawURL) {
			return SignedURL{}, fmt.Errorf("%w: the URL does not match URLOptions.Resource %q, CloudFront would refuse it", ErrInvalidOption, o.Resource)
		}
		resource = o.Resource
	}
	kind := "canned"
	if custom {
		kind = "custom"
	}
	k := s.current.Load()
	id := cacheID(kind, k.ID, resource, rawURL, t, c)
	if v, ok := s.lookup(id); ok {
		return SignedURL{URL: v.url, Expires: v.expires, KeyID: k.ID}, nil
	}
	signer := sign.NewURLSigner(k.ID, k.Signer)
	var u string
	if custom {
		u, err = signer.SignWithPolicy(rawURL, c.policy(resource, t.deadline))
	} else {
		u, err = signer.Sign(rawURL, t.deadline)
	}
	if err != nil {
		return SignedURL{}, fmt.Errorf("cloudfront: signing with key %s: %w", k.ID, err)
	}
	s.remember(id, signed{url: u, expires: t.deadline})
	return SignedURL{URL: u, Expires: t.deadline, KeyID: k.ID}, nil
}

// checkURL validates a URL to sign.
func checkURL(raw string) error {
	for i := 0; i < len(raw); i++ {
		if raw[i] <= ' ' || raw[i] >= 0x7f {
			return fmt.Errorf("%w: URL has a byte CloudFront does not take at %d (percent-encode non-ASCII and spaces)", ErrInvalidOption, i)
		}
	}
	u, err := url.Parse(raw)
	if err != nil {
		return fmt.Errorf("%w: URL does not parse", ErrInvalidOption)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return fmt.Errorf("%w: URL scheme must be http or https (got %q)", ErrInvalidOption, u.Scheme)
	}
	if u.Host == "" || u.User != nil {
		return fmt.Errorf("%w: URL must have a host and no user info", ErrInvalidOption)
	}
	if strings.Contains(raw, "#") {
		return fmt.Errorf("%w: URL must not have a fragment", ErrInvalidOption)
	}
	for _, kv := range strings.Split(u.RawQuery, "&") {
		name, _, _ := strings.Cut(kv, "=")
		for _, p := range signingParams {
			if name == p {
				return fmt.Errorf("%w: URL already has the query parameter %s that signing adds", ErrInvalidOption, p)
			}
		}
	}
	return nil
}
