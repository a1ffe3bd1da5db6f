package privates3_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"maps"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/privates3/privates3"
	"github.com/privates3/privates3/privates3test"
)

// newMeteredClient returns a Client of bucket on srv whose metrics go to the returned manual
// reader of the OpenTelemetry SDK.
func newMeteredClient(t *testing.T, srv *privates3test.Server, mod func(*privates3.Config)) (*privates3.Client, *sdkmetric.ManualReader) {
	t.Helper()
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	t.Cleanup(func() { mp.Shutdown(t.Context()) })
	c := newFakeClient(t, srv, func(cfg *privates3.Config) {
		cfg.MeterProvider = mp
		if mod != nil {
			mod(cfg)
		}
	})
	t.Cleanup(func() { c.Close() })
	return c, reader
}

// collect reads every data point of reader as "name{k=v,...}" (attributes sorted) to its value:
// the value of sums and gauges, the count of histograms.
func collect(t *testing.T, reader *sdkmetric.ManualReader) map[string]float64 {
	t.Helper()
	var rm metricdata.ResourceMetrics
	if err := reader.Collect(t.Context(), &rm); err != nil {
		t.Fatalf("Collect: %v", err)
	}
	got := map[string]float64{}
	key := func(name string, attrs attribute.Set) string {
		return name + "{" + attrs.Encoded(attribute.DefaultEncoder()) + "}"
	}
	for _, sm := range rm.ScopeMetrics {
		if sm.Scope.Name != privates3.MeterName {
			t.Errorf("scope %q, want %q", sm.Scope.Name, privates3.MeterName)
		}
		for _, m := range sm.Metrics {
			switch d := m.Data.(type) {
			case metricdata.Sum[int64]:
				for _, p := range d.DataPoints {
					got[key(m.Name, p.Attributes)] = float64(p.Value)
				}
			case metricdata.Gauge[float64]:
				for _, p := range d.DataPoints {
					got[key(m.Name, p.Attributes)] = p.Value
				}
			case metricdata.Histogram[float64]:
				for _, p := range d.DataPoints {
					got[key(m.Name, p.Attributes)] = float64(p.Count)
					if p.Sum < 0 || p.Count > 0 && p.Sum == 0 && m.Name != "http.server.request.duration" {
						t.Errorf("%s: sum %v of %d durations", key(m.Name, p.Attributes), p.Sum, p.Count)
					}
				}
			default:
				t.Errorf("%s: unexpected data type %T", m.Name, m.Data)
			}
		}
	}
	return got
}

// checkMetrics requires got to have exactly the data points of want for every metric name that
// want mentions.
func checkMetrics(t *testing.T, got, want map[string]float64) {
	t.Helper()
	names := map[string]bool{}
	for k := range want {
		names[k[:strings.IndexByte(k, '{')]] = true
	}
	for _, k := range slices.Sorted(maps.Keys(got)) {
		if names[k[:strings.IndexByte(k, '{')]] {
			if w, ok := want[k]; !ok {
				t.Errorf("unexpected %s = %v", k, got[k])
			} else if got[k] != w {
				t.Errorf("%s = %v, want %v", k, got[k], w)
			}
		}
	}
	for _, k := range slices.Sorted(maps.Keys(want)) {
		if _, ok := got[k]; !ok {
			t.Errorf("missing %s (want %v)", k, want[k])
		}
	}
}

