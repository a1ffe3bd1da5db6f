package privates3_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"runtime"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/privates3/privates3"
	"github.com/privates3/privates3/privates3test"
)

// TestGetObjectDedup: 100 concurrent cold callers of one key cause exactly one upstream GET, and
// 99 of them are counted as deduplicated.
func TestGetObjectDedup(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		srv, c := newFake(t, nil, privates3test.InProcess())
		body := []byte("tile 3/4/2")
		srv.PutObject(bucket, "3/4/2.png", body, privates3test.ContentType("image/png"))
		// The GET takes a second (of the bubble's clock), so every caller starts before it ends.
		srv.InjectFault(privates3test.Fault{Op: privates3test.OpGetObject, Latency: time.Second})

		const n = 100
		getConcurrently(t, c, n, "3/4/2.png", func(obj *privates3.Object) {
			if got := readAll(t, obj); !bytes.Equal(got, body) || obj.ContentType != "image/png" {
				t.Errorf("got %q (%s), want %q (image/png)", got, obj.ContentType, body)
			}
		})
		if got := srv.CountKey(privates3test.OpGetObject, "3/4/2.png"); got != 1 {
			t.Errorf("upstream GETs: %d, want 1", got)
		}
		st := c.Stats()
		if st.UpstreamGets != 1 || st.Deduplicated != n-1 || st.CacheMisses != n {
			t.Errorf("stats: UpstreamGets %d, Deduplicated %d, CacheMisses %d; want 1, %d, %d",
				st.UpstreamGets, st.Deduplicated, st.CacheMisses, n-1, n)
		}
		// Now cached: no further GET.
		mustGet(t, c, "3/4/2.png")
		if got := srv.CountKey(privates3test.OpGetObject, "3/4/2.png"); got != 1 {
			t.Errorf("upstream GETs after a cache hit: %d, want 1", got)
		}
		if got := c.Stats().CacheHits; got != 1 {
			t.Errorf("CacheHits %d, want 1", got)
		}
	})
}

// TestGetObjectFirstCallerCancelled: the caller whose call started the shared fetch gives up in
// the middle of it; it gets its context's error, the other callers still get the object, and
// there is still only one upstream GET.
func TestGetObjectFirstCallerCancelled(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		srv, c := newFake(t, nil, privates3test.InProcess())
		srv.PutObject(bucket, "k", []byte("payload"))
		srv.InjectFault(privates3test.Fault{Op: privates3test.OpGetObject, Latency: 10 * time.Second})

		firstCtx, cancel := context.WithCancel(t.Context())
		firstErr := make(chan error, 1)
		go func() {
			_, err := c.GetObject(firstCtx, "k")
			firstErr <- err
		}()
		synctest.Wait() // the first caller's GET is in flight
		var wg sync.WaitGroup
		for range 5 {
			wg.Go(func() {
				obj, err := c.GetObject(t.Context(), "k")
				if err != nil {
					t.Errorf("other caller: %v", err)
					return
				}
				if got := readAll(t, obj); string(got) != "payload" {
					t.Errorf("other caller got %q", got)
				}
			})
		}
		synctest.Wait()
		time.Sleep(5 * time.Second) // mid-fetch
		cancel()
		if err := <-firstErr; !errors.Is(err, context.Canceled) {
			t.Errorf("first caller: %v, want context.Canceled", err)
		}
		wg.Wait()
		if got := srv.CountKey(privates3test.OpGetObject, "k"); got != 1 {
			t.Errorf("upstream GETs: %d, want 1", got)
		}
	})
}

