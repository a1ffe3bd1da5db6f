package privates3test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
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

// stsCall sends an STS query-API call signed with the independent signer.
func (tg *target) stsCall(t *testing.T, creds aws.Credentials, form url.Values) response {
	t.Helper()
	body := []byte(form.Encode())
	req, err := http.NewRequest(http.MethodPost, tg.stsEndpoint+"/", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded; charset=utf-8")
	v4Signer{creds: creds, region: tg.region, service: "sts", now: time.Now()}.signHeader(req, body, "content-type")
	return tg.do(t, req)
}

func expect(t *testing.T, what string, r response, status int, code string) {
	t.Helper()
	if r.status != status || r.code != code {
		t.Errorf("%s: got %d %s (%s), want %d %s", what, r.status, r.code, r.msg, status, code)
	}
}

func runSuite(t *testing.T, tg *target) {
	ctx := context.Background()
	body := []byte("0123456789abcdefghijklmnopqrstuvwxyz")
	key := tg.put(t, "dir/object.txt", body, &s3.PutObjectInput{
		ContentType: aws.String("text/plain"), ContentEncoding: aws.String("identity"),
		CacheControl: aws.String("max-age=300"), Metadata: map[string]string{"origin": "suite"},
	})
	reader := tg.assume(t, "")

	t.Run("AssumeRole", func(t *testing.T) {
		if !strings.HasPrefix(reader.AccessKeyID, "ASIA") || reader.SessionToken == "" {
			t.Errorf("AssumeRole gave key %q with token length %d, want ASIA… and a token", reader.AccessKeyID, len(reader.SessionToken))
		}
		if d := time.Until(reader.Expires); d < 14*time.Minute || d > 16*time.Minute {
			t.Errorf("credentials for 900s expire in %v", d)
		}
	})

	t.Run("GetCallerIdentity", func(t *testing.T) {
		base, err := tg.sts.GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
		if err != nil {
			t.Fatalf("GetCallerIdentity (base): %v", err)
		}
		r := tg.stsCall(t, reader, url.Values{"Action": {"GetCallerIdentity"}, "Version": {"2011-06-15"}})
		var out struct {
			Arn     string `xml:"GetCallerIdentityResult>Arn"`
			Account string `xml:"GetCallerIdentityResult>Account"`
		}
		if err := xml.Unmarshal(r.body, &out); r.status != 200 || err != nil {
			t.Fatalf("GetCallerIdentity (role): %d %s %v", r.status, r.code, err)
		}
		roleName := tg.roleARN[strings.LastIndex(tg.roleARN, "/")+1:]
		if !strings.Contains(out.Arn, ":assumed-role/"+roleName+"/suite") || out.Account != aws.ToString(base.Account) {
			t.Errorf("GetCallerIdentity (role) = %s in %s, want assumed-role/%s/suite in %s", out.Arn, out.Account, roleName, aws.ToString(base.Account))
		}
	})

	t.Run("GetObjectHeaders", func(t *testing.T) {
		r := tg.s3Get(t, http.MethodGet, key, reader, nil)
		if r.status != 200 || !bytes.Equal(r.body, body) {
			t.Fatalf("GET: %d %q, want 200 %q", r.status, r.body, body)
		}
		for name, want := range map[string]string{
			"Content-Type": "text/plain", "Content-Encoding": "identity", "Cache-Control": "max-age=300",
			"Content-Length": fmt.Sprint(len(body)), "Accept-Ranges": "bytes", "X-Amz-Meta-Origin": "suite",
		} {
			if got := r.header.Get(name); got != want {
				t.Errorf("%s = %q, want %q", name, got, want)
			}
		}
		if etag := r.header.Get("ETag"); len(etag) != 34 || etag[0] != '"' {
			t.Errorf("ETag = %s, want a quoted MD5", etag)
		}
		if _, err := http.ParseTime(r.header.Get("Last-Modified")); err != nil {
			t.Errorf("Last-Modified %q: %v", r.header.Get("Last-Modified"), err)
		}
		if r.header.Get("X-Amz-Request-Id") == "" {
			t.Error("no x-amz-request-id")
		}
		h := tg.s3Get(t, http.MethodHead, key, reader, nil)
		if h.status != 200 || len(h.body) != 0 || h.header.Get("ETag") != r.header.Get("ETag") {
			t.Errorf("HEAD: %d, %d body bytes, ETag %s; want 200, none, %s", h.status, len(h.body), h.header.Get("ETag"), r.header.Get("ETag"))
		}
	})

	t.Run("MissingKey", func(t *testing.T) {
		// The reader role may s3:ListBucket: 404. A session policy without it: 403.
		expect(t, "GET missing key with ListBucket", tg.s3Get(t, http.MethodGet, tg.prefix+"missing", reader, nil), 404, "NoSuchKey")
		h := tg.s3Get(t, http.MethodHead, tg.prefix+"missing", reader, nil)
		if h.status != 404 || len(h.body) != 0 {
			t.Errorf("HEAD missing key: %d with %d body bytes, want 404 without body", h.status, len(h.body))
		}
		getOnly := tg.assume(t, `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:GetObject","Resource":"*"}]}`)
		expect(t, "GET missing key without ListBucket", tg.s3Get(t, http.MethodGet, tg.prefix+"missing", getOnly, nil), 403, "AccessDenied")
		expect(t, "GET existing key without ListBucket", tg.s3Get(t, http.MethodGet, key, getOnly, nil), 200, "")
	})

	t.Run("SessionPolicy", func(t *testing.T) {
		other := tg.put(t, "other/x", []byte("x"), nil)
		for _, c := range []struct {
			name, policy string
			key          string
			status       int
			code         string
		}{
			{"prefix allows", `{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":["s3:GetObject"],"Resource":["arn:aws:s3:::` + tg.bucket + `/` + tg.prefix + `dir/*"]}}`, key, 200, ""},
			{"prefix denies others", `{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":["s3:GetObject"],"Resource":["arn:aws:s3:::` + tg.bucket + `/` + tg.prefix + `dir/*"]}}`, other, 403, "AccessDenied"},
			{"? wildcard", `{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"s3:Get?bject","Resource":"arn:aws:s3:::` + tg.bucket + `/` + tg.prefix + `di?/*"}}`, key, 200, ""},
			{"explicit deny", `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:*","Resource":"*"},{"Effect":"Deny","Action":"s3:GetObject","Resource":"arn:aws:s3:::` + tg.bucket + `/` + tg.prefix + `dir/*"}]}`, key, 403, "AccessDenied"},
			{"other action only", `{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"s3:PutObject","Resource":"*"}}`, key, 403, "AccessDenied"},
			// A session policy cannot grant more than the role: PutObject stays denied.
		} {
			t.Run(c.name, func(t *testing.T) {
				creds := tg.assume(t, c.policy)
				expect(t, c.name, tg.s3Get(t, http.MethodGet, c.key, creds, nil), c.status, c.code)
			})
		}
		t.Run("no more than the role", func(t *testing.T) {
			creds := tg.assume(t, `{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"s3:*","Resource":"*"}}`)
			req, _ := http.NewRequest(http.MethodPut, tg.objectURL(tg.prefix+"denied"), bytes.NewReader([]byte("x")))
			v4Signer{creds: creds, region: tg.region, service: "s3", now: time.Now()}.signHeader(req, []byte("x"))
			expect(t, "PUT with the reader role", tg.do(t, req), 403, "AccessDenied")
		})
	})

	t.Run("Range", func(t *testing.T) {
		n := len(body)
		for _, c := range []struct {
			rng          string
			status       int
			contentRange string
			want         string
		}{
			{"bytes=0-", 206, fmt.Sprintf("bytes 0-%d/%d", n-1, n), string(body)},
			{"bytes=2-4", 206, fmt.Sprintf("bytes 2-4/%d", n), "234"},
			{"bytes=30-100", 206, fmt.Sprintf("bytes 30-%d/%d", n-1, n), string(body[30:])},
			{"bytes=-3", 206, fmt.Sprintf("bytes %d-%d/%d", n-3, n-1, n), string(body[n-3:])},
			{"bytes=-100", 206, fmt.Sprintf("bytes 0-%d/%d", n-1, n), string(body)},
			{fmt.Sprintf("bytes=%d-", n), 416, "", ""},
			{"bytes=1000-2000", 416, "", ""},
			{"bytes=4-2", 200, "", string(body)}, // invalid: ignored
			{"items=0-1", 200, "", string(body)}, // other unit: ignored
		} {
			r := tg.s3Get(t, http.MethodGet, key, reader, map[string]string{"Range": c.rng})
			if c.status == 416 {
				expect(t, "Range "+c.rng, r, 416, "InvalidRange")
				continue
			}
			if r.status != c.status || r.header.Get("Content-Range") != c.contentRange || string(r.body) != c.want {
				t.Errorf("Range %s: %d %q %q, want %d %q %q", c.rng, r.status, r.header.Get("Content-Range"), r.body, c.status, c.contentRange, c.want)
			}
		}
	})

	t.Run("Conditionals", func(t *testing.T) {
		r := tg.s3Get(t, http.MethodGet, key, reader, nil)
		etag, lm := r.header.Get("ETag"), r.header.Get("Last-Modified")
		lmt, _ := http.ParseTime(lm)
		before := lmt.Add(-time.Hour).Format(http.TimeFormat)
		after := lmt.Add(time.Hour).Format(http.TimeFormat)
		other := `"00000000000000000000000000000000"`
		for _, c := range []struct {
			name   string
			hdr    map[string]string
			status int
		}{
			{"If-None-Match match", map[string]string{"If-None-Match": etag}, 304},
			{"If-None-Match other", map[string]string{"If-None-Match": other}, 200},
			{"If-None-Match *", map[string]string{"If-None-Match": "*"}, 304},
			{"If-Match match", map[string]string{"If-Match": etag}, 200},
			{"If-Match other", map[string]string{"If-Match": other}, 412},
			{"If-Modified-Since later", map[string]string{"If-Modified-Since": after}, 304},
			{"If-Modified-Since earlier", map[string]string{"If-Modified-Since": before}, 200},
			{"If-Unmodified-Since earlier", map[string]string{"If-Unmodified-Since": before}, 412},
			{"If-Unmodified-Since later", map[string]string{"If-Unmodified-Since": after}, 200},
			// S3's precedence.
			{"If-Match true wins over If-Unmodified-Since false", map[string]string{"If-Match": etag, "If-Unmodified-Since": before}, 200},
			{"If-None-Match false wins over If-Modified-Since true", map[string]string{"If-None-Match": other, "If-Modified-Since": after}, 200},
			{"If-None-Match true with If-Modified-Since false", map[string]string{"If-None-Match": etag, "If-Modified-Since": before}, 304},
			{"412 wins over 304", map[string]string{"If-Match": other, "If-None-Match": etag}, 412},
		} {
			r := tg.s3Get(t, http.MethodGet, key, reader, c.hdr)
			switch c.status {
			case 412:
				expect(t, c.name, r, 412, "PreconditionFailed")
			case 304:
				if r.status != 304 || len(r.body) != 0 || r.header.Get("ETag") != etag {
					t.Errorf("%s: %d with %d body bytes and ETag %q, want 304, none, %s", c.name, r.status, len(r.body), r.header.Get("ETag"), etag)
				}
			default:
				if r.status != c.status || !bytes.Equal(r.body, body) {
					t.Errorf("%s: %d %q, want %d and the object", c.name, r.status, r.body, c.status)
				}
			}
		}
	})

	sdkPresign := func(t *testing.T, creds aws.Credentials, key string, expires time.Duration, signingTime time.Time, q url.Values) string {
		t.Helper()
		u := tg.objectURL(key)
		if len(q) > 0 {
			u += "?" + q.Encode()
		}
		u += map[bool]string{true: "&", false: "?"}[len(q) > 0] + "X-Amz-Expires=" + fmt.Sprint(int(expires/time.Second))
		req, _ := http.NewRequest(http.MethodGet, u, nil)
		signed, _, err := v4.NewSigner().PresignHTTP(ctx, creds, req, "UNSIGNED-PAYLOAD", "s3", tg.region, signingTime)
		if err != nil {
			t.Fatal(err)
		}
		return signed
	}
	get := func(t *testing.T, u string) response {
		req, err := http.NewRequest(http.MethodGet, u, nil)
		if err != nil {
			t.Fatal(err)
		}
		return tg.do(t, req)
	}

	t.Run("Presigned", func(t *testing.T) {
		for _, signer := range []string{"sdk", "independent"} {
			t.Run(signer, func(t *testing.T) {
				var u string
				if signer == "sdk" {
					u = sdkPresign(t, reader, key, time.Hour, time.Now(), url.Values{
						"response-content-type": {"application/x-test"}, "response-content-disposition": {`attachment; filename="a.txt"`},
						"response-cache-control": {"no-store"},
					})
				} else {
					u = v4Signer{creds: reader, region: tg.region, service: "s3", now: time.Now()}.presign(
						tg.objectURL(key)+"?response-content-type=application%2Fx-test&response-content-disposition=attachment%3B%20filename%3D%22a.txt%22&response-cache-control=no-store", time.Hour)
				}
				r := get(t, u)
				if r.status != 200 || !bytes.Equal(r.body, body) {
					t.Fatalf("presigned GET: %d %s %q", r.status, r.code, r.msg)
				}
				for name, want := range map[string]string{"Content-Type": "application/x-test", "Content-Disposition": `attachment; filename="a.txt"`, "Cache-Control": "no-store"} {
					if got := r.header.Get(name); got != want {
						t.Errorf("override %s = %q, want %q", name, got, want)
					}
				}
				// Tampering with any part of the URL breaks it.
				pu, _ := url.Parse(u)
				sig := pu.Query().Get("X-Amz-Signature")
				flipped := sig[:10] + string("0123456789abcdef"[(strings.IndexByte("0123456789abcdef", sig[10])+1)%16]) + sig[11:]
				for _, tc := range []struct{ name, url string }{
					{"signature byte", strings.Replace(u, sig, flipped, 1)},
					{"path", strings.Replace(u, "/object.txt?", "/object.txu?", 1)},
					{"added query parameter", u + "&response-content-language=fr"},
					{"changed override", strings.Replace(u, "no-store", "no-cache", 1)},
				} {
					expect(t, "presigned "+tc.name, get(t, tc.url), 403, "SignatureDoesNotMatch")
				}
				expiresFlip := strings.Replace(u, "X-Amz-Expires=3600", "X-Amz-Expires=3601", 1)
				expect(t, "presigned with changed X-Amz-Expires", get(t, expiresFlip), 403, "SignatureDoesNotMatch")
			})
		}
	})

	t.Run("PresignedExpired", func(t *testing.T) {
		u := sdkPresign(t, reader, key, time.Hour, time.Now().Add(-61*time.Minute), nil)
		r := get(t, u)
		expect(t, "URL expired a minute ago", r, 403, "AccessDenied")
		if r.msg != "Request has expired" {
			t.Errorf("message %q, want %q", r.msg, "Request has expired")
		}
		u = sdkPresign(t, reader, key, time.Hour, time.Now().Add(-59*time.Minute), nil)
		expect(t, "URL with a minute left", get(t, u), 200, "")
		u = v4Signer{creds: reader, region: tg.region, service: "s3", now: time.Now().Add(-2 * time.Hour)}.presign(tg.objectURL(key), time.Hour)
		expect(t, "URL expired an hour ago (independent signer)", get(t, u), 403, "AccessDenied")
		u = sdkPresign(t, reader, key, 604801*time.Second, time.Now(), nil)
		expect(t, "X-Amz-Expires above 7 days", get(t, u), 400, "AuthorizationQueryParametersError")
		u = sdkPresign(t, reader, key, 604800*time.Second, time.Now(), nil)
		expect(t, "X-Amz-Expires of 7 days", get(t, u), 200, "")
	})

	t.Run("IndependentSignerHeader", func(t *testing.T) {
		sign := func(req *http.Request, extra ...string) {
			v4Signer{creds: reader, region: tg.region, service: "s3", now: time.Now()}.signHeader(req, nil, extra...)
		}
		newReq := func() *http.Request {
			req, _ := http.NewRequest(http.MethodGet, tg.objectURL(key), nil)
			req.Header.Set("Range", "bytes=0-3")
			sign(req, "range")
			return req
		}
		r := tg.do(t, newReq())
		if r.status != 206 || string(r.body) != "0123" {
			t.Fatalf("signed GET: %d %s %q, want 206 %q", r.status, r.code, r.body, "0123")
		}
		for _, tc := range []struct {
			name   string
			tamper func(*http.Request)
			status int
			code   string
		}{
			{"signature byte", func(req *http.Request) {
				a := req.Header.Get("Authorization")
				last := a[len(a)-1]
				req.Header.Set("Authorization", a[:len(a)-1]+map[bool]string{true: "1", false: "0"}[last == '0'])
			}, 403, "SignatureDoesNotMatch"},
			{"path", func(req *http.Request) { req.URL.Path = strings.Replace(req.URL.Path, "object.txt", "object.txu", 1) }, 403, "SignatureDoesNotMatch"},
			{"signed header", func(req *http.Request) { req.Header.Set("Range", "bytes=0-4") }, 403, "SignatureDoesNotMatch"},
			{"added query parameter", func(req *http.Request) { req.URL.RawQuery = "response-content-type=text%2Fhtml" }, 403, "SignatureDoesNotMatch"},
			{"method", func(req *http.Request) { req.Method = http.MethodHead }, 403, ""}, // HEAD errors have no body
			{"unsigned x-amz header added", func(req *http.Request) { req.Header.Set("X-Amz-Meta-Extra", "1") }, 403, "AccessDenied"},
		} {
			req := newReq()
			tc.tamper(req)
			expect(t, "tampered "+tc.name, tg.do(t, req), tc.status, tc.code)
		}
	})

	t.Run("IndependentSignerSTS", func(t *testing.T) {
		form := url.Values{"Action": {"GetCallerIdentity"}, "Version": {"2011-06-15"}}
		r := tg.stsCall(t, tg.base, form)
		if r.status != 200 || !bytes.Contains(r.body, []byte("<GetCallerIdentityResult>")) {
			t.Fatalf("GetCallerIdentity: %d %s %s", r.status, r.code, r.msg)
		}
		body := []byte(form.Encode())
		req, _ := http.NewRequest(http.MethodPost, tg.stsEndpoint+"/", bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded; charset=utf-8")
		v4Signer{creds: tg.base, region: tg.region, service: "sts", now: time.Now()}.signHeader(req, body, "content-type")
		tampered := []byte(strings.Replace(string(body), "GetCallerIdentity", "GetCallerIdentitx", 1))
		req.Body, req.ContentLength = io.NopCloser(bytes.NewReader(tampered)), int64(len(tampered))
		expect(t, "tampered STS body", tg.do(t, req), 403, "SignatureDoesNotMatch")

		wrong := tg.base
		wrong.SecretAccessKey += "x"
		expect(t, "STS with a wrong secret", tg.stsCall(t, wrong, form), 403, "SignatureDoesNotMatch")
		expect(t, "STS with an unknown key", tg.stsCall(t, aws.Credentials{AccessKeyID: "AKIAIOSFODNN7EXAMPLE", SecretAccessKey: "x"}, form), 403, "InvalidClientTokenId")
	})

	t.Run("Skew", func(t *testing.T) {
		for _, d := range []time.Duration{-20 * time.Minute, 20 * time.Minute} {
			req, _ := http.NewRequest(http.MethodGet, tg.objectURL(key), nil)
			v4Signer{creds: reader, region: tg.region, service: "s3", now: time.Now().Add(d)}.signHeader(req, nil)
			expect(t, fmt.Sprintf("signed %v off", d), tg.do(t, req), 403, "RequestTimeTooSkewed")
		}
		req, _ := http.NewRequest(http.MethodGet, tg.objectURL(key), nil)
		v4Signer{creds: reader, region: tg.region, service: "s3", now: time.Now().Add(-10 * time.Minute)}.signHeader(req, nil)
		expect(t, "signed 10m ago", tg.do(t, req), 200, "")
		body := []byte("Action=GetCallerIdentity&Version=2011-06-15")
		req, _ = http.NewRequest(http.MethodPost, tg.stsEndpoint+"/", bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		v4Signer{creds: tg.base, region: tg.region, service: "sts", now: time.Now().Add(-20 * time.Minute)}.signHeader(req, body, "content-type")
		expect(t, "STS call signed 20m ago", tg.do(t, req), 403, "SignatureDoesNotMatch")
	})

	t.Run("BadS3Input", func(t *testing.T) {
		valid := func() *http.Request {
			req, _ := http.NewRequest(http.MethodGet, tg.objectURL(key), nil)
			v4Signer{creds: reader, region: tg.region, service: "s3", now: time.Now()}.signHeader(req, nil)
			return req
		}
		for _, tc := range []struct {
			name   string
			mod    func(*http.Request)
			status int
			code   string
		}{
			{"anonymous", func(r *http.Request) { r.Header = http.Header{} }, 403, "AccessDenied"},
			{"unknown scheme", func(r *http.Request) { r.Header.Set("Authorization", "Bearer abc") }, 400, "InvalidArgument"},
			{"garbage after algorithm", func(r *http.Request) { r.Header.Set("Authorization", "AWS4-HMAC-SHA256 garbage") }, 400, "AuthorizationHeaderMalformed"},
			{"truncated", func(r *http.Request) {
				a := r.Header.Get("Authorization")
				r.Header.Set("Authorization", a[:strings.Index(a, "SignedHeaders")])
			}, 400, "AuthorizationHeaderMalformed"},
			{"wrong region", func(r *http.Request) {
				r.Header.Set("Authorization", strings.Replace(r.Header.Get("Authorization"), "/"+tg.region+"/", "/xx-north-9/", 1))
			}, 400, "AuthorizationHeaderMalformed"},
			{"invalid x-amz-date", func(r *http.Request) { r.Header.Set("X-Amz-Date", "yesterday") }, 403, "AccessDenied"},
			{"missing x-amz-content-sha256", func(r *http.Request) { r.Header.Del("X-Amz-Content-Sha256") }, 400, "InvalidRequest"},
			{"invalid x-amz-content-sha256", func(r *http.Request) { r.Header.Set("X-Amz-Content-Sha256", "abc") }, 400, "InvalidArgument"},
			{"unknown access key", func(r *http.Request) {
				r.Header.Set("Authorization", strings.Replace(r.Header.Get("Authorization"), reader.AccessKeyID, "AKIAIOSFODNN7EXAMPLE", 1))
				r.Header.Del("X-Amz-Security-Token")
			}, 403, "InvalidAccessKeyId"},
			{"oversized headers", func(r *http.Request) { r.Header.Set("X-Padding", strings.Repeat("p", 16<<10)) }, 400, "RequestHeaderSectionTooLarge"},
		} {
			req := valid()
			tc.mod(req)
			expect(t, tc.name, tg.do(t, req), tc.status, tc.code)
		}
		// A body that does not match the signed hash.
		req, _ := http.NewRequest(http.MethodPut, tg.objectURL(tg.prefix+"mismatch"), bytes.NewReader([]byte("abc")))
		v4Signer{creds: tg.base, region: tg.region, service: "s3", now: time.Now()}.signHeader(req, []byte("abd"))
		expect(t, "payload hash mismatch", tg.do(t, req), 400, "XAmzContentSHA256Mismatch")
	})

	t.Run("BadSTSInput", func(t *testing.T) {
		assume := func(extra url.Values) url.Values {
			v := url.Values{"Action": {"AssumeRole"}, "Version": {"2011-06-15"}, "RoleArn": {tg.roleARN}, "RoleSessionName": {"suite"}}
			for k, vs := range extra {
				if vs == nil {
					delete(v, k)
				} else {
					v[k] = vs
				}
			}
			return v
		}
		for _, tc := range []struct {
			name   string
			form   url.Values
			status int
			code   string
		}{
			{"valid", assume(nil), 200, ""},
			{"missing RoleSessionName", assume(url.Values{"RoleSessionName": nil}), 400, "ValidationError"},
			{"missing RoleArn", assume(url.Values{"RoleArn": nil}), 400, "ValidationError"},
			{"RoleSessionName with a space", assume(url.Values{"RoleSessionName": {"a b"}}), 400, "ValidationError"},
			{"RoleSessionName of 1 character", assume(url.Values{"RoleSessionName": {"a"}}), 400, "ValidationError"},
			{"RoleSessionName of 65 characters", assume(url.Values{"RoleSessionName": {strings.Repeat("a", 65)}}), 400, "ValidationError"},
			{"DurationSeconds 899", assume(url.Values{"DurationSeconds": {"899"}}), 400, "ValidationError"},
			{"DurationSeconds 43201", assume(url.Values{"DurationSeconds": {"43201"}}), 400, "ValidationError"},
			{"Policy over 2048 bytes", assume(url.Values{"Policy": {`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:GetObject","Resource":"` + strings.Repeat("a", 2048) + `"}]}`}}), 400, "ValidationError"},
			{"Policy not JSON", assume(url.Values{"Policy": {"{not json"}}), 400, "MalformedPolicyDocument"},
			{"unknown role", assume(url.Values{"RoleArn": {"arn:aws:iam::123456789012:role/privates3test-no-such-role"}}), 403, "AccessDenied"},
			{"missing Action", url.Values{"Version": {"2011-06-15"}}, 400, "MissingAction"},
			{"unknown Action", url.Values{"Action": {"NoSuchAction"}, "Version": {"2011-06-15"}}, 400, "InvalidAction"},
		} {
			expect(t, tc.name, tg.stsCall(t, tg.base, tc.form), tc.status, tc.code)
		}
		// An unsigned call, and a malformed form.
		req, _ := http.NewRequest(http.MethodPost, tg.stsEndpoint+"/", strings.NewReader("Action=GetCallerIdentity&Version=2011-06-15"))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		expect(t, "unsigned STS call", tg.do(t, req), 403, "MissingAuthenticationToken")
		bad := []byte("Action=GetCallerIdentity&Version=2011-06-15&%zz")
		req, _ = http.NewRequest(http.MethodPost, tg.stsEndpoint+"/", bytes.NewReader(bad))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		v4Signer{creds: tg.base, region: tg.region, service: "sts", now: time.Now()}.signHeader(req, bad, "content-type")
		if r := tg.do(t, req); r.status != 400 && r.status != 404 {
			t.Errorf("malformed form: %d %s, want 400 (or 404 MalformedQueryString)", r.status, r.code)
		}
	})

	t.Run("ErrorShapes", func(t *testing.T) {
		r := tg.s3Get(t, http.MethodGet, tg.prefix+"missing", reader, nil)
		var s3doc struct {
			XMLName   xml.Name
			Code      string `xml:"Code"`
			Message   string `xml:"Message"`
			RequestID string `xml:"RequestId"`
		}
		if err := xml.Unmarshal(r.body, &s3doc); err != nil || s3doc.XMLName.Local != "Error" || s3doc.Code != "NoSuchKey" ||
			s3doc.Message == "" || s3doc.RequestID == "" || s3doc.RequestID != r.header.Get("X-Amz-Request-Id") {
			t.Errorf("S3 error document %+v (%v), x-amz-request-id %q", s3doc, err, r.header.Get("X-Amz-Request-Id"))
		}
		if ct := r.header.Get("Content-Type"); ct != "application/xml" {
			t.Errorf("S3 error Content-Type %q", ct)
		}
		r = tg.stsCall(t, tg.base, url.Values{"Action": {"AssumeRole"}, "Version": {"2011-06-15"}, "RoleArn": {tg.roleARN}})
		var stsdoc struct {
			XMLName xml.Name
			Error   struct {
				Type    string `xml:"Type"`
				Code    string `xml:"Code"`
				Message string `xml:"Message"`
			} `xml:"Error"`
			RequestID string `xml:"RequestId"`
		}
		if err := xml.Unmarshal(r.body, &stsdoc); err != nil || stsdoc.XMLName.Local != "ErrorResponse" || stsdoc.Error.Type != "Sender" ||
			stsdoc.Error.Code != "ValidationError" || stsdoc.Error.Message == "" || stsdoc.RequestID == "" ||
			stsdoc.RequestID != r.header.Get("X-Amzn-Requestid") {
			t.Errorf("STS error document %+v (%v), x-amzn-RequestId %q", stsdoc, err, r.header.Get("X-Amzn-Requestid"))
		}
	})

	t.Run("STSQueryGET", func(t *testing.T) {
		req, _ := http.NewRequest(http.MethodGet, tg.stsEndpoint+"/?Action=GetCallerIdentity&Version=2011-06-15", nil)
		v4Signer{creds: tg.base, region: tg.region, service: "sts", now: time.Now()}.signHeader(req, nil)
		if r := tg.do(t, req); r.status != 200 || !bytes.Contains(r.body, []byte("<GetCallerIdentityResult>")) {
			t.Errorf("GET GetCallerIdentity: %d %s %s", r.status, r.code, r.msg)
		}
	})

	t.Run("PutDigests", func(t *testing.T) {
		for _, c := range []struct {
			name, header, value string
			status              int
			code                string
		}{
			{"Content-MD5 right", "Content-MD5", "kAFQmDzST7DWlj99KOF/cg==", 200, ""}, // MD5("abc")
			{"Content-MD5 wrong", "Content-MD5", "AAAAAAAAAAAAAAAAAAAAAA==", 400, "BadDigest"},
			{"Content-MD5 invalid", "Content-MD5", "not base64", 400, "InvalidDigest"},
		} {
			req, _ := http.NewRequest(http.MethodPut, tg.objectURL(tg.prefix+"digest"), bytes.NewReader([]byte("abc")))
			req.Header.Set(c.header, c.value)
			v4Signer{creds: tg.base, region: tg.region, service: "s3", now: time.Now()}.signHeader(req, []byte("abc"), strings.ToLower(c.header))
			expect(t, c.name, tg.do(t, req), c.status, c.code)
		}
	})

	t.Run("SDKErrorsMapped", func(t *testing.T) {
		// The SDK parses the fake's error documents into typed errors.
		_, err := tg.s3.GetObject(ctx, &s3.GetObjectInput{Bucket: &tg.bucket, Key: aws.String(tg.prefix + "missing")})
		var nsk interface{ ErrorCode() string }
		if !errors.As(err, &nsk) || nsk.ErrorCode() != "NoSuchKey" {
			t.Errorf("SDK GetObject of a missing key: %v, want NoSuchKey", err)
		}
	})

	tg.runListing(t, reader)
	tg.runUploads(t, reader, body, key)
	tg.runMultipart(t, reader)
}
