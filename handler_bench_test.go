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

// newTileBenchEnv returns a handlerEnv with the default MaxCacheableSize and no logger, holding
// the 20 KiB tile bench/tile.pbf, and the tile's content.
func newTileBenchEnv(b *testing.B) (*handlerEnv, []byte) {
	b.Helper()
	e := newHandlerEnv(b, nil, func(cfg *privates3.Config) {
		cfg.MaxCacheableSize = privates3.DefaultMaxCacheableSize
		cfg.Logger = nil
	})
	content := hPattern(20 << 10)
	e.srv.PutObject(bucket, "bench/tile.pbf", content, privates3test.ContentType("application/x-protobuf"))
	return e, content
}

// BenchmarkHandler measures requests per second for a 20 KiB cached object through the handler
// (mounted with http.StripPrefix, as users do) and, side by side, through bare http.HandlerFuncs
// that write the same bytes from memory; then the same for the 304 path (If-None-Match with the
// current ETag). All run over real loopback connections with keep-alive, driven by hBenchClients
// goroutines in the same process.
//
// Two ceilings: "bare" answers byte for byte what the handler answers (the same status, headers
// and body, prepared in advance), so the ratio handler/bare is the cost of the handler's work
// (key validation, cache lookup, conditionals, headers); "minimal" sends only Content-Type and
// Content-Length (or the ETag of a 304), which also saves the client parsing five headers.
//
// The servers are measured in alternating rounds of hBenchRound requests each (the order rotating
// from round to round), so that the noise of a shared machine hits them alike. Metrics: req/s of each, and the ratios handler/bare and
// handler/minimal as the median over the rounds (a burst of load from elsewhere skews one round,
// not the figure); ns/op covers one request to each of the three.
func BenchmarkHandler(b *testing.B) {
	e, content := newTileBenchEnv(b)
	handlerURL := e.url + "/files/bench/tile.pbf"
	warm := e.do(b, "GET", "bench/tile.pbf", nil)
	if warm.status != 200 {
		b.Fatalf("warm-up: status %d", warm.status)
	}
	etag := warm.header.Get("Etag")
	warm304 := e.do(b, "GET", "bench/tile.pbf", hHeaderOf("If-None-Match", etag))
	if warm304.status != 304 {
		b.Fatalf("warm-up: status %d, want 304", warm304.status)
	}
	// The handler's answers, headers except Date (which net/http adds), for "bare" to replay.
	replay := func(h http.Header) http.Header {
		h = h.Clone()
		h.Del("Date")
		return h
	}
	full, notModified := replay(warm.header), replay(warm304.header)

	bare := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		if r.Header.Get("If-None-Match") == etag {
			for k, v := range notModified {
				h[k] = v
			}
			w.WriteHeader(http.StatusNotModified)
			return
		}
		for k, v := range full {
			h[k] = v
		}
		w.Write(content)
	}))
	defer bare.Close()
	minimal := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
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
	defer minimal.Close()

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
			loads := []*hLoad{
				hNewLoad(b, handlerURL, bc.hdr, bc.status, len(content)),
				hNewLoad(b, bare.URL, bc.hdr, bc.status, len(content)),
				hNewLoad(b, minimal.URL, bc.hdr, bc.status, len(content)),
			}
			for _, l := range loads {
				defer l.close()
			}
			b.ReportAllocs()
			b.ResetTimer()
			total := make([]time.Duration, len(loads))
			var vsBare, vsMinimal []float64
			for done := 0; done < b.N; {
				n := min(hBenchRound, b.N-done)
				round := make([]time.Duration, len(loads))
				for j := range loads {
					i := (j + done/hBenchRound) % len(loads) // rotate who goes first
					round[i] = loads[i].run(b, n)
					total[i] += round[i]
				}
				vsBare = append(vsBare, round[1].Seconds()/round[0].Seconds())
				vsMinimal = append(vsMinimal, round[2].Seconds()/round[0].Seconds())
				done += n
			}
			b.StopTimer()
			for i, name := range []string{"handler-req/s", "bare-req/s", "minimal-req/s"} {
				b.ReportMetric(float64(b.N)/total[i].Seconds(), name)
			}
			b.ReportMetric(median(vsBare), "ratio-bare")
			b.ReportMetric(median(vsMinimal), "ratio-minimal")
		})
	}
}

func median(xs []float64) float64 {
	slices.Sort(xs)
	return xs[len(xs)/2]
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

// hDiscardWriter is a ResponseWriter that keeps nothing, for measuring a handler's own work.
type hDiscardWriter struct{ h http.Header }

func (w *hDiscardWriter) Header() http.Header         { return w.h }
func (w *hDiscardWriter) WriteHeader(int)             {}
func (w *hDiscardWriter) Write(p []byte) (int, error) { return len(p), nil }

// BenchmarkHandlerServeHTTP measures the handler's own CPU time per request for the cached
// 20 KiB object and the 304 path, without network or client, next to a bare HandlerFunc that sets
// the same headers from precomputed values: the difference is what the handler adds to every
// request (StripPrefix included, as users mount it).
func BenchmarkHandlerServeHTTP(b *testing.B) {
	e, content := newTileBenchEnv(b)
	warm := e.do(b, "GET", "bench/tile.pbf", nil)
	etag := warm.header.Get("Etag")
	full := warm.header.Clone()
	full.Del("Date")
	h := http.StripPrefix("/files/", e.c.Handler(nil))
	bare := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hdr := w.Header()
		if r.Header.Get("If-None-Match") == etag {
			hdr["Etag"] = full["Etag"]
			w.WriteHeader(http.StatusNotModified)
			return
		}
		for k, v := range full {
			hdr[k] = v
		}
		w.Write(content)
	})
	for _, bc := range []struct {
		name string
		h    http.Handler
		inm  string
	}{
		{"cached-20KiB/handler", h, ""},
		{"cached-20KiB/bare", bare, ""},
		{"304/handler", h, etag},
		{"304/bare", bare, etag},
	} {
		b.Run(bc.name, func(b *testing.B) {
			req := httptest.NewRequest("GET", "/files/bench/tile.pbf", nil)
			if bc.inm != "" {
				req.Header.Set("If-None-Match", bc.inm)
			}
			b.ReportAllocs()
			for b.Loop() {
				bc.h.ServeHTTP(&hDiscardWriter{h: http.Header{}}, req)
			}
		})
	}
}
