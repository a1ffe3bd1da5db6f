package privates3test_test

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/hex"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/privates3/privates3/privates3test"
)

func TestSDKAssumeRoleAndGetObject(t *testing.T) {
	for _, mode := range []struct {
		name string
		opts []privates3test.Option
	}{{"loopback", nil}, {"in-process", []privates3test.Option{privates3test.InProcess()}}} {
		t.Run(mode.name, func(t *testing.T) {
			srv := privates3test.NewServer(mode.opts...)
			defer srv.Close()
			body := []byte("hello, private world")
			srv.PutObject("tiles", "3/4/2.png", body,
				privates3test.ContentType("image/png"), privates3test.ContentEncoding("gzip"),
				privates3test.CacheControl("max-age=60"), privates3test.Metadata("Origin", "test"))

			s3c, out := assume(t, srv, &sts.AssumeRoleInput{RoleArn: aws.String(srv.ReaderRole("tiles"))})
			if id := *out.Credentials.AccessKeyId; !strings.HasPrefix(id, "ASIA") || len(id) != 20 {
				t.Errorf("AccessKeyId = %q, want ASIA + 16 characters", id)
			}
			if got, want := *out.Credentials.Expiration, srv.Now().Add(time.Hour); got.Sub(want).Abs() > 2*time.Second {
				t.Errorf("Expiration = %v, want about %v", got, want)
			}
			if arn := *out.AssumedRoleUser.Arn; arn != "arn:aws:sts::123456789012:assumed-role/privates3test-reader-tiles/test" {
				t.Errorf("AssumedRoleUser.Arn = %q", arn)
			}

			get, err := s3c.GetObject(context.Background(), &s3.GetObjectInput{Bucket: aws.String("tiles"), Key: aws.String("3/4/2.png")})
			if err != nil {
				t.Fatalf("GetObject: %v", err)
			}
			got, _ := io.ReadAll(get.Body)
			get.Body.Close()
			sum := md5.Sum(body)
			wantETag := `"` + hex.EncodeToString(sum[:]) + `"`
			for _, c := range []struct{ name, got, want string }{
				{"body", string(got), string(body)},
				{"ETag", aws.ToString(get.ETag), wantETag},
				{"Content-Type", aws.ToString(get.ContentType), "image/png"},
				{"Content-Encoding", aws.ToString(get.ContentEncoding), "gzip"},
				{"Cache-Control", aws.ToString(get.CacheControl), "max-age=60"},
				{"x-amz-meta-origin", get.Metadata["origin"], "test"},
			} {
				if c.got != c.want {
					t.Errorf("GetObject %s = %q, want %q", c.name, c.got, c.want)
				}
			}
			if aws.ToInt64(get.ContentLength) != int64(len(body)) {
				t.Errorf("Content-Length = %d, want %d", aws.ToInt64(get.ContentLength), len(body))
			}
			if get.LastModified == nil || srv.Now().Sub(*get.LastModified) > time.Minute {
				t.Errorf("Last-Modified = %v, want about %v", get.LastModified, srv.Now())
			}

			head, err := s3c.HeadObject(context.Background(), &s3.HeadObjectInput{Bucket: aws.String("tiles"), Key: aws.String("3/4/2.png")})
			if err != nil {
				t.Fatalf("HeadObject: %v", err)
			}
			if aws.ToString(head.ETag) != wantETag || aws.ToInt64(head.ContentLength) != int64(len(body)) {
				t.Errorf("HeadObject ETag %q length %d, want %q %d", aws.ToString(head.ETag), aws.ToInt64(head.ContentLength), wantETag, len(body))
			}

			_, err = s3c.GetObject(context.Background(), &s3.GetObjectInput{Bucket: aws.String("tiles"), Key: aws.String("missing")})
			var nsk *s3types.NoSuchKey
			if !errors.As(err, &nsk) {
				t.Errorf("GetObject of a missing key: %v, want NoSuchKey", err)
			}

			if n := srv.Count(privates3test.OpAssumeRole); n != 1 {
				t.Errorf("Count(AssumeRole) = %d, want 1", n)
			}
			if n := srv.CountKey(privates3test.OpGetObject, "3/4/2.png"); n != 1 {
				t.Errorf("CountKey(GetObject, 3/4/2.png) = %d, want 1", n)
			}
			if n := srv.Count(privates3test.OpGetObject); n != 2 {
				t.Errorf("Count(GetObject) = %d, want 2", n)
			}
			if n := srv.Count(privates3test.OpHeadObject); n != 1 {
				t.Errorf("Count(HeadObject) = %d, want 1", n)
			}
			srv.ResetCounts()
			if n := srv.Count(privates3test.OpGetObject); n != 0 {
				t.Errorf("Count after ResetCounts = %d, want 0", n)
			}
		})
	}
}