// TestGetObjectRevalidation: within the TTL a replaced object is served from the cache; after it
// the entry is revalidated with If-None-Match: a 200 replaces it (new bytes), a 304 renews it
// without downloading a body (the same bytes in memory, NotModified counted).
func TestGetObjectRevalidation(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const ttl = time.Minute
		srv, c := newFake(t, func(cfg *privates3.Config) { cfg.TTL = ttl }, privates3test.InProcess())
		srv.PutObject(bucket, "k", []byte("version 1"))
		get := func() (*privates3.Object, string) {
			t.Helper()
			obj, err := c.GetObject(t.Context(), "k")
			if err != nil {
				t.Fatalf("GetObject: %v", err)
			}
			return obj, string(readAll(t, obj))
		}

		if _, got := get(); got != "version 1" {
			t.Fatalf("got %q", got)
		}
		srv.PutObject(bucket, "k", []byte("version 2"))
		time.Sleep(ttl - time.Second)
		if _, got := get(); got != "version 1" {
			t.Errorf("within the TTL: got %q, want the cached version 1", got)
		}
		time.Sleep(2 * time.Second)
		obj2, got := get()
		if got != "version 2" {
			t.Errorf("after the TTL: got %q, want version 2", got)
		}
		st := c.Stats()
		if st.UpstreamGets != 2 || st.Revalidations != 1 || st.NotModified != 0 {
			t.Errorf("after a changed object: UpstreamGets %d, Revalidations %d, NotModified %d; want 2, 1, 0",
				st.UpstreamGets, st.Revalidations, st.NotModified)
		}

		time.Sleep(ttl + time.Second)
		obj3, got := get()
		if got != "version 2" {
			t.Errorf("after a 304: got %q, want version 2", got)
		}
		st = c.Stats()
		if st.UpstreamGets != 3 || st.Revalidations != 2 || st.NotModified != 1 {
			t.Errorf("after an unchanged object: UpstreamGets %d, Revalidations %d, NotModified %d; want 3, 2, 1",
				st.UpstreamGets, st.Revalidations, st.NotModified)
		}
		// No body was downloaded: the renewed entry holds the very bytes of the previous one.
		if d2, d3 := privates3.ObjectData(obj2), privates3.ObjectData(obj3); &d2[0] != &d3[0] {
			t.Error("the 304 produced a new copy of the body")
		}
		// Renewed: the next call within the TTL asks nothing.
		get()
		if got := srv.CountKey(privates3test.OpGetObject, "k"); got != 3 {
			t.Errorf("upstream GETs: %d, want 3", got)
		}
	})
}

// TestHeadOnly: HeadOnly is answered from a fresh entry without a request, else with one
// HeadObject (never a GET); on an expired entry, a 304 to the HEAD renews it.
func TestHeadOnly(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		srv, c := newFake(t, func(cfg *privates3.Config) { cfg.TTL = time.Minute }, privates3test.InProcess())
		srv.PutObject(bucket, "k", []byte("0123456789"), privates3test.ContentType("text/plain"))

		obj, err := c.GetHead(t.Context(), "k")
		if err != nil {
			t.Fatal(err)
		}
		if obj.Size != 10 || obj.ContentType != "text/plain" || obj.ETag == "" {
			t.Errorf("head: size %d, type %q, etag %q", obj.Size, obj.ContentType, obj.ETag)
		}
		if b := readAll(t, obj); len(b) != 0 {
			t.Errorf("head body %q, want empty", b)
		}
		if g, h := srv.CountKey(privates3test.OpGetObject, "k"), srv.CountKey(privates3test.OpHeadObject, "k"); g != 0 || h != 1 {
			t.Errorf("cold head: %d GETs, %d HEADs; want 0, 1", g, h)
		}

		mustGet(t, c, "k")
		if _, err := c.GetHead(t.Context(), "k"); err != nil {
			t.Fatal(err)
		}
		if g, h := srv.CountKey(privates3test.OpGetObject, "k"), srv.CountKey(privates3test.OpHeadObject, "k"); g != 1 || h != 1 {
			t.Errorf("head of a cached object: %d GETs, %d HEADs; want 1, 1", g, h)
		}

		time.Sleep(2 * time.Minute)
		if _, err := c.GetHead(t.Context(), "k"); err != nil {
			t.Fatal(err)
		}
		obj, err = c.GetObject(t.Context(), "k")
		if err != nil {
			t.Fatal(err)
		}
		if got := string(readAll(t, obj)); got != "0123456789" {
			t.Errorf("got %q", got)
		}
		st := c.Stats()
		if g, h := srv.CountKey(privates3test.OpGetObject, "k"), srv.CountKey(privates3test.OpHeadObject, "k"); g != 1 || h != 2 || st.NotModified != 1 {
			t.Errorf("revalidating head: %d GETs, %d HEADs, NotModified %d; want 1, 2, 1", g, h, st.NotModified)
		}
	})
}

