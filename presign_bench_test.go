package privates3_test

import (
	"context"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/privates3/privates3"
)

// BenchmarkPresign compares repeated presigning of one key: privates3's Presign (a remembered URL
// within the window) against the SDK's PresignGetObject per call (signing every time), with the
// same credentials, endpoint and expiry. Report the ratio of the two ns/op.
func BenchmarkPresign(b *testing.B) {
	srv, c := newFake(b, func(cfg *privates3.Config) { cfg.Prefix = "maps/" })
	srv.PutObject(bucket, "maps/3/4/2.png", []byte("tile"))
	ctx := context.Background()

	b.Run("impl=privates3", func(b *testing.B) {
		opts := &privates3.PresignOptions{Expiry: time.Hour}
		if _, err := c.Presign(ctx, "3/4/2.png", opts); err != nil {
			b.Fatal(err)
		}
		b.ReportAllocs()
		for b.Loop() {
			if _, err := c.Presign(ctx, "3/4/2.png", opts); err != nil {
				b.Fatal(err)
			}
		}
	})

	b.Run("impl=sdk", func(b *testing.B) {
		// The same kind of credentials (a session token) as the Client signs with.
		sc, err := c.ScopedCredentials(ctx, "", time.Hour)
		if err != nil {
			b.Fatal(err)
		}
		awsCfg := srv.AWSConfig()
		awsCfg.Credentials = aws.NewCredentialsCache(aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) {
			return aws.Credentials{AccessKeyID: sc.AccessKeyID, SecretAccessKey: sc.SecretAccessKey,
				SessionToken: sc.SessionToken, CanExpire: true, Expires: sc.Expires}, nil
		}))
		pc := s3.NewPresignClient(s3.NewFromConfig(awsCfg, func(o *s3.Options) { o.UsePathStyle = true }),
			s3.WithPresignExpires(time.Hour))
		in := &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String("maps/3/4/2.png")}
		b.ReportAllocs()
		for b.Loop() {
			if _, err := pc.PresignGetObject(ctx, in); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkPresignParallel measures the remembered-URL path under concurrent callers.
func BenchmarkPresignParallel(b *testing.B) {
	_, c := newFake(b, nil)
	ctx := context.Background()
	if _, err := c.Presign(ctx, "3/4/2.png", nil); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := c.Presign(ctx, "3/4/2.png", nil); err != nil {
				b.Error(err)
				return
			}
		}
	})
}
