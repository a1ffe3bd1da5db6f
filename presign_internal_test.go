package privates3

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"
)

func TestPresignParams(t *testing.T) {
	tests := []struct {
		name         string
		opts         *PresignOptions
		expiry, win  time.Duration
		wantErr      error
		wantInErrMsg string
	}{
		{name: "nil", opts: nil, expiry: time.Hour, win: 15 * time.Minute},
		{name: "zero", opts: &PresignOptions{}, expiry: time.Hour, win: 15 * time.Minute},
		{name: "5m", opts: &PresignOptions{Expiry: 5 * time.Minute}, expiry: 5 * time.Minute, win: 75 * time.Second},
		{name: "7d capped window", opts: &PresignOptions{Expiry: MaxPresignExpiry}, expiry: MaxPresignExpiry, win: time.Hour},
		{name: "explicit window", opts: &PresignOptions{Expiry: time.Hour, Window: time.Minute}, expiry: time.Hour, win: time.Minute},
		{name: "fractions rounded down", opts: &PresignOptions{Expiry: 90*time.Second + 500*time.Millisecond, Window: 10*time.Second + 900*time.Millisecond}, expiry: 90 * time.Second, win: 10 * time.Second},
		{name: "sub-second window is 1s", opts: &PresignOptions{Expiry: time.Minute, Window: time.Millisecond}, expiry: time.Minute, win: time.Second},
		{name: "2s expiry", opts: &PresignOptions{Expiry: 2 * time.Second}, expiry: 2 * time.Second, win: time.Second},
		{name: "negative expiry", opts: &PresignOptions{Expiry: -time.Second}, wantErr: ErrInvalidOption, wantInErrMsg: "Expiry"},
		{name: "sub-second expiry", opts: &PresignOptions{Expiry: time.Millisecond}, wantErr: ErrInvalidOption, wantInErrMsg: "Expiry"},
		{name: "too long expiry", opts: &PresignOptions{Expiry: MaxPresignExpiry + time.Second}, wantErr: ErrInvalidOption, wantInErrMsg: "Expiry"},
		{name: "1s expiry leaves no window", opts: &PresignOptions{Expiry: time.Second}, wantErr: ErrInvalidOption, wantInErrMsg: "Window"},
		{name: "negative window", opts: &PresignOptions{Window: -time.Second}, wantErr: ErrInvalidOption, wantInErrMsg: "Window"},
		{name: "window equals expiry", opts: &PresignOptions{Expiry: time.Minute, Window: time.Minute}, wantErr: ErrInvalidOption, wantInErrMsg: "Window"},
		{name: "control byte in content type", opts: &PresignOptions{ResponseContentType: "text/plain\r\nX: y"}, wantErr: ErrInvalidOption, wantInErrMsg: "ResponseContentType"},
		{name: "DEL in disposition", opts: &PresignOptions{ResponseContentDisposition: "a\x7f"}, wantErr: ErrInvalidOption, wantInErrMsg: "ResponseContentDisposition"},
		{name: "NUL in cache control", opts: &PresignOptions{ResponseCacheControl: "\x00"}, wantErr: ErrInvalidOption, wantInErrMsg: "ResponseCacheControl"},
		{name: "tab allowed", opts: &PresignOptions{ResponseCacheControl: "max-age=1,\tpublic"}, expiry: time.Hour, win: 15 * time.Minute},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := tt.opts.params()
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) || !strings.Contains(err.Error(), tt.wantInErrMsg) {
					t.Fatalf("params() error = %v, want %v naming %s", err, tt.wantErr, tt.wantInErrMsg)
				}
				return
			}
			if err != nil {
				t.Fatalf("params() error = %v", err)
			}
			if p.expiry != tt.expiry || p.window != tt.win {
				t.Errorf("params() = expiry %v window %v, want %v %v", p.expiry, p.window, tt.expiry, tt.win)
			}
		})
	}
}

