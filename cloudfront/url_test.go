package cloudfront

import (
	"errors"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"
)

// t0 is a fixed instant in the middle of a 15-minute window.
var t0 = time.Date(2026, 12, 1, 12, 7, 30, 0, time.UTC)

func TestSignURLInvalid(t *testing.T) {
	s, _ := newTestSigner(t, t0)
	const u = "https://d111111abcdef8.cloudfront.net/tiles/3/4/2.png"
	tests := []struct {
		name string
		url  string
		opts *URLOptions
	}{
		{"relative", "/tiles/a.png", nil},
		{"ftp", "ftp://example.com/a", nil},
		{"no host", "https:///a", nil},
		{"fragment", u + "#x", nil},
		{"non-ascii", "https://example.com/é.png", nil},
		{"space", "https://example.com/a b.png", nil},
		{"has Signature", u + "?Signature=x", nil},
		{"has Expires", u + "?a=1&Expires=2", nil},
		{"has Key-Pair-Id", u + "?Key-Pair-Id=K", nil},
		{"negative expiry", u, &URLOptions{Expiry: -time.Second}},
		{"tiny expiry", u, &URLOptions{Expiry: time.Second}},
		{"negative window", u, &URLOptions{Window: -time.Second}},
		{"window not below expiry", u, &URLOptions{Expiry: time.Hour, Window: time.Hour}},
		{"resource not matching", u, &URLOptions{Resource: "https://d111111abcdef8.cloudfront.net/private/*"}},
		{"resource scheme", u, &URLOptions{Resource: "ftp://d111111abcdef8.cloudfront.net/*"}},
		{"resource quote", u, &URLOptions{Resource: `https://d111111abcdef8.cloudfront.net/"*`}},
		{"bad ip", u, &URLOptions{IPAddress: "300.1.2.3/24"}},
		{"ip host bits", u, &URLOptions{IPAddress: "192.0.2.7/24"}},
		{"not before after deadline", u, &URLOptions{NotBefore: t0.Add(2 * time.Hour)}},
	}
	for _, tt := range tests {
		if _, err := s.SignURL(tt.url, tt.opts); !errors.Is(err, ErrInvalidOption) {
			t.Errorf("%s: err = %v, want ErrInvalidOption", tt.name, err)
		}
	}
}

// TestSignURLStable: 1,000 calls within a window give one URL; across the boundary the new URL
// lives at least Expiry-Window from the call, and Expires is exactly the window start + Expiry.
func TestSignURLStable(t *testing.T) {
	s, clk := newTestSigner(t, t0)
	const u = "https://d111111abcdef8.cloudfront.net/tiles/3/4/2.png?v=1"
	opts := &URLOptions{Expiry: time.Hour, Window: 15 * time.Minute}
	start := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	clk.set(start)
	seen := map[string]bool{}
	var first SignedURL
	for i := range 1000 {
		clk.set(start.Add(time.Duration(i) * (15*time.Minute - time.Nanosecond) / 999))
		got, err := s.SignURL(u, opts)
		if err != nil {
			t.Fatal(err)
		}
		seen[got.URL] = true
		first = got
	}
	if len(seen) != 1 {
		t.Fatalf("1000 calls in one window gave %d distinct URLs", len(seen))
	}
	if want := start.Add(time.Hour); !first.Expires.Equal(want) {
		t.Fatalf("Expires = %v, want %v", first.Expires, want)
	}
	if !strings.Contains(first.URL, "Expires="+strconv.FormatInt(first.Expires.Unix(), 10)+"&") {
		t.Fatalf("URL %s does not carry Expires %d", first.URL, first.Expires.Unix())
	}
	// The next window: a new URL, valid for at least Expiry-Window from the call.
	for _, at := range []time.Time{start.Add(15 * time.Minute), start.Add(30*time.Minute - time.Nanosecond)} {
		clk.set(at)
		next, err := s.SignURL(u, opts)
		if err != nil {
			t.Fatal(err)
		}
		if next.URL == first.URL {
			t.Fatalf("at %v: the URL of the previous window", at)
		}
		if life := next.Expires.Sub(at); life < opts.Expiry-opts.Window {
			t.Fatalf("at %v: life %v < expiry-window", at, life)
		}
	}
	// The cache is not what makes URLs stable: RSA PKCS#1 v1.5 signatures are deterministic.
	clk.set(start)
	s.mu.Lock()
	s.cache = nil
	s.mu.Unlock()
	again, err := s.SignURL(u, opts)
	if err != nil || again.URL != first.URL {
		t.Fatalf("after emptying the cache: %v, same URL %v", err, again.URL == first.URL)
	}
}

