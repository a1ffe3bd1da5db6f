package cloudfront

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/feature/cloudfront/sign"
)

const (
	// DefaultExpiry is the life of URLs and cookies when their options leave Expiry zero.
	DefaultExpiry = time.Hour
	// MaxDefaultWindow caps the window derived from the expiry when the options leave Window
	// zero.
	MaxDefaultWindow = time.Hour
)

// timing is the validity of one URL or cookie: it belongs to the window that starts at start
// and works until deadline (exclusive, whole seconds, as CloudFront compares).
type timing struct {
	start, deadline time.Time
	expiry, window  time.Duration
}

// windowAt resolves expiry and window (0 means the defaults) for a call at now. opt names the
// options struct in errors.
func windowAt(now time.Time, expiry, window time.Duration, opt string) (timing, error) {
	if expiry < 0 {
		return timing{}, fmt.Errorf("%w: %s.Expiry must not be negative (got %v)", ErrInvalidOption, opt, expiry)
	}
	if expiry == 0 {
		expiry = DefaultExpiry
	}
	expiry = expiry.Truncate(time.Second)
	if expiry < 2*time.Second {
		return timing{}, fmt.Errorf("%w: %s.Expiry must be at least 2s (got %v)", ErrInvalidOption, opt, expiry)
	}
	if window < 0 {
		return timing{}, fmt.Errorf("%w: %s.Window must not be negative (got %v)", ErrInvalidOption, opt, window)
	}
	if window == 0 {
		window = min(max(expiry/4, time.Second), MaxDefaultWindow)
	}
	window = max(window.Truncate(time.Second), time.Second)
	if window >= expiry {
		return timing{}, fmt.Errorf("%w: %s.Window must be less than Expiry %v (got %v)", ErrInvalidOption, opt, expiry, window)
	}
	// Windows are aligned on the Unix epoch, so every process that shares the keys and options
	// makes the same URL in the same window.
	w := int64(window / time.Second)
	sec := now.Unix()
	start := time.Unix(sec-((sec%w)+w)%w, 0).UTC()
	return timing{start: start, deadline: start.Add(expiry), expiry: expiry, window: window}, nil
}

// conditions are the optional parts of a custom policy.
type conditions struct {
	notBefore time.Time // DateGreaterThan; zero: none
	ip        string    // IpAddress, a CIDR prefix; "": none
}

// parseConditions validates the optional conditions against the deadline.
func parseConditions(notBefore time.Time, ip string, deadline time.Time, opt string) (conditions, error) {
	var c conditions
	if !notBefore.IsZero() {
		if notBefore.Unix() <= 0 {
			return c, fmt.Errorf("%w: %s.NotBefore must be after 1970 (got %v)", ErrInvalidOption, opt, notBefore)
		}
		if !notBefore.Truncate(time.Second).Before(deadline) {
			return c, fmt.Errorf("%w: %s.NotBefore %v is not before the deadline %v", ErrInvalidOption, opt, notBefore.UTC(), deadline)
		}
		c.notBefore = notBefore.Truncate(time.Second).UTC()
	}
	if ip != "" {
		p, err := parseSourceIP(ip)
		if err != nil {
			return c, fmt.Errorf("%w: %s.IPAddress %q: %v", ErrInvalidOption, opt, ip, err)
		}
		c.ip = p
	}
	return c, nil
}

// parseSourceIP returns the CIDR form CloudFront takes for AWS:SourceIp: an address prefix
// (IPv4 or IPv6) with its host bits zero; a bare address is a /32 or /128.
func parseSourceIP(s string) (string, error) {
	if !strings.Contains(s, "/") {
		a, err := netip.ParseAddr(s)
		if err != nil || a.Zone() != "" {
			return "", fmt.Errorf("not an IP address or CIDR prefix")
		}
		return netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen()).String(), nil
	}
	p, err := netip.ParsePrefix(s)
	if err != nil {
		return "", fmt.Errorf("not a CIDR prefix")
	}
	if p.Masked() != p {
		return "", fmt.Errorf("host bits set (did you mean %s?)", p.Masked())
	}
	return p.String(), nil
}

// checkResource validates a custom policy's resource pattern: an absolute http, https or http*
// URL pattern in printable ASCII, wildcards * and ? allowed.
func checkResource(r, opt string) error {
	if r == "" {
		return fmt.Errorf("%w: %s.Resource is empty", ErrInvalidOption, opt)
	}
	if len(r) > 4096 {
		return fmt.Errorf("%w: %s.Resource is longer than 4096 bytes", ErrInvalidOption, opt)
	}
	for i := 0; i < len(r); i++ {
		if r[i] <= ' ' || r[i] >= 0x7f || r[i] == '"' || r[i] == '\\' {
			return fmt.Errorf("%w: %s.Resource has a byte CloudFront does not take at %d (percent-encode non-ASCII, spaces and quotes)", ErrInvalidOption, opt, i)
		}
	}
	lower := strings.ToLower(r)
	if !strings.HasPrefix(lower, "http://") && !strings.HasPrefix(lower, "https://") && !strings.HasPrefix(lower, "http*://") {
		return fmt.Errorf("%w: %s.Resource %q must start with http://, https:// or http*://", ErrInvalidOption, opt, r)
	}
	return nil
}

// policy builds the custom policy for resource.
func (c conditions) policy(resource string, deadline time.Time) *sign.Policy {
	cond := sign.Condition{DateLessThan: sign.NewAWSEpochTime(deadline)}
	if !c.notBefore.IsZero() {
		cond.DateGreaterThan = sign.NewAWSEpochTime(c.notBefore)
	}
	if c.ip != "" {
		cond.IPAddress = &sign.IPAddress{SourceIP: c.ip}
	}
	return &sign.Policy{Statements: []sign.Statement{{Resource: resource, Condition: cond}}}
}

// cacheID identifies a signing request in the Signer's cache.
func cacheID(kind, keyID, resource, target string, t timing, c conditions) string {
	var b strings.Builder
	for _, part := range []string{kind, keyID, strconv.FormatInt(t.start.Unix(), 10),
		strconv.FormatInt(t.deadline.Unix(), 10), strconv.FormatInt(c.notBefore.Unix(), 10),
		c.ip, resource, target} {
		b.WriteString(part)
		b.WriteByte(0)
	}
	return b.String()
}

// match reports whether s matches the CloudFront pattern p: * matches any run of bytes
// (including none), ? exactly one byte, every other byte itself.
func match(p, s string) bool {
	// Iterative glob with single backtracking point (linear in practice, no recursion).
	pi, si, star, mark := 0, 0, -1, 0
	for si < len(s) {
		switch {
		case pi < len(p) && (p[pi] == '?' || p[pi] == s[si]):
			pi++
			si++
		case pi < len(p) && p[pi] == '*':
			star, mark = pi, si
			pi++
		case star >= 0:
			pi = star + 1
			mark++
			si = mark
		default:
			return false
		}
	}
	for pi < len(p) && p[pi] == '*' {
		pi++
	}
	return pi == len(p)
}
