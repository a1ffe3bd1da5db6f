package privates3test_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/privates3/privates3/privates3test"
)

// Tests of the fake's own controls (clock, roles, faults, synthetic objects, lifecycle), which
// have no counterpart on a real endpoint.

func TestPresignedExpiresOnFakeClock(t *testing.T) {
	srv := newServer(t, "b1", "k", "v")
	u := presignBase(srv, "/b1/k", 10*time.Minute)
	get := func() (int, string) { return httpGet(t, srv, u) }
	if code, body := get(); code != 200 {
		t.Fatalf("fresh URL: %d %s", code, body)
	}
	srv.Advance(9 * time.Minute)
	if code, body := get(); code != 200 {
		t.Fatalf("URL after 9 of 10 minutes: %d %s", code, body)
	}
	srv.Advance(time.Minute)
	if code, body := get(); code != 403 || !strings.Contains(body, "<Message>Request has expired</Message>") {
		t.Fatalf("URL after 10 minutes: %d %s, want 403 Request has expired", code, body)
	}
	srv.Advance(-10 * time.Minute)
	if code, body := get(); code != 200 {
		t.Fatalf("after Advance(-10m): %d %s", code, body)
	}
	if d := time.Until(srv.Now()).Abs(); d > time.Second {
		t.Errorf("Now is %v off real time after Advance(-10m)", d)
	}
}

func TestPresignedExpiresBounds(t *testing.T) {
	srv := newServer(t, "b1", "k", "v")
	u := presignBase(srv, "/b1/k", time.Minute)
	for _, c := range []struct {
		expires string
		status  int
	}{{"1", 403 /* signature covers Expires */}, {"0", 400}, {"-1", 400}, {"604801", 400}, {"x", 400}, {"99999999999999999999", 400}} {
		v := strings.Replace(u, "X-Amz-Expires=60", "X-Amz-Expires="+c.expires, 1)
		resp, err := srv.Client().Get(v)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != c.status {
			t.Errorf("X-Amz-Expires=%s: %d %s, want %d", c.expires, resp.StatusCode, b, c.status)
		}
	}
}

func TestRoles(t *testing.T) {
	srv := privates3test.NewServer()
	defer srv.Close()
	_, stsc := sdkClients(srv)
	ctx := context.Background()
	short := srv.AddRole(privates3test.Role{Name: "short", Policy: `{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"s3:GetObject","Resource":"*"}}`})
	ext := srv.AddRole(privates3test.Role{Name: "ext", ExternalID: "secret-id", MaxSessionDuration: 2 * time.Hour})
	for _, c := range []struct {
		name string
		in   sts.AssumeRoleInput
		code string
	}{
		{"default duration", sts.AssumeRoleInput{RoleArn: &short}, ""},
		{"duration at the role's maximum", sts.AssumeRoleInput{RoleArn: &short, DurationSeconds: aws.Int32(3600)}, ""},
		{"duration above the role's maximum", sts.AssumeRoleInput{RoleArn: &short, DurationSeconds: aws.Int32(3601)}, "ValidationError"},
		{"external ID missing", sts.AssumeRoleInput{RoleArn: &ext}, "AccessDenied"},
		{"external ID wrong", sts.AssumeRoleInput{RoleArn: &ext, ExternalId: aws.String("other-id")}, "AccessDenied"},
		{"external ID right", sts.AssumeRoleInput{RoleArn: &ext, ExternalId: aws.String("secret-id"), DurationSeconds: aws.Int32(7200)}, ""},
		{"session name at 64", sts.AssumeRoleInput{RoleArn: &short, RoleSessionName: aws.String(strings.Repeat("a", 64))}, ""},
		{"session name with all allowed characters", sts.AssumeRoleInput{RoleArn: &short, RoleSessionName: aws.String("aZ09_+=,.@-")}, ""},
		{"session name with a slash", sts.AssumeRoleInput{RoleArn: &short, RoleSessionName: aws.String("a/b")}, "ValidationError"},
		{"policy of exactly 2048 bytes", sts.AssumeRoleInput{RoleArn: &short, Policy: aws.String(policyOfSize(2048))}, ""},
		{"policy of 2049 bytes", sts.AssumeRoleInput{RoleArn: &short, Policy: aws.String(policyOfSize(2049))}, "ValidationError"},
		{"policy with a principal", sts.AssumeRoleInput{RoleArn: &short, Policy: aws.String(`{"Version":"2012-10-17","Statement":{"Effect":"Allow","Principal":"*","Action":"s3:*","Resource":"*"}}`)}, "MalformedPolicyDocument"},
	} {
		t.Run(c.name, func(t *testing.T) {
			in := c.in
			if in.RoleSessionName == nil {
				in.RoleSessionName = aws.String("session")
			}
			out, err := stsc.AssumeRole(ctx, &in)
			if apiCode(err) != c.code {
				t.Fatalf("AssumeRole: %v, want code %q", err, c.code)
			}
			if err == nil && in.DurationSeconds != nil {
				if d := out.Credentials.Expiration.Sub(srv.Now()); (d - time.Duration(*in.DurationSeconds)*time.Second).Abs() > 2*time.Second {
					t.Errorf("credentials expire in %v, want %ds", d, *in.DurationSeconds)
				}
			}
		})
	}
	t.Run("no role chaining", func(t *testing.T) {
		_, out := assume(t, srv, &sts.AssumeRoleInput{RoleArn: &short})
		cfg := srv.AWSConfig()
		cfg.RetryMaxAttempts = 1
		cfg.Credentials = aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) {
			c := out.Credentials
			return aws.Credentials{AccessKeyID: *c.AccessKeyId, SecretAccessKey: *c.SecretAccessKey, SessionToken: *c.SessionToken}, nil
		})
		_, err := sts.NewFromConfig(cfg).AssumeRole(ctx, &sts.AssumeRoleInput{RoleArn: &short, RoleSessionName: aws.String("chained")})
		if apiCode(err) != "AccessDenied" {
			t.Errorf("AssumeRole with role credentials: %v, want AccessDenied", err)
		}
	})
}

