package privates3_test

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/privates3/privates3"
	"github.com/privates3/privates3/privates3test"
)

// hUpstreamProbe wraps the fake's handler to observe the GetObject requests of one key: how many
// bytes each sent, and whether it ended because its client (the Client) went away.
type hUpstreamProbe struct {
	next http.Handler
	key  string

	mu        sync.Mutex // guards the fields below
	active    int
	finished  int
	cancelled int   // finished with the request's context done
	sent      int64 // bytes of the last finished request
}

func (p *hUpstreamProbe) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet || !strings.HasSuffix(r.URL.Path, "/"+p.key) {
		p.next.ServeHTTP(w, r)
		return
	}
	p.mu.Lock()
	p.active++
	p.mu.Unlock()
	cw := &hCountingWriter{ResponseWriter: w}
	p.next.ServeHTTP(cw, r)
	p.mu.Lock()
	defer p.mu.Unlock()
	p.active--
	p.finished++
	p.sent = cw.n.Load()
	if r.Context().Err() != nil {
		p.cancelled++
	}
}

func (p *hUpstreamProbe) state() (active, finished, cancelled int, sent int64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.active, p.finished, p.cancelled, p.sent
}

type hCountingWriter struct {
	http.ResponseWriter
	n atomic.Int64
}

func (cw *hCountingWriter) Write(p []byte) (int, error) {
	n, err := cw.ResponseWriter.Write(p)
	cw.n.Add(int64(n))
	return n, err
}

func (cw *hCountingWriter) Flush() {
	if f, ok := cw.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

func (cw *hCountingWriter) Unwrap() http.ResponseWriter { return cw.ResponseWriter }

// TestHandlerStreamLarge streams a 1 GiB object through the handler to a client that reads
// slowly (pausing, so that everything upstream backs up) and to one that disconnects half-way,
// checking that memory stays flat, that the upstream request is cancelled when the client
// leaves, and that no goroutine is left behind. With -race or -short the object is 256 MiB:
// the race detector makes every copied byte costly (1 GiB takes 30 s there), and the property
// under test, memory independent of size, shows at either size.
func TestHandlerStreamLarge(t *testing.T) {
	size := int64(1 << 30)
	if testing.Short() || raceEnabled() {
		size = 256 << 20
	}
	goroutinesBefore := runtime.NumGoroutine()

	srv := privates3test.NewServer()
	probe := &hUpstreamProbe{next: srv.Handler(), key: "huge.bin"}
	up := httptest.NewServer(probe) // the fake behind the probe, on its own loopback listener
	cfg := srv.Config(bucket)
	cfg.Endpoint, cfg.STSEndpoint = up.URL, up.URL
	awsCfg := cfg.AWS.Copy()
	awsCfg.BaseEndpoint = &up.URL
	cfg.AWS = &awsCfg
	c, err := privates3.New(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	var handlers sync.WaitGroup
	h := c.Handler(nil)
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		handlers.Add(1)
		defer handlers.Done()
		http.StripPrefix("/files/", h).ServeHTTP(w, r)
	}))
	hc := hs.Client()
	srv.PutSyntheticObject(bucket, "huge.bin", size)

	get := func() *http.Response {
		t.Helper()
		resp, err := hc.Get(hs.URL + "/files/huge.bin")
		if err != nil {
			t.Fatal(err)
		}
		if resp.StatusCode != 200 || resp.ContentLength != size {
			t.Fatalf("status %d, Content-Length %d", resp.StatusCode, resp.ContentLength)
		}
		return resp
	}
	const slack = 48 << 20 // allowance for buffers, GC timing and the race detector's shadow memory

	t.Run("slow reader", func(t *testing.T) {
		base := heapInUse()
		resp := get()
		defer resp.Body.Close()
		buf := make([]byte, 64<<10)
		want := make([]byte, len(buf))
		expect := privates3test.SyntheticReader(size)
		var read int64
		var peak uint64
		for read < size {
			n, err := io.ReadFull(resp.Body, buf[:min(int64(len(buf)), size-read)])
			if err != nil {
				t.Fatalf("after %d bytes: %v", read, err)
			}
			io.ReadFull(expect, want[:n])
			if !bytes.Equal(buf[:n], want[:n]) {
				t.Fatalf("wrong bytes at offset %d", read)
			}
			read += int64(n)
			if read%(size/16) == 0 {
				// Pause, so that the whole chain (fake, Client, handler) backs up behind the
				// reader, then measure.
				time.Sleep(20 * time.Millisecond)
				peak = max(peak, heapInUse())
			}
		}
		if growth := int64(peak) - int64(base); growth > slack {
			t.Errorf("heap grew by %d MiB while streaming %d MiB", growth>>20, size>>20)
		}
		t.Logf("heap in use: %d MiB before, peak %d MiB while streaming %d MiB", base>>20, peak>>20, size>>20)
	})

	t.Run("client disconnects half-way", func(t *testing.T) {
		_, finishedBefore, cancelledBefore, _ := probe.state()
		base := heapInUse()
		resp := get()
		if _, err := io.CopyN(io.Discard, resp.Body, size/2); err != nil {
			t.Fatal(err)
		}
		mid := heapInUse()
		resp.Body.Close() // closes the connection: the body was not read to the end
		waitFor(t, "the upstream request to end", func() bool {
			active, finished, _, _ := probe.state()
			return active == 0 && finished == finishedBefore+1
		})
		_, _, cancelled, sent := probe.state()
		if cancelled != cancelledBefore+1 {
			t.Errorf("the upstream request was not cancelled")
		}
		if sent >= size {
			t.Errorf("upstream sent the whole object (%d bytes) to a client that left half-way", sent)
		}
		handlers.Wait()
		if growth := int64(mid) - int64(base); growth > slack {
			t.Errorf("heap grew by %d MiB", growth>>20)
		}
		t.Logf("upstream sent %d MiB of %d MiB before it was cancelled", sent>>20, size>>20)
	})

	hc.CloseIdleConnections()
	hs.Close()
	c.Close()
	up.Close()
	srv.Close()
	for deadline := time.Now().Add(20 * time.Second); runtime.NumGoroutine() > goroutinesBefore && time.Now().Before(deadline); {
		time.Sleep(10 * time.Millisecond)
	}
	if n := runtime.NumGoroutine(); n > goroutinesBefore {
		buf := make([]byte, 1<<20)
		t.Errorf("%d goroutines left:\n%s", n-goroutinesBefore, buf[:runtime.Stack(buf, true)])
	}
}
