package privates3_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go"

	"github.com/privates3/privates3"
	"github.com/privates3/privates3/privates3test"
)

// fetch GETs u with hc and returns the status, the headers and the body.
func fetch(t *testing.T, hc *http.Client, u string) (int, http.Header, []byte) {
	t.Helper()
	resp, err := hc.Get(u)
	if err != nil {
		t.Fatalf("GET %s: %v", u, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("reading %s: %v", u, err)
	}
	return resp.StatusCode, resp.Header, body
}

// totalCalls returns how many S3 and STS requests srv received.
func totalCalls(srv *privates3test.Server) int {
	n := 0
	for _, op := range []string{privates3test.OpGetObject, privates3test.OpHeadObject, privates3test.OpPutObject,
		privates3test.OpDeleteObject, privates3test.OpAssumeRole, privates3test.OpGetCallerIdentity} {
		n += srv.Count(op)
	}
	return n
}

// TestPresignFetch proves that a presigned URL works for a plain http.Get (object bytes and the
// requested response overrides), and that S3 refuses it once anything signed is changed.
func TestPresignFetch(t *testing.T) {
	srv, c := newFake(t, func(cfg *privates3.Config) { cfg.Prefix = "maps/" })
	body := []byte("tile bytes \x00\x01\x02")
	srv.PutObject("tiles", "maps/3/4/2 +é.png", body, privates3test.ContentType("image/png"))

	opts := &privates3.PresignOptions{
		ResponseContentType:        "application/x-test",
		ResponseContentDisposition: `attachment; filename="2.png"`,
		ResponseCacheControl:       "private, max-age=60",
	}
	u, err := c.Presign(context.Background(), "3/4/2 +é.png", opts)
	if err != nil {
		t.Fatalf("Presign: %v", err)
	}
	status, h, got := fetch(t, http.DefaultClient, u.URL)
	if status != http.StatusOK || !bytes.Equal(got, body) {
		t.Fatalf("GET presigned URL = %d %q, want 200 with the object's bytes", status, got)
	}
	for name, want := range map[string]string{
		"Content-Type":        opts.ResponseContentType,
		"Content-Disposition": opts.ResponseContentDisposition,
		"Cache-Control":       opts.ResponseCacheControl,
	} {
		if h.Get(name) != want {
			t.Errorf("%s = %q, want %q", name, h.Get(name), want)
		}
	}
	// Without overrides the stored headers come back.
	plain, err := c.Presign(context.Background(), "3/4/2 +é.png", nil)
	if err != nil {
		t.Fatalf("Presign: %v", err)
	}
	if status, h, _ := fetch(t, http.DefaultClient, plain.URL); status != http.StatusOK || h.Get("Content-Type") != "image/png" {
		t.Errorf("GET URL without overrides = %d, Content-Type %q; want 200 image/png", status, h.Get("Content-Type"))
	}

	tampered := []struct {
		name string
		edit func(q url.Values, u *url.URL)
	}{
		{"signature byte changed", func(q url.Values, _ *url.URL) {
			sig := []byte(q.Get("X-Amz-Signature"))
			sig[len(sig)/2] = "01"[boolIndex(sig[len(sig)/2] == '0')]
			q.Set("X-Amz-Signature", string(sig))
		}},
		{"parameter added", func(q url.Values, _ *url.URL) { q.Set("response-content-language", "fr") }},
		{"override changed", func(q url.Values, _ *url.URL) { q.Set("response-content-type", "text/html") }},
		{"expiry extended", func(q url.Values, _ *url.URL) { q.Set("X-Amz-Expires", "604800") }},
		{"date moved", func(q url.Values, _ *url.URL) {
			q.Set("X-Amz-Date", u.SignedAt.Add(time.Minute).Format("20060102T150405Z"))
		}},
		{"token removed", func(q url.Values, _ *url.URL) { q.Del("X-Amz-Security-Token") }},
		{"other key", func(_ url.Values, u *url.URL) { u.Path = strings.Replace(u.Path, "/2 ", "/3 ", 1); u.RawPath = "" }},
	}
	for _, tt := range tampered {
		t.Run(tt.name, func(t *testing.T) {
			pu, err := url.Parse(u.URL)
			if err != nil {
				t.Fatal(err)
			}
			q := pu.Query()
			tt.edit(q, pu)
			pu.RawQuery = q.Encode()
			if pu.String() == u.URL {
				t.Fatal("the edit changed nothing")
			}
			if status, _, body := fetch(t, http.DefaultClient, pu.String()); status != http.StatusForbidden {
				t.Errorf("GET tampered URL = %d %s, want 403", status, body)
			}
		})
	}
}

func boolIndex(b bool) int {
	if b {
		return 1
	}
	return 0
}

// TestPresignWindow proves the stable URLs: byte-identical within a window, answered from memory
// without signing again, a new URL in the next window, and a signing time that is the window
// start.
func TestPresignWindow(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		srv, c := newFake(t, nil, privates3test.InProcess())
		srv.PutObject("tiles", "a.png", []byte("A"))
		ctx := context.Background()
		opts := &privates3.PresignOptions{Expiry: 20 * time.Minute, Window: 5 * time.Minute}

		time.Sleep(90 * time.Second) // not on a window boundary
		first, err := c.Presign(ctx, "a.png", opts)
		if err != nil {
			t.Fatalf("Presign: %v", err)
		}
		now := time.Now()
		if !first.SignedAt.Equal(now.Truncate(5*time.Minute)) || first.SignedAt.After(now) {
			t.Errorf("SignedAt = %v, want the window start before %v", first.SignedAt, now)
		}
		if want := first.SignedAt.Add(20 * time.Minute); !first.Deadline.Equal(want) {
			t.Errorf("Deadline = %v, want SignedAt+Expiry = %v", first.Deadline, want)
		}
		if q, _ := url.Parse(first.URL); q.Query().Get("X-Amz-Date") != first.SignedAt.UTC().Format("20060102T150405Z") {
			t.Errorf("X-Amz-Date = %q, want SignedAt %v", q.Query().Get("X-Amz-Date"), first.SignedAt)
		}

		for _, wait := range []time.Duration{0, time.Second, 3*time.Minute + 28*time.Second} {
			time.Sleep(wait) // up to 4m59s after the window start
			again, err := c.Presign(ctx, "a.png", opts)
			if err != nil {
				t.Fatalf("Presign: %v", err)
			}
			if again != first {
				t.Fatalf("Presign after %v = %+v, want the identical %+v", time.Since(first.SignedAt), again, first)
			}
		}
		if st := c.Stats(); st.Presigned != 1 || st.PresignCacheHits != 3 {
			t.Errorf("Stats Presigned=%d PresignCacheHits=%d, want 1 and 3", st.Presigned, st.PresignCacheHits)
		}
		// Other options are another URL.
		other, err := c.Presign(ctx, "a.png", &privates3.PresignOptions{Expiry: 20 * time.Minute, Window: 5 * time.Minute, ResponseCacheControl: "no-cache"})
		if err != nil || other.URL == first.URL {
			t.Errorf("Presign with another override = %v, %v; want a different URL", other.URL, err)
		}

		time.Sleep(time.Second) // the next window
		next, err := c.Presign(ctx, "a.png", opts)
		if err != nil {
			t.Fatalf("Presign: %v", err)
		}
		if next.URL == first.URL || !next.SignedAt.Equal(first.SignedAt.Add(5*time.Minute)) {
			t.Errorf("Presign in the next window = %+v, want a new URL signed at %v", next, first.SignedAt.Add(5*time.Minute))
		}
		if status, _, body := fetch(t, srv.Client(), next.URL); status != http.StatusOK || string(body) != "A" {
			t.Errorf("GET = %d %q, want 200 A", status, body)
		}
	})
}

