package privates3

// OpenTelemetry metrics (Config.MeterProvider). Counters the Client already keeps for Stats are
// reported by asynchronous instruments read at collection time, so the request path pays nothing
// for them; only durations (histograms) are recorded as they happen. The instruments, their units
// and attributes are listed in README.md, "Metrics and health".

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/metric/noop"
)

// MeterName is the name of the Meter the Client obtains from Config.MeterProvider (the
// instrumentation scope of its metrics).
const MeterName = "github.com/privates3/privates3"

// Attribute keys of the Client's metrics, besides the semantic conventions' rpc.method,
// error.type and http.request.method.
const (
	attrResult      = "privates3.result"       // hit, miss; success, failure; signed, reused
	attrSource      = "privates3.source"       // cache, s3
	attrMode        = "privates3.mode"         // proxy, redirect
	attrStatusClass = "privates3.status_class" // 1xx to 5xx
)

// durationBuckets are the boundaries (seconds) of the duration histograms: those of the
// semantic conventions for HTTP, with three below 5ms, where cached answers fall.
var durationBuckets = []float64{0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10}

// metrics holds a Client's instruments and the few values that only metrics need.
type metrics struct {
	enabled bool // a MeterProvider was configured: the handler measures its requests
	s3      metric.Float64Histogram
	sts     metric.Float64Histogram
	http    metric.Float64Histogram
	reg     metric.Registration // of the callback that observes the counters

	active                atomic.Int64 // handler requests in flight, Proxy mode
	activeRedirect        atomic.Int64 // the same, Redirect mode
	servedCache, servedS3 atomic.Int64 // object bytes delivered to callers, by source

	// httpOpts[mode][method][class] are the attributes of a handler request, made once:
	// recording them allocates nothing.
	httpOpts [2][3][5][]metric.RecordOption
}

