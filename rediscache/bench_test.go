package rediscache_test

import (
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/privates3/privates3"
	"github.com/privates3/privates3/privates3test"
	"github.com/privates3/privates3/rediscache"
)

// benchWriter is a ResponseWriter that counts and discards the body.
type benchWriter struct {
	h      http.Header
	status int
	n      int
}

func (w *benchWriter) Header() http.Header         { return w.h }
func (w *benchWriter) WriteHeader(s int)           { w.status = s }
func (w *benchWriter) Write(p []byte) (int, error) { w.n += len(p); return len(p), nil }

// BenchmarkSharedTier measures one GET of a 20 KiB object through the handler (ServeHTTP, no
// network between client and handler) answered three ways, side by side in alternating rounds of
// 50 requests: from the Client's memory cache ("memory"), from the shared tier on a local
// redis-server ("shared", a Client without memory cache: a Redis GET and the entry's SHA-256
// check per request), and from the fake S3 over loopback HTTP ("s3", a Client without any cache:
// a signed GET per request). Metrics: ns per request of each, and the ratios s3/shared and
// shared/memory (medians over the rounds).
func BenchmarkSharedTier(b *testing.B) {
	tr := newTier(b)
	body := randomValue(20 << 10)
	tr.s3.PutObject("tiles", "k.pbf", body, privates3test.ContentType("application/x-protobuf"))
	client := func(cacheBytes int64, shared bool) http.Handler {
		cfg := tr.s3.Config("tiles")
		cfg.CacheBytes = cacheBytes
		if shared {
			sc := newCache(b, rediscache.Options{URL: tr.srv.URL()})
			eventually(b, 5*time.Second, func() error { return sc.Ping(b.Context()) })
			cfg.SharedCache = sc
		}
		c, err := privates3.New(b.Context(), cfg)
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { c.Close() })
		return http.StripPrefix("/", c.Handler(nil))
	}
	kinds := []struct {
		name string
		h    http.Handler
	}{
		{"memory", client(0, false)},
		{"shared", client(-1, true)},
		{"s3", client(-1, false)},
	}
	req := httptest.NewRequest("GET", "/k.pbf", nil)
	serve := func(h http.Handler) {
		w := &benchWriter{h: http.Header{}, status: 200}
		h.ServeHTTP(w, req)
		if w.status != 200 || w.n != len(body) {
			b.Fatalf("status %d, %d bytes", w.status, w.n)
		}
	}
	for _, k := range kinds {
		serve(k.h) // warm: memory cache, Redis entry, connections
	}
	gets := tr.s3.Count(privates3test.OpGetObject)

	const round = 50
	per := make([][]float64, len(kinds)) // ns per request, per round
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		k := i % len(kinds)
		start := time.Now()
		for range round {
			serve(kinds[k].h)
		}
		per[k] = append(per[k], float64(time.Since(start).Nanoseconds())/round)
	}
	b.StopTimer()
	if len(per[2]) == 0 {
		b.Skip("too few rounds; use -benchtime 30x or more")
	}
	if n := tr.s3.Count(privates3test.OpGetObject) - gets; n != len(per[2])*round {
		b.Fatalf("%d S3 GETs; want %d (only the s3 Client's)", n, len(per[2])*round)
	}
	med := func(xs []float64) float64 {
		xs = slices.Clone(xs)
		slices.Sort(xs)
		return xs[len(xs)/2]
	}
	for k, kd := range kinds {
		b.ReportMetric(med(per[k]), kd.name+"-ns/req")
	}
	b.ReportMetric(med(per[2])/med(per[1]), "s3/shared")
	b.ReportMetric(med(per[1])/med(per[0]), "shared/memory")
}

// BenchmarkS3GetsPerObject counts the S3 GETs per object when 1, 2 or 4 instances (Clients with
// their own memory caches) read the same 50 cold objects at once, each in its own order with 8
// concurrent readers, with and without the shared tier. The figure (gets/object) is a count, not
// a time: run it with -benchtime 1x.
func BenchmarkS3GetsPerObject(b *testing.B) {
	tr := newTier(b)
	const objects = 50
	for i := range objects {
		tr.s3.PutObject("tiles", fmt.Sprintf("o/%d", i), randomValue(20<<10))
	}
	// Each S3 GET takes 20 ms, as a real one may: readers of other instances overlap with it.
	tr.s3.InjectFault(privates3test.Fault{Op: privates3test.OpGetObject, Latency: 20 * time.Millisecond})
	for _, shared := range []bool{false, true} {
		for _, n := range []int{1, 2, 4} {
			b.Run(fmt.Sprintf("tier=%v/instances=%d", shared, n), func(b *testing.B) {
				var perObject float64
				for b.Loop() {
					b.StopTimer()
					tr.srv.cli("FLUSHALL")
					var clients []*privates3.Client
					for range n {
						cfg := tr.s3.Config("tiles")
						if shared {
							sc := newCache(b, tr.opts)
							eventually(b, 5*time.Second, func() error { return sc.Ping(b.Context()) })
							cfg.SharedCache = sc
						}
						c, err := privates3.New(b.Context(), cfg)
						if err != nil {
							b.Fatal(err)
						}
						clients = append(clients, c)
					}
					before := tr.s3.Count(privates3test.OpGetObject)
					b.StartTimer()
					var wg sync.WaitGroup
					for _, c := range clients {
						order := rand.Perm(objects)
						var next sync.Mutex
						for range 8 {
							wg.Go(func() {
								for {
									next.Lock()
									if len(order) == 0 {
										next.Unlock()
										return
									}
									i := order[0]
									order = order[1:]
									next.Unlock()
									if _, err := read(b.Context(), c, fmt.Sprintf("o/%d", i)); err != nil {
										b.Error(err)
									}
								}
							})
						}
					}
					wg.Wait()
					b.StopTimer()
					perObject = float64(tr.s3.Count(privates3test.OpGetObject)-before) / objects
					for _, c := range clients {
						c.Close()
					}
					b.StartTimer()
				}
				b.ReportMetric(perObject, "gets/object")
			})
		}
	}
}