// TestPresignDeadline proves that the fake accepts the URL until its Deadline and refuses it from
// then on.
func TestPresignDeadline(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		srv, c := newFake(t, nil, privates3test.InProcess())
		srv.PutObject("tiles", "a.png", []byte("A"))
		time.Sleep(42 * time.Second)
		u, err := c.Presign(context.Background(), "a.png", &privates3.PresignOptions{Expiry: 10 * time.Minute, Window: time.Minute})
		if err != nil {
			t.Fatalf("Presign: %v", err)
		}
		if min := time.Now().Add(9 * time.Minute); u.Deadline.Before(min) {
			t.Errorf("Deadline %v is less than Expiry-Window from now %v", u.Deadline, time.Now())
		}
		time.Sleep(time.Until(u.Deadline) - time.Second)
		if status, _, body := fetch(t, srv.Client(), u.URL); status != http.StatusOK {
			t.Fatalf("GET 1s before the deadline = %d %s, want 200", status, body)
		}
		time.Sleep(time.Second)
		if status, _, _ := fetch(t, srv.Client(), u.URL); status != http.StatusForbidden {
			t.Errorf("GET at the deadline = %d, want 403", status)
		}
	})
}

// TestPresignCredentialsNearExpiry proves that Presign never returns a deadline later than the
// signing token's expiry: it refreshes credentials that would cut the guaranteed minimum short,
// and when it cannot, the deadline says so.
func TestPresignCredentialsNearExpiry(t *testing.T) {
	opts := &privates3.PresignOptions{Expiry: 30 * time.Minute, Window: time.Minute}
	tests := []struct {
		name        string
		session     time.Duration
		wait        time.Duration // after New, before Presign
		stsFails    bool
		fullLife    bool // Deadline = SignedAt+Expiry
		maxSTSCalls int  // AssumeRole calls made by Presign
	}{
		{name: "fresh credentials", session: time.Hour, wait: time.Minute, fullLife: true},
		{name: "refreshed first", session: time.Hour, wait: 40 * time.Minute, fullLife: true, maxSTSCalls: 1},
		{name: "refresh fails", session: time.Hour, wait: 40 * time.Minute, stsFails: true, maxSTSCalls: 1},
		{name: "session shorter than expiry", session: 15 * time.Minute, wait: 0, maxSTSCalls: 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				srv := privates3test.NewServer(privates3test.InProcess())
				defer srv.Close()
				srv.PutObject("tiles", "a.png", []byte("A"))
				c := newFakeClient(t, srv, func(cfg *privates3.Config) {
					cfg.SessionDuration = tt.session
					cfg.RefreshBefore = 5 * time.Minute
				})
				defer c.Close()
				tokenExpiry := time.Now().Add(tt.session) // of the credentials New fetched
				if tt.stsFails {
					// Not retryable, so that one refresh is one request.
					srv.InjectFault(privates3test.Fault{Op: privates3test.OpAssumeRole, Status: http.StatusForbidden, Code: "AccessDenied"})
				}
				time.Sleep(tt.wait)
				calls := srv.Count(privates3test.OpAssumeRole)
				var u privates3.PresignedURL
				for range 20 { // repeated calls: STS traffic must not grow with them
					var err error
					if u, err = c.Presign(context.Background(), "a.png", opts); err != nil {
						t.Fatalf("Presign: %v", err)
					}
				}
				if n := srv.Count(privates3test.OpAssumeRole) - calls; n > tt.maxSTSCalls {
					t.Errorf("Presign made %d AssumeRole calls, want at most %d", n, tt.maxSTSCalls)
				}
				full := u.SignedAt.Add(opts.Expiry)
				if tt.fullLife && !u.Deadline.Equal(full) {
					t.Errorf("Deadline = %v, want SignedAt+Expiry = %v", u.Deadline, full)
				}
				if !tt.fullLife {
					if !u.Deadline.Equal(tokenExpiry) {
						t.Errorf("Deadline = %v, want the token's expiry %v", u.Deadline, tokenExpiry)
					}
					srv.ClearFaults()
				}
				// The URL works until its deadline and not after: the deadline is never later
				// than the token's expiry.
				time.Sleep(time.Until(u.Deadline) - time.Second)
				if status, _, body := fetch(t, srv.Client(), u.URL); status != http.StatusOK {
					t.Fatalf("GET 1s before the deadline = %d %s, want 200", status, body)
				}
				time.Sleep(time.Second)
				// S3 says why: the URL's own expiry (403 AccessDenied) or its token's (400
				// ExpiredToken).
				wantStatus, wantCode := http.StatusForbidden, "<Code>AccessDenied</Code>"
				if !tt.fullLife {
					wantStatus, wantCode = http.StatusBadRequest, "<Code>ExpiredToken</Code>"
				}
				if status, _, body := fetch(t, srv.Client(), u.URL); status != wantStatus || !bytes.Contains(body, []byte(wantCode)) {
					t.Errorf("GET at the deadline = %d %s, want %d %s", status, body, wantStatus, wantCode)
				}
				c.Close()
			})
		})
	}
}