// TestNotFoundCached: a missing object is remembered for NegativeTTL, then asked again.
func TestNotFoundCached(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		srv, c := newFake(t, func(cfg *privates3.Config) { cfg.NegativeTTL = 10 * time.Second }, privates3test.InProcess())

		for i := range 3 {
			_, err := c.GetObject(t.Context(), "missing.png")
			if !errors.Is(err, privates3.ErrNotFound) {
				t.Fatalf("call %d: %v, want ErrNotFound", i, err)
			}
			if !strings.Contains(err.Error(), `"missing.png"`) {
				t.Errorf("error %q does not name the key", err)
			}
		}
		if got := srv.CountKey(privates3test.OpGetObject, "missing.png"); got != 1 {
			t.Errorf("upstream GETs: %d, want 1", got)
		}
		srv.PutObject(bucket, "missing.png", []byte("here"))
		if _, err := c.GetObject(t.Context(), "missing.png"); !errors.Is(err, privates3.ErrNotFound) {
			t.Errorf("within NegativeTTL: %v, want the remembered ErrNotFound", err)
		}
		time.Sleep(11 * time.Second)
		obj, err := c.GetObject(t.Context(), "missing.png")
		if err != nil {
			t.Fatalf("after NegativeTTL: %v", err)
		}
		if got := string(readAll(t, obj)); got != "here" {
			t.Errorf("got %q", got)
		}
	})
}

// TestLargeObjectStreamed: a 256 MiB object is streamed with the right bytes, one GET, not
// cached, with the heap growing far less than the object; a later Range request goes straight
// to S3 with the range.
func TestLargeObjectStreamed(t *testing.T) {
	if testing.Short() {
		t.Skip("256 MiB transfer")
	}
	const size = 256 << 20
	srv, c := newFake(t, nil)
	srv.PutSyntheticObject(bucket, "big.bin", size, privates3test.ContentType("application/octet-stream"))

	peak := measurePeakHeap(t, func() {
		obj, err := c.GetObject(t.Context(), "big.bin")
		if err != nil {
			t.Fatal(err)
		}
		if obj.Size != size || privates3.ObjectData(obj) != nil {
			t.Errorf("size %d, in memory %v; want %d, streamed", obj.Size, privates3.ObjectData(obj) != nil, size)
		}
		n, err := compareReaders(obj.Body, privates3test.SyntheticReader(size))
		obj.Body.Close()
		if err != nil || n != size {
			t.Fatalf("streamed %d bytes: %v", n, err)
		}
	})
	t.Logf("peak heap growth while streaming %d MiB: %.1f MiB", size>>20, float64(peak)/(1<<20))
	if peak > 32<<20 {
		t.Errorf("heap grew by %d MiB while streaming a %d MiB object", peak>>20, size>>20)
	}
	st := c.Stats()
	if st.Streamed != 1 || st.UpstreamGets != 1 || st.CachedBytes > 4096 {
		t.Errorf("Streamed %d, UpstreamGets %d, CachedBytes %d; want 1, 1, a marker only", st.Streamed, st.UpstreamGets, st.CachedBytes)
	}

	// The key is known to be large: a range is one ranged GET of exactly its bytes.
	meta, got, err := c.GetRange(t.Context(), "big.bin", 1000, 1000)
	if err != nil {
		t.Fatal(err)
	}
	want := make([]byte, 1000)
	for i := range want {
		want[i] = privates3test.SyntheticByte(int64(1000 + i))
	}
	if !bytes.Equal(got, want) || meta.Size != size {
		t.Errorf("range: %d bytes, Size %d", len(got), meta.Size)
	}
	if got := srv.CountKey(privates3test.OpGetObject, "big.bin"); got != 2 {
		t.Errorf("upstream GETs: %d, want 2 (no download to learn the size)", got)
	}
	if _, err := c.ReadRange(t.Context(), "big.bin", size, 10, ""); !errors.Is(err, privates3.ErrRangeNotSatisfiable) {
		t.Errorf("range beyond the end: %v, want ErrRangeNotSatisfiable", err)
	}
}