// TestMetricsTraffic runs scripted traffic against the fake (hits, misses, a not-found, an
// access denied, a streamed object, presigned URLs, scoped credentials, an STS failure while S3
// rejects the expired token, then the forced refresh that recovers) and checks the exact value of
// every instrument.
func TestMetricsTraffic(t *testing.T) {
	srv := privates3test.NewServer()
	defer srv.Close()
	srv.PutObject(bucket, "a", []byte("hello"))
	srv.PutObject(bucket, "b", []byte("bee"))
	srv.PutObject(bucket, "denied", []byte("x"))
	srv.PutObject(bucket, "big", []byte(strings.Repeat("B", 100)))
	c, reader := newMeteredClient(t, srv, func(cfg *privates3.Config) { cfg.MaxCacheableSize = 16 })
	ctx := t.Context()
	read := func(key string) error {
		obj, err := c.GetObject(ctx, key)
		if err != nil {
			return err
		}
		_, err = io.Copy(io.Discard, obj.Body)
		obj.Body.Close()
		return err
	}
	mustRead := func(key string) {
		if err := read(key); err != nil {
			t.Fatalf("GetObject %s: %v", key, err)
		}
	}
	mustRead("a")
	mustRead("a")
	for range 2 {
		if err := read("missing"); !errors.Is(err, privates3.ErrNotFound) {
			t.Fatalf("GetObject missing: %v, want ErrNotFound", err)
		}
	}
	srv.InjectFault(privates3test.Fault{Op: privates3test.OpGetObject, Key: "denied", Status: 403, Code: "AccessDenied"})
	if err := read("denied"); !errors.Is(err, privates3.ErrAccessDenied) {
		t.Fatalf("GetObject denied: %v, want ErrAccessDenied", err)
	}
	mustRead("big")
	for range 2 {
		if _, err := c.Presign(ctx, "a", nil); err != nil {
			t.Fatalf("Presign: %v", err)
		}
		if _, err := c.ScopedCredentials(ctx, "a/", 0); err != nil {
			t.Fatalf("ScopedCredentials: %v", err)
		}
	}

	// The token expires on the fake's clock while STS fails: S3 says ExpiredToken, the forced
	// refresh fails (one AssumeRole operation, its SDK retries included).
	srv.Advance(2 * time.Hour)
	srv.InjectFault(privates3test.Fault{Op: privates3test.OpAssumeRole, Status: 500})
	if err := read("b"); !errors.Is(err, privates3.ErrCredentials) {
		t.Fatalf("GetObject b with STS failing: %v, want ErrCredentials", err)
	}
	srv.ClearFaults()
	time.Sleep(1100 * time.Millisecond) // callers reuse a failed renewal's error for a second
	mustRead("b")

	st := c.Stats()
	want := map[string]float64{
		"privates3.cache.lookups{privates3.result=hit}":                        2, // a, missing
		"privates3.cache.lookups{privates3.result=miss}":                       6, // a, missing, denied, big, b, b
		"privates3.cache.revalidations{}":                                      0,
		"privates3.cache.not_modified{}":                                       0,
		"privates3.cache.evictions{}":                                          0,
		"privates3.cache.entries{}":                                            4, // a, missing, big (metadata), b
		"privates3.cache.size{}":                                               float64(st.CachedBytes),
		"privates3.fetch.deduplicated{}":                                       0,
		"privates3.fetch.streamed{}":                                           1,
		"privates3.served{privates3.source=cache}":                             5 + 5 + 3,
		"privates3.served{privates3.source=s3}":                                100,
		"privates3.s3.duration{rpc.method=GetObject}":                          3, // a, big, b after the refresh
		"privates3.s3.duration{error.type=not_found,rpc.method=GetObject}":     1,
		"privates3.s3.duration{error.type=access_denied,rpc.method=GetObject}": 1,
		"privates3.s3.duration{error.type=credentials,rpc.method=GetObject}":   2, // ExpiredToken, twice
		"privates3.sts.duration{rpc.method=AssumeRole}":                        3, // New, scoped, the forced refresh
		"privates3.sts.duration{error.type=credentials,rpc.method=AssumeRole}": 1,
		"privates3.credentials.refreshes{privates3.result=success}":            1,
		"privates3.credentials.refreshes{privates3.result=failure}":            1,
		"privates3.credentials.forced_refreshes{}":                             2,
		"privates3.presign.urls{privates3.result=signed}":                      1,
		"privates3.presign.urls{privates3.result=reused}":                      1,
		"privates3.scoped.issued{}":                                            1,
		"http.server.active_requests{privates3.mode=proxy}":                    0,
		"http.server.active_requests{privates3.mode=redirect}":                 0,
	}
	got := collect(t, reader)
	checkMetrics(t, got, want)

	// The fake issued the new credentials at its clock (2h ahead) for an hour.
	exp, ok := c.CredentialsExpiry()
	left := got["privates3.credentials.remaining{}"]
	if !ok || left < (3*time.Hour-time.Minute).Seconds() || left > 3*time.Hour.Seconds() ||
		time.Until(exp).Seconds() > left {
		t.Errorf("credentials.remaining = %vs, CredentialsExpiry in %v (%v)", left, time.Until(exp), ok)
	}
	// The counters agree with Stats.
	if st.CacheHits != 2 || st.CacheMisses != 6 || st.Refreshes != 1 || st.RefreshFailures != 1 || st.STSCalls != 4 {
		t.Errorf("Stats = %+v", st)
	}

	// A closed Client is no longer observed.
	c.Close()
	for k := range collect(t, reader) {
		if strings.HasPrefix(k, "privates3.cache.") {
			t.Errorf("%s observed after Close", k)
		}
	}
}

// TestMetricsRevalidation: an expired entry revalidated with a 304 counts as a miss, a
// revalidation, a not-modified and a successful S3 call.
func TestMetricsRevalidation(t *testing.T) {
	srv := privates3test.NewServer()
	defer srv.Close()
	srv.PutObject(bucket, "a", []byte("hello"))
	c, reader := newMeteredClient(t, srv, func(cfg *privates3.Config) { cfg.TTL = time.Nanosecond })
	for range 3 {
		mustGet(t, c, "a")
	}
	checkMetrics(t, collect(t, reader), map[string]float64{
		"privates3.cache.lookups{privates3.result=miss}": 3,
		"privates3.cache.lookups{privates3.result=hit}":  0,
		"privates3.cache.revalidations{}":                2,
		"privates3.cache.not_modified{}":                 2,
		"privates3.s3.duration{rpc.method=GetObject}":    3,
		"privates3.served{privates3.source=cache}":       15,
		"privates3.served{privates3.source=s3}":          0,
	})
}