// policyOfSize returns a valid policy document of exactly n bytes (n >= 120).
func policyOfSize(n int) string {
	const head = `{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"s3:GetObject","Resource":"arn:aws:s3:::b/`
	const tail = `"}}`
	return head + strings.Repeat("a", n-len(head)-len(tail)) + tail
}

func TestAddRolePolicies(t *testing.T) {
	srv := privates3test.NewServer()
	defer srv.Close()
	for _, k := range []string{"pub/a.txt", "pub/b.png", "priv/c.txt", "pub/sub/d.txt"} {
		srv.PutObject("b1", k, []byte(k))
	}
	for _, c := range []struct {
		name    string
		policy  string
		allowed []string // of the keys above
	}{
		{"array resources", `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["s3:GetObject"],"Resource":["arn:aws:s3:::b1/pub/a.txt","arn:aws:s3:::b1/priv/*"]}]}`, []string{"pub/a.txt", "priv/c.txt"}},
		{"star spans slashes", `{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"s3:GetObject","Resource":"arn:aws:s3:::b1/pub/*.txt"}}`, []string{"pub/a.txt", "pub/sub/d.txt"}},
		{"question mark", `{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"s3:GetObject","Resource":"arn:aws:s3:::b1/pub/?.png"}}`, []string{"pub/b.png"}},
		{"deny wins", `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:*","Resource":"*"},{"Effect":"Deny","Action":"s3:Get*","Resource":"arn:aws:s3:::b1/pub/*"}]}`, []string{"priv/c.txt"}},
		{"NotResource", `{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"s3:GetObject","NotResource":"arn:aws:s3:::b1/priv/*"}}`, []string{"pub/a.txt", "pub/b.png", "pub/sub/d.txt"}},
		{"NotAction", `{"Version":"2012-10-17","Statement":{"Effect":"Allow","NotAction":"s3:PutObject","Resource":"arn:aws:s3:::b1/pub/a.txt"}}`, []string{"pub/a.txt"}},
		{"action case-insensitive", `{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"S3:GETOBJECT","Resource":"arn:aws:s3:::b1/pub/a.txt"}}`, []string{"pub/a.txt"}},
		{"resource case-sensitive", `{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"s3:GetObject","Resource":"arn:aws:s3:::b1/PUB/*"}}`, nil},
		{"condition ignored", `{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"s3:GetObject","Resource":"*","Condition":{"Bool":{"aws:SecureTransport":"true"}}}}`, nil},
		{"no statement matches", `{"Version":"2012-10-17","Statement":[]}`, nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			arn := srv.AddRole(privates3test.Role{Name: "r-" + strings.ReplaceAll(c.name, " ", "-"), Policy: c.policy})
			s3c, _ := assume(t, srv, &sts.AssumeRoleInput{RoleArn: &arn})
			for _, k := range []string{"pub/a.txt", "pub/b.png", "priv/c.txt", "pub/sub/d.txt"} {
				_, err := s3c.HeadObject(context.Background(), &s3.HeadObjectInput{Bucket: aws.String("b1"), Key: aws.String(k)})
				want := false
				for _, a := range c.allowed {
					want = want || a == k
				}
				if (err == nil) != want {
					t.Errorf("HeadObject %s: %v, want allowed=%v", k, err, want)
				}
			}
		})
	}
	t.Run("invalid role panics", func(t *testing.T) {
		for _, r := range []privates3test.Role{
			{Name: ""}, {Name: "a b"}, {Name: "x", Policy: "{"}, {Name: "x", MaxSessionDuration: 13 * time.Hour},
		} {
			func() {
				defer func() {
					if recover() == nil {
						t.Errorf("AddRole(%+v) did not panic", r)
					}
				}()
				srv.AddRole(r)
			}()
		}
	})
}