func TestPresignStoreBounded(t *testing.T) {
	p := presignState{max: 4}
	key := func(i int) presignKey { return presignKey{key: fmt.Sprint(i)} }
	for i := range 100 {
		p.store(key(i), presignEntry{url: PresignedURL{URL: fmt.Sprint("u", i)}})
		if n := p.len(); n > 2*p.max {
			t.Fatalf("after %d stores: %d entries, want at most %d", i+1, n, 2*p.max)
		}
	}
	// The most recent max entries are all still there.
	for i := 96; i < 100; i++ {
		e, ok := p.lookup(key(i))
		if !ok || e.url.URL != fmt.Sprint("u", i) {
			t.Errorf("lookup(%d) = %v, %v; want the stored URL", i, e, ok)
		}
	}
	if _, ok := p.lookup(key(0)); ok {
		t.Error("lookup(0) found an entry that should have been dropped")
	}
	// Replacing an existing key does not rotate the generations.
	before := p.len()
	p.store(key(99), presignEntry{url: PresignedURL{URL: "again"}})
	if p.len() != before {
		t.Errorf("len after replacing = %d, want %d", p.len(), before)
	}
	// An entry in use survives rotations: looking it up moves it to the current generation.
	for i := 100; i < 120; i++ {
		p.store(key(i), presignEntry{})
		if _, ok := p.lookup(key(97)); !ok {
			t.Fatalf("entry 97, looked up after every store, dropped after storing %d", i)
		}
	}
}

func TestScopedPrefix(t *testing.T) {
	tests := []struct {
		cfgPrefix, prefix, want string
		ok                      bool
	}{
		{"tiles/", "user1/", "tiles/user1/", true},
		{"tiles/", "", "tiles/", true},
		{"", "", "", true},
		{"", "a/b", "a/b", true},
		{"tiles/", "user1", "tiles/user1", true},
		{"tiles/", "../", "", false},
		{"tiles/", "..", "", false},
		{"tiles/", "a/../../x/", "", false},
		{"tiles/", "/etc/", "", false},
		{"tiles/", "a//", "", false},
		{"tiles/", "./a/", "", false},
		{"tiles/", "*", "", false},
		{"tiles/", "a?", "", false},
		{"tiles/", "${aws:username}/", "", false},
		{"tiles/", "a\x00", "", false},
		{"tiles/", "a\\b", "", false},
		{"tiles/", "\xff", "", false},
		{"tiles/", strings.Repeat("a", MaxKeyLength), "", false},
		{"", "/", "", false},
	}
	for _, tt := range tests {
		c := &Client{cfg: Config{Bucket: "b-1", Prefix: tt.cfgPrefix}}
		got, err := c.scopedPrefix(tt.prefix)
		if tt.ok {
			if err != nil || got != tt.want {
				t.Errorf("scopedPrefix(%q) with Prefix %q = %q, %v; want %q", tt.prefix, tt.cfgPrefix, got, err, tt.want)
			}
			continue
		}
		if !errors.Is(err, ErrInvalidKey) {
			t.Errorf("scopedPrefix(%q) with Prefix %q error = %v, want ErrInvalidKey", tt.prefix, tt.cfgPrefix, err)
		}
	}
}

// policyResources parses a session policy and returns its statements' resources, checking the
// statements allow exactly s3:GetObject.
func policyResources(t testing.TB, policy string) []string {
	t.Helper()
	var doc struct {
		Version   string
		Statement []struct{ Effect, Action, Resource string }
	}
	if err := json.Unmarshal([]byte(policy), &doc); err != nil {
		t.Fatalf("policy %s: %v", policy, err)
	}
	if doc.Version != "2012-10-17" || len(doc.Statement) != 1 {
		t.Fatalf("policy %s: want one statement of version 2012-10-17", policy)
	}
	var res []string
	for _, s := range doc.Statement {
		if s.Effect != "Allow" || s.Action != "s3:GetObject" {
			t.Fatalf("policy %s: statement %+v, want Allow s3:GetObject", policy, s)
		}
		res = append(res, s.Resource)
	}
	return res
}

