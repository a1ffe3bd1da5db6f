package privates3test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/xml"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/sts"
)

// Endpoint is an S3 and STS endpoint for [TestEndpoint]: AWS itself, or an S3-compatible server
// (MinIO, R2, SeaweedFS, …), or a [Server].
type Endpoint struct {
	// S3URL is the base URL of S3; objects are addressed path-style, S3URL/Bucket/key (for AWS,
	// "https://s3.REGION.amazonaws.com"). Required.
	S3URL string
	// STSURL is the base URL of STS (for AWS, "https://sts.REGION.amazonaws.com"). Required.
	STSURL string
	// Region is the region requests are signed for. Required.
	Region string
	// Bucket is an existing bucket the suite writes to, under Prefix only. Required.
	Bucket string
	// Credentials are static base keys that may put, get, copy, list and delete objects in
	// Bucket, run multipart uploads there, and assume ReaderRoleARN. Required.
	Credentials aws.Credentials
	// ReaderRoleARN is a role that allows exactly s3:GetObject on arn:aws:s3:::Bucket/* and
	// s3:ListBucket on arn:aws:s3:::Bucket (as [Server.ReaderRole] does), with a maximum session
	// of at least 15 minutes. Required.
	ReaderRoleARN string
	// Prefix is put before every key the suite writes; the suite deletes what it wrote under it
	// when it ends. If empty, "privates3test-suite/" followed by a random directory.
	Prefix string
	// VirtualHost is the host (and port) under which Bucket is addressed virtual-hosted, as
	// Bucket.VirtualHost: "localhost:PORT" for a Server, "s3.REGION.amazonaws.com" for AWS. If
	// empty, the virtual-hosted cases are skipped.
	VirtualHost string
	// HTTPClient sends every request of the suite; it must resolve the virtual-hosted names.
	// If nil, a client with a 30-second timeout.
	HTTPClient *http.Client
}

// TestEndpoint runs the behaviour suite of privates3test against e, in the spirit of
// [testing/fstest.TestFS]: every operation the fake serves, with AWS's answers to good and bad
// requests (signatures in headers and presigned URLs, session policies, ranges, conditionals,
// digests, error shapes and codes).
// Each case is a subtest; failures are reported with t.Errorf and the suite goes on. Requests
// are signed by a SigV4 signer of the suite's own (written from AWS's specification, sharing no
// code with the fake) and by the AWS SDK for Go. The suite leaves nothing behind under e.Prefix.
//
// privates3test runs it against a [Server], and against the endpoint named by the environment
// variables PRIVATES3_REAL_* (see the package's tests), so that the fake is only as strict as the
// real thing, and no stricter.
func TestEndpoint(t *testing.T, e Endpoint) {
	t.Helper()
	var missing []string
	for name, v := range map[string]string{"S3URL": e.S3URL, "STSURL": e.STSURL, "Region": e.Region, "Bucket": e.Bucket,
		"Credentials.AccessKeyID": e.Credentials.AccessKeyID, "ReaderRoleARN": e.ReaderRoleARN} {
		if v == "" {
			missing = append(missing, name)
		}
	}
	if len(missing) > 0 {
		t.Fatalf("privates3test: TestEndpoint: Endpoint.%s must be set", strings.Join(missing, ", Endpoint."))
	}
	tg := newTarget(t, e)
	runSuite(t, tg)
}

// target is the S3 and STS under test.
type target struct {
	endpoint    string // S3 base URL, path-style: endpoint/bucket/key
	stsEndpoint string
	region      string
	bucket      string
	base        aws.Credentials // may put, delete and assume roleARN
	roleARN     string          // s3:GetObject on bucket/*, s3:ListBucket on bucket
	prefix      string          // every key of this run is under it
	vhost       string          // virtual host suffix, "" if none
	http        *http.Client
	s3          *s3.Client // with the base credentials
	sts         *sts.Client

	// Set by runSuite before the cases run.
	reader     aws.Credentials // the reader role's, without a session policy
	objectKey  string          // full key of the object most cases read
	objectBody []byte          // its content
}