func TestFaults(t *testing.T) {
	srv := privates3test.NewServer()
	defer srv.Close()
	srv.PutObject("b1", "a", []byte("a"))
	srv.PutObject("b1", "b", []byte("b"))
	s3c, stsc := sdkClients(srv)
	ctx := context.Background()
	get := func(key string) error { return getObject(ctx, s3c, "b1", key) }
	status := func(err error) int {
		var re interface{ HTTPStatusCode() int }
		if errors.As(err, &re) {
			return re.HTTPStatusCode()
		}
		return 0
	}

	srv.InjectFault(privates3test.Fault{Op: privates3test.OpGetObject, Key: "a", Times: 2, Status: 503, Code: "SlowDown"})
	for i, want := range []string{"SlowDown", "SlowDown", ""} {
		if err := get("a"); apiCode(err) != want || (want != "" && status(err) != 503) {
			t.Errorf("GetObject a #%d: %v, want %q", i, err, want)
		}
	}
	if err := get("b"); err != nil {
		t.Errorf("GetObject b (no fault for it): %v", err)
	}
	if n := srv.CountKey(privates3test.OpGetObject, "a"); n != 3 {
		t.Errorf("CountKey(GetObject, a) = %d, want 3 (faulted requests count)", n)
	}

	remove := srv.InjectFault(privates3test.Fault{Op: privates3test.OpAssumeRole, Status: 400, Code: "Throttling"})
	_, err := stsc.AssumeRole(ctx, &sts.AssumeRoleInput{RoleArn: aws.String(srv.ReaderRole("b1")), RoleSessionName: aws.String("ss")})
	if apiCode(err) != "Throttling" {
		t.Errorf("AssumeRole with a Throttling fault: %v", err)
	}
	if _, err := stsc.GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{}); err != nil {
		t.Errorf("GetCallerIdentity (other op): %v", err)
	}
	remove()
	remove()
	if _, err := stsc.AssumeRole(ctx, &sts.AssumeRoleInput{RoleArn: aws.String(srv.ReaderRole("b1")), RoleSessionName: aws.String("ss")}); err != nil {
		t.Errorf("AssumeRole after remove: %v", err)
	}

	srv.InjectFault(privates3test.Fault{Status: 500})
	if err := get("b"); apiCode(err) != "InternalError" || status(err) != 500 {
		t.Errorf("GetObject with an all-operations fault: %v, want 500 InternalError", err)
	}
	if _, err := stsc.GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{}); apiCode(err) != "InternalFailure" {
		t.Errorf("GetCallerIdentity with an all-operations fault: %v, want InternalFailure", err)
	}
	srv.ClearFaults()
	if err := get("b"); err != nil {
		t.Errorf("GetObject after ClearFaults: %v", err)
	}

	srv.InjectFault(privates3test.Fault{Op: privates3test.OpGetObject, Times: 1, Drop: true})
	if err := get("a"); err == nil || apiCode(err) != "" {
		t.Errorf("GetObject with a Drop fault: %v, want a transport error", err)
	}
	if err := get("a"); err != nil {
		t.Errorf("GetObject after the Drop fault: %v", err)
	}
}

