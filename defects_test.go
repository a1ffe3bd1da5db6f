package privates3_test

// Regression tests for the defects found under faults and load (issue 9). Each fails on the
// code before the redesign (commit 6bdc654) and passes after it; they use only the public API,
// so they run against both.

import (
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/privates3/privates3"
	"github.com/privates3/privates3/privates3test"
)

// roundTripFunc adapts a function to http.RoundTripper, to alter S3's answers on their way to
// the Client.
type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// cutReader returns the first n bytes of r, then io.ErrUnexpectedEOF: a chunked answer whose
// connection broke.
type cutReader struct {
	r io.ReadCloser
	n int64
}

func (c *cutReader) Read(p []byte) (int, error) {
	if c.n <= 0 {
		return 0, io.ErrUnexpectedEOF
	}
	if int64(len(p)) > c.n {
		p = p[:c.n]
	}
	k, err := c.r.Read(p)
	c.n -= int64(k)
	return k, err
}

func (c *cutReader) Close() error { return c.r.Close() }

// Defect 1: a streamed object whose upstream answer has no Content-Length (chunked), cut off
// mid-body, must reach the HTTP client as an aborted response, never as a clean, short 200; and
// a complete copy of such an answer logs no warning.
func TestDefectChunkedStreamCutOff(t *testing.T) {
	const size = 1 << 20
	for _, cut := range []int64{300 << 10, -1} { // -1: not cut
		t.Run(fmt.Sprintf("cut at %d", cut), func(t *testing.T) {
			base := http.DefaultTransport.(*http.Transport).Clone()
			defer base.CloseIdleConnections()
			e := newHandlerEnv(t, nil, func(cfg *privates3.Config) {
				aws := *cfg.AWS
				aws.HTTPClient = &http.Client{Transport: roundTripFunc(func(r *http.Request) (*http.Response, error) {
					resp, err := base.RoundTrip(r)
					if err != nil || r.Method != http.MethodGet || !strings.HasSuffix(r.URL.Path, "/big.bin") {
						return resp, err
					}
					resp.ContentLength = -1
					resp.Header.Del("Content-Length")
					if cut >= 0 {
						resp.Body = &cutReader{r: resp.Body, n: cut}
					}
					return resp, nil
				})}
				cfg.AWS = &aws
			})
			e.srv.PutSyntheticObject(bucket, "big.bin", size)
			resp, err := e.hc.Get(e.url + "/files/big.bin")
			if err != nil {
				t.Fatal(err)
			}
			n, err := io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if cut >= 0 {
				if resp.StatusCode == http.StatusOK && err == nil {
					t.Fatalf("status 200 and a clean end after %d of %d bytes: a short copy looks complete", n, size)
				}
				return
			}
			if err != nil || n != size {
				t.Fatalf("uncut: %d bytes, %v", n, err)
			}
			if strings.Contains(e.logs.String(), "streaming aborted") {
				t.Errorf("a complete copy logged a warning:\n%s", e.logs)
			}
		})
	}
}

// Defect 2: when every caller of a shared fetch of a large object leaves, or declines its
// response (asking for ranges elsewhere), the upstream response is released at once, not kept
// downloading until FetchTimeout.
func TestDefectAbandonedSharedFetch(t *testing.T) {
	const size = 8 << 20
	srv := privates3test.NewServer()
	defer srv.Close()
	probe := &hUpstreamProbe{next: srv.Handler(), key: "big.bin"}
	hs := newLoopbackServer(t, probe)
	srv.PutSyntheticObject(bucket, "big.bin", size)
	c := newFakeClient(t, srv, func(cfg *privates3.Config) {
		cfg.Endpoint = hs.URL
		cfg.FetchTimeout = time.Minute
	})
	defer c.Close()

	// Ranges away from the start: the shared GET's response is declined by every caller.
	h := c.Handler(nil)
	var wg sync.WaitGroup
	for i := range 4 {
		wg.Go(func() {
			r := httptest.NewRequest(http.MethodGet, "/big.bin", nil)
			r.URL.Path = "big.bin"
			r.Header.Set("Range", fmt.Sprintf("bytes=%d-%d", 1<<20+i, 1<<20+i+9))
			w := httptest.NewRecorder()
			h.ServeHTTP(w, r)
			if w.Code != http.StatusPartialContent || w.Body.Len() != 10 {
				t.Errorf("range: status %d, %d bytes; want 206, 10", w.Code, w.Body.Len())
			}
		})
	}
	wg.Wait()
	if n := srv.CountKey(privates3test.OpGetObject, "big.bin"); n != 5 {
		t.Errorf("%d GETs, want 5 (the shared one and one per range)", n)
	}
	waitFor(t, "the declined shared response to be released", func() bool {
		active, _, _, _ := probe.state()
		return active == 0
	})
	if _, _, _, sent := probe.state(); sent >= size {
		t.Errorf("the declined response was downloaded whole (%d bytes)", sent)
	}
}

