package privates3test_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials/stscreds"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/privates3/privates3"
	"github.com/privates3/privates3/privates3test"
)

// A fake S3 and STS for a test of code that assumes a role and reads a private bucket with the
// AWS SDK.
func Example() {
	srv := privates3test.NewServer()
	defer srv.Close()
	srv.PutObject("tiles", "3/4/2.png", []byte("png bytes"), privates3test.ContentType("image/png"))

	cfg := srv.AWSConfig()
	cfg.Credentials = aws.NewCredentialsCache(stscreds.NewAssumeRoleProvider(sts.NewFromConfig(cfg), srv.ReaderRole("tiles")))
	client := s3.NewFromConfig(cfg, func(o *s3.Options) { o.UsePathStyle = true })

	out, err := client.GetObject(context.Background(), &s3.GetObjectInput{Bucket: aws.String("tiles"), Key: aws.String("3/4/2.png")})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer out.Body.Close()
	body, _ := io.ReadAll(out.Body)
	fmt.Printf("%s (%s), %d AssumeRole, %d GetObject\n", body, *out.ContentType,
		srv.Count(privates3test.OpAssumeRole), srv.Count(privates3test.OpGetObject))
	// Output: png bytes (image/png), 1 AssumeRole, 1 GetObject
}

// Server.Config wires a privates3.Client to the fake.
func ExampleServer_Config() {
	srv := privates3test.NewServer()
	defer srv.Close()
	srv.PutObject("tiles", "3/4/2.png", []byte("png bytes"), privates3test.ContentType("image/png"))

	c, err := privates3.New(context.Background(), srv.Config("tiles"))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer c.Close()
	obj, err := c.GetObject(context.Background(), "3/4/2.png")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer obj.Body.Close()
	body, _ := io.ReadAll(obj.Body)
	fmt.Printf("%s (%s)\n", body, obj.ContentType)
	_, err = c.GetObject(context.Background(), "missing.png")
	fmt.Println(errors.Is(err, privates3.ErrNotFound))
	// Output:
	// png bytes (image/png)
	// true
}

// Advancing the fake's clock expires temporary credentials (and presigned URLs).
func ExampleServer_Advance() {
	srv := privates3test.NewServer()
	defer srv.Close()
	srv.PutObject("tiles", "k", []byte("v"))

	cfg := srv.AWSConfig()
	out, err := sts.NewFromConfig(cfg).AssumeRole(context.Background(), &sts.AssumeRoleInput{
		RoleArn: aws.String(srv.ReaderRole("tiles")), RoleSessionName: aws.String("example"), DurationSeconds: aws.Int32(900),
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	c := out.Credentials
	cfg.Credentials = aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) {
		return aws.Credentials{AccessKeyID: *c.AccessKeyId, SecretAccessKey: *c.SecretAccessKey, SessionToken: *c.SessionToken}, nil
	})
	client := s3.NewFromConfig(cfg, func(o *s3.Options) { o.UsePathStyle = true })

	srv.Advance(15 * time.Minute)
	// (A HEAD would say only 400: S3 sends no error document for HEAD requests.)
	_, err = client.GetObject(context.Background(), &s3.GetObjectInput{Bucket: aws.String("tiles"), Key: aws.String("k")})
	var code interface{ ErrorCode() string }
	if errors.As(err, &code) {
		fmt.Println(code.ErrorCode())
	}
	// Output: ExpiredToken
}

// A fault makes the next GetObject of one key fail as S3 does when it throttles.
func ExampleServer_InjectFault() {
	srv := privates3test.NewServer()
	defer srv.Close()
	srv.PutObject("tiles", "k", []byte("v"))
	remove := srv.InjectFault(privates3test.Fault{Op: privates3test.OpGetObject, Key: "k", Times: 1, Status: 503, Code: "SlowDown"})
	defer remove()

	cfg := srv.AWSConfig()
	cfg.RetryMaxAttempts = 1
	client := s3.NewFromConfig(cfg, func(o *s3.Options) { o.UsePathStyle = true })
	for range 2 {
		out, err := client.GetObject(context.Background(), &s3.GetObjectInput{Bucket: aws.String("tiles"), Key: aws.String("k")})
		var code interface{ ErrorCode() string }
		switch {
		case errors.As(err, &code):
			fmt.Println(code.ErrorCode())
		case err != nil:
			fmt.Println(err)
		default:
			out.Body.Close()
			fmt.Println("ok")
		}
	}
	fmt.Println(srv.CountKey(privates3test.OpGetObject, "k"), "requests")
	// Output:
	// SlowDown
	// ok
	// 2 requests
}

// Synthetic objects test large downloads without holding them in memory.
func ExampleServer_PutSyntheticObject() {
	srv := privates3test.NewServer()
	defer srv.Close()
	srv.PutSyntheticObject("big", "video.mp4", 1<<30, privates3test.ContentType("video/mp4"))

	cfg := srv.AWSConfig()
	client := s3.NewFromConfig(cfg, func(o *s3.Options) { o.UsePathStyle = true })
	out, err := client.GetObject(context.Background(), &s3.GetObjectInput{
		Bucket: aws.String("big"), Key: aws.String("video.mp4"), Range: aws.String("bytes=1000000000-1000000003"),
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer out.Body.Close()
	got, _ := io.ReadAll(out.Body)
	want := make([]byte, 4)
	for i := range want {
		want[i] = privates3test.SyntheticByte(1000000000 + int64(i))
	}
	fmt.Println(*out.ContentRange, string(got) == string(want))
	// Output: bytes 1000000000-1000000003/1073741824 true
}