// TestColdRangeOfLargeObject: a cold key asked with a range: the shared fetch learns that the
// object is large and its response serves a range from the start; a range elsewhere is asked of
// S3 on its own.
func TestColdRangeOfLargeObject(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const size = 3 << 20
		srv, c := newFake(t, nil, privates3test.InProcess())
		srv.PutSyntheticObject(bucket, "a.mp4", size)
		srv.PutSyntheticObject(bucket, "b.mp4", size)

		tests := []struct {
			key, rng    string
			first, last int64
			gets        int
		}{
			{"a.mp4", "bytes=0-1", 0, 1, 1},
			{"b.mp4", "bytes=100-199", 100, 199, 2},
		}
		for _, tt := range tests {
			meta, got, err := c.GetRange(t.Context(), tt.key, tt.first, tt.last-tt.first+1)
			if err != nil {
				t.Fatalf("%s %s: %v", tt.key, tt.rng, err)
			}
			if meta.Size != size {
				t.Errorf("%s %s: Size %d, want %d", tt.key, tt.rng, meta.Size, size)
			}
			for i, b := range got {
				if b != privates3test.SyntheticByte(tt.first+int64(i)) {
					t.Fatalf("%s %s: byte %d wrong", tt.key, tt.rng, i)
				}
			}
			if int64(len(got)) != tt.last-tt.first+1 {
				t.Errorf("%s %s: %d bytes", tt.key, tt.rng, len(got))
			}
			if n := srv.CountKey(privates3test.OpGetObject, tt.key); n != tt.gets {
				t.Errorf("%s %s: %d GETs, want %d", tt.key, tt.rng, n, tt.gets)
			}
		}
	})
}

// TestConcurrentReadersOfCachedObject: bodies of one cached object are read and closed by many
// goroutines at once (run with -race).
func TestConcurrentReadersOfCachedObject(t *testing.T) {
	srv, c := newFake(t, nil)
	body := bytes.Repeat([]byte("0123456789abcdef"), 4096)
	srv.PutObject(bucket, "k", body)
	var wg sync.WaitGroup
	for range 20 {
		wg.Go(func() {
			for range 20 {
				obj, err := c.GetObject(t.Context(), "k")
				if err != nil {
					t.Error(err)
					return
				}
				if got := readAll(t, obj); !bytes.Equal(got, body) {
					t.Error("wrong body")
				}
				obj.Body.Close()
			}
		})
	}
	wg.Wait()
	if got := srv.CountKey(privates3test.OpGetObject, "k"); got != 1 {
		t.Errorf("upstream GETs: %d, want 1", got)
	}
}

// TestInvalidKeys: bad keys give ErrInvalidKey and nothing is sent upstream.
func TestInvalidKeys(t *testing.T) {
	srv, c := newFake(t, func(cfg *privates3.Config) { cfg.Prefix = "public/" })
	srv.ResetCounts()
	for _, key := range []string{
		"", "../secret", "a/../../b", "a//b", "./a", "a\\b", "a\x00b", "a\nb", "\xff\xfe",
		strings.Repeat("a", privates3.MaxKeyLength),
	} {
		for name, get := range map[string]func() error{
			"GetObject": func() error { _, err := c.GetObject(t.Context(), key); return err },
			"HeadOnly":  func() error { _, err := c.GetHead(t.Context(), key); return err },
			"ReadRange": func() error { _, err := c.ReadRange(t.Context(), key, 0, 2, ""); return err },
		} {
			if err := get(); !errors.Is(err, privates3.ErrInvalidKey) {
				t.Errorf("%s(%q): %v, want ErrInvalidKey", name, key, err)
			}
		}
	}
	for _, op := range []string{privates3test.OpGetObject, privates3test.OpHeadObject} {
		if n := srv.Count(op); n != 0 {
			t.Errorf("%d %s requests sent for invalid keys", n, op)
		}
	}
}