func TestFaultLatencyAndHang(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		srv := newServer(t, "b1", "k", "v", privates3test.InProcess())
		s3c, _ := sdkClients(srv)
		get := func(ctx context.Context) error { return getObject(ctx, s3c, "b1", "k") }

		srv.InjectFault(privates3test.Fault{Op: privates3test.OpGetObject, Times: 1, Latency: 3 * time.Second})
		start := time.Now()
		if err := get(context.Background()); err != nil {
			t.Fatalf("GetObject with latency: %v", err)
		}
		if d := time.Since(start); d != 3*time.Second {
			t.Errorf("GetObject with 3s latency took %v", d)
		}

		srv.InjectFault(privates3test.Fault{Op: privates3test.OpGetObject, Times: 1, Hang: true})
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		start = time.Now()
		if err := get(ctx); !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("GetObject with a hang: %v, want the context's deadline", err)
		}
		if d := time.Since(start); d != 10*time.Second {
			t.Errorf("hung GetObject returned after %v, want 10s", d)
		}
		if err := get(context.Background()); err != nil {
			t.Errorf("GetObject after the hang: %v", err)
		}
	})
}

func TestCloseWaitsForHangingHandlers(t *testing.T) {
	srv := privates3test.NewServer()
	srv.PutObject("b1", "k", []byte("v"))
	srv.InjectFault(privates3test.Fault{Hang: true})
	s3c, _ := sdkClients(srv)
	var wg sync.WaitGroup
	errc := make(chan error, 1)
	wg.Go(func() {
		_, err := s3c.GetObject(context.Background(), &s3.GetObjectInput{Bucket: aws.String("b1"), Key: aws.String("k")})
		errc <- err
	})
	for srv.Count(privates3test.OpGetObject) == 0 {
		runtime.Gosched()
	}
	srv.Close()
	srv.Close() // idempotent
	wg.Wait()
	if err := <-errc; err == nil {
		t.Error("GetObject hanging during Close succeeded")
	}
	if _, err := http.Get(srv.URL + "/b1/k"); err == nil {
		t.Error("the server still answers after Close")
	}
}

func TestRegion(t *testing.T) {
	srv := privates3test.NewServer(privates3test.Region("eu-west-3"))
	defer srv.Close()
	if !strings.HasPrefix(srv.URL, "http://127.0.0.1:") || srv.Region() != "eu-west-3" {
		t.Errorf("URL %s region %s", srv.URL, srv.Region())
	}
	srv.PutObject("b1", "k", []byte("v"))
	s3c, _ := sdkClients(srv)
	if _, err := s3c.HeadObject(context.Background(), &s3.HeadObjectInput{Bucket: aws.String("b1"), Key: aws.String("k")}); err != nil {
		t.Errorf("HeadObject in eu-west-3: %v", err)
	}
	srv2, err := privates3test.Start()
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	defer srv2.Close()
	if srv2.URL == srv.URL || srv2.Region() != privates3test.DefaultRegion {
		t.Errorf("second server at %s in %s", srv2.URL, srv2.Region())
	}
}