// TestPresignInvalidInput proves that bad keys and options give the documented errors and send
// nothing to STS or S3.
func TestPresignInvalidInput(t *testing.T) {
	srv, c := newFake(t, func(cfg *privates3.Config) { cfg.Prefix = "maps/" })
	srv.ResetCounts()
	tests := []struct {
		name string
		key  string
		opts *privates3.PresignOptions
		want error
	}{
		{"empty key", "", nil, privates3.ErrInvalidKey},
		{"dot-dot", "../secret", nil, privates3.ErrInvalidKey},
		{"empty segment", "a//b", nil, privates3.ErrInvalidKey},
		{"control byte", "a\nb", nil, privates3.ErrInvalidKey},
		{"backslash", `a\b`, nil, privates3.ErrInvalidKey},
		{"too long", strings.Repeat("k", privates3.MaxKeyLength), nil, privates3.ErrInvalidKey},
		{"invalid UTF-8", "\xff", nil, privates3.ErrInvalidKey},
		{"negative expiry", "a", &privates3.PresignOptions{Expiry: -time.Minute}, privates3.ErrInvalidOption},
		{"expiry over 7 days", "a", &privates3.PresignOptions{Expiry: privates3.MaxPresignExpiry + time.Second}, privates3.ErrInvalidOption},
		{"expiry under a second", "a", &privates3.PresignOptions{Expiry: time.Millisecond}, privates3.ErrInvalidOption},
		{"window not below expiry", "a", &privates3.PresignOptions{Expiry: time.Hour, Window: 2 * time.Hour}, privates3.ErrInvalidOption},
		{"negative window", "a", &privates3.PresignOptions{Window: -time.Hour}, privates3.ErrInvalidOption},
		{"header injection", "a", &privates3.PresignOptions{ResponseContentType: "a\r\nb: c"}, privates3.ErrInvalidOption},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u, err := c.Presign(context.Background(), tt.key, tt.opts)
			if !errors.Is(err, tt.want) || u.URL != "" {
				t.Errorf("Presign = %q, %v; want an error wrapping %v", u.URL, err, tt.want)
			}
		})
	}
	if n := totalCalls(srv); n != 0 {
		t.Errorf("invalid input made %d requests to S3/STS, want 0", n)
	}
	if st := c.Stats(); st.Presigned != 0 || st.PresignCacheHits != 0 {
		t.Errorf("Stats = %+v, want no presigned URLs", st)
	}
	c.Close()
	if _, err := c.Presign(context.Background(), "a", nil); !errors.Is(err, privates3.ErrClosed) {
		t.Errorf("Presign after Close: %v, want ErrClosed", err)
	}
}

