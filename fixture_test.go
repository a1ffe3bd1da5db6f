package privates3_test

// The test fixture of package privates3_test: the one builder of a Client on the fake, and the
// helpers every test file shares.

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"runtime"
	"runtime/debug"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/privates3/privates3"
	"github.com/privates3/privates3/privates3test"
)

const bucket = "tiles"

// newFakeClient returns a Client of bucket on srv, with cfg changed by mod; it is closed when the
// test ends (inside a synctest bubble, by the bubble's cleanups, still inside the bubble).
func newFakeClient(t testing.TB, srv *privates3test.Server, mod func(*privates3.Config)) *privates3.Client {
	t.Helper()
	cfg := srv.Config(bucket)
	if mod != nil {
		mod(&cfg)
	}
	c, err := privates3.New(t.Context(), cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// newFake starts a fake S3 with opts and returns it with a Client of bucket on it, its Config
// changed by mod. Both are closed when the test ends, the Client first; inside a synctest bubble
// that is still inside the bubble, as the bubble's cleanups run there.
func newFake(t testing.TB, mod func(*privates3.Config), opts ...privates3test.Option) (*privates3test.Server, *privates3.Client) {
	t.Helper()
	srv := privates3test.NewServer(opts...)
	t.Cleanup(srv.Close)
	return srv, newFakeClient(t, srv, mod)
}

// newCredsFake returns an in-process fake holding objects k0..k(n-1) ("body i") and an uncached
// Client on it, its Config changed by mutate; done closes both.
func newCredsFake(t *testing.T, objects int, mutate func(*privates3test.Server, *privates3.Config)) (*privates3test.Server, *privates3.Client, func()) {
	t.Helper()
	srv := privates3test.NewServer(privates3test.InProcess())
	for i := range objects {
		srv.PutObject(bucket, fmt.Sprintf("k%d", i), []byte(fmt.Sprintf("body %d", i)))
	}
	c := newFakeClient(t, srv, func(cfg *privates3.Config) {
		cfg.CacheBytes = -1
		if mutate != nil {
			mutate(srv, cfg)
		}
	})
	return srv, c, func() { c.Close(); srv.Close() }
}

// mustGet reads key whole through c.GetObject, failing the test on an error.
func mustGet(t testing.TB, c *privates3.Client, key string) []byte {
	t.Helper()
	obj, err := c.GetObject(t.Context(), key)
	if err != nil {
		t.Fatal(err)
	}
	return readAll(t, obj)
}

// getConcurrently calls c.GetObject(key) from n goroutines at once, passes each object to check
// (closing its body afterwards) and waits for all of them.
func getConcurrently(t *testing.T, c *privates3.Client, n int, key string, check func(*privates3.Object)) {
	t.Helper()
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() {
			obj, err := c.GetObject(t.Context(), key)
			if err != nil {
				t.Errorf("GetObject(%q): %v", key, err)
				return
			}
			defer obj.Body.Close()
			check(obj)
		})
	}
	wg.Wait()
}

// readAll reads and closes obj's body.
func readAll(t testing.TB, obj *privates3.Object) []byte {
	t.Helper()
	defer obj.Body.Close()
	b, err := io.ReadAll(obj.Body)
	if err != nil {
		t.Fatalf("reading body: %v", err)
	}
	return b
}

// measurePeakHeap runs f and returns the largest growth of the heap in use seen while it ran,
// sampled every millisecond.
func measurePeakHeap(t testing.TB, f func()) uint64 {
	t.Helper()
	base := heapInUse()
	var peak uint64
	stop, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		tick := time.NewTicker(time.Millisecond)
		defer tick.Stop()
		var ms runtime.MemStats
		for {
			runtime.ReadMemStats(&ms)
			if ms.HeapInuse > base {
				peak = max(peak, ms.HeapInuse-base)
			}
			select {
			case <-stop:
				return
			case <-tick.C:
			}
		}
	}()
	f()
	close(stop)
	<-done
	return peak
}

// compareReaders reads got and want to the end and reports the bytes compared, or an error at
// the first difference in content or length.
func compareReaders(got, want io.Reader) (int64, error) {
	bg, bw := make([]byte, 64<<10), make([]byte, 64<<10)
	var n int64
	for {
		k, err := io.ReadFull(got, bg)
		if k > 0 {
			if _, werr := io.ReadFull(want, bw[:k]); werr != nil {
				return n, fmt.Errorf("more bytes than expected: %w", werr)
			}
			if !bytes.Equal(bg[:k], bw[:k]) {
				return n, fmt.Errorf("bytes differ in [%d, %d)", n, n+int64(k))
			}
			n += int64(k)
		}
		if err == io.EOF || err == io.ErrUnexpectedEOF {
			if k, _ := want.Read(bw[:1]); k != 0 {
				return n, errors.New("fewer bytes than expected")
			}
			return n, nil
		}
		if err != nil {
			return n, err
		}
	}
}

// heapInUse returns the bytes of heap in use after a garbage collection.
func heapInUse() uint64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapInuse
}

// waitFor polls cond until it holds or 20 s pass (a bound for a broken test, not a timing).
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// raceEnabled reports whether the test binary was built with -race.
func raceEnabled() bool {
	bi, _ := debug.ReadBuildInfo()
	return bi != nil && slices.Contains(bi.Settings, debug.BuildSetting{Key: "-race", Value: "true"})
}

// syncBuffer is a bytes.Buffer safe for concurrent writes, for capturing logs.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
