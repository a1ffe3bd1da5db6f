package cloudfront

import (
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/feature/cloudfront/sign"
)

// BenchmarkSignURL compares a stable signed URL (SignURL: the same URL for a window, signed
// once) with the SDK signing on every call, for one tile URL. Run:
//
//	go test -run '^$' -bench SignURL -benchtime 2000x -count 3 ./cloudfront
func BenchmarkSignURL(b *testing.B) {
	const u = "https://d111111abcdef8.cloudfront.net/tiles/3/4/2.png"
	b.Run("stable", func(b *testing.B) {
		s, _ := newTestSigner(b, t0)
		s.now = time.Now
		b.ReportAllocs()
		for b.Loop() {
			if _, err := s.SignURL(u, nil); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("sdk", func(b *testing.B) {
		signer := sign.NewURLSigner(keyA, testKeys()[0])
		b.ReportAllocs()
		for b.Loop() {
			if _, err := signer.Sign(u, time.Now().Add(time.Hour)); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkSignCookies is the same comparison for the three signed cookies of a wildcard
// policy.
func BenchmarkSignCookies(b *testing.B) {
	opts := CookieOptions{Resource: "https://tiles.example.com/tiles/*"}
	b.Run("stable", func(b *testing.B) {
		s, _ := newTestSigner(b, t0)
		s.now = time.Now
		b.ReportAllocs()
		for b.Loop() {
			if _, err := s.SignCookies(opts); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("sdk", func(b *testing.B) {
		signer := sign.NewCookieSigner(keyA, testKeys()[0])
		b.ReportAllocs()
		for b.Loop() {
			if _, err := signer.SignWithPolicy(&sign.Policy{Statements: []sign.Statement{{
				Resource: opts.Resource, Condition: sign.Condition{DateLessThan: sign.NewAWSEpochTime(time.Now().Add(time.Hour))},
			}}}); err != nil {
				b.Fatal(err)
			}
		}
	})
}
