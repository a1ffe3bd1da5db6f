package rediscache_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/privates3/privates3/rediscache"
)

// newCache returns a Cache for opts that the test's Cleanup closes.
func newCache(t testing.TB, opts rediscache.Options) *rediscache.Cache {
	t.Helper()
	if opts.Timeout == 0 {
		// Tests run in parallel with -race on a small machine; the tests of timeouts set their own.
		opts.Timeout = 2 * time.Second
	}
	c, err := rediscache.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// eventually calls f every 10 ms until it returns nil, for at most limit, and fails the test
// with f's last error otherwise.
func eventually(t testing.TB, limit time.Duration, f func() error) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for {
		err := f()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("still failing after %v: %v", limit, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// randomValue returns n random bytes (binary: NUL, CR and LF included, as privates3's values).
func randomValue(n int) []byte {
	b := make([]byte, n)
	rand.Read(b)
	return b
}

func TestGetSetTTL(t *testing.T) {
	t.Parallel()
	srv := startRedis(t)
	c := newCache(t, rediscache.Options{URL: srv.URL(), Namespace: "ns1"})
	ctx := t.Context()

	if v, err := c.Get(ctx, "missing"); v != nil || err != nil {
		t.Fatalf("Get(missing) = %q, %v; want nil, nil", v, err)
	}
	val := randomValue(20 << 10)
	if err := c.Set(ctx, "tiles/3/4/2.png", val, time.Hour); err != nil {
		t.Fatal(err)
	}
	got, err := c.Get(ctx, "tiles/3/4/2.png")
	if err != nil || !bytes.Equal(got, val) {
		t.Fatalf("Get = %d bytes, %v; want the %d bytes set", len(got), err, len(val))
	}

	// An independent client sees the value under namespace and format version, with the TTL.
	key := "ns1:" + rediscache.FormatVersion + ":e:tiles/3/4/2.png"
	if s := srv.cli("STRLEN", key); s != strconv.Itoa(len(val)) {
		t.Fatalf("STRLEN %s = %q; want %d", key, s, len(val))
	}
	pttl, _ := strconv.Atoi(srv.cli("PTTL", key))
	if pttl <= 0 || pttl > int(time.Hour/time.Millisecond) {
		t.Fatalf("PTTL = %d ms; want in (0, 3600000]", pttl)
	}

	// Empty values are values, not misses.
	if err := c.Set(ctx, "empty", nil, time.Hour); err != nil {
		t.Fatal(err)
	}
	if v, err := c.Get(ctx, "empty"); v == nil || len(v) != 0 || err != nil {
		t.Fatalf("Get(empty) = %v, %v; want empty non-nil, nil", v, err)
	}

	if st := c.Stats(); st.Hits != 2 || st.Misses != 1 || st.Sets != 2 || st.Errors != 0 {
		t.Fatalf("Stats = %+v; want 2 hits, 1 miss, 2 sets, 0 errors", st)
	}

	// A short TTL expires.
	if err := c.Set(ctx, "short", []byte("x"), 50*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	eventually(t, 2*time.Second, func() error {
		v, err := c.Get(ctx, "short")
		if err != nil || v != nil {
			return fmt.Errorf("Get(short) = %q, %v after expiry", v, err)
		}
		return nil
	})
}

func TestSetRoundsTTLUp(t *testing.T) {
	t.Parallel()
	srv := startRedis(t)
	c := newCache(t, rediscache.Options{URL: srv.URL()})
	if err := c.Set(t.Context(), "k", []byte("v"), time.Microsecond); err != nil {
		t.Fatal(err)
	}
	// 1 µs is stored as PX 1, not as PX 0 (which Redis rejects) or without expiry.
	if s := srv.cli("PTTL", "privates3:v1:e:k"); s != "1" && s != "0" && s != "-2" {
		t.Fatalf("PTTL = %s; want at most 1 ms or already gone", s)
	}
}

func TestInvalidTTL(t *testing.T) {
	t.Parallel()
	srv := startRedis(t)
	c := newCache(t, rediscache.Options{URL: srv.URL()})
	for _, ttl := range []time.Duration{0, -time.Second} {
		if err := c.Set(t.Context(), "k", []byte("v"), ttl); !errors.Is(err, rediscache.ErrInvalidArgument) {
			t.Errorf("Set ttl %v: %v; want ErrInvalidArgument", ttl, err)
		}
		if ok, err := c.Lease(t.Context(), "k", ttl); ok || !errors.Is(err, rediscache.ErrInvalidArgument) {
			t.Errorf("Lease ttl %v: %v, %v; want false, ErrInvalidArgument", ttl, ok, err)
		}
	}
	if s := srv.cli("DBSIZE"); s != "0" {
		t.Fatalf("DBSIZE = %s; nothing should have been written", s)
	}
}

func TestNamespacesDoNotMeet(t *testing.T) {
	t.Parallel()
	srv := startRedis(t)
	a := newCache(t, rediscache.Options{URL: srv.URL(), Namespace: "prod"})
	b := newCache(t, rediscache.Options{URL: srv.URL(), Namespace: "staging"})
	d := newCache(t, rediscache.Options{URL: srv.URL()}) // DefaultNamespace
	ctx := t.Context()
	if err := a.Set(ctx, "k", []byte("prod"), time.Hour); err != nil {
		t.Fatal(err)
	}
	for _, c := range []*rediscache.Cache{b, d} {
		if v, err := c.Get(ctx, "k"); v != nil || err != nil {
			t.Fatalf("other namespace Get = %q, %v; want nil, nil", v, err)
		}
	}
	// A lease in one namespace does not block another.
	if ok, err := a.Lease(ctx, "k", time.Minute); !ok || err != nil {
		t.Fatalf("a.Lease = %v, %v", ok, err)
	}
	if ok, err := b.Lease(ctx, "k", time.Minute); !ok || err != nil {
		t.Fatalf("b.Lease = %v, %v; want true (other namespace)", ok, err)
	}
	// Nor is a lease an entry.
	if v, err := a.Get(ctx, "k"); string(v) != "prod" || err != nil {
		t.Fatalf("a.Get after Lease = %q, %v", v, err)
	}
}

func TestLeaseExclusiveAcrossCaches(t *testing.T) {
	t.Parallel()
	srv := startRedis(t)
	a := newCache(t, rediscache.Options{URL: srv.URL()})
	b := newCache(t, rediscache.Options{URL: srv.URL()})
	ctx := t.Context()

	if ok, err := a.Lease(ctx, "k", time.Minute); !ok || err != nil {
		t.Fatalf("a.Lease = %v, %v; want true", ok, err)
	}
	for name, c := range map[string]*rediscache.Cache{"a again": a, "b": b} {
		if ok, err := c.Lease(ctx, "k", time.Minute); ok || err != nil {
			t.Fatalf("%s: Lease = %v, %v; want false, nil while a holds it", name, ok, err)
		}
	}
	// b does not hold it: its Release does nothing.
	if err := b.Release(ctx, "k"); err != nil {
		t.Fatal(err)
	}
	if ok, _ := b.Lease(ctx, "k", time.Minute); ok {
		t.Fatal("b took the lease after its own Release of a's lease")
	}
	if err := a.Release(ctx, "k"); err != nil {
		t.Fatal(err)
	}
	if ok, err := b.Lease(ctx, "k", time.Minute); !ok || err != nil {
		t.Fatalf("b.Lease after a.Release = %v, %v; want true", ok, err)
	}
	if sa, sb := a.Stats(), b.Stats(); sa.LeasesTaken != 1 || sa.LeasesBusy != 1 || sa.Releases != 1 ||
		sb.LeasesTaken != 1 || sb.LeasesBusy != 2 || sb.Releases != 0 {
		t.Fatalf("Stats a %+v, b %+v", sa, sb)
	}
}

func TestLeaseRace(t *testing.T) {
	t.Parallel()
	srv := startRedis(t)
	caches := []*rediscache.Cache{
		newCache(t, rediscache.Options{URL: srv.URL()}),
		newCache(t, rediscache.Options{URL: srv.URL()}),
		newCache(t, rediscache.Options{URL: srv.URL()}),
	}
	for round := range 5 {
		key := "race" + strconv.Itoa(round)
		var taken atomic.Int64
		var wg sync.WaitGroup
		for i := range 30 {
			wg.Go(func() {
				ok, err := caches[i%len(caches)].Lease(t.Context(), key, time.Minute)
				if err != nil {
					t.Error(err)
				}
				if ok {
					taken.Add(1)
				}
			})
		}
		wg.Wait()
		if n := taken.Load(); n != 1 {
			t.Fatalf("round %d: %d callers took the lease; want exactly 1", round, n)
		}
	}
}

func TestReleaseOnlyByHolder(t *testing.T) {
	t.Parallel()
	srv := startRedis(t)
	a := newCache(t, rediscache.Options{URL: srv.URL()})
	b := newCache(t, rediscache.Options{URL: srv.URL()})
	ctx := t.Context()
	leaseKey := "privates3:v1:l:k"

	// a's lease expires and b takes it: a's late Release must leave b's lease alone.
	if ok, err := a.Lease(ctx, "k", 30*time.Millisecond); !ok || err != nil {
		t.Fatalf("a.Lease = %v, %v", ok, err)
	}
	eventually(t, 2*time.Second, func() error {
		if ok, err := b.Lease(ctx, "k", time.Minute); !ok || err != nil {
			return fmt.Errorf("b.Lease = %v, %v", ok, err)
		}
		return nil
	})
	bToken := srv.cli("GET", leaseKey)
	if err := a.Release(ctx, "k"); err != nil {
		t.Fatal(err)
	}
	if got := srv.cli("GET", leaseKey); got != bToken || got == "" {
		t.Fatalf("lease after a's late Release = %q; want b's token %q", got, bToken)
	}
	if st := a.Stats(); st.Releases != 0 {
		t.Fatalf("a.Stats().Releases = %d; want 0", st.Releases)
	}

	// A lease overwritten by hand (a foreign token) is not deleted either.
	if err := b.Release(ctx, "k"); err != nil {
		t.Fatal(err)
	}
	if ok, _ := a.Lease(ctx, "k", time.Minute); !ok {
		t.Fatal("a.Lease after b.Release: not taken")
	}
	srv.cli("SET", leaseKey, "someone-else")
	if err := a.Release(ctx, "k"); err != nil {
		t.Fatal(err)
	}
	if got := srv.cli("GET", leaseKey); got != "someone-else" {
		t.Fatalf("foreign lease after Release = %q; want it kept", got)
	}

	// Tokens are random: two leases never share one.
	srv.cli("DEL", leaseKey)
	a.Lease(ctx, "k", time.Minute)
	t1 := srv.cli("GET", leaseKey)
	a.Release(ctx, "k")
	a.Lease(ctx, "k", time.Minute)
	if t2 := srv.cli("GET", leaseKey); t1 == t2 || len(t1) < 16 {
		t.Fatalf("tokens %q and %q; want distinct random tokens", t1, t2)
	}
}

func TestReleaseScriptFlushed(t *testing.T) {
	t.Parallel()
	srv := startRedis(t)
	c := newCache(t, rediscache.Options{URL: srv.URL()})
	ctx := t.Context()
	// After SCRIPT FLUSH (or a failover to a fresh replica) the script is sent again.
	for range 2 {
		if ok, err := c.Lease(ctx, "k", time.Minute); !ok || err != nil {
			t.Fatalf("Lease = %v, %v", ok, err)
		}
		if err := c.Release(ctx, "k"); err != nil {
			t.Fatal(err)
		}
		if s := srv.cli("EXISTS", "privates3:v1:l:k"); s != "0" {
			t.Fatalf("EXISTS after Release = %s", s)
		}
		srv.cli("SCRIPT", "FLUSH")
	}
}

// prompt calls f and fails the test if it takes longer than limit. The limits given are many
// times the Cache's timeout and far below the server's stall, so a pass shows the call did not
// wait for Redis.
func prompt(t testing.TB, limit time.Duration, f func()) {
	t.Helper()
	start := time.Now()
	f()
	if d := time.Since(start); d > limit {
		t.Fatalf("call took %v; want at most %v", d, limit)
	}
}

func TestTimeoutDebugSleep(t *testing.T) {
	t.Parallel()
	srv := startRedis(t)
	c := newCache(t, rediscache.Options{URL: srv.URL(), Timeout: 50 * time.Millisecond, BreakerErrors: 1000})
	ctx := t.Context()
	eventually(t, 5*time.Second, func() error { return c.Set(ctx, "k", []byte("v"), time.Hour) })
	srv.sleep(4 * time.Second)
	asleep := time.Now()
	for i := 0; i < 5 && time.Since(asleep) < 1500*time.Millisecond; i++ {
		prompt(t, 1500*time.Millisecond, func() {
			v, err := c.Get(ctx, "k")
			if v != nil || !errors.Is(err, rediscache.ErrTimeout) {
				t.Fatalf("Get %d during DEBUG SLEEP = %q, %v; want nil, ErrTimeout", i, v, err)
			}
		})
		prompt(t, 1500*time.Millisecond, func() {
			if err := c.Set(ctx, "k2", randomValue(20<<10), time.Hour); !errors.Is(err, rediscache.ErrTimeout) {
				t.Fatalf("Set during DEBUG SLEEP: %v; want ErrTimeout", err)
			}
		})
		prompt(t, 1500*time.Millisecond, func() {
			if ok, err := c.Lease(ctx, "k3", time.Second); ok || !errors.Is(err, rediscache.ErrTimeout) {
				t.Fatalf("Lease during DEBUG SLEEP: %v, %v; want false, ErrTimeout", ok, err)
			}
		})
	}
	// Redis wakes up: the same Cache works again.
	eventually(t, 5*time.Second, func() error {
		v, err := c.Get(ctx, "k")
		if err != nil || string(v) != "v" {
			return fmt.Errorf("Get after sleep = %q, %v", v, err)
		}
		return nil
	})
	if st := c.Stats(); st.Errors < 3 {
		t.Fatalf("Stats.Errors = %d; want >= 3", st.Errors)
	}
}

func TestTimeoutClientPause(t *testing.T) {
	t.Parallel()
	srv := startRedis(t)
	c := newCache(t, rediscache.Options{URL: srv.URL(), Timeout: 50 * time.Millisecond, BreakerErrors: 1000})
	ctx := t.Context()
	eventually(t, 5*time.Second, func() error { return c.Set(ctx, "k", []byte("v"), time.Hour) })
	srv.cli("CLIENT", "PAUSE", "4000", "ALL")
	paused := time.Now()
	for i := 0; i < 5 && time.Since(paused) < 1500*time.Millisecond; i++ {
		prompt(t, 1500*time.Millisecond, func() {
			if v, err := c.Get(ctx, "k"); v != nil || !errors.Is(err, rediscache.ErrTimeout) {
				t.Fatalf("Get during CLIENT PAUSE = %q, %v; want nil, ErrTimeout", v, err)
			}
		})
	}
	eventually(t, 5*time.Second, func() error {
		if v, err := c.Get(ctx, "k"); err != nil || string(v) != "v" {
			return fmt.Errorf("Get after pause = %q, %v", v, err)
		}
		return nil
	})
}

func TestCallerContextWins(t *testing.T) {
	t.Parallel()
	srv := startRedis(t)
	c := newCache(t, rediscache.Options{URL: srv.URL(), Timeout: 10 * time.Second})
	if err := c.Ping(t.Context()); err != nil {
		t.Fatal(err)
	}
	srv.cli("CLIENT", "PAUSE", "3000", "ALL")
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Millisecond)
	defer cancel()
	prompt(t, 1500*time.Millisecond, func() {
		if _, err := c.Get(ctx, "k"); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Get = %v; want the caller's context.DeadlineExceeded", err)
		}
	})
	// The caller's deadline is not Redis's fault: it does not count towards the breaker.
	if st := c.Stats(); st.BreakerOpens != 0 {
		t.Fatalf("Stats = %+v", st)
	}
}

func TestRedisRestart(t *testing.T) {
	t.Parallel()
	srv := startRedis(t)
	c := newCache(t, rediscache.Options{URL: srv.URL(), Timeout: 100 * time.Millisecond, BreakerErrors: 1000})
	ctx := t.Context()
	eventually(t, 5*time.Second, func() error { return c.Set(ctx, "k", []byte("before"), time.Hour) })
	srv.Stop()
	for range 5 {
		prompt(t, 3*time.Second, func() {
			if v, err := c.Get(ctx, "k"); v != nil || err == nil {
				t.Fatalf("Get with Redis stopped = %q, %v; want an error", v, err)
			}
		})
	}
	srv.Start() // empty again: nothing was saved
	eventually(t, 5*time.Second, func() error {
		if err := c.Set(ctx, "k", []byte("after"), time.Hour); err != nil {
			return err
		}
		v, err := c.Get(ctx, "k")
		if err != nil || string(v) != "after" {
			return fmt.Errorf("Get after restart = %q, %v", v, err)
		}
		return nil
	})
	if ok, err := c.Lease(ctx, "k", time.Minute); !ok || err != nil {
		t.Fatalf("Lease after restart = %v, %v", ok, err)
	}
	if err := c.Release(ctx, "k"); err != nil { // the script is loaded again on the new server
		t.Fatal(err)
	}
	if s := srv.cli("EXISTS", "privates3:v1:l:k"); s != "0" {
		t.Fatalf("lease still there after Release: EXISTS = %s", s)
	}
}

func TestStartsWhileRedisDown(t *testing.T) {
	t.Parallel()
	redisBinary(t)
	srv := startRedis(t)
	srv.Stop()
	c := newCache(t, rediscache.Options{URL: srv.URL(), Timeout: 50 * time.Millisecond, BreakerErrors: 1000})
	prompt(t, 3*time.Second, func() {
		if _, err := c.Get(t.Context(), "k"); !errors.Is(err, rediscache.ErrUnavailable) {
			t.Fatalf("Get with Redis never started = %v; want ErrUnavailable", err)
		}
	})
	srv.Start()
	eventually(t, 5*time.Second, func() error { return c.Ping(t.Context()) })
}

// blackhole is a TCP listener that accepts connections and never answers: a server that hangs.
func blackhole(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	var conns []net.Conn
	wg.Go(func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	})
	t.Cleanup(func() {
		l.Close()
		wg.Wait()
		for _, c := range conns {
			c.Close()
		}
	})
	return l.Addr().String()
}

func TestHungServer(t *testing.T) {
	t.Parallel()
	addr := blackhole(t)
	c, err := rediscache.New(rediscache.Options{URL: "redis://" + addr, Timeout: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	// Calls wait for the handshake only up to their own timeout.
	for range 3 {
		prompt(t, 1500*time.Millisecond, func() {
			if _, err := c.Get(t.Context(), "k"); !errors.Is(err, rediscache.ErrTimeout) && !errors.Is(err, rediscache.ErrUnavailable) {
				t.Fatalf("Get against a hung server = %v; want ErrTimeout or ErrUnavailable", err)
			}
		})
	}
	// Close ends a handshake in progress.
	prompt(t, 1500*time.Millisecond, func() { c.Close() })
	if _, err := c.Get(t.Context(), "k"); !errors.Is(err, rediscache.ErrClosed) {
		t.Fatalf("Get after Close = %v; want ErrClosed", err)
	}
}

func TestClose(t *testing.T) {
	t.Parallel()
	srv := startRedis(t)
	c, err := rediscache.New(rediscache.Options{URL: srv.URL()})
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	eventually(t, 5*time.Second, func() error { return c.Set(ctx, "k", []byte("v"), time.Hour) })
	if ok, _ := c.Lease(ctx, "k", time.Minute); !ok {
		t.Fatal("Lease not taken")
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if err := c.Close(); err != nil {
		t.Fatalf("second Close = %v; want nil", err)
	}
	if _, err := c.Get(ctx, "k"); !errors.Is(err, rediscache.ErrClosed) {
		t.Errorf("Get after Close = %v", err)
	}
	if err := c.Set(ctx, "k", nil, time.Hour); !errors.Is(err, rediscache.ErrClosed) {
		t.Errorf("Set after Close = %v", err)
	}
	if _, err := c.Lease(ctx, "x", time.Hour); !errors.Is(err, rediscache.ErrClosed) {
		t.Errorf("Lease after Close = %v", err)
	}
	if err := c.Release(ctx, "k"); !errors.Is(err, rediscache.ErrClosed) {
		t.Errorf("Release after Close = %v", err)
	}
	if err := c.Ping(ctx); !errors.Is(err, rediscache.ErrClosed) {
		t.Errorf("Ping after Close = %v", err)
	}
	// Its connections are gone (only redis-cli's own is left).
	eventually(t, 2*time.Second, func() error {
		if n := strings.Count(srv.cli("CLIENT", "LIST"), "\n") + 1; n != 1 {
			return fmt.Errorf("%d clients connected; want 1 (redis-cli)", n)
		}
		return nil
	})
}

func TestInvalidOptions(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		opts rediscache.Options
		want string // in the error
	}{
		{"scheme", rediscache.Options{URL: "http://h:1"}, "Options.URL"},
		{"no host", rediscache.Options{URL: "redis://"}, "no host"},
		{"bad db", rediscache.Options{URL: "redis://:hunter2@h:1/x"}, "database"},
		{"unparsable", rediscache.Options{URL: "redis://u:hunter2@h:1:%zz"}, "Options.URL"},
		{"namespace colon", rediscache.Options{Namespace: "a:b"}, "Options.Namespace"},
		{"namespace space", rediscache.Options{Namespace: "a b"}, "Options.Namespace"},
		{"namespace long", rediscache.Options{Namespace: strings.Repeat("n", 65)}, "Options.Namespace"},
		{"timeout", rediscache.Options{Timeout: -1}, "Options.Timeout"},
		{"breaker errors", rediscache.Options{BreakerErrors: -1}, "Options.BreakerErrors"},
		{"breaker cooldown", rediscache.Options{BreakerCooldown: -1}, "Options.BreakerCooldown"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := rediscache.New(tc.opts)
			if err == nil {
				c.Close()
				t.Fatal("New succeeded")
			}
			if !errors.Is(err, rediscache.ErrInvalidOptions) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("New: %v; want ErrInvalidOptions naming %s", err, tc.want)
			}
			if strings.Contains(err.Error(), "hunter2") {
				t.Fatalf("error shows the password: %v", err)
			}
		})
	}
}

func TestBreakerAgainstRedis(t *testing.T) {
	t.Parallel()
	srv := startRedis(t)
	c := newCache(t, rediscache.Options{
		URL: srv.URL(), Timeout: 100 * time.Millisecond,
		BreakerErrors: 3, BreakerCooldown: time.Second,
	})
	ctx := t.Context()
	eventually(t, 5*time.Second, func() error { return c.Set(ctx, "k", []byte("v"), time.Hour) })
	base := c.Stats() // (the warm-up may have failed a few times on a loaded machine)
	since := func() rediscache.Stats {
		st := c.Stats()
		return rediscache.Stats{Errors: st.Errors - base.Errors, Rejected: st.Rejected - base.Rejected,
			BreakerOpens: st.BreakerOpens - base.BreakerOpens}
	}

	srv.Stop()
	for i := range 3 {
		if _, err := c.Get(ctx, "k"); err == nil || errors.Is(err, rediscache.ErrUnavailable) && strings.Contains(err.Error(), "breaker") {
			t.Fatalf("Get %d with Redis down = %v; want a Redis error", i, err)
		}
	}
	if st := since(); st.BreakerOpens != 1 || st.Errors != 3 || st.Rejected != 0 {
		t.Fatalf("Stats after 3 failures = %+v; want 1 opening, 3 errors", st)
	}
	// Open: refused at once, without asking Redis.
	for range 10 {
		prompt(t, 500*time.Millisecond, func() {
			if _, err := c.Get(ctx, "k"); !errors.Is(err, rediscache.ErrUnavailable) {
				t.Fatalf("Get with the breaker open = %v; want ErrUnavailable", err)
			}
		})
	}
	if st := since(); st.Rejected != 10 || st.Errors != 3 {
		t.Fatalf("Stats = %+v; want 10 rejected, still 3 errors", st)
	}
	// After the cooldown one probe asks Redis, fails and opens it again.
	time.Sleep(1100 * time.Millisecond)
	if _, err := c.Get(ctx, "k"); err == nil || strings.Contains(err.Error(), "breaker") {
		t.Fatalf("probe = %v; want a Redis error", err)
	}
	if st := since(); st.BreakerOpens != 2 || st.Errors != 4 {
		t.Fatalf("Stats after failed probe = %+v; want 2 openings, 4 errors", st)
	}
	// Redis is back: after the cooldown the probe succeeds and everything flows again.
	srv.Start()
	time.Sleep(1100 * time.Millisecond)
	eventually(t, 5*time.Second, func() error { return c.Set(ctx, "k", []byte("again"), time.Hour) })
	for range 5 {
		if v, err := c.Get(ctx, "k"); err != nil || string(v) != "again" {
			t.Fatalf("Get after recovery = %q, %v", v, err)
		}
	}
}

func TestBreakerOpensOnTimeouts(t *testing.T) {
	t.Parallel()
	srv := startRedis(t)
	ctx := t.Context()

	// A foreign value of the wrong type at one key is that key's problem, not the server's.
	d := newCache(t, rediscache.Options{URL: srv.URL(), BreakerErrors: 1})
	eventually(t, 5*time.Second, func() error { return d.Ping(ctx) })
	srv.cli("RPUSH", "privates3:v1:e:list", "x")
	for range 3 {
		if _, err := d.Get(ctx, "list"); !errors.Is(err, rediscache.ErrRedis) || !strings.Contains(err.Error(), "WRONGTYPE") {
			t.Fatalf("Get of a list = %v; want ErrRedis WRONGTYPE", err)
		}
	}
	if st := d.Stats(); st.BreakerOpens != 0 || st.Errors != 3 {
		t.Fatalf("Stats = %+v; want no opening, 3 errors", st)
	}

	c := newCache(t, rediscache.Options{
		URL: srv.URL(), Timeout: 50 * time.Millisecond,
		BreakerErrors: 2, BreakerCooldown: 500 * time.Millisecond,
	})
	eventually(t, 5*time.Second, func() error { return c.Ping(ctx) })
	base := c.Stats() // (the warm-up may have failed a few times on a loaded machine)
	srv.cli("CLIENT", "PAUSE", "2000", "ALL")
	for range 2 {
		if err := c.Ping(ctx); !errors.Is(err, rediscache.ErrTimeout) {
			t.Fatalf("Ping during pause = %v; want ErrTimeout", err)
		}
	}
	if err := c.Ping(ctx); !errors.Is(err, rediscache.ErrUnavailable) {
		t.Fatalf("Ping after 2 timeouts = %v; want ErrUnavailable (breaker open)", err)
	}
	if st := c.Stats(); st.BreakerOpens-base.BreakerOpens != 1 || st.Rejected-base.Rejected != 1 {
		t.Fatalf("Stats = %+v (after warm-up %+v); want 1 more opening, 1 more rejected", st, base)
	}
}