func TestScopedPolicy(t *testing.T) {
	tests := []struct{ roleARN, prefix, want string }{
		{"arn:aws:iam::123456789012:role/r", "tiles/u1/", "arn:aws:s3:::bkt/tiles/u1/*"},
		{"arn:aws-cn:iam::123456789012:role/r", "x", "arn:aws-cn:s3:::bkt/x*"},
		{"", "", "arn:aws:s3:::bkt/*"},
		{"arn:aws:iam::1:role/r", `q"uote/`, `arn:aws:s3:::bkt/q"uote/*`},
	}
	for _, tt := range tests {
		c := &Client{cfg: Config{Bucket: "bkt", RoleARN: tt.roleARN}}
		policy := c.scopedPolicy(tt.prefix)
		if len(policy) > maxSessionPolicy {
			t.Errorf("policy is %d bytes, more than STS accepts", len(policy))
		}
		if got := policyResources(t, policy); got[0] != tt.want {
			t.Errorf("scopedPolicy(%q) resource = %q, want %q", tt.prefix, got[0], tt.want)
		}
	}
}

// FuzzScopedPrefix checks that any prefix ScopedCredentials accepts gives a policy confined to
// the bucket under Config.Prefix, with no wildcard but the final one.
func FuzzScopedPrefix(f *testing.F) {
	for _, s := range []string{"", "user1/", "a/b/c", "../", "a/../b/", "*", "a?b", "${x}", "é/", "a//b", "\x00", ".", "a/./"} {
		f.Add(s)
	}
	c := &Client{cfg: Config{Bucket: "bkt", Prefix: "tiles/", RoleARN: "arn:aws:iam::1:role/r"}}
	f.Fuzz(func(t *testing.T, prefix string) {
		full, err := c.scopedPrefix(prefix)
		if err != nil {
			if !errors.Is(err, ErrInvalidKey) {
				t.Fatalf("scopedPrefix(%q) error %v does not wrap ErrInvalidKey", prefix, err)
			}
			return
		}
		if full != "tiles/"+prefix {
			t.Fatalf("scopedPrefix(%q) = %q", prefix, full)
		}
		for _, seg := range strings.Split(full, "/") {
			if seg == "." || seg == ".." {
				t.Fatalf("scopedPrefix(%q) accepted a dot segment", prefix)
			}
		}
		res := policyResources(t, c.scopedPolicy(full))[0]
		const base = "arn:aws:s3:::bkt/tiles/"
		if !strings.HasPrefix(res, base) || !strings.HasSuffix(res, "*") || strings.ContainsAny(res[:len(res)-1], "*?$") {
			t.Fatalf("scopedPrefix(%q): resource %q escapes %s", prefix, res, base)
		}
	})
}

const (
	testSecret = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYSECRETKEY"
	testToken  = "FwoGZXIvYXdzEJr//////////wEaDSESSIONTOKEN"
)

func TestScopedCredentialsRedacted(t *testing.T) {
	sc := ScopedCredentials{
		AccessKeyID: "ASIAEXAMPLE", SecretAccessKey: testSecret, SessionToken: testToken,
		Expires: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC), Bucket: "bkt", Prefix: "tiles/u1/", Region: "us-east-1",
	}
	var outs []string
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%X", "%d", "%T %v", "%10v", "%-v"} {
		outs = append(outs, verb+": "+fmt.Sprintf(verb, sc))
	}
	outs = append(outs, "ptr: "+fmt.Sprintf("%v %+v", &sc, &sc))
	outs = append(outs, "slice: "+fmt.Sprint([]ScopedCredentials{sc}))
	outs = append(outs, "map: "+fmt.Sprintf("%v", map[string]any{"c": sc}))
	var buf bytes.Buffer
	for _, h := range []slog.Handler{slog.NewTextHandler(&buf, nil), slog.NewJSONHandler(&buf, nil)} {
		l := slog.New(h)
		l.Info("issued", "creds", sc)
		l.Info("issued", "ptr", &sc)
		l.Info("issued", slog.Any("any", sc))
	}
	outs = append(outs, "slog: "+buf.String())
	for _, out := range outs {
		if strings.Contains(out, "SECRETKEY") || strings.Contains(out, "SESSIONTOKEN") {
			t.Errorf("secret printed: %s", out)
		}
	}
	if s := sc.String(); !strings.Contains(s, "ASIAEXAMPLE") || !strings.Contains(s, "REDACTED") || !strings.Contains(s, "tiles/u1/") {
		t.Errorf("String() = %s, want the access key ID, prefix and REDACTED", s)
	}
	if s := fmt.Sprintf("%#v", sc); !strings.HasPrefix(s, "privates3.ScopedCredentials{") || !strings.Contains(s, `"REDACTED"`) {
		t.Errorf("GoString() = %s", s)
	}
	if s := (ScopedCredentials{}).String(); strings.Contains(s, "REDACTED") {
		t.Errorf("String() of the zero value = %s, want no REDACTED for absent secrets", s)
	}
}

