package cloudfront

import (
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/feature/cloudfront/sign"
)

// Names of the signed cookies CloudFront reads.
const (
	CookiePolicy    = sign.CookiePolicyName    // "CloudFront-Policy"
	CookieSignature = sign.CookieSignatureName // "CloudFront-Signature"
	CookieKeyPairID = sign.CookieKeyIDName     // "CloudFront-Key-Pair-Id"
)

// CookieOptions configures [Signer.SignCookies] and the cookies of [Signer.CookieHandler]. The
// zero value is not usable: Resource is required. The defaults make cookies a browser sends
// only over HTTPS, hides from scripts, and keeps for the browser session, as AWS recommends.
type CookieOptions struct {
	// Resource is the resource pattern the cookies open, with the wildcards * and ?, such as
	// "https://tiles.example.com/tiles/*": one cookie for a whole tile path. Required; it must
	// start with http://, https:// or http*://.
	Resource string
	// Expiry is how long after the start of its window the cookie policy works (whole seconds,
	// at least 2s). If zero, DefaultExpiry (1h).
	Expiry time.Duration
	// Window makes cookie values stable: the deadline is the current time rounded down to a
	// multiple of Window plus Expiry, as in URLOptions. If zero, Expiry/4, at least 1s and at
	// most MaxDefaultWindow (1h).
	Window time.Duration
	// NotBefore, if not zero, adds DateGreaterThan to the policy. It must be before the deadline.
	NotBefore time.Time
	// IPAddress, if set, adds IpAddress (a CIDR prefix) to the policy.
	IPAddress string

	// Domain is the cookies' Domain attribute, such as "example.com" for an application on
	// example.com and tiles on tiles.example.com. If empty, none (host-only cookies for the
	// host that sets them).
	Domain string
	// Path is the cookies' Path attribute. If empty, "/".
	Path string
	// Insecure drops the Secure attribute, for plain-HTTP development setups. If false (the
	// default), the cookies are Secure: browsers send them only over HTTPS.
	Insecure bool
	// ScriptReadable drops the HttpOnly attribute. If false (the default), the cookies are
	// HttpOnly: scripts on the page cannot read them.
	ScriptReadable bool
	// SameSite is the cookies' SameSite attribute. If zero, http.SameSiteLaxMode, which sends
	// them with requests from the same site (tiles.example.com from example.com).
	// http.SameSiteNoneMode, needed when the page is on another site than the tiles, requires
	// Secure.
	SameSite http.SameSite
	// Persistent gives the cookies an Expires attribute equal to the policy's deadline. If false
	// (the default), they are session cookies that the browser drops when it closes.
	Persistent bool
}

// Cookies are the three signed cookies for a resource pattern and the time until which
// CloudFront accepts them.
type Cookies struct {
	// Cookies are CloudFront-Policy, CloudFront-Signature and CloudFront-Key-Pair-Id, in this
	// order, with the attributes of the options; set each with http.SetCookie.
	Cookies []*http.Cookie
	// Expires is the policy's DateLessThan: CloudFront accepts the cookies before this instant.
	Expires time.Time
	// KeyID is the ID of the key that signed them.
	KeyID string
}

// SignCookies signs a custom policy for opts.Resource with the current key and returns the
// cookies that carry it. Identical calls within one window return identical cookie values.
// Invalid options are errors wrapping [ErrInvalidOption].
func (s *Signer) SignCookies(opts CookieOptions) (Cookies, error) {
	return s.signCookies(opts, s.now())
}

// cookieAttrs validates the attributes of opts (not the policy).
func cookieAttrs(opts CookieOptions) error {
	if err := checkResource(opts.Resource, "CookieOptions"); err != nil {
		return err
	}
	if opts.SameSite < 0 || opts.SameSite > http.SameSiteNoneMode {
		return fmt.Errorf("%w: CookieOptions.SameSite %d is not an http.SameSite value", ErrInvalidOption, opts.SameSite)
	}
	if opts.SameSite == http.SameSiteNoneMode && opts.Insecure {
		return fmt.Errorf("%w: CookieOptions.SameSite None needs Secure cookies (browsers drop them otherwise); unset Insecure", ErrInvalidOption)
	}
	const domainChars = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-"
	if strings.Trim(opts.Domain, domainChars) != "" {
		return fmt.Errorf("%w: CookieOptions.Domain %q is not a domain name", ErrInvalidOption, opts.Domain)
	}
	if opts.Path != "" && (opts.Path[0] != '/' || !validCookieValue(opts.Path)) {
		return fmt.Errorf("%w: CookieOptions.Path %q must start with / and contain no ; or control bytes", ErrInvalidOption, opts.Path)
	}
	return nil
}

func validCookieValue(v string) bool {
	for i := 0; i < len(v); i++ {
		if v[i] < 0x20 || v[i] >= 0x7f || v[i] == ';' {
			return false
		}
	}
	return true
}

func (s *Signer) signCookies(opts CookieOptions, now time.Time) (Cookies, error) {
	if err := cookieAttrs(opts); err != nil {
		return Cookies{}, err
	}
	t, err := windowAt(now, opts.Expiry, opts.Window, "CookieOptions")
	if err != nil {
		return Cookies{}, err
	}
	c, err := parseConditions(opts.NotBefore, opts.IPAddress, t.deadline, "CookieOptions")
	if err != nil {
		return Cookies{}, err
	}
	k := s.current.Load()
	id := cacheID("cookie", k.ID, opts.Resource, "", t, c)
	v, ok := s.lookup(id)
	if !ok {
		sig, pol, err := c.policy(opts.Resource, t.deadline).Sign(k.Signer)
		if err != nil {
			return Cookies{}, fmt.Errorf("cloudfront: signing with key %s: %w", k.ID, err)
		}
		v = signed{policy: string(pol), signature: string(sig), expires: t.deadline}
		s.remember(id, v)
	}
	return Cookies{Cookies: makeCookies(opts, v, k.ID), Expires: v.expires, KeyID: k.ID}, nil
}

// makeCookies returns the three cookies with the attributes of opts.
func makeCookies(opts CookieOptions, v signed, keyID string) []*http.Cookie {
	path := opts.Path
	if path == "" {
		path = "/"
	}
	same := opts.SameSite
	if same == 0 {
		same = http.SameSiteLaxMode
	}
	var expires time.Time
	if opts.Persistent {
		expires = v.expires
	}
	cookies := make([]*http.Cookie, 0, 3)
	for _, nv := range [][2]string{{CookiePolicy, v.policy}, {CookieSignature, v.signature}, {CookieKeyPairID, keyID}} {
		cookies = append(cookies, &http.Cookie{
			Name: nv[0], Value: nv[1], Domain: opts.Domain, Path: path, Expires: expires,
			Secure: !opts.Insecure, HttpOnly: !opts.ScriptReadable, SameSite: same,
		})
	}
	return cookies
}