func TestSDKTokenExpiresOnFakeClock(t *testing.T) {
	srv := newServer(t, "tiles", "k", "v")
	s3c, _ := assume(t, srv, &sts.AssumeRoleInput{RoleArn: aws.String(srv.ReaderRole("tiles")), DurationSeconds: aws.Int32(900)})
	get := func() error { return getObject(context.Background(), s3c, "tiles", "k") }
	if err := get(); err != nil {
		t.Fatalf("GetObject before expiry: %v", err)
	}
	srv.Advance(14 * time.Minute)
	if err := get(); err != nil {
		t.Fatalf("GetObject 14 minutes later (token valid 15): %v", err)
	}
	srv.Advance(time.Minute)
	if err := get(); apiCode(err) != "ExpiredToken" {
		t.Fatalf("GetObject after expiry: %v, want ExpiredToken", err)
	}
	// The skew check uses real time: the base user, signing with real time, still works two hours
	// later on the fake clock.
	srv.Advance(2 * time.Hour)
	baseS3, stsc := sdkClients(srv)
	if err := getObject(context.Background(), baseS3, "tiles", "k"); err != nil {
		t.Fatalf("GetObject with the base user after Advance: %v", err)
	}
	if _, err := stsc.GetCallerIdentity(context.Background(), &sts.GetCallerIdentityInput{}); err != nil {
		t.Fatalf("GetCallerIdentity after Advance: %v", err)
	}
}

func TestSDKInProcessSynctest(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		srv := newServer(t, "tiles", "k", "v", privates3test.InProcess())
		s3c, out := assume(t, srv, &sts.AssumeRoleInput{RoleArn: aws.String(srv.ReaderRole("tiles"))})
		if got := *out.Credentials.Expiration; !got.Equal(time.Now().Add(time.Hour).UTC().Truncate(time.Second)) {
			t.Errorf("Expiration = %v, want an hour after the bubble's now %v", got, time.Now())
		}
		time.Sleep(59 * time.Minute)
		if err := getObject(context.Background(), s3c, "tiles", "k"); err != nil {
			t.Fatalf("GetObject after 59m: %v", err)
		}
		time.Sleep(time.Minute)
		if err := getObject(context.Background(), s3c, "tiles", "k"); apiCode(err) != "ExpiredToken" {
			t.Fatalf("GetObject after 60m: %v, want ExpiredToken", err)
		}
	})
}

func TestSDKSignatureRejected(t *testing.T) {
	srv := newServer(t, "tiles", "k", "v")
	cfg := srv.AWSConfig()
	cfg.RetryMaxAttempts = 1
	base := srv.BaseCredentials()
	for _, c := range []struct {
		name  string
		creds aws.Credentials
		code  string
	}{
		{"wrong secret", aws.Credentials{AccessKeyID: base.AccessKeyID, SecretAccessKey: base.SecretAccessKey + "x"}, "SignatureDoesNotMatch"},
		{"unknown key", aws.Credentials{AccessKeyID: "AKIAUNKNOWNUNKNOWN00", SecretAccessKey: base.SecretAccessKey}, "InvalidAccessKeyId"},
		{"unknown token", aws.Credentials{AccessKeyID: "ASIAUNKNOWNUNKNOWN00", SecretAccessKey: "x", SessionToken: "bogus"}, "InvalidToken"},
	} {
		t.Run(c.name, func(t *testing.T) {
			cfg := cfg.Copy()
			cfg.Credentials = credentials.StaticCredentialsProvider{Value: c.creds}
			s3c := s3.NewFromConfig(cfg, func(o *s3.Options) { o.UsePathStyle = true })
			_, err := s3c.GetObject(context.Background(), &s3.GetObjectInput{Bucket: aws.String("tiles"), Key: aws.String("k")})
			if apiCode(err) != c.code {
				t.Errorf("GetObject: %v, want %s", err, c.code)
			}
		})
	}
}

func TestSDKPutAndDeleteOverHTTP(t *testing.T) {
	srv := privates3test.NewServer()
	defer srv.Close()
	s3c, _ := sdkClients(srv)
	ctx := context.Background()
	body := bytes.Repeat([]byte("x"), 1000)
	_, err := s3c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("up"), Key: aws.String("k"), Body: bytes.NewReader(body)})
	if apiCode(err) != "NoSuchBucket" {
		t.Errorf("PutObject to a bucket that does not exist: %v, want NoSuchBucket", err)
	}
	srv.CreateBucket("up")
	_, err = s3c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("up"), Key: aws.String("a b+c"), Body: bytes.NewReader(body), ContentType: aws.String("text/plain")})
	if err != nil {
		t.Fatalf("PutObject: %v", err)
	}
	get, err := s3c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("up"), Key: aws.String("a b+c")})
	if err != nil {
		t.Fatalf("GetObject: %v", err)
	}
	got, _ := io.ReadAll(get.Body)
	get.Body.Close()
	if !bytes.Equal(got, body) || aws.ToString(get.ContentType) != "text/plain" {
		t.Errorf("GetObject = %d bytes of type %q, want %d of text/plain", len(got), aws.ToString(get.ContentType), len(body))
	}
	if _, err := s3c.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String("up"), Key: aws.String("a b+c")}); err != nil {
		t.Fatalf("DeleteObject: %v", err)
	}
	_, err = s3c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String("up"), Key: aws.String("a b+c")})
	var resp interface{ HTTPStatusCode() int }
	if !errors.As(err, &resp) || resp.HTTPStatusCode() != http.StatusNotFound {
		t.Errorf("HeadObject after delete: %v, want 404", err)
	}
}