func newTarget(t *testing.T, e Endpoint) *target {
	tg := &target{
		endpoint: strings.TrimSuffix(e.S3URL, "/"), stsEndpoint: strings.TrimSuffix(e.STSURL, "/"), region: e.Region,
		bucket: e.Bucket, base: e.Credentials, roleARN: e.ReaderRoleARN, prefix: e.Prefix, vhost: e.VirtualHost,
		http: e.HTTPClient,
	}
	if tg.prefix == "" {
		tg.prefix = "privates3test-suite/" + randomHex(8) + "/"
	}
	if tg.http == nil {
		tg.http = &http.Client{Timeout: 30 * time.Second}
	}
	cfg := aws.Config{Region: tg.region, Credentials: credentials.StaticCredentialsProvider{Value: tg.base},
		HTTPClient: tg.http, RetryMaxAttempts: 1}
	tg.s3 = s3.NewFromConfig(cfg, func(o *s3.Options) {
		o.UsePathStyle = true
		o.BaseEndpoint = aws.String(tg.endpoint)
	})
	tg.sts = sts.NewFromConfig(cfg, func(o *sts.Options) { o.BaseEndpoint = aws.String(tg.stsEndpoint) })
	t.Cleanup(func() { tg.cleanup(t) })
	return tg
}

// cleanup removes what the run put, and aborts the multipart uploads it left.
func (tg *target) cleanup(t *testing.T) {
	ctx := context.Background()
	p := s3.NewListObjectsV2Paginator(tg.s3, &s3.ListObjectsV2Input{Bucket: &tg.bucket, Prefix: &tg.prefix})
	for p.HasMorePages() {
		out, err := p.NextPage(ctx)
		if err != nil {
			t.Logf("cleanup: %v", err)
			return
		}
		for _, o := range out.Contents {
			_, _ = tg.s3.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: &tg.bucket, Key: o.Key})
		}
	}
	ups, err := tg.s3.ListMultipartUploads(ctx, &s3.ListMultipartUploadsInput{Bucket: &tg.bucket, Prefix: &tg.prefix})
	if err != nil {
		t.Logf("cleanup: %v", err)
		return
	}
	for _, u := range ups.Uploads {
		_, _ = tg.s3.AbortMultipartUpload(ctx, &s3.AbortMultipartUploadInput{Bucket: &tg.bucket, Key: u.Key, UploadId: u.UploadId})
	}
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// put stores key (under the run's prefix) through the S3 API with the base credentials.
func (tg *target) put(t *testing.T, key string, body []byte, in *s3.PutObjectInput) string {
	t.Helper()
	if in == nil {
		in = &s3.PutObjectInput{}
	}
	full := tg.prefix + key
	in.Bucket, in.Key, in.Body = &tg.bucket, &full, bytes.NewReader(body)
	if _, err := tg.s3.PutObject(context.Background(), in); err != nil {
		t.Fatalf("PutObject %s: %v", full, err)
	}
	return full
}

// assume returns temporary credentials for the reader role, narrowed by policy if not empty.
func (tg *target) assume(t *testing.T, policy string) aws.Credentials {
	t.Helper()
	in := &sts.AssumeRoleInput{RoleArn: &tg.roleARN, RoleSessionName: aws.String("suite"), DurationSeconds: aws.Int32(900)}
	if policy != "" {
		in.Policy = &policy
	}
	out, err := tg.sts.AssumeRole(context.Background(), in)
	if err != nil {
		t.Fatalf("AssumeRole: %v", err)
	}
	c := out.Credentials
	return aws.Credentials{AccessKeyID: *c.AccessKeyId, SecretAccessKey: *c.SecretAccessKey, SessionToken: *c.SessionToken,
		CanExpire: true, Expires: *c.Expiration}
}

// objectURL is the path-style URL of key.
func (tg *target) objectURL(key string) string {
	return tg.endpoint + "/" + tg.bucket + "/" + v4uriEncode(key, true)
}

// signer returns the suite's independent signer for S3 with creds, signing now.
func (tg *target) signer(creds aws.Credentials) v4Signer {
	return v4Signer{creds: creds, region: tg.region, service: "s3", now: time.Now()}
}