// TestStatusOf: the one status table of both handlers.
func TestStatusOf(t *testing.T) {
	scoped := fmt.Errorf("%w: scoped credentials: %w", ErrCredentials, ErrAccessDenied)
	tests := []struct {
		err  error
		want int
	}{
		{fmt.Errorf("x: %w", ErrInvalidKey), http.StatusBadRequest},
		{notFoundError("k"), http.StatusNotFound},
		{fmt.Errorf("x: %w", ErrInvalidOption), http.StatusInternalServerError},
		{fmt.Errorf("x: %w", ErrInvalidConfig), http.StatusInternalServerError},
		{fmt.Errorf("x: %w", ErrThrottled), http.StatusServiceUnavailable},
		{ErrClosed, http.StatusServiceUnavailable},
		{fmt.Errorf("x: %w", ErrTimeout), http.StatusGatewayTimeout},
		{context.DeadlineExceeded, http.StatusGatewayTimeout},
		{fmt.Errorf("x: %w", ErrAccessDenied), http.StatusForbidden},
		{scoped, http.StatusBadGateway}, // STS refused the Client: not the client's fault
		{fmt.Errorf("%w: %w", ErrCredentials, ErrTimeout), http.StatusGatewayTimeout},
		{fmt.Errorf("x: %w", ErrCredentials), http.StatusBadGateway},
		{ErrPreconditionFailed, http.StatusPreconditionFailed},
		{ErrRangeNotSatisfiable, http.StatusRequestedRangeNotSatisfiable},
		{errors.New("other"), http.StatusBadGateway},
	}
	for _, tt := range tests {
		if status := HTTPStatus(tt.err); status != tt.want {
			t.Errorf("HTTPStatus(%v) = %d, want %d", tt.err, status, tt.want)
		}
	}
}

// TestScopedStoreBounded: the remembered scoped credentials stay within max, dropping those no
// longer reusable first.
func TestScopedStoreBounded(t *testing.T) {
	now := time.Now()
	s := scopedState{max: 3}
	key := func(p string) scopedKey { return scopedKey{prefix: p, d: time.Hour} }
	s.store(key("fresh/"), ScopedCredentials{Expires: now.Add(50 * time.Minute)})
	s.store(key("stale/"), ScopedCredentials{Expires: now.Add(10 * time.Minute)})
	s.store(key("fresh2/"), ScopedCredentials{Expires: now.Add(59 * time.Minute)})
	if _, ok := s.lookup(key("stale/")); ok {
		t.Errorf("credentials with less than d/2 left are reused")
	}
	s.store(key("new/"), ScopedCredentials{Expires: now.Add(time.Hour)})
	if len(s.issued) != 3 {
		t.Errorf("%d entries, want at most %d", len(s.issued), s.max)
	}
	for _, p := range []string{"fresh/", "fresh2/", "new/"} {
		if _, ok := s.lookup(key(p)); !ok {
			t.Errorf("%s dropped while a stale entry was there", p)
		}
	}
	for i := range 10 {
		s.store(key(fmt.Sprintf("p%d/", i)), ScopedCredentials{Expires: now.Add(time.Hour)})
	}
	if len(s.issued) != 3 {
		t.Errorf("%d entries after 10 more, want %d", len(s.issued), s.max)
	}
}