func TestSignURLForms(t *testing.T) {
	s, _ := newTestSigner(t, t0)
	const u = "https://d111111abcdef8.cloudfront.net/tiles/3/4/2.png"
	canned, err := s.SignURL(u, nil)
	if err != nil {
		t.Fatal(err)
	}
	q := query(t, canned.URL)
	if q.Get("Expires") == "" || q.Get("Policy") != "" || q.Get("Key-Pair-Id") != keyA || q.Get("Signature") == "" {
		t.Fatalf("canned URL has the wrong parameters: %v", keys(q))
	}
	if canned.KeyID != keyA || canned.Expires.Sub(t0) < DefaultExpiry-DefaultExpiry/4 {
		t.Fatalf("canned: key %s, expires %v", canned.KeyID, canned.Expires)
	}
	for _, o := range []*URLOptions{
		{Custom: true},
		{Resource: "https://d111111abcdef8.cloudfront.net/tiles/*"},
		{IPAddress: "192.0.2.1"},
		{NotBefore: t0.Add(-time.Minute)},
	} {
		got, err := s.SignURL(u, o)
		if err != nil {
			t.Fatal(err)
		}
		q := query(t, got.URL)
		if q.Get("Policy") == "" || q.Get("Expires") != "" {
			t.Errorf("%+v: not a custom-policy URL: %v", o, keys(q))
		}
	}
	// Rotation: the new current key signs from now on.
	if err := s.SetCurrent(keyB); err != nil {
		t.Fatal(err)
	}
	rot, err := s.SignURL(u, nil)
	if err != nil || rot.KeyID != keyB || query(t, rot.URL).Get("Key-Pair-Id") != keyB || rot.URL == canned.URL {
		t.Fatalf("after SetCurrent(B): %v, key %s", err, rot.KeyID)
	}
}

func query(t *testing.T, raw string) url.Values {
	t.Helper()
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	return u.Query()
}

func keys(q url.Values) []string {
	var ks []string
	for k := range q {
		ks = append(ks, k)
	}
	return ks
}

func TestMatch(t *testing.T) {
	tests := []struct {
		p, s string
		want bool
	}{
		{"*", "", true},
		{"*", "anything", true},
		{"https://a/tiles/*", "https://a/tiles/1/2/3.png", true},
		{"https://a/tiles/*", "https://a/private/1.png", false},
		{"https://a/tiles/*", "https://a/tiles", false},
		{"http*://a/x", "https://a/x", true},
		{"http*://a/x", "http://a/x", true},
		{"https://a/?.png", "https://a/1.png", true},
		{"https://a/?.png", "https://a/12.png", false},
		{"*.png", "https://a/b.png.jpg", false},
		{"*a*a*a*b", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", false},
		{"", "", true},
		{"", "a", false},
	}
	for _, tt := range tests {
		if got := match(tt.p, tt.s); got != tt.want {
			t.Errorf("match(%q, %q) = %v, want %v", tt.p, tt.s, got, tt.want)
		}
	}
}

func TestParseSourceIP(t *testing.T) {
	for _, tt := range []struct{ in, want string }{
		{"192.0.2.7", "192.0.2.7/32"},
		{"192.0.2.0/24", "192.0.2.0/24"},
		{"2001:db8::1", "2001:db8::1/128"},
		{"2001:db8::/32", "2001:db8::/32"},
		{"::ffff:192.0.2.7", "192.0.2.7/32"},
		{"192.0.2.7/24", ""},
		{"fe80::1%eth0", ""},
		{"example.com", ""},
		{"192.0.2.0/33", ""},
	} {
		got, err := parseSourceIP(tt.in)
		if (err != nil) != (tt.want == "") || got != tt.want {
			t.Errorf("parseSourceIP(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
		}
	}
}
