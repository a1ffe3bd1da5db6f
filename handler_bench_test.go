package privates3_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/privates3/privates3"
	"github.com/privates3/privates3/privates3test"
)

// benchClients is the number of concurrent keep-alive clients of the load loop.
const benchClients = 8

// BenchmarkHandler measures requests per second for a 20 KiB cached object through the handler
// and, side by side, through a bare http.HandlerFunc that writes the same bytes from memory (the
// ceiling on this machine); then the same for the 304 path (If-None-Match with the current ETag).
// Both run over real loopback connections with keep-alive, driven by benchClients goroutines.
// The figure to compare is the req/s metric of handler against bare.
func BenchmarkHandler(b *testing.B) {
	e := newHandlerEnv(b, nil, func(cfg *privates3.Config) {
		cfg.MaxCacheableSize = privates3.DefaultMaxCacheableSize
		cfg.Logger = nil
	})
	content := pattern(20 << 10)
	e.srv.PutObject(hBucket, "bench/tile.pbf", content, privates3test.ContentType("application/x-protobuf"))
	handlerURL := e.url + "/files/bench/tile.pbf"
	warm := e.do(b, "GET", "bench/tile.pbf", nil)
	if warm.status != 200 {
		b.Fatalf("warm-up: status %d", warm.status)
	}
	etag := warm.header.Get("Etag")

	bare := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		if r.Header.Get("If-None-Match") == etag {
			h.Set("Etag", etag)
			w.WriteHeader(http.StatusNotModified)
			return
		}
		h.Set("Content-Type", "application/x-protobuf")
		h.Set("Content-Length", strconv.Itoa(len(content)))
		w.Write(content)
	}))
	defer bare.Close()

	cases := []struct {
		name   string
		url    string
		hdr    http.Header
		status int
	}{
		{"cached-20KiB/handler", handlerURL, nil, 200},
		{"cached-20KiB/bare", bare.URL, nil, 200},
		{"304/handler", handlerURL, headerOf("If-None-Match", etag), 304},
		{"304/bare", bare.URL, headerOf("If-None-Match", etag), 304},
	}
	for _, bc := range cases {
		b.Run(bc.name, func(b *testing.B) { loadLoop(b, bc.url, bc.hdr, bc.status, len(content)) })
	}
}

// loadLoop sends b.N GET requests to url from benchClients keep-alive clients and reports
// requests per second.
func loadLoop(b *testing.B, url string, hdr http.Header, status, size int) {
	tr := &http.Transport{MaxIdleConnsPerHost: benchClients, MaxConnsPerHost: benchClients, DisableCompression: true}
	defer tr.CloseIdleConnections()
	hc := &http.Client{Transport: tr}
	var failed atomic.Value
	one := func() {
		req, _ := http.NewRequest("GET", url, nil)
		for k, v := range hdr {
			req.Header[k] = v
		}
		resp, err := hc.Do(req)
		if err != nil {
			failed.Store(err.Error())
			return
		}
		n, _ := io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != status || status == 200 && n != int64(size) {
			failed.Store("status " + strconv.Itoa(resp.StatusCode) + ", " + strconv.FormatInt(n, 10) + " bytes")
		}
	}
	// Open the connections before measuring.
	var wg sync.WaitGroup
	for range benchClients {
		wg.Go(one)
	}
	wg.Wait()

	var next atomic.Int64
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	for range benchClients {
		wg.Go(func() {
			for next.Add(1) <= int64(b.N) {
				one()
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	if msg := failed.Load(); msg != nil {
		b.Fatalf("request failed: %v", msg)
	}
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "req/s")
}
