package privates3test_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/privates3/privates3/privates3test"
)

// BenchmarkPresignedGet measures a GET of a 4 KiB object through a presigned URL: the fake
// (signature verification, lookup, S3 headers) against a baseline handler that only writes the
// bytes, over the same loopback client. Compare the two ns/op: the ratio is the fake's overhead.
func BenchmarkPresignedGet(b *testing.B) {
	body := make([]byte, 4096)
	b.Run("baseline", func(b *testing.B) {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/octet-stream")
			_, _ = w.Write(body)
		}))
		defer srv.Close()
		benchGet(b, srv.Client(), srv.URL+"/b1/k")
	})
	b.Run("fake", func(b *testing.B) {
		srv := privates3test.NewServer()
		defer srv.Close()
		srv.PutObject("b1", "k", body)
		u := presignBase(srv, "/b1/k", time.Hour)
		benchGet(b, srv.Client(), u)
	})
}

func benchGet(b *testing.B, c *http.Client, u string) {
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			resp, err := c.Get(u)
			if err != nil {
				b.Error(err)
				return
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 200 {
				b.Errorf("status %d", resp.StatusCode)
				return
			}
		}
	})
}