// TestMetricsHandler checks http.server.request.duration by mode, method and status class, and
// that no request stays counted in flight.
func TestMetricsHandler(t *testing.T) {
	srv := privates3test.NewServer()
	defer srv.Close()
	srv.PutObject(bucket, "a", []byte("hello"))
	srv.PutObject(bucket, "big", []byte(strings.Repeat("B", 100)))
	c, reader := newMeteredClient(t, srv, func(cfg *privates3.Config) { cfg.MaxCacheableSize = 16 })
	proxy := httptest.NewServer(http.StripPrefix("/p/", c.Handler(nil)))
	defer proxy.Close()
	redirect := httptest.NewServer(http.StripPrefix("/r/", c.Handler(&privates3.HandlerOptions{Mode: privates3.Redirect})))
	defer redirect.Close()
	hc := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	etag := ""
	for _, tt := range []struct {
		method, url string
		inm         bool
		rng         string
		status      int
		body        string
	}{
		{"GET", proxy.URL + "/p/a", false, "", 200, "hello"},
		{"GET", proxy.URL + "/p/a", true, "", 304, ""},
		{"GET", proxy.URL + "/p/a", false, "bytes=1-2", 206, "el"},
		{"HEAD", proxy.URL + "/p/a", false, "", 200, ""},
		{"GET", proxy.URL + "/p/big", false, "", 200, strings.Repeat("B", 100)},
		{"GET", proxy.URL + "/p/missing", false, "", 404, "Not Found\n"},
		{"GET", proxy.URL + "/p/a%5Cb", false, "", 400, "Bad Request\n"},
		{"POST", proxy.URL + "/p/a", false, "", 405, "Method Not Allowed\n"},
		{"GET", redirect.URL + "/r/a", false, "", 307, ""},
	} {
		req, _ := http.NewRequestWithContext(t.Context(), tt.method, tt.url, nil)
		if tt.inm {
			req.Header.Set("If-None-Match", etag)
		}
		if tt.rng != "" {
			req.Header.Set("Range", tt.rng)
		}
		resp, err := hc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != tt.status || string(body) != tt.body {
			t.Fatalf("%s %s: %d %q, want %d %q", tt.method, tt.url, resp.StatusCode, body, tt.status, tt.body)
		}
		if etag == "" {
			etag = resp.Header.Get("Etag")
		}
	}
	const d = "http.server.request.duration"
	checkMetrics(t, collect(t, reader), map[string]float64{
		d + "{http.request.method=GET,privates3.mode=proxy,privates3.status_class=2xx}":    3,
		d + "{http.request.method=GET,privates3.mode=proxy,privates3.status_class=3xx}":    1,
		d + "{http.request.method=HEAD,privates3.mode=proxy,privates3.status_class=2xx}":   1,
		d + "{http.request.method=GET,privates3.mode=proxy,privates3.status_class=4xx}":    2,
		d + "{http.request.method=_OTHER,privates3.mode=proxy,privates3.status_class=4xx}": 1,
		d + "{http.request.method=GET,privates3.mode=redirect,privates3.status_class=3xx}": 1,
		"http.server.active_requests{privates3.mode=proxy}":                                0,
		"http.server.active_requests{privates3.mode=redirect}":                             0,
		"privates3.served{privates3.source=cache}":                                         5 + 2,
		"privates3.served{privates3.source=s3}":                                            100,
		"privates3.presign.urls{privates3.result=signed}":                                  1,
		"privates3.presign.urls{privates3.result=reused}":                                  0,
		"privates3.s3.duration{rpc.method=GetObject}":                                      2,
		"privates3.s3.duration{error.type=not_found,rpc.method=GetObject}":                 1,
	})
}

// Metrics go to any OpenTelemetry MeterProvider; here the SDK's with a manual reader, which a
// server would replace with an exporter (the command's /metrics uses the Prometheus one).
func ExampleConfig_meterProvider() {
	srv := privates3test.NewServer()
	defer srv.Close()
	srv.PutObject("tiles", "0/0/0.png", []byte("png"))

	reader := sdkmetric.NewManualReader()
	cfg := srv.Config("tiles")
	cfg.MeterProvider = sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	c, err := privates3.New(context.Background(), cfg)
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	for range 3 {
		obj, err := c.GetObject(context.Background(), "0/0/0.png")
		if err != nil {
			log.Fatal(err)
		}
		obj.Body.Close()
	}

	var rm metricdata.ResourceMetrics
	if err := reader.Collect(context.Background(), &rm); err != nil {
		log.Fatal(err)
	}
	for _, m := range rm.ScopeMetrics[0].Metrics {
		if m.Name == "privates3.cache.lookups" {
			for _, p := range m.Data.(metricdata.Sum[int64]).DataPoints {
				result, _ := p.Attributes.Value("privates3.result")
				fmt.Printf("%s %s: %d\n", m.Name, result.AsString(), p.Value)
			}
		}
	}
	// Unordered output:
	// privates3.cache.lookups hit: 2
	// privates3.cache.lookups miss: 1
}
