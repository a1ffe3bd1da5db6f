package privates3test_test

// The shared fixture of privates3test's external tests: clients of the fake, request helpers,
// reader comparison, external programs (found, or the test skipped), temporary files and the race
// flag.

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/debug"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/privates3/privates3/privates3test"
)

// raceEnabled is true when the tests run with -race, whose instrumentation makes copying a GiB
// take seconds.
var raceEnabled = func() bool {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return false
	}
	for _, s := range bi.Settings {
		if s.Key == "-race" {
			return s.Value == "true"
		}
	}
	return false
}()

// fakeEndpoint describes srv for privates3test.TestEndpoint, with bucket as the suite's bucket.
func fakeEndpoint(srv *privates3test.Server, bucket string) privates3test.Endpoint {
	srv.CreateBucket(bucket)
	return privates3test.Endpoint{
		S3URL: srv.URL, STSURL: srv.URL, Region: srv.Region(), Bucket: bucket,
		Credentials: srv.BaseCredentials(), ReaderRoleARN: srv.ReaderRole(bucket),
		Prefix: "run/", VirtualHost: srv.VirtualHost(), HTTPClient: srv.Client(),
	}
}

// signBase signs req (whose body is body) for S3 with the base user's keys and the independent
// signer, covering host, every x-amz-* header and the headers named in extra.
func signBase(srv *privates3test.Server, req *http.Request, body []byte, extra ...string) {
	privates3test.SignHeader(req, srv.BaseCredentials(), srv.Region(), "s3", time.Now(), body, extra...)
}

// presignBase presigns a GET of srv's path with the base user's keys and the independent signer.
func presignBase(srv *privates3test.Server, path string, expires time.Duration) string {
	return privates3test.Presign(srv.URL+path, srv.BaseCredentials(), srv.Region(), time.Now(), expires)
}

// send sends req with srv's client and returns the status and the body.
func send(t *testing.T, srv *privates3test.Server, req *http.Request) (int, string) {
	t.Helper()
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// newServer starts a fake with opts that holds bucket/key with body, and closes it at the end of
// the test (in a synctest bubble, inside the bubble).
func newServer(t *testing.T, bucket, key, body string, opts ...privates3test.Option) *privates3test.Server {
	t.Helper()
	srv := privates3test.NewServer(opts...)
	t.Cleanup(srv.Close)
	srv.PutObject(bucket, key, []byte(body))
	return srv
}

// sdkClients returns S3 and STS clients of the AWS SDK for srv, with the base user's keys.
func sdkClients(srv *privates3test.Server) (*s3.Client, *sts.Client) {
	cfg := srv.AWSConfig()
	cfg.RetryMaxAttempts = 1
	return s3.NewFromConfig(cfg, func(o *s3.Options) { o.UsePathStyle = true }), sts.NewFromConfig(cfg)
}

// assume assumes roleARN with the SDK and returns an S3 client using the temporary credentials.
func assume(t *testing.T, srv *privates3test.Server, in *sts.AssumeRoleInput) (*s3.Client, *sts.AssumeRoleOutput) {
	t.Helper()
	_, stsc := sdkClients(srv)
	if in.RoleSessionName == nil {
		in.RoleSessionName = aws.String("test")
	}
	out, err := stsc.AssumeRole(context.Background(), in)
	if err != nil {
		t.Fatalf("AssumeRole: %v", err)
	}
	cfg := srv.AWSConfig()
	cfg.RetryMaxAttempts = 1
	c := out.Credentials
	cfg.Credentials = credentials.NewStaticCredentialsProvider(*c.AccessKeyId, *c.SecretAccessKey, *c.SessionToken)
	return s3.NewFromConfig(cfg, func(o *s3.Options) { o.UsePathStyle = true }), out
}

// apiCode returns the AWS error code of err, or "" if it has none.
func apiCode(err error) string {
	var ae interface{ ErrorCode() string } // smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode()
	}
	return ""
}

func httpGet(t *testing.T, srv *privates3test.Server, u string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, u, nil)
	if err != nil {
		t.Fatal(err)
	}
	return send(t, srv, req)
}

// getObject GETs bucket/key with s3c and closes the body; it returns the error of the GET.
func getObject(ctx context.Context, s3c *s3.Client, bucket, key string) error {
	out, err := s3c.GetObject(ctx, &s3.GetObjectInput{Bucket: &bucket, Key: &key})
	if err == nil {
		out.Body.Close()
	}
	return err
}

func readObject(t *testing.T, s3c *s3.Client, bucket, key string) string {
	t.Helper()
	out, err := s3c.GetObject(context.Background(), &s3.GetObjectInput{Bucket: &bucket, Key: &key})
	if err != nil {
		t.Fatalf("GetObject %s: %v", key, err)
	}
	defer out.Body.Close()
	b, _ := io.ReadAll(out.Body)
	return string(b)
}

// compareReaders reads a and b to the end and reports how many bytes agreed.
func compareReaders(a, b io.Reader) (int64, error) {
	ba, bb := make([]byte, 1<<20), make([]byte, 1<<20)
	var n int64
	for {
		na, ea := io.ReadFull(a, ba)
		nb, _ := io.ReadFull(b, bb)
		if na != nb || !bytes.Equal(ba[:na], bb[:nb]) {
			return n, errors.New("contents differ")
		}
		n += int64(na)
		if ea == io.EOF || ea == io.ErrUnexpectedEOF {
			return n, nil
		}
		if ea != nil {
			return n, ea
		}
	}
}

// tempFile writes data to a file name in a new temporary directory and returns its path.
func tempFile(t *testing.T, name string, data []byte) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// program returns the path of the program name (looked up in $PATH, or a path), or skips the
// test, saying how to install it. With check, it also skips unless `name check...` succeeds (as
// python3 -c "import boto3" does where a module is installed).
func program(t *testing.T, install, name string, check ...string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		t.Skipf("%v (install it: %s): skipping", err, install)
	}
	if len(check) > 0 {
		if out, err := exec.Command(p, check...).CombinedOutput(); err != nil {
			t.Skipf("%s %s: %v %s (install it: %s): skipping", p, strings.Join(check, " "), err, out, install)
		}
	}
	return p
}