func TestInProcessURLDoesNotResolve(t *testing.T) {
	srv := privates3test.NewServer(privates3test.InProcess())
	defer srv.Close()
	if srv.URL != "http://privates3test.invalid" {
		t.Errorf("URL = %s", srv.URL)
	}
	if srv.AWSConfig().HTTPClient == nil {
		t.Error("AWSConfig().HTTPClient is nil in in-process mode")
	}
	client := &http.Client{Timeout: 5 * time.Second}
	if resp, err := client.Get(srv.URL + "/b1/k"); err == nil {
		resp.Body.Close()
		t.Error("the in-process URL was reachable without Server.Client")
	}
	resp, err := srv.Client().Get(srv.URL + "/b1/k")
	if err != nil {
		t.Fatalf("Client().Get: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != 403 {
		t.Errorf("anonymous GET through Client(): %d, want 403", resp.StatusCode)
	}
}

func TestSyntheticObject(t *testing.T) {
	srv := privates3test.NewServer()
	defer srv.Close()
	const size = 1 << 30
	srv.PutSyntheticObject("big", "1g.bin", size, privates3test.ContentType("application/octet-stream"))
	s3c, _ := sdkClients(srv)
	ctx := context.Background()

	// A range near the end.
	out, err := s3c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("big"), Key: aws.String("1g.bin"), Range: aws.String("bytes=1073741000-")})
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(out.Body)
	out.Body.Close()
	want := make([]byte, size-1073741000)
	for i := range want {
		want[i] = privates3test.SyntheticByte(int64(1073741000 + i))
	}
	if !bytes.Equal(got, want) {
		t.Errorf("range of the synthetic object differs from SyntheticByte")
	}

	// The whole object (its first 256 MiB under -race, whose instrumentation of copies would
	// take 15 s for 1 GiB), compared with SyntheticReader, in memory independent of its size.
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	in := &s3.GetObjectInput{Bucket: aws.String("big"), Key: aws.String("1g.bin")}
	readSize := int64(size)
	if raceEnabled {
		readSize = 256 << 20
		in.Range = aws.String(fmt.Sprintf("bytes=0-%d", readSize-1))
	}
	out, err = s3c.GetObject(ctx, in)
	if err != nil {
		t.Fatal(err)
	}
	if aws.ToInt64(out.ContentLength) != readSize || !strings.HasSuffix(aws.ToString(out.ETag), `-1"`) {
		t.Errorf("Content-Length %d ETag %s, want %d and a multipart-style ETag", aws.ToInt64(out.ContentLength), aws.ToString(out.ETag), readSize)
	}
	n, err := compareReaders(out.Body, privates3test.SyntheticReader(readSize))
	out.Body.Close()
	if err != nil || n != readSize {
		t.Fatalf("after %d bytes: %v", n, err)
	}
	runtime.ReadMemStats(&after)
	if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 32<<20 {
		t.Errorf("reading 1 GiB allocated %d MiB", alloc>>20)
	}
}

func TestSyntheticReader(t *testing.T) {
	for _, size := range []int64{0, 1, 65520, 65521, 65522, 200000} {
		b, err := io.ReadAll(privates3test.SyntheticReader(size))
		if err != nil || int64(len(b)) != size {
			t.Fatalf("SyntheticReader(%d): %d bytes, %v", size, len(b), err)
		}
		for i, c := range b {
			if c != privates3test.SyntheticByte(int64(i)) {
				t.Fatalf("SyntheticReader(%d) byte %d = %d, want %d", size, i, c, privates3test.SyntheticByte(int64(i)))
			}
		}
	}
	// Not constant, and not a power-of-two period.
	if privates3test.SyntheticByte(0) == privates3test.SyntheticByte(1) && privates3test.SyntheticByte(1) == privates3test.SyntheticByte(2) {
		t.Error("synthetic content is constant")
	}
	if privates3test.SyntheticByte(7) == privates3test.SyntheticByte(7+65536) && privates3test.SyntheticByte(8) == privates3test.SyntheticByte(8+65536) {
		t.Error("synthetic content repeats every 64 KiB")
	}
}

func TestS3Details(t *testing.T) {
	srv := newServer(t, "b1", "k", "abc")
	do := func(method, path string, body []byte, hdr map[string]string, signed ...string) (int, string) {
		t.Helper()
		req, _ := http.NewRequest(method, srv.URL+path, bytes.NewReader(body))
		for k, v := range hdr {
			req.Header.Set(k, v)
		}
		signBase(srv, req, body, signed...)
		return send(t, srv, req)
	}
	for _, c := range []struct {
		name, method, path string
		hdr                map[string]string
		signed             []string
		status             int
		code               string
	}{
		{"no such bucket", "GET", "/nobucket/k", nil, nil, 404, "NoSuchBucket"},
		{"crc32 right", "PUT", "/b1/c", map[string]string{"X-Amz-Checksum-Crc32": "NSRBwg=="}, nil, 200, ""}, // CRC32("abc")
		{"crc32 wrong", "PUT", "/b1/c", map[string]string{"X-Amz-Checksum-Crc32": "AAAAAA=="}, nil, 400, "BadDigest"},
		{"bucket ACL", "GET", "/b1?acl", nil, nil, 501, "NotImplemented"},
		{"UploadPartCopy", "PUT", "/b1/k?partNumber=1&uploadId=x", map[string]string{"X-Amz-Copy-Source": "b1/k"}, nil, 501, "NotImplemented"},
		{"PUT of no bucket", "PUT", "/", nil, nil, 405, "MethodNotAllowed"},
		{"POST to an object", "POST", "/b1/k", nil, nil, 405, "MethodNotAllowed"},
		{"both header and query auth", "GET", "/b1/k?X-Amz-Algorithm=AWS4-HMAC-SHA256", nil, nil, 400, "InvalidArgument"},
	} {
		status, body := do(c.method, c.path, []byte("abc")[:map[bool]int{true: 3, false: 0}[c.method == "PUT"]], c.hdr, c.signed...)
		if status != c.status || (c.code != "" && !strings.Contains(body, "<Code>"+c.code+"</Code>")) {
			t.Errorf("%s: %d %s, want %d %s", c.name, status, body, c.status, c.code)
		}
	}
	// Handler serves without a listener (a Drop fault would need a hijackable connection).
	rec := httptest.NewRecorder()
	srv.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/b1/k", nil))
	if rec.Code != 403 || rec.Header().Get("X-Amz-Request-Id") == "" {
		t.Errorf("anonymous request through Handler: %d %v", rec.Code, rec.Header())
	}
}

