package privates3_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/privates3/privates3"
	"github.com/privates3/privates3/privates3test"
)

// hBenchClients is the number of concurrent keep-alive clients of the load loop.
const hBenchClients = 8

// BenchmarkHandler measures requests per second for a 20 KiB cached object through the handler
// and, side by side, through a bare http.HandlerFunc that writes the same bytes from memory (the
// ceiling on this machine); then the same for the 304 path (If-None-Match with the current ETag).
// Both run over real loopback connections with keep-alive, driven by hBenchClients goroutines.
//
// The two servers are measured in alternating rounds of hBenchRound requests each, so that the
// noise of a shared machine hits both alike. Metrics: handler-req/s, bare-req/s and their ratio
// (1.0 = as fast as the bare handler), the median over the rounds of bare time / handler time;
// ns/op covers one request to each.
func BenchmarkHandler(b *testing.B) {
	e := newHandlerEnv(b, nil, func(cfg *privates3.Config) {
		cfg.MaxCacheableSize = privates3.DefaultMaxCacheableSize
		cfg.Logger = nil
	})
	content := hPattern(20 << 10)
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
		hdr    http.Header
		status int
	}{
		{"cached-20KiB", nil, 200},
		{"304", hHeaderOf("If-None-Match", etag), 304},
	}
	for _, bc := range cases {
		b.Run(bc.name, func(b *testing.B) {
			lh := hNewLoad(b, handlerURL, bc.hdr, bc.status, len(content))
			lb := hNewLoad(b, bare.URL, bc.hdr, bc.status, len(content))
			defer lh.close()
			defer lb.close()
			b.ReportAllocs()
			b.ResetTimer()
			var th, tb time.Duration
			var ratios []float64
			for done := 0; done < b.N; {
				n := min(hBenchRound, b.N-done)
				dh := lh.run(b, n)
				db := lb.run(b, n)
				th, tb = th+dh, tb+db
				ratios = append(ratios, db.Seconds()/dh.Seconds())
				done += n
			}
			b.StopTimer()
			slices.Sort(ratios)
			hr, br := float64(b.N)/th.Seconds(), float64(b.N)/tb.Seconds()
			b.ReportMetric(hr, "handler-req/s")
			b.ReportMetric(br, "bare-req/s")
			// The median of the rounds' ratios: a burst of load from elsewhere skews one round,
			// not the figure.
			b.ReportMetric(ratios[len(ratios)/2], "ratio")
		})
	}
}

// hBenchRound is the number of requests sent to one server before switching to the other.
const hBenchRound = 200

// hLoad sends GET requests to one URL from hBenchClients keep-alive clients.
type hLoad struct {
	url    string
	hdr    http.Header
	status int
	size   int
	tr     *http.Transport
	hc     *http.Client
}

func hNewLoad(b *testing.B, url string, hdr http.Header, status, size int) *hLoad {
	tr := &http.Transport{MaxIdleConnsPerHost: hBenchClients, MaxConnsPerHost: hBenchClients, DisableCompression: true}
	l := &hLoad{url: url, hdr: hdr, status: status, size: size, tr: tr, hc: &http.Client{Transport: tr}}
	l.run(b, hBenchClients) // opens the connections
	return l
}

func (l *hLoad) close() { l.tr.CloseIdleConnections() }

// run sends n requests and returns how long they took.
func (l *hLoad) run(b *testing.B, n int) time.Duration {
	var failed atomic.Value
	var next atomic.Int64
	var wg sync.WaitGroup
	start := time.Now()
	for range hBenchClients {
		wg.Go(func() {
			for next.Add(1) <= int64(n) {
				if msg := l.one(); msg != "" {
					failed.Store(msg)
					return
				}
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	if msg := failed.Load(); msg != nil {
		b.Fatalf("request failed: %v", msg)
	}
	return elapsed
}

// one sends a request and returns "" or what went wrong.
func (l *hLoad) one() string {
	req, _ := http.NewRequest("GET", l.url, nil)
	for k, v := range l.hdr {
		req.Header[k] = v
	}
	resp, err := l.hc.Do(req)
	if err != nil {
		return err.Error()
	}
	n, _ := io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != l.status || l.status == 200 && n != int64(l.size) {
		return "status " + strconv.Itoa(resp.StatusCode) + ", " + strconv.FormatInt(n, 10) + " bytes"
	}
	return ""
}