// TestErrorMapping: S3's answers map to the sentinels, the message names the S3 code, and no
// error text contains a secret.
func TestErrorMapping(t *testing.T) {
	tests := []struct {
		fault privates3test.Fault
		want  error
		text  string
	}{
		{privates3test.Fault{Status: 403, Code: "AccessDenied"}, privates3.ErrAccessDenied, "AccessDenied"},
		{privates3test.Fault{Status: 503, Code: "SlowDown"}, privates3.ErrThrottled, "SlowDown"},
		{privates3test.Fault{Status: 400, Code: "Throttling"}, privates3.ErrThrottled, "Throttling"},
		{privates3test.Fault{Status: 500, Code: "InternalError"}, privates3.ErrUpstream, "InternalError"},
		{privates3test.Fault{Status: 404, Code: "NoSuchKey"}, privates3.ErrNotFound, `"k"`},
		{privates3test.Fault{Hang: true}, privates3.ErrTimeout, "5s"},
		{privates3test.Fault{Drop: true}, privates3.ErrUpstream, "GetObject"},
	}
	for _, tt := range tests {
		t.Run(tt.want.Error()+"/"+tt.text, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				srv, c := newFake(t, func(cfg *privates3.Config) { cfg.FetchTimeout = 5 * time.Second }, privates3test.InProcess())
				srv.PutObject(bucket, "k", []byte("x"))
				f := tt.fault
				f.Op, f.Key = privates3test.OpGetObject, "k"
				srv.InjectFault(f)
				_, err := c.GetObject(t.Context(), "k")
				if !errors.Is(err, tt.want) {
					t.Fatalf("got %v, want %v", err, tt.want)
				}
				msg := err.Error()
				if !strings.Contains(msg, tt.text) {
					t.Errorf("error %q does not contain %q", msg, tt.text)
				}
				base := srv.BaseCredentials()
				for _, secret := range []string{base.SecretAccessKey, "ASIA", "SessionToken", "Signature"} {
					if strings.Contains(msg, secret) {
						t.Errorf("error %q contains %q", msg, secret)
					}
				}
			})
		})
	}
}

// TestExpiredTokenRetry: S3 rejects the session token as expired (the fake's clock moved past
// it): the client forces one refresh and retries once, and the caller sees success.
func TestExpiredTokenRetry(t *testing.T) {
	srv, c := newFake(t, nil)
	srv.PutObject(bucket, "a", []byte("A"))
	srv.PutObject(bucket, "b", []byte("B"))
	mustGet(t, c, "a")
	roles := srv.Count(privates3test.OpAssumeRole)

	srv.Advance(2 * time.Hour) // the fake now sees the session token as expired
	obj, err := c.GetObject(t.Context(), "b")
	if err != nil {
		t.Fatalf("GetObject after token expiry: %v", err)
	}
	if got := string(readAll(t, obj)); got != "B" {
		t.Errorf("got %q", got)
	}
	st := c.Stats()
	if got := srv.CountKey(privates3test.OpGetObject, "b"); got != 2 || st.UpstreamGets != 3 {
		t.Errorf("GETs of b: %d (UpstreamGets %d), want 2 (3): one rejected, one retried", got, st.UpstreamGets)
	}
	if got := srv.Count(privates3test.OpAssumeRole) - roles; got != 1 || st.ForcedRefreshes != 1 {
		t.Errorf("AssumeRole calls: %d, ForcedRefreshes %d; want 1, 1", got, st.ForcedRefreshes)
	}
}