func TestReaderRoleNames(t *testing.T) {
	srv := privates3test.NewServer()
	defer srv.Close()
	long1, long2 := strings.Repeat("a", 60)+"-b1", strings.Repeat("a", 60)+"-b2"
	arns := map[string]bool{}
	for _, b := range []string{"tiles", long1, long2} {
		arn := srv.ReaderRole(b)
		if arns[arn] || arn != srv.ReaderRole(b) {
			t.Errorf("ReaderRole(%q) = %s, not unique or not stable", b, arn)
		}
		arns[arn] = true
		srv.PutObject(b, "k", []byte("v"))
	}
	// The role of long2 reads long2, not long1.
	s3c, _ := assume(t, srv, &sts.AssumeRoleInput{RoleArn: aws.String(srv.ReaderRole(long2))})
	if _, err := s3c.HeadObject(context.Background(), &s3.HeadObjectInput{Bucket: aws.String(long2), Key: aws.String("k")}); err != nil {
		t.Errorf("reader of %s: %v", long2, err)
	}
	if _, err := s3c.HeadObject(context.Background(), &s3.HeadObjectInput{Bucket: aws.String(long1), Key: aws.String("k")}); err == nil {
		t.Errorf("reader of %s may read %s", long2, long1)
	}
}

// TestCopyObjectAuthorization checks that CopyObject needs s3:GetObject on the source and
// s3:PutObject on the destination.
func TestCopyObjectAuthorization(t *testing.T) {
	srv := privates3test.NewServer()
	defer srv.Close()
	srv.PutObject("b1", "pub/x", []byte("public"))
	srv.PutObject("b1", "priv/x", []byte("private"))
	arn := srv.AddRole(privates3test.Role{Name: "copier", Policy: `{"Version":"2012-10-17","Statement":[` +
		`{"Effect":"Allow","Action":"s3:PutObject","Resource":"arn:aws:s3:::b1/out/*"},` +
		`{"Effect":"Allow","Action":"s3:GetObject","Resource":"arn:aws:s3:::b1/pub/*"}]}`})
	s3c, _ := assume(t, srv, &sts.AssumeRoleInput{RoleArn: &arn})
	ctx := context.Background()
	for _, c := range []struct{ src, dst, code string }{
		{"b1/pub/x", "out/1", ""},
		{"b1/priv/x", "out/2", "AccessDenied"}, // no s3:GetObject on the source
		{"b1/pub/x", "pub/3", "AccessDenied"},  // no s3:PutObject on the destination
		{"nobucket/x", "out/4", "AccessDenied"},
	} {
		_, err := s3c.CopyObject(ctx, &s3.CopyObjectInput{Bucket: aws.String("b1"), Key: aws.String(c.dst), CopySource: aws.String(c.src)})
		if apiCode(err) != c.code {
			t.Errorf("copy %s to %s: %v, want %q", c.src, c.dst, err, c.code)
		}
	}
	base, _ := sdkClients(srv)
	if got := readObject(t, base, "b1", "out/1"); got != "public" {
		t.Errorf("the copy reads %q", got)
	}
}