// newMetrics creates c's instruments from mp (nil: no metrics) and registers the callback that
// observes c's counters and credentials until c is closed.
func newMetrics(mp metric.MeterProvider, c *Client) (*metrics, error) {
	m := &metrics{enabled: mp != nil}
	if mp == nil {
		mp = noop.NewMeterProvider()
	}
	meter := mp.Meter(MeterName)
	var errs []error
	check := func(err error) {
		if err != nil {
			errs = append(errs, err)
		}
	}
	histogram := func(name, desc string) metric.Float64Histogram {
		h, err := meter.Float64Histogram(name, metric.WithUnit("s"), metric.WithDescription(desc),
			metric.WithExplicitBucketBoundaries(durationBuckets...))
		check(err)
		return h
	}
	m.s3 = histogram("privates3.s3.duration", "Duration of S3 calls, by operation (rpc.method) and error class (error.type, absent on success).")
	m.sts = histogram("privates3.sts.duration", "Duration of STS calls, by error class (error.type, absent on success).")
	m.http = histogram("http.server.request.duration", "Duration of the handler's requests, by mode and status class.")
	counter := func(name, unit, desc string) metric.Int64ObservableCounter {
		i, err := meter.Int64ObservableCounter(name, metric.WithUnit(unit), metric.WithDescription(desc))
		check(err)
		return i
	}
	updown := func(name, unit, desc string) metric.Int64ObservableUpDownCounter {
		i, err := meter.Int64ObservableUpDownCounter(name, metric.WithUnit(unit), metric.WithDescription(desc))
		check(err)
		return i
	}
	lookups := counter("privates3.cache.lookups", "{lookup}", "Object lookups in the cache, by result (hit, miss).")
	revalidations := counter("privates3.cache.revalidations", "{revalidation}", "Expired cache entries revalidated with S3 (If-None-Match).")
	notModified := counter("privates3.cache.not_modified", "{revalidation}", "Revalidations answered 304 Not Modified (entry renewed, no body downloaded).")
	evictions := counter("privates3.cache.evictions", "{entry}", "Cache entries evicted to stay within Config.CacheBytes.")
	size := updown("privates3.cache.size", "By", "Bytes held by the cache, per-entry overhead included.")
	entries := updown("privates3.cache.entries", "{entry}", "Entries in the cache, negative (not found) entries included.")
	dedup := counter("privates3.fetch.deduplicated", "{call}", "Calls that shared another call's upstream fetch instead of making their own.")
	streamed := counter("privates3.fetch.streamed", "{object}", "Objects (or ranges) streamed from S3 without caching.")
	served := counter("privates3.served", "By", "Object bytes delivered by GetObject bodies and the handler (ReadRange excluded), by source (cache: from memory; s3: streamed).")
	refreshes := counter("privates3.credentials.refreshes", "{refresh}", "Renewals of the Client's credentials after the first, by result (success, failure; each retry counts).")
	forced := counter("privates3.credentials.forced_refreshes", "{refresh}", "Renewals forced by S3 rejecting the credentials (ExpiredToken, InvalidAccessKeyId).")
	remaining, err := meter.Float64ObservableGauge("privates3.credentials.remaining", metric.WithUnit("s"),
		metric.WithDescription("Seconds until the credentials the Client signs with expire (negative once expired); absent if they never expire."))
	check(err)
	presigned := counter("privates3.presign.urls", "{url}", "URLs returned by Presign (and redirects), by result (signed, reused: a remembered URL of the same window).")
	scoped := counter("privates3.scoped.issued", "{credential}", "Scoped credentials issued through STS (reuses excluded).")
	active := updown("http.server.active_requests", "{request}", "Requests the handler is serving now, by mode.")

	attrs := func(kv ...attribute.KeyValue) metric.ObserveOption {
		return metric.WithAttributeSet(attribute.NewSet(kv...))
	}
	hit, miss := attrs(attribute.String(attrResult, "hit")), attrs(attribute.String(attrResult, "miss"))
	success, failure := attrs(attribute.String(attrResult, "success")), attrs(attribute.String(attrResult, "failure"))
	signed, reused := attrs(attribute.String(attrResult, "signed")), attrs(attribute.String(attrResult, "reused"))
	fromCache, fromS3 := attrs(attribute.String(attrSource, "cache")), attrs(attribute.String(attrSource, "s3"))
	proxy, redirect := attrs(attribute.String(attrMode, Proxy.String())), attrs(attribute.String(attrMode, Redirect.String()))
	reg, err := meter.RegisterCallback(func(_ context.Context, o metric.Observer) error {
		s := &c.stats
		o.ObserveInt64(lookups, s.cacheHits.Load(), hit)
		o.ObserveInt64(lookups, s.cacheMisses.Load(), miss)
		o.ObserveInt64(revalidations, s.revalidations.Load())
		o.ObserveInt64(notModified, s.notModified.Load())
		o.ObserveInt64(evictions, s.evictions.Load())
		o.ObserveInt64(size, s.cachedBytes.Load())
		o.ObserveInt64(entries, s.cachedObjects.Load())
		o.ObserveInt64(dedup, s.deduplicated.Load())
		o.ObserveInt64(streamed, s.streamed.Load())
		o.ObserveInt64(served, m.servedCache.Load(), fromCache)
		o.ObserveInt64(served, m.servedS3.Load(), fromS3)
		o.ObserveInt64(refreshes, s.refreshes.Load(), success)
		o.ObserveInt64(refreshes, s.refreshFailures.Load(), failure)
		o.ObserveInt64(forced, s.forcedRefreshes.Load())
		if exp, ok := c.CredentialsExpiry(); ok {
			o.ObserveFloat64(remaining, time.Until(exp).Seconds())
		}
		o.ObserveInt64(presigned, s.presigned.Load(), signed)
		o.ObserveInt64(presigned, s.presignCacheHits.Load(), reused)
		o.ObserveInt64(scoped, s.scopedCredentials.Load())
		o.ObserveInt64(active, m.active.Load(), proxy)
		o.ObserveInt64(active, m.activeRedirect.Load(), redirect)
		return nil
	}, lookups, revalidations, notModified, evictions, size, entries, dedup, streamed, served,
		refreshes, forced, remaining, presigned, scoped, active)
	check(err)
	m.reg = reg

	for mode, modeName := range []string{Proxy.String(), Redirect.String()} {
		for method, methodName := range []string{http.MethodGet, http.MethodHead, "_OTHER"} {
			for class := range 5 {
				set := attribute.NewSet(attribute.String(attrMode, modeName),
					attribute.String("http.request.method", methodName),
					attribute.String(attrStatusClass, fmt.Sprintf("%dxx", class+1)))
				m.httpOpts[mode][method][class] = []metric.RecordOption{metric.WithAttributeSet(set)}
			}
		}
	}
	if len(errs) > 0 {
		m.close()
		return nil, fmt.Errorf("%w: Config.MeterProvider: %w", ErrInvalidConfig, errors.Join(errs...))
	}
	return m, nil
}

// close stops the observation of the Client's counters. It is safe on a nil m.
func (m *metrics) close() {
	if m != nil && m.reg != nil {
		m.reg.Unregister()
	}
}