// TestClosed: calls after Close give ErrClosed and send nothing; a fetch hanging at Close is
// cancelled and its callers get ErrClosed; no goroutine outlives Close (synctest fails the test
// if one is left in the bubble).
func TestClosed(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		srv, c := newFake(t, nil, privates3test.InProcess())
		srv.PutObject(bucket, "k", []byte("x"))
		srv.PutObject(bucket, "hang", []byte("x"))
		mustGet(t, c, "k")

		srv.InjectFault(privates3test.Fault{Op: privates3test.OpGetObject, Key: "hang", Hang: true})
		hung := make(chan error, 1)
		go func() {
			_, err := c.GetObject(t.Context(), "hang")
			hung <- err
		}()
		synctest.Wait()
		c.Close()
		if err := <-hung; !errors.Is(err, privates3.ErrClosed) {
			t.Errorf("call in flight at Close: %v, want ErrClosed", err)
		}
		c.Close() // idempotent

		srv.ResetCounts()
		for name, get := range map[string]func() error{
			"GetObject": func() error { _, err := c.GetObject(t.Context(), "k"); return err },
			"HeadOnly":  func() error { _, err := c.GetHead(t.Context(), "k"); return err },
			"ReadRange": func() error { _, err := c.ReadRange(t.Context(), "k", 0, 1, ""); return err },
		} {
			if err := get(); !errors.Is(err, privates3.ErrClosed) {
				t.Errorf("%s after Close: %v, want ErrClosed", name, err)
			}
		}
		if n := srv.Count(privates3test.OpGetObject) + srv.Count(privates3test.OpHeadObject); n != 0 {
			t.Errorf("%d requests sent after Close", n)
		}
	})
}

// TestCloseLeavesNoGoroutine runs a Client over real loopback connections, with cached, streamed
// and deduplicated fetches, and checks that the goroutine count returns to where it was.
func TestCloseLeavesNoGoroutine(t *testing.T) {
	srv := privates3test.NewServer()
	defer srv.Close()
	srv.PutObject(bucket, "small", []byte("small"))
	srv.PutSyntheticObject(bucket, "large", 4<<20)
	srv.Client().CloseIdleConnections()
	before := runtime.NumGoroutine()

	c := newFakeClient(t, srv, nil)
	var wg sync.WaitGroup
	for range 10 {
		wg.Go(func() {
			for _, key := range []string{"small", "large", "missing"} {
				if obj, err := c.GetObject(t.Context(), key); err == nil {
					io.Copy(io.Discard, obj.Body)
					obj.Body.Close()
				}
			}
		})
	}
	wg.Wait()
	c.Close()
	// Goroutines that were told to stop may take a moment to be descheduled.
	after := runtime.NumGoroutine()
	for i := 0; i < 200 && after > before; i++ {
		time.Sleep(5 * time.Millisecond)
		after = runtime.NumGoroutine()
	}
	if after > before {
		buf := make([]byte, 1<<20)
		t.Errorf("%d goroutines before New, %d after Close:\n%s", before, after, buf[:runtime.Stack(buf, true)])
	}
}

// TestConcurrentColdLargeObject: callers arriving together for a cold large object share the
// shared fetch's response (one of them streams it) and the others stream their own; each gets
// the right bytes, and only one response is ever shared.
func TestConcurrentColdLargeObject(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const size = 2 << 20
		srv, c := newFake(t, nil, privates3test.InProcess())
		srv.PutSyntheticObject(bucket, "v.mp4", size)
		srv.InjectFault(privates3test.Fault{Op: privates3test.OpGetObject, Latency: time.Second, Times: 1})
		const n = 5
		getConcurrently(t, c, n, "v.mp4", func(obj *privates3.Object) {
			if got, err := compareReaders(obj.Body, privates3test.SyntheticReader(size)); err != nil || got != size {
				t.Errorf("read %d bytes: %v", got, err)
			}
		})
		st := c.Stats()
		if got := srv.CountKey(privates3test.OpGetObject, "v.mp4"); got != n || st.Streamed != n || st.Deduplicated != n-1 {
			t.Errorf("GETs %d, Streamed %d, Deduplicated %d; want %d, %d, %d", got, st.Streamed, st.Deduplicated, n, n, n-1)
		}
	})
}

