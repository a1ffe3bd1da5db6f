package rediscache_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/privates3/privates3"
	"github.com/privates3/privates3/privates3test"
	"github.com/privates3/privates3/rediscache"
)

// tier is one privates3 deployment for the tests: a fake S3, one real Redis, and Clients that
// share it, each with its own memory cache and its own rediscache.Cache, as separate processes
// would have.
type tier struct {
	t    testing.TB
	s3   *privates3test.Server
	srv  *redisServer
	opts rediscache.Options      // for each Client's Cache
	cfg  func(*privates3.Config) // adjusts each Client's Config, if set
}

func newTier(t testing.TB) *tier {
	t.Helper()
	s3 := privates3test.NewServer()
	t.Cleanup(s3.Close)
	srv := startRedis(t)
	// A generous tier timeout: these tests are about sharing, on a loaded test machine (-race);
	// the tests of failures set short ones.
	return &tier{t: t, s3: s3, srv: srv, opts: rediscache.Options{URL: srv.URL(), Timeout: 2 * time.Second}}
}

// client returns a new Client on the tier (closed by the test's Cleanup, or earlier by the test)
// and its Cache.
func (tr *tier) client() (*privates3.Client, *rediscache.Cache) {
	tr.t.Helper()
	sc := newCache(tr.t, tr.opts)
	eventually(tr.t, 5*time.Second, func() error { return sc.Ping(tr.t.Context()) })
	cfg := tr.s3.Config("tiles")
	cfg.SharedCache = sc
	cfg.SharedCacheWait = 10 * time.Second
	if tr.cfg != nil {
		tr.cfg(&cfg)
	}
	c, err := privates3.New(tr.t.Context(), cfg)
	if err != nil {
		tr.t.Fatal(err)
	}
	tr.t.Cleanup(func() { c.Close() })
	return c, sc
}

// read returns key's bytes through c.
func read(ctx context.Context, c *privates3.Client, key string) ([]byte, error) {
	obj, err := c.GetObject(ctx, key)
	if err != nil {
		return nil, err
	}
	defer obj.Body.Close()
	return io.ReadAll(obj.Body)
}