// scopedS3 returns a plain SDK S3 client for srv using sc.
func scopedS3(srv *privates3test.Server, sc privates3.ScopedCredentials) *s3.Client {
	cfg := srv.AWSConfig()
	cfg.Region = sc.Region
	cfg.Credentials = aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) {
		return aws.Credentials{AccessKeyID: sc.AccessKeyID, SecretAccessKey: sc.SecretAccessKey,
			SessionToken: sc.SessionToken, CanExpire: true, Expires: sc.Expires}, nil
	})
	return s3.NewFromConfig(cfg, func(o *s3.Options) {
		o.UsePathStyle = true
		o.RetryMaxAttempts = 1
	})
}

// getObject reads bucket/key with s3c and returns the body or the S3 error code.
func getObject(s3c *s3.Client, bucket, key string) (string, string) {
	out, err := s3c.GetObject(context.Background(), &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)})
	if err != nil {
		var ae smithy.APIError
		if errors.As(err, &ae) {
			return "", ae.ErrorCode()
		}
		return "", err.Error()
	}
	defer out.Body.Close()
	b, _ := io.ReadAll(out.Body)
	return string(b), ""
}

// TestScopedCredentialsAccess proves that scoped credentials, used with a plain SDK client, read
// under their prefix and get AccessDenied elsewhere.
func TestScopedCredentialsAccess(t *testing.T) {
	srv := privates3test.NewServer()
	defer srv.Close()
	for _, k := range []string{"maps/u1/a", "maps/u1/sub/b", "maps/u10/c", "maps/u2/d", "other/e", "maps/u1"} {
		srv.PutObject("tiles", k, []byte("body of "+k))
	}
	c := newFakeClient(t, srv, func(cfg *privates3.Config) { cfg.Prefix = "maps/" })
	sc, err := c.ScopedCredentials(context.Background(), "u1/", 20*time.Minute)
	if err != nil {
		t.Fatalf("ScopedCredentials: %v", err)
	}
	if sc.Bucket != "tiles" || sc.Prefix != "maps/u1/" || sc.Region != srv.Region() || !strings.HasPrefix(sc.AccessKeyID, "ASIA") {
		t.Errorf("ScopedCredentials = %v, want bucket tiles, prefix maps/u1/, region %s, ASIA key", sc, srv.Region())
	}
	if d := time.Until(sc.Expires); d < 19*time.Minute || d > 21*time.Minute {
		t.Errorf("Expires in %v, want about 20m", d)
	}
	s3c := scopedS3(srv, sc)
	for _, tt := range []struct{ key, code string }{
		{"maps/u1/a", ""},
		{"maps/u1/sub/b", ""},
		{"maps/u10/c", "AccessDenied"},
		{"maps/u2/d", "AccessDenied"},
		{"other/e", "AccessDenied"},
		{"maps/u1", "AccessDenied"},
	} {
		body, code := getObject(s3c, "tiles", tt.key)
		if code != tt.code || (code == "" && body != "body of "+tt.key) {
			t.Errorf("GetObject %s = %q, code %q; want code %q", tt.key, body, code, tt.code)
		}
	}
	// Writing is not allowed either.
	_, err = s3c.PutObject(context.Background(), &s3.PutObjectInput{Bucket: aws.String("tiles"), Key: aws.String("maps/u1/new"), Body: strings.NewReader("x")})
	var ae smithy.APIError
	if !errors.As(err, &ae) || ae.ErrorCode() != "AccessDenied" {
		t.Errorf("PutObject with scoped credentials: %v, want AccessDenied", err)
	}
	// The empty prefix is everything under Config.Prefix.
	all, err := c.ScopedCredentials(context.Background(), "", 0)
	if err != nil {
		t.Fatalf("ScopedCredentials(\"\"): %v", err)
	}
	if all.Prefix != "maps/" {
		t.Errorf("Prefix = %q, want maps/", all.Prefix)
	}
	s3all := scopedS3(srv, all)
	if _, code := getObject(s3all, "tiles", "maps/u2/d"); code != "" {
		t.Errorf("GetObject maps/u2/d with prefix maps/: %s", code)
	}
	if _, code := getObject(s3all, "tiles", "other/e"); code != "AccessDenied" {
		t.Errorf("GetObject other/e with prefix maps/: code %q, want AccessDenied", code)
	}
}