// TestRangeOfSmallObject: a range asked of a cacheable object is not forwarded: the whole object
// is fetched once (a complete 200 body), cached, and served from memory for every range.
func TestRangeOfSmallObject(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		srv, c := newFake(t, nil, privates3test.InProcess())
		srv.PutObject(bucket, "k", []byte("0123456789"))
		for _, rng := range []struct {
			off, n int64
			want   string
		}{{2, 3, "234"}, {0, 10, "0123456789"}, {7, 3, "789"}} {
			_, got, err := c.GetRange(t.Context(), "k", rng.off, rng.n)
			if err != nil || string(got) != rng.want {
				t.Fatalf("range %d+%d: %q, %v; want %q", rng.off, rng.n, got, err, rng.want)
			}
			obj, err := c.GetObject(t.Context(), "k")
			if err != nil || string(privates3.ObjectData(obj)) != "0123456789" {
				t.Fatalf("GetObject after a range: %v, not the whole object from memory", err)
			}
			obj.Body.Close()
		}
		if got := srv.CountKey(privates3test.OpGetObject, "k"); got != 1 {
			t.Errorf("GETs: %d, want 1", got)
		}
	})
}

// TestCacheBudget: the cache stays within CacheBytes (overhead included), evicting the least
// recently used objects; with a negative CacheBytes nothing is cached but concurrent callers
// still share one GET.
func TestCacheBudget(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		srv := privates3test.NewServer(privates3test.InProcess())
		defer srv.Close()
		body := bytes.Repeat([]byte("x"), 10<<10)
		for i := range 20 {
			srv.PutObject(bucket, fmt.Sprintf("k%d", i), body)
		}
		const budget = 64 << 10 // room for 6 objects of 10 KiB with their overhead
		c := newFakeClient(t, srv, func(cfg *privates3.Config) { cfg.CacheBytes = budget })
		defer c.Close()
		for i := range 20 {
			mustGet(t, c, fmt.Sprintf("k%d", i))
			if st := c.Stats(); st.CachedBytes > budget {
				t.Fatalf("CachedBytes %d over the budget %d", st.CachedBytes, budget)
			}
		}
		st := c.Stats()
		if st.CachedObjects != 6 || st.Evictions != 14 {
			t.Errorf("CachedObjects %d, Evictions %d; want 6, 14", st.CachedObjects, st.Evictions)
		}
		// The newest are cached, the oldest were evicted.
		srv.ResetCounts()
		for _, k := range []string{"k19", "k14", "k0"} {
			mustGet(t, c, k)
		}
		if g19, g14, g0 := srv.CountKey(privates3test.OpGetObject, "k19"), srv.CountKey(privates3test.OpGetObject, "k14"),
			srv.CountKey(privates3test.OpGetObject, "k0"); g19 != 0 || g14 != 0 || g0 != 1 {
			t.Errorf("GETs of k19, k14, k0: %d, %d, %d; want 0, 0, 1", g19, g14, g0)
		}

		off := newFakeClient(t, srv, func(cfg *privates3.Config) { cfg.CacheBytes = -1 })
		defer off.Close()
		srv.ResetCounts()
		srv.InjectFault(privates3test.Fault{Op: privates3test.OpGetObject, Latency: time.Second, Times: 1})
		getConcurrently(t, off, 10, "k1", func(obj *privates3.Object) { readAll(t, obj) })
		mustGet(t, off, "k1")
		if got, st := srv.CountKey(privates3test.OpGetObject, "k1"), off.Stats(); got != 2 || st.CachedBytes != 0 {
			t.Errorf("cache off: %d GETs, CachedBytes %d; want 2 (10 concurrent callers, then 1), 0", got, st.CachedBytes)
		}
	})
}

