package privates3_test

import (
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	sdkmetric "go.opentelemetry.io/otel/sdk/metric"

	"github.com/privates3/privates3"
	"github.com/privates3/privates3/privates3test"
)

// BenchmarkHandlerMetrics measures the cost of metrics on the cached handler path: two Clients
// of one fake serve the same 20 KiB cached object, one without a MeterProvider (nil: nothing is
// measured) and one with the OpenTelemetry SDK's (a MeterProvider with a reader, as a server
// exporting to Prometheus has), side by side in alternating rounds of hBenchRound requests
// (the order rotating), so that the noise of the shared machine hits both alike.
//
// "loopback": hBenchClients keep-alive clients over real loopback TCP, as BenchmarkHandler.
// "servehttp": the handler's own CPU, ServeHTTP called directly with a discarding writer, in
// rounds of 10*hBenchRound calls.
// ratio-metered is the median over rounds of (metered time / unmetered time): 1.05 is 5% slower.
func BenchmarkHandlerMetrics(b *testing.B) {
	content := hPattern(20 << 10)
	srv := privates3test.NewServer()
	defer srv.Close()
	srv.PutObject(bucket, "bench/tile.pbf", content, privates3test.ContentType("application/x-protobuf"))
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	defer mp.Shutdown(b.Context())
	var handlers [2]http.Handler // unmetered, metered
	for i, p := range []*sdkmetric.MeterProvider{nil, mp} {
		cfg := srv.Config(bucket)
		if p != nil {
			cfg.MeterProvider = p
		}
		c, err := privates3.New(b.Context(), cfg)
		if err != nil {
			b.Fatal(err)
		}
		defer c.Close()
		handlers[i] = http.StripPrefix("/files/", c.Handler(nil))
	}

	rounds := func(b *testing.B, size int, run func(i, n int) time.Duration) {
		b.ReportAllocs()
		b.ResetTimer()
		var total [2]time.Duration
		var ratios []float64
		for done := 0; done < b.N; {
			n := min(size, b.N-done)
			var round [2]time.Duration
			for j := range 2 {
				i := (j + done/size) % 2
				round[i] = run(i, n)
				total[i] += round[i]
			}
			ratios = append(ratios, round[1].Seconds()/round[0].Seconds())
			done += n
		}
		b.StopTimer()
		b.ReportMetric(float64(total[0].Nanoseconds())/float64(b.N), "nil-ns/req")
		b.ReportMetric(float64(total[1].Nanoseconds())/float64(b.N), "sdk-ns/req")
		b.ReportMetric(median(ratios), "ratio-metered")
	}

	b.Run("loopback", func(b *testing.B) {
		var loads [2]*hLoad
		for i, h := range handlers {
			hs := httptest.NewServer(h)
			defer hs.Close()
			loads[i] = hNewLoad(b, hs.URL+"/files/bench/tile.pbf", nil, 200, len(content))
			defer loads[i].close()
		}
		rounds(b, hBenchRound, func(i, n int) time.Duration { return loads[i].run(b, n) })
	})
	b.Run("servehttp", func(b *testing.B) {
		req := httptest.NewRequest("GET", "/files/bench/tile.pbf", nil)
		for _, h := range handlers { // fill the caches
			h.ServeHTTP(&hDiscardWriter{h: http.Header{}}, req)
		}
		rounds(b, 10*hBenchRound, func(i, n int) time.Duration {
			h := handlers[i]
			start := time.Now()
			for range n {
				h.ServeHTTP(&hDiscardWriter{h: http.Header{}}, req)
			}
			return time.Since(start)
		})
	})
}