// TestScopedCredentialsShared proves that concurrent callers for one prefix share one STS call,
// that a caller who gives up does not fail the others, and that credentials are reused until
// less than half their duration is left.
func TestScopedCredentialsShared(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		srv, c := newFake(t, nil, privates3test.InProcess())
		before := srv.Count(privates3test.OpAssumeRole)
		srv.InjectFault(privates3test.Fault{Op: privates3test.OpAssumeRole, Latency: 2 * time.Second, Times: 1})

		// The first caller starts the STS call, then gives up.
		ctx, cancel := context.WithCancel(context.Background())
		firstErr := make(chan error, 1)
		go func() {
			_, err := c.ScopedCredentials(ctx, "u1/", time.Hour)
			firstErr <- err
		}()
		synctest.Wait()

		const n = 50
		results := make([]privates3.ScopedCredentials, n)
		errs := make([]error, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() { results[i], errs[i] = c.ScopedCredentials(context.Background(), "u1/", time.Hour) })
		}
		synctest.Wait()
		cancel()
		if err := <-firstErr; !errors.Is(err, context.Canceled) {
			t.Errorf("cancelled caller: %v, want context.Canceled", err)
		}
		wg.Wait()
		for i := range n {
			if errs[i] != nil || results[i].AccessKeyID != results[0].AccessKeyID || results[i].SessionToken != results[0].SessionToken {
				t.Fatalf("caller %d: %v, %v; want the shared credentials", i, results[i], errs[i])
			}
		}
		if got := srv.Count(privates3test.OpAssumeRole) - before; got != 1 {
			t.Errorf("%d concurrent callers made %d AssumeRole calls, want 1", n+1, got)
		}

		// Reused while at least half the duration is left, renewed after.
		time.Sleep(29 * time.Minute)
		again, err := c.ScopedCredentials(context.Background(), "u1/", time.Hour)
		if err != nil || again.AccessKeyID != results[0].AccessKeyID {
			t.Errorf("after 29m: %v, %v; want the same credentials", again, err)
		}
		// Another duration or prefix is another session.
		if other, err := c.ScopedCredentials(context.Background(), "u2/", time.Hour); err != nil || other.AccessKeyID == results[0].AccessKeyID {
			t.Errorf("other prefix: %v, %v; want other credentials", other, err)
		}
		time.Sleep(2 * time.Minute)
		renewed, err := c.ScopedCredentials(context.Background(), "u1/", time.Hour)
		if err != nil || renewed.AccessKeyID == results[0].AccessKeyID {
			t.Errorf("after 31m: %v, %v; want new credentials", renewed, err)
		}
		if got := srv.Count(privates3test.OpAssumeRole) - before; got != 3 {
			t.Errorf("AssumeRole calls = %d, want 3", got)
		}
		if got := c.Stats().ScopedCredentials; got != 3 {
			t.Errorf("Stats.ScopedCredentials = %d, want 3", got)
		}

		// A failed call is not remembered: the next caller tries again.
		srv.InjectFault(privates3test.Fault{Op: privates3test.OpAssumeRole, Status: http.StatusForbidden, Code: "AccessDenied", Times: 1})
		if _, err := c.ScopedCredentials(context.Background(), "u3/", time.Hour); !errors.Is(err, privates3.ErrAccessDenied) {
			t.Errorf("with STS denying: %v, want ErrAccessDenied", err)
		}
		if _, err := c.ScopedCredentials(context.Background(), "u3/", time.Hour); err != nil {
			t.Errorf("after the fault: %v", err)
		}
		c.Close()
	})
}