// TestCredentialsUnavailable: when the credentials expired and STS keeps failing, GetObject
// fails with the credentials' error (not a generic upstream failure), without a secret in it.
func TestCredentialsUnavailable(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		srv, c := newFake(t, nil, privates3test.InProcess())
		srv.PutObject(bucket, "k", []byte("x"))
		srv.InjectFault(privates3test.Fault{Op: privates3test.OpAssumeRole, Status: 500})
		time.Sleep(2 * time.Hour) // the session (1h) expired on both clocks; every refresh failed
		_, err := c.GetObject(t.Context(), "k")
		if err == nil || errors.Is(err, privates3.ErrUpstream) || !errors.Is(err, privates3.ErrCredentials) {
			t.Fatalf("got %v, want ErrCredentials and not ErrUpstream", err)
		}
		if n := srv.CountKey(privates3test.OpGetObject, "k"); n != 0 {
			t.Errorf("%d GETs sent without credentials", n)
		}
		if base := srv.BaseCredentials(); strings.Contains(err.Error(), base.SecretAccessKey) {
			t.Errorf("error %q contains the secret key", err)
		}
	})
}

// TestReadRange: ranges of an object read with its ETag are cached under that ETag and shared
// by concurrent callers; a replaced object is refused with ErrPreconditionFailed, never mixed;
// Size is the whole object's.
func TestReadRange(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		srv, c := newFake(t, nil, privates3test.InProcess())
		content := []byte("0123456789abcdefghij")
		srv.PutObject(bucket, "a.pmtiles", content)

		head, err := c.ReadRange(t.Context(), "a.pmtiles", 0, 4, "")
		if err != nil || string(readAll(t, head)) != "0123" || head.Size != int64(len(content)) {
			t.Fatalf("first range: %v, Size %d", err, head.Size)
		}
		srv.ResetCounts()
		// 20 concurrent identical reads, then 20 more: one GET in all.
		srv.InjectFault(privates3test.Fault{Op: privates3test.OpGetObject, Latency: time.Second, Times: 1})
		var wg sync.WaitGroup
		for range 20 {
			wg.Go(func() {
				obj, err := c.ReadRange(t.Context(), "a.pmtiles", 10, 5, head.ETag)
				if err != nil {
					t.Errorf("ReadRange: %v", err)
					return
				}
				if got := string(readAll(t, obj)); got != "abcde" || obj.Size != int64(len(content)) || obj.ETag != head.ETag {
					t.Errorf("range %q, Size %d, ETag %s", got, obj.Size, obj.ETag)
				}
			})
		}
		wg.Wait()
		for range 20 {
			obj, err := c.ReadRange(t.Context(), "a.pmtiles", 10, 5, head.ETag)
			if err != nil || string(readAll(t, obj)) != "abcde" {
				t.Fatalf("cached range: %v", err)
			}
		}
		if n := srv.Count(privates3test.OpGetObject); n != 1 {
			t.Errorf("%d GETs for 40 identical reads, want 1", n)
		}
		// The archive is replaced: a read with the old ETag is refused, one with the new works.
		srv.PutObject(bucket, "a.pmtiles", []byte("ZYXWVUTSRQPONMLKJIHG"))
		if _, err := c.ReadRange(t.Context(), "a.pmtiles", 0, 5, head.ETag); !errors.Is(err, privates3.ErrPreconditionFailed) {
			t.Errorf("read with a replaced ETag: %v, want ErrPreconditionFailed", err)
		}
		fresh, err := c.ReadRange(t.Context(), "a.pmtiles", 0, 5, "")
		if err != nil || string(readAll(t, fresh)) != "ZYXWV" || fresh.ETag == head.ETag {
			t.Fatalf("read of the new object: %v", err)
		}
		for _, bad := range [][2]int64{{-1, 5}, {0, 0}, {0, -3}} {
			if _, err := c.ReadRange(t.Context(), "a.pmtiles", bad[0], bad[1], ""); !errors.Is(err, privates3.ErrInvalidOption) {
				t.Errorf("ReadRange(%d, %d): %v, want ErrInvalidOption", bad[0], bad[1], err)
			}
		}
	})
}