// response is an answer read whole.
type response struct {
	status int
	header http.Header
	body   []byte
	code   string // AWS error code from the XML body, if any
	msg    string
}

func (tg *target) do(t *testing.T, req *http.Request) response {
	t.Helper()
	resp, err := tg.http.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", req.Method, req.URL.Path, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("reading the body: %v", err)
	}
	r := response{status: resp.StatusCode, header: resp.Header, body: body}
	if resp.StatusCode >= 300 && len(body) > 0 {
		var e struct {
			Code    string `xml:"Code"`
			Message string `xml:"Message"`
			Error   struct {
				Code    string `xml:"Code"`
				Message string `xml:"Message"`
			} `xml:"Error"`
		}
		if err := xml.Unmarshal(body, &e); err != nil {
			t.Errorf("error body is not XML: %v: %q", err, body)
		}
		r.code, r.msg = e.Code+e.Error.Code, e.Message+e.Error.Message
	}
	return r
}

// s3Get signs a GET (or HEAD) of key with the independent signer and sends it.
func (tg *target) s3Get(t *testing.T, method, key string, creds aws.Credentials, hdr map[string]string) response {
	t.Helper()
	return tg.s3Do(t, method, tg.objectURL(key), nil, creds, hdr)
}

// s3Do signs a request to rawURL with body with the independent signer (host, every x-amz-*
// header and the headers in hdr) and sends it.
func (tg *target) s3Do(t *testing.T, method, rawURL string, body []byte, creds aws.Credentials, hdr map[string]string) response {
	t.Helper()
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequest(method, rawURL, rd)
	if err != nil {
		t.Fatal(err)
	}
	var extra []string
	for k, v := range hdr {
		req.Header.Set(k, v)
		extra = append(extra, k)
	}
	tg.signer(creds).signHeader(req, body, extra...)
	return tg.do(t, req)
}

// expect reports (as what) an answer other than status with the error code code.
func expect(t *testing.T, what string, r response, status int, code string) {
	t.Helper()
	if r.status != status || r.code != code {
		t.Errorf("%s: got %d %s (%s), want %d %s", what, r.status, r.code, r.msg, status, code)
	}
}

// runSuite puts the object most cases read, assumes the reader role, and runs the cases in order.
func runSuite(t *testing.T, tg *target) {
	tg.objectBody = []byte("0123456789abcdefghijklmnopqrstuvwxyz")
	tg.objectKey = tg.put(t, "dir/object.txt", tg.objectBody, &s3.PutObjectInput{
		ContentType: aws.String("text/plain"), ContentEncoding: aws.String("identity"),
		CacheControl: aws.String("max-age=300"), Metadata: map[string]string{"origin": "suite"},
	})
	tg.reader = tg.assume(t, "")

	for _, c := range []struct {
		name string
		run  func(*testing.T)
	}{
		{"AssumeRole", tg.checkAssumeRole},
		{"GetCallerIdentity", tg.checkGetCallerIdentity},
		{"GetObjectHeaders", tg.checkGetObjectHeaders},
		{"MissingKey", tg.checkMissingKey},
		{"SessionPolicy", tg.checkSessionPolicy},
		{"Range", tg.checkRange},
		{"Conditionals", tg.checkConditionals},
		{"Presigned", tg.checkPresigned},
		{"PresignedExpired", tg.checkPresignedExpired},
		{"IndependentSignerHeader", tg.checkSignerHeader},
		{"IndependentSignerSTS", tg.checkSignerSTS},
		{"Skew", tg.checkSkew},
		{"BadS3Input", tg.checkBadS3Input},
		{"BadSTSInput", tg.checkBadSTSInput},
		{"ErrorShapes", tg.checkErrorShapes},
		{"STSQueryGET", tg.checkSTSQueryGET},
		{"PutDigests", tg.checkPutDigests},
		{"SDKErrorsMapped", tg.checkSDKErrorsMapped},
	} {
		t.Run(c.name, c.run)
	}

	tg.runListing(t)
	tg.runUploads(t)
	tg.runMultipart(t)
}