// TestScopedCredentialsInvalidInput proves that bad prefixes and durations are errors without an
// STS call.
func TestScopedCredentialsInvalidInput(t *testing.T) {
	srv, c := newFake(t, func(cfg *privates3.Config) { cfg.Prefix = "maps/" })
	srv.ResetCounts()
	tests := []struct {
		prefix string
		d      time.Duration
		want   error
	}{
		{"../", time.Hour, privates3.ErrInvalidKey},
		{"..", time.Hour, privates3.ErrInvalidKey},
		{"u1/../../", time.Hour, privates3.ErrInvalidKey},
		{"/abs", time.Hour, privates3.ErrInvalidKey},
		{"u*", time.Hour, privates3.ErrInvalidKey},
		{"u?/", time.Hour, privates3.ErrInvalidKey},
		{"${aws:userid}/", time.Hour, privates3.ErrInvalidKey},
		{"u1\x00/", time.Hour, privates3.ErrInvalidKey},
		{"u1/", time.Minute, privates3.ErrInvalidOption},
		{"u1/", -time.Hour, privates3.ErrInvalidOption},
		{"u1/", 13 * time.Hour, privates3.ErrInvalidOption},
	}
	for _, tt := range tests {
		sc, err := c.ScopedCredentials(context.Background(), tt.prefix, tt.d)
		if !errors.Is(err, tt.want) || sc.AccessKeyID != "" {
			t.Errorf("ScopedCredentials(%q, %v) = %v, %v; want an error wrapping %v", tt.prefix, tt.d, sc, err, tt.want)
		}
	}
	if n := totalCalls(srv); n != 0 {
		t.Errorf("invalid input made %d requests, want 0", n)
	}

	// Without RoleARN there is no role to narrow.
	cfg := srv.Config("tiles")
	cfg.RoleARN = ""
	base, err := privates3.New(context.Background(), cfg)
	if err != nil {
		t.Fatalf("New without RoleARN: %v", err)
	}
	defer base.Close()
	if _, err := base.ScopedCredentials(context.Background(), "u1/", 0); !errors.Is(err, privates3.ErrInvalidConfig) {
		t.Errorf("ScopedCredentials without RoleARN: %v, want ErrInvalidConfig", err)
	}
	c.Close()
	if _, err := c.ScopedCredentials(context.Background(), "u1/", 0); !errors.Is(err, privates3.ErrClosed) {
		t.Errorf("ScopedCredentials after Close: %v, want ErrClosed", err)
	}
}