// newLoopbackServer serves h on 127.0.0.1 until the test ends.
func newLoopbackServer(t *testing.T, h http.Handler) *httptest.Server {
	t.Helper()
	s := httptest.NewServer(h)
	t.Cleanup(s.Close)
	return s
}

// Defect 3: Close cancels the streams in flight: a GetObject body being read, and a streamed
// response of the handler, stop with an error instead of running on to the end.
func TestDefectCloseCancelsStreams(t *testing.T) {
	const size = 64 << 20
	srv, c := newFake(t, nil)
	srv.PutSyntheticObject(bucket, "big.bin", size)
	hs := newLoopbackServer(t, http.StripPrefix("/", c.Handler(nil)))

	obj, err := c.GetObject(t.Context(), "big.bin")
	if err != nil {
		t.Fatal(err)
	}
	defer obj.Body.Close()
	req, _ := http.NewRequest(http.MethodGet, hs.URL+"/big.bin", nil)
	req.Header.Set("Range", "bytes=1000-")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusPartialContent {
		t.Fatalf("range: status %d, want 206", resp.StatusCode)
	}
	buf := make([]byte, 64<<10)
	for _, r := range []io.Reader{obj.Body, resp.Body} {
		if _, err := io.ReadFull(r, buf); err != nil {
			t.Fatalf("before Close: %v", err)
		}
	}
	c.Close()
	for name, r := range map[string]io.Reader{"GetObject body": obj.Body, "handler response": resp.Body} {
		n, err := io.Copy(io.Discard, r)
		if err == nil {
			t.Errorf("%s: read on to the end after Close (%d more bytes)", name, n)
		}
	}
}

// Defect 4: when S3 keeps rejecting freshly issued credentials (clock skew, a revoked session),
// forced renewals are rate limited: STS calls do not grow with traffic.
func TestDefectForcedRefreshRateLimited(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		srv, c := newFake(t, func(cfg *privates3.Config) { cfg.CacheBytes = -1 }, privates3test.InProcess())
		srv.PutObject(bucket, "k", []byte("x"))
		srv.InjectFault(privates3test.Fault{Op: privates3test.OpGetObject, Status: 400, Code: "ExpiredToken"})
		srv.ResetCounts()
		const clients, d = 16, time.Minute
		var wg sync.WaitGroup
		for range clients {
			wg.Go(func() {
				for end := time.Now().Add(d); time.Now().Before(end); time.Sleep(100 * time.Millisecond) {
					if _, err := c.GetObject(t.Context(), "k"); !errors.Is(err, privates3.ErrCredentials) {
						t.Errorf("GetObject: %v, want ErrCredentials", err)
						return
					}
				}
			})
		}
		wg.Wait()
		calls := srv.Count(privates3test.OpAssumeRole)
		t.Logf("%d clients for %v, S3 rejecting every request's credentials: %d GETs, %d AssumeRole",
			clients, d, srv.Count(privates3test.OpGetObject), calls)
		if limit := int(d/privates3.MinForcedInterval) + 1; calls > limit {
			t.Errorf("%d AssumeRole calls in %v, want at most %d whatever the traffic", calls, d, limit)
		}
	})
}