// mustRead is read that fails the test unless it returns want.
func mustRead(t testing.TB, c *privates3.Client, key string, want []byte) {
	t.Helper()
	got, err := read(t.Context(), c, key)
	if err != nil {
		t.Fatalf("GetObject(%s): %v", key, err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("GetObject(%s) = %d bytes, not the %d stored", key, len(got), len(want))
	}
}

func TestOneS3GetAcrossClients(t *testing.T) {
	t.Parallel()
	tr := newTier(t)
	val := randomValue(20 << 10)
	tr.s3.PutObject("tiles", "3/4/2.png", val, privates3test.ContentType("image/png"))
	// The first GET is slow, so that every cold request of every Client overlaps with it.
	tr.s3.InjectFault(privates3test.Fault{Op: privates3test.OpGetObject, Latency: 300 * time.Millisecond, Times: 1})

	var clients []*privates3.Client
	for range 4 {
		c, _ := tr.client()
		clients = append(clients, c)
	}
	var wg sync.WaitGroup
	for _, c := range clients {
		for range 64 {
			wg.Go(func() {
				got, err := read(t.Context(), c, "3/4/2.png")
				if err != nil || !bytes.Equal(got, val) {
					t.Errorf("GetObject = %d bytes, %v", len(got), err)
				}
			})
		}
	}
	wg.Wait()
	if n := tr.s3.Count(privates3test.OpGetObject); n != 1 {
		t.Fatalf("S3 GETs = %d for 4 Clients × 64 cold requests; want 1", n)
	}
	var hits, waits int64
	for _, c := range clients {
		st := c.Stats()
		hits += st.SharedHits
		waits += st.SharedWaits
	}
	if hits != 3 || waits > 3 {
		t.Fatalf("SharedHits %d, SharedWaits %d; want 3 hits (one flight per Client, one fetched) and at most 3 waits", hits, waits)
	}
}

func TestHundredKeysFourClientsThenAFifth(t *testing.T) {
	t.Parallel()
	tr := newTier(t)
	vals := make(map[string][]byte)
	for i := range 100 {
		k := fmt.Sprintf("z/%d.pbf", i)
		vals[k] = randomValue(1000 + 97*i)
		tr.s3.PutObject("tiles", k, vals[k])
	}
	var wg sync.WaitGroup
	for range 4 {
		c, _ := tr.client()
		wg.Go(func() {
			for k, v := range vals { // each Client in its own (random) order
				got, err := read(t.Context(), c, k)
				if err != nil || !bytes.Equal(got, v) {
					t.Errorf("GetObject(%s) = %d bytes, %v", k, len(got), err)
				}
			}
		})
	}
	wg.Wait()
	if n := tr.s3.Count(privates3test.OpGetObject); n != 100 {
		t.Fatalf("S3 GETs = %d for 100 keys × 4 Clients; want 100", n)
	}

	fifth, _ := tr.client()
	for k, v := range vals {
		mustRead(t, fifth, k, v)
	}
	if n := tr.s3.Count(privates3test.OpGetObject); n != 100 {
		t.Fatalf("S3 GETs = %d after a fresh fifth Client read all 100 keys; want still 100", n)
	}
	if st := fifth.Stats(); st.SharedHits != 100 || st.UpstreamGets != 0 {
		t.Fatalf("fifth Client: %+v; want 100 shared hits, 0 upstream GETs", st)
	}
}

func TestSharedNotFound(t *testing.T) {
	t.Parallel()
	tr := newTier(t)
	a, _ := tr.client()
	b, _ := tr.client()
	for _, c := range []*privates3.Client{a, b, b} {
		if _, err := read(t.Context(), c, "missing.png"); !errors.Is(err, privates3.ErrNotFound) {
			t.Fatalf("GetObject(missing) = %v; want ErrNotFound", err)
		}
	}
	if n := tr.s3.Count(privates3test.OpGetObject); n != 1 {
		t.Fatalf("S3 GETs = %d; want 1 (the not-found is shared)", n)
	}
}

func TestSharedLargeObjectMetadata(t *testing.T) {
	t.Parallel()
	tr := newTier(t)
	tr.cfg = func(cfg *privates3.Config) { cfg.MaxCacheableSize = 1 << 10 }
	val := randomValue(4 << 10)
	tr.s3.PutObject("tiles", "big.bin", val)
	a, _ := tr.client()
	b, _ := tr.client()
	mustRead(t, a, "big.bin", val)
	mustRead(t, b, "big.bin", val) // streamed by each; the tier only spares b the lease wait
	if n := tr.s3.Count(privates3test.OpGetObject); n != 2 {
		t.Fatalf("S3 GETs = %d; want 2 (large objects are streamed by each instance)", n)
	}
	if st := b.Stats(); st.SharedHits != 1 || st.SharedWaits != 0 {
		t.Fatalf("b: %+v; want the large object's metadata from the tier", st)
	}
}

func TestSharedRevalidationOnceForAll(t *testing.T) {
	t.Parallel()
	tr := newTier(t)
	const ttl = time.Second
	tr.cfg = func(cfg *privates3.Config) { cfg.TTL = ttl }
	val := randomValue(20 << 10)
	tr.s3.PutObject("tiles", "k.png", val)
	var clients []*privates3.Client
	for range 4 {
		c, _ := tr.client()
		clients = append(clients, c)
	}
	start := time.Now()
	for _, c := range clients {
		mustRead(t, c, "k.png", val)
	}
	if time.Since(start) > ttl/2 {
		t.Skip("the machine is too slow for this TTL")
	}
	if n := tr.s3.Count(privates3test.OpGetObject); n != 1 {
		t.Fatalf("S3 GETs = %d; want 1", n)
	}
	time.Sleep(time.Until(start.Add(ttl + 100*time.Millisecond))) // every entry is stale now
	var wg sync.WaitGroup
	for _, c := range clients {
		wg.Go(func() { mustRead(t, c, "k.png", val) })
	}
	wg.Wait()
	var notModified int64
	for _, c := range clients {
		notModified += c.Stats().NotModified
	}
	if n := tr.s3.Count(privates3test.OpGetObject); n != 2 || notModified != 1 {
		t.Fatalf("S3 GETs = %d, 304s = %d after TTL; want 2 and 1 (one revalidation for all)", n, notModified)
	}
}

func TestLeaseHolderClosedMidFetch(t *testing.T) {
	t.Parallel()
	tr := newTier(t)
	val := randomValue(20 << 10)
	tr.s3.PutObject("tiles", "k.png", val)
	// The holder's GET hangs for far longer than the test.
	tr.s3.InjectFault(privates3test.Fault{Op: privates3test.OpGetObject, Latency: time.Minute, Times: 1})
	holder, _ := tr.client()
	b, _ := tr.client()
	c, _ := tr.client()

	go read(context.Background(), holder, "k.png") // ends with an error when holder closes
	eventually(t, 5*time.Second, func() error {
		if tr.s3.Count(privates3test.OpGetObject) != 1 {
			return errors.New("the holder's GET has not arrived")
		}
		return nil
	})
	start := time.Now()
	var wg sync.WaitGroup
	for _, cl := range []*privates3.Client{b, c} {
		for range 8 {
			wg.Go(func() {
				got, err := read(t.Context(), cl, "k.png")
				if err != nil || !bytes.Equal(got, val) {
					t.Errorf("GetObject = %d bytes, %v", len(got), err)
				}
			})
		}
	}
	time.Sleep(100 * time.Millisecond) // the others are waiting for the holder now
	holder.Close()
	wg.Wait()
	if d := time.Since(start); d > 10*time.Second { // SharedCacheWait
		t.Fatalf("the others got the object after %v; want within the wait limit", d)
	}
	if n := tr.s3.Count(privates3test.OpGetObject); n != 2 {
		t.Fatalf("S3 GETs = %d; want 2 (the holder's, and one more)", n)
	}
}

func TestCorruptEntriesNeverServed(t *testing.T) {
	t.Parallel()
	tr := newTier(t)
	val := randomValue(20 << 10)
	other := randomValue(20 << 10)
	tr.s3.PutObject("tiles", "k.png", val)
	tr.s3.PutObject("tiles", "other.png", other)
	first, sc := tr.client()
	mustRead(t, first, "k.png", val)
	mustRead(t, first, "other.png", other)

	keys := strings.Fields(tr.srv.cli("--scan", "--pattern", "privates3:v1:e:*"))
	var key, otherKey string
	for _, k := range keys {
		switch {
		case strings.HasSuffix(k, "/k.png"):
			key = k
		case strings.HasSuffix(k, "/other.png"):
			otherKey = k
		}
	}
	if key == "" || otherKey == "" {
		t.Fatalf("entries in Redis: %q", keys)
	}
	// The stored values, read raw (the tier's own key under the namespace).
	raw := func(k string) []byte {
		v, err := sc.Get(t.Context(), strings.TrimPrefix(k, "privates3:v1:e:"))
		if err != nil || v == nil {
			t.Fatalf("raw Get(%s) = %v, %v", k, v, err)
		}
		return v
	}
	good, foreign := raw(key), raw(otherKey)
	flipped := bytes.Clone(good)
	flipped[len(flipped)/2] ^= 0x40

	for name, bad := range map[string][]byte{
		"truncated":      good[:len(good)-100],
		"truncated to 1": good[:1],
		"flipped byte":   flipped,
		"extended":       append(bytes.Clone(good), "extra"...),
		"another key's":  foreign,
		"not an entry":   []byte("PNG but not ours"),
		"empty":          {},
		"body alone":     val,
	} {
		tr.srv.cliValue(bad, "SET", key)
		if n := tr.srv.cli("STRLEN", key); n != fmt.Sprint(len(bad)) {
			t.Fatalf("%s: STRLEN after redis-cli SET = %s; want %d", name, n, len(bad))
		}
		before := tr.s3.Count(privates3test.OpGetObject)
		c, _ := tr.client() // a fresh memory cache: it asks the tier
		mustRead(t, c, "k.png", val)
		if st := c.Stats(); st.SharedInvalid < 1 || st.SharedHits != 0 { // (seen again under the lease)
			t.Fatalf("%s: %+v; want the entry rejected", name, st)
		}
		if n := tr.s3.Count(privates3test.OpGetObject); n != before+1 {
			t.Fatalf("%s: S3 GETs %d -> %d; want one (the object fetched again)", name, before, n)
		}
		// That fetch stored a good entry again.
		if v := raw(key); !bytes.Equal(v, good) && len(v) != len(good) {
			t.Fatalf("%s: entry after the refetch has %d bytes; want %d", name, len(v), len(good))
		}
	}
}

// TestLoadThroughRedisFailures runs a load of GetObject calls through two Clients without memory
// caches (every call asks the tier) while Redis is stopped, restarted, put to DEBUG SLEEP and
// paused: no call may fail, and none may wait much beyond the tier's timeout.
func TestLoadThroughRedisFailures(t *testing.T) {
	t.Parallel()
	tr := newTier(t)
	tr.opts.Timeout = 50 * time.Millisecond
	tr.opts.BreakerCooldown = 200 * time.Millisecond
	tr.cfg = func(cfg *privates3.Config) { cfg.CacheBytes = -1; cfg.SharedCacheWait = time.Second }
	vals := make([][]byte, 20)
	for i := range vals {
		vals[i] = randomValue(4<<10 + i)
		tr.s3.PutObject("tiles", fmt.Sprintf("k%d", i), vals[i])
	}
	a, _ := tr.client()
	b, _ := tr.client()

	stop := make(chan struct{})
	var calls, failed atomic.Int64
	var maxLatency atomic.Int64
	var wg sync.WaitGroup
	for w := range 8 {
		c := a
		if w%2 == 1 {
			c = b
		}
		wg.Go(func() {
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				k := (i*7 + w) % len(vals)
				start := time.Now()
				got, err := read(t.Context(), c, fmt.Sprintf("k%d", k))
				if d := int64(time.Since(start)); d > maxLatency.Load() {
					maxLatency.Store(d) // racy max: good enough for a bound
				}
				calls.Add(1)
				if err != nil || !bytes.Equal(got, vals[k]) {
					failed.Add(1)
					t.Errorf("GetObject(k%d) = %d bytes, %v", k, len(got), err)
				}
			}
		})
	}
	phase := func(name string, d time.Duration) {
		before := calls.Load()
		time.Sleep(d)
		if calls.Load() == before {
			t.Errorf("%s: no call finished in %v", name, d)
		}
	}
	phase("Redis up", 300*time.Millisecond)
	tr.srv.Stop()
	phase("Redis stopped", 500*time.Millisecond)
	tr.srv.Start()
	phase("Redis restarted", 500*time.Millisecond)
	tr.srv.sleep(500 * time.Millisecond)
	phase("DEBUG SLEEP", 600*time.Millisecond)
	tr.srv.cli("CLIENT", "PAUSE", "400", "ALL")
	phase("CLIENT PAUSE", 500*time.Millisecond)
	phase("Redis back", 500*time.Millisecond)
	close(stop)
	wg.Wait()

	st := a.Stats()
	t.Logf("%d calls, %d failed, max latency %v; Client a: %d shared hits, %d tier errors, %d S3 GETs",
		calls.Load(), failed.Load(), time.Duration(maxLatency.Load()), st.SharedHits, st.SharedErrors, st.UpstreamGets)
	if failed.Load() != 0 {
		t.Fatalf("%d of %d calls failed", failed.Load(), calls.Load())
	}
	if st.SharedErrors == 0 || st.SharedHits == 0 {
		t.Fatalf("Stats %+v; want both shared hits and tier errors during the run", st)
	}
	// Each call makes at most four tier calls (Get, Lease, Set, Release) before or after S3;
	// with the breaker open it makes none. A generous bound for a loaded machine.
	if d := time.Duration(maxLatency.Load()); d > 2*time.Second {
		t.Fatalf("max latency %v; want well below 2s", d)
	}
}
