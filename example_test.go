package privates3_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"

	"github.com/privates3/privates3"
	"github.com/privates3/privates3/privates3test"
)

func ExampleNew() {
	// A fake S3 and STS; with real AWS, the Config names the bucket and the role to assume.
	srv := privates3test.NewServer()
	defer srv.Close()

	ctx := context.Background()
	c, err := privates3.New(ctx, srv.Config("tiles"))
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	fmt.Println("STS calls:", c.Stats().STSCalls)

	// An invalid Config is rejected before anything is sent.
	_, err = privates3.New(ctx, privates3.Config{Bucket: "Tiles!"})
	fmt.Println(errors.Is(err, privates3.ErrInvalidConfig))
	// Output:
	// STS calls: 1
	// true
}

func ExampleClient_GetObject() {
	srv := privates3test.NewServer()
	defer srv.Close()
	srv.PutObject("tiles", "3/4/2.png", []byte("PNG..."), privates3test.ContentType("image/png"))

	ctx := context.Background()
	c, err := privates3.New(ctx, srv.Config("tiles"))
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()

	for range 3 {
		obj, err := c.GetObject(ctx, "3/4/2.png")
		if err != nil {
			log.Fatal(err)
		}
		b, err := io.ReadAll(obj.Body)
		obj.Body.Close()
		if err != nil {
			log.Fatal(err)
		}
		fmt.Println(obj.ContentType, obj.Size, string(b))
	}
	st := c.Stats()
	fmt.Println("upstream GETs:", st.UpstreamGets, "cache hits:", st.CacheHits)

	_, err = c.GetObject(ctx, "9/9/9.png")
	fmt.Println(errors.Is(err, privates3.ErrNotFound))
	_, err = c.GetObject(ctx, "../etc/passwd")
	fmt.Println(errors.Is(err, privates3.ErrInvalidKey))
	// Output:
	// image/png 6 PNG...
	// image/png 6 PNG...
	// image/png 6 PNG...
	// upstream GETs: 1 cache hits: 2
	// true
	// true
}
