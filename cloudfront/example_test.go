package cloudfront_test

import (
	"crypto/rand"
	"crypto/rsa"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/privates3/privates3/cloudfront"
	"github.com/privates3/privates3/privates3test"
)

// A signed URL for a tile, served by a fake CloudFront edge in front of a fake bucket.
func ExampleSigner_SignURL() {
	srv := privates3test.NewServer()
	defer srv.Close()
	srv.PutObject("tiles", "tiles/3/4/2.png", []byte("png"), privates3test.ContentType("image/png"))

	key, err := rsa.GenerateKey(rand.Reader, cloudfront.KeyBits) // in production: ParsePrivateKey
	if err != nil {
		panic(err)
	}
	signer, err := cloudfront.New(cloudfront.Config{Keys: []cloudfront.Key{{ID: "K2JCJMDEHXQW5F", Signer: key}}})
	if err != nil {
		panic(err)
	}
	edge := privates3test.NewEdge(privates3test.EdgeConfig{
		PublicKeys: signer.PublicKeys(),
		Origin:     privates3test.OACOrigin(srv, "tiles"),
		Clock:      srv.Now,
	})
	defer edge.Close()

	opts := &cloudfront.URLOptions{Expiry: time.Hour, Window: 15 * time.Minute}
	u, err := signer.SignURL(edge.URL+"/tiles/3/4/2.png", opts)
	if err != nil {
		panic(err)
	}
	again, _ := signer.SignURL(edge.URL+"/tiles/3/4/2.png", opts)
	fmt.Println("same URL within the window:", again.URL == u.URL)
	fmt.Println("valid for at least 45m:", time.Until(u.Expires) >= 45*time.Minute)

	for range 2 {
		resp, err := http.Get(u.URL)
		if err != nil {
			panic(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		fmt.Println(resp.StatusCode, string(body), resp.Header.Get("X-Cache"))
	}
	fmt.Println("S3 GETs:", srv.Count(privates3test.OpGetObject))

	srv.Advance(2 * time.Hour) // the edge shares the fake's clock
	resp, err := http.Get(u.URL)
	if err != nil {
		panic(err)
	}
	resp.Body.Close()
	fmt.Println("after expiry:", resp.StatusCode)
	// Output:
	// same URL within the window: true
	// valid for at least 45m: true
	// 200 png Miss from cloudfront
	// 200 png Hit from cloudfront
	// S3 GETs: 1
	// after expiry: 403
}