// Defect 5: conditional requests for a streamed object are decided from its metadata: no GET
// is started for an answer of 304 or 412.
func TestDefectConditionalStreamedNoGET(t *testing.T) {
	e := newHandlerEnv(t, nil, nil)
	e.srv.PutSyntheticObject(bucket, "big.bin", 1<<20)
	first := e.do(t, "GET", "big.bin", nil)
	if first.status != 200 {
		t.Fatalf("GET: %d", first.status)
	}
	etag, lm := first.header.Get("Etag"), first.header.Get("Last-Modified")
	e.srv.ResetCounts()
	conds := []struct {
		hdr    http.Header
		status int
	}{
		{hHeaderOf("If-None-Match", etag), 304},
		{hHeaderOf("If-Modified-Since", lm), 304},
		{hHeaderOf("If-Match", `"other"`), 412},
		{hHeaderOf("If-Unmodified-Since", "Mon, 02 Jan 2006 15:04:05 GMT"), 412},
		{hHeaderOf("If-None-Match", etag, "Range", "bytes=0-9"), 304},
	}
	for i := range 15 {
		cd := conds[i%len(conds)]
		if r := e.do(t, "GET", "big.bin", cd.hdr); r.status != cd.status || len(r.body) > 100 {
			t.Fatalf("%v: status %d with %d bytes, want %d", cd.hdr, r.status, len(r.body), cd.status)
		}
	}
	if n := s3Requests(e.srv); n != 0 {
		t.Errorf("15 conditional answers cost %d S3 requests, want 0", n)
	}
}

// Defect 6: with S3 answering 503 SlowDown to a fifth of the GETs, no client request fails;
// a persistent outage is still answered within FetchTimeout.
func TestDefectSlowDownRetried(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		srv := privates3test.NewServer(privates3test.InProcess())
		defer srv.Close()
		for i := range 10 {
			srv.PutObject(bucket, fmt.Sprintf("k%d", i), []byte("x"))
		}
		var failRate atomic.Int64 // per mille
		failRate.Store(200)
		rng := rand.New(rand.NewPCG(1, 2))
		var mu sync.Mutex
		base := srv.Client().Transport
		slowDown := func(r *http.Request) (*http.Response, error) {
			mu.Lock()
			fail := rng.Int64N(1000) < failRate.Load()
			mu.Unlock()
			if !fail || r.Method != http.MethodGet {
				return base.RoundTrip(r)
			}
			body := `<?xml version="1.0" encoding="UTF-8"?><Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message></Error>`
			return &http.Response{
				StatusCode: 503, Status: "503 Slow Down", Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
				Header: http.Header{"Content-Type": {"application/xml"}}, ContentLength: int64(len(body)),
				Body: io.NopCloser(strings.NewReader(body)), Request: r,
			}, nil
		}
		c := newFakeClient(t, srv, func(cfg *privates3.Config) {
			aws := *cfg.AWS
			aws.HTTPClient = &http.Client{Transport: roundTripFunc(slowDown)}
			cfg.AWS = &aws
			cfg.CacheBytes = -1
			cfg.FetchTimeout = 10 * time.Second
		})
		defer c.Close()
		const n = 2000
		var failed atomic.Int64
		var wg sync.WaitGroup
		for w := range 50 {
			wg.Go(func() {
				for i := w; i < n; i += 50 {
					obj, err := c.GetObject(t.Context(), fmt.Sprintf("k%d", i%10))
					if err != nil {
						failed.Add(1)
						continue
					}
					obj.Body.Close()
				}
			})
		}
		wg.Wait()
		t.Logf("%d GetObject with 20%% SlowDown: %d failed", n, failed.Load())
		if failed.Load() != 0 {
			t.Errorf("%d of %d requests failed with 20%% SlowDown, want 0", failed.Load(), n)
		}

		failRate.Store(1000)
		start := time.Now()
		_, err := c.GetObject(t.Context(), "k1")
		if !errors.Is(err, privates3.ErrThrottled) && !errors.Is(err, privates3.ErrTimeout) {
			t.Errorf("persistent SlowDown: %v, want ErrThrottled or ErrTimeout", err)
		}
		if d := time.Since(start); d > 10*time.Second {
			t.Errorf("persistent SlowDown answered after %v, want within FetchTimeout (10s)", d)
		}
	})
}