// TestCredentialsHandler proves the JSON handler's answers: GET only, refused without
// authorization, the AWS JavaScript SDK's field names with Cache-Control: no-store, fixed error
// texts, and no secret in any log line.
func TestCredentialsHandler(t *testing.T) {
	srv := privates3test.NewServer()
	defer srv.Close()
	srv.PutObject("tiles", "maps/u1/a", []byte("A"))
	var logs syncBuffer
	c := newFakeClient(t, srv, func(cfg *privates3.Config) {
		cfg.Prefix = "maps/"
		cfg.Logger = slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	})
	authorize := func(r *http.Request) (string, error) {
		switch user := r.Header.Get("X-User"); user {
		case "":
			return "", errors.New("no user")
		case "evil":
			return "../", nil // a buggy hook: the prefix is still checked
		default:
			return user + "/", nil
		}
	}
	h := c.CredentialsHandler(&privates3.CredentialsHandlerOptions{Authorize: authorize, Duration: 30 * time.Minute})
	var secrets []string
	tests := []struct {
		name   string
		h      http.Handler
		method string
		user   string
		fault  *privates3test.Fault
		status int
		body   string // exact body of errors
	}{
		{name: "ok", h: h, method: "GET", user: "u1", status: 200},
		{name: "reused", h: h, method: "GET", user: "u1", status: 200},
		{name: "POST", h: h, method: "POST", user: "u1", status: 405, body: "Method Not Allowed\n"},
		{name: "HEAD", h: h, method: "HEAD", user: "u1", status: 405},
		{name: "unauthorized", h: h, method: "GET", status: 403, body: "Forbidden\n"},
		{name: "nil options", h: c.CredentialsHandler(nil), method: "GET", user: "u1", status: 403, body: "Forbidden\n"},
		{name: "bad prefix from hook", h: h, method: "GET", user: "evil", status: 500, body: "Internal Server Error\n"},
		{name: "STS throttling", h: h, method: "GET", user: "u2", status: 503, body: "Service Unavailable\n",
			fault: &privates3test.Fault{Op: privates3test.OpAssumeRole, Status: 400, Code: "Throttling"}},
		{name: "STS denied", h: h, method: "GET", user: "u3", status: 502, body: "Bad Gateway\n",
			fault: &privates3test.Fault{Op: privates3test.OpAssumeRole, Status: 403, Code: "AccessDenied"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.fault != nil {
				defer srv.InjectFault(*tt.fault)()
			}
			calls := srv.Count(privates3test.OpAssumeRole)
			r := httptest.NewRequest(tt.method, "/credentials", nil)
			if tt.user != "" {
				r.Header.Set("X-User", tt.user)
			}
			w := httptest.NewRecorder()
			tt.h.ServeHTTP(w, r)
			if w.Code != tt.status {
				t.Fatalf("status = %d (%s), want %d", w.Code, w.Body, tt.status)
			}
			if cc := w.Header().Get("Cache-Control"); cc != "no-store" {
				t.Errorf("Cache-Control = %q, want no-store", cc)
			}
			if tt.status == 405 && w.Header().Get("Allow") != "GET" {
				t.Errorf("Allow = %q, want GET", w.Header().Get("Allow"))
			}
			if tt.status == 503 && w.Header().Get("Retry-After") == "" {
				t.Error("503 without Retry-After")
			}
			if tt.status == 403 || tt.status == 405 || tt.status == 500 {
				if n := srv.Count(privates3test.OpAssumeRole) - calls; n != 0 {
					t.Errorf("refused request made %d AssumeRole calls", n)
				}
			}
			if tt.status != 200 {
				if tt.body != "" && w.Body.String() != tt.body {
					t.Errorf("body = %q, want %q", w.Body, tt.body)
				}
				return
			}
			if ct := w.Header().Get("Content-Type"); ct != "application/json" {
				t.Errorf("Content-Type = %q", ct)
			}
			var got map[string]string
			if err := json.Unmarshal(w.Body.Bytes(), &got); err != nil {
				t.Fatalf("body %s: %v", w.Body, err)
			}
			for _, k := range []string{"accessKeyId", "secretAccessKey", "sessionToken", "expiration", "bucket", "region", "prefix"} {
				if got[k] == "" {
					t.Errorf("field %s missing in %v", k, mapKeys(got))
				}
			}
			if len(got) != 7 {
				t.Errorf("fields %v, want exactly the 7 documented", mapKeys(got))
			}
			if got["bucket"] != "tiles" || got["prefix"] != "maps/"+tt.user+"/" || got["region"] != srv.Region() {
				t.Errorf("bucket, prefix, region = %s, %s, %s", got["bucket"], got["prefix"], got["region"])
			}
			exp, err := time.Parse(time.RFC3339, got["expiration"])
			if d := time.Until(exp); err != nil || d < 29*time.Minute || d > 31*time.Minute {
				t.Errorf("expiration %q (%v), want about 30m from now", got["expiration"], err)
			}
			secrets = append(secrets, got["secretAccessKey"], got["sessionToken"])
			// The credentials work for the prefix.
			sc := privates3.ScopedCredentials{AccessKeyID: got["accessKeyId"], SecretAccessKey: got["secretAccessKey"],
				SessionToken: got["sessionToken"], Expires: exp, Region: got["region"]}
			if body, code := getObject(scopedS3(srv, sc), "tiles", "maps/u1/a"); body != "A" {
				t.Errorf("GetObject with the handler's credentials: %q %s", body, code)
			}
		})
	}
	if n := c.Stats().ScopedCredentials; n != 1 {
		t.Errorf("Stats.ScopedCredentials = %d, want 1 (the second request reuses)", n)
	}
	c.Close()
	out := logs.String()
	if !strings.Contains(out, "Throttling") || !strings.Contains(out, "no user") {
		t.Errorf("the log does not name the failures:\n%s", out)
	}
	secrets = append(secrets, srv.BaseCredentials().SecretAccessKey)
	for _, s := range secrets {
		if s != "" && strings.Contains(out, s) {
			t.Errorf("log contains a secret:\n%s", out)
		}
	}
}

func mapKeys(m map[string]string) []string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	return ks
}
