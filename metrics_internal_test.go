package privates3

import (
	"net/http"
	"net/http/httptest"
	"testing"

	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
)

// BenchmarkMeasure is the handler's metrics alone: what measure adds around a request that does
// nothing (an SDK MeterProvider with a reader), next to the bare call. Read it against
// BenchmarkHandlerMetrics/servehttp's nil-ns/req, the cost of a cached request without metrics.
func BenchmarkMeasure(b *testing.B) {
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(sdkmetric.NewManualReader()))
	defer mp.Shutdown(b.Context())
	m, err := newMetrics(mp, &Client{creds: &credentials{}})
	if err != nil {
		b.Fatal(err)
	}
	defer m.close()
	req := httptest.NewRequest("GET", "/k", nil)
	serve := func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusOK) }
	w := httptest.NewRecorder()
	b.Run("bare", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			serve(w, req)
		}
	})
	b.Run("measured", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			m.measure(Proxy, w, req, serve)
		}
	})
}