// CredentialsExpiry returns when the credentials the Client signs with now expire, and false if
// they never expire (static base credentials without RoleARN). It does not wait or call STS: it
// reports the state the background refresher maintains, for readiness checks and alerts.
func (c *Client) CredentialsExpiry() (time.Time, bool) {
	st := c.creds.cur.Load()
	if st == nil || !st.creds.CanExpire {
		return time.Time{}, false
	}
	return st.creds.Expires, true
}

// s3Call runs f, one S3 call counted in n (Stats.UpstreamGets or UpstreamHeads), and records its
// duration and error class. A 304 answer to a revalidation is a success.
func s3Call[T any](c *Client, ctx context.Context, n *atomic.Int64, f func(context.Context) (T, error)) (T, error) {
	begin := time.Now()
	out, err := f(ctx)
	op := "GetObject"
	if n == &c.stats.upstreamHeads {
		op = "HeadObject"
	}
	class := ""
	if _, status := code(err); err != nil && status != http.StatusNotModified {
		class = errorClass(upstreamError(ctx, op, "", err, c.cfg.FetchTimeout))
	}
	c.metrics.record(ctx, c.metrics.s3, begin, attribute.String("rpc.method", op), class)
	return out, err
}

// stsCall records the duration and error class (of the package's error err) of an AssumeRole
// call that began at begin.
func (c *Client) stsCall(ctx context.Context, begin time.Time, err error) {
	c.metrics.record(ctx, c.metrics.sts, begin, attribute.String("rpc.method", "AssumeRole"), errorClass(err))
}

// record records the time since begin in h with the operation and the error class, if any.
func (m *metrics) record(ctx context.Context, h metric.Float64Histogram, begin time.Time, op attribute.KeyValue, class string) {
	if !m.enabled {
		return
	}
	d := time.Since(begin).Seconds()
	if class == "" {
		h.Record(ctx, d, metric.WithAttributes(op))
		return
	}
	h.Record(ctx, d, metric.WithAttributes(op, attribute.String("error.type", class)))
}

// served counts n bytes of o delivered to its reader, from memory (cache) or streamed from S3.
func (o *object) served(n int, cache bool) {
	// Only with a MeterProvider: a counter shared by every request costs the hot path a
	// contended atomic add.
	if o.c == nil || n <= 0 || !o.c.metrics.enabled {
		return
	}
	if cache {
		o.c.metrics.servedCache.Add(int64(n))
	} else {
		o.c.metrics.servedS3.Add(int64(n))
	}
}

// measured is the ResponseWriter of a handler request while metrics are enabled: it remembers
// the status for http.server.request.duration.
type measured struct {
	http.ResponseWriter
	status int
}

func (w *measured) WriteHeader(status int) {
	if w.status == 0 {
		w.status = status
	}
	w.ResponseWriter.WriteHeader(status)
}

func (w *measured) Write(p []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(p)
}

// ReadFrom implements io.ReaderFrom (http.ServeContent's copy) with the underlying writer's, if
// it has one (net/http's does), so that no copy buffer is allocated.
func (w *measured) ReadFrom(src io.Reader) (int64, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	if rf, ok := w.ResponseWriter.(io.ReaderFrom); ok {
		return rf.ReadFrom(src)
	}
	return io.Copy(w.ResponseWriter, onlyReader{src})
}

// measuredWriters recycles the writers of measured requests: no allocation per request. A handler
// must not use its ResponseWriter after ServeHTTP returns (net/http's rule), so reuse is safe.
var measuredWriters = sync.Pool{New: func() any { return new(measured) }}

// Unwrap lets http.ResponseController reach the underlying writer.
func (w *measured) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// measure serves r with serve, recording its duration, mode, method and status class, and
// counting it in flight meanwhile.
func (m *metrics) measure(mode Mode, w http.ResponseWriter, r *http.Request, serve func(http.ResponseWriter, *http.Request)) {
	active := &m.active
	if mode == Redirect {
		active = &m.activeRedirect
	}
	active.Add(1)
	begin := time.Now()
	mw := measuredWriters.Get().(*measured)
	mw.ResponseWriter, mw.status = w, 0
	defer func() { // also when the handler aborts the response (panic(http.ErrAbortHandler))
		d := time.Since(begin).Seconds()
		active.Add(-1)
		method := 2
		switch r.Method {
		case http.MethodGet:
			method = 0
		case http.MethodHead:
			method = 1
		}
		class := 1 // nothing written: net/http sends 200
		if mw.status >= 100 && mw.status < 600 {
			class = mw.status/100 - 1
		}
		m.http.Record(r.Context(), d, m.httpOpts[min(int(mode), 1)][method][class]...)
		mw.ResponseWriter = nil
		measuredWriters.Put(mw)
	}()
	serve(mw, r)
}
