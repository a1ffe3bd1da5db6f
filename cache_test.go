package privates3

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
	"time"
)

var cacheEpoch = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// objEntry returns an object entry for key with n bytes of data.
func objEntry(key string, n int) *entry {
	obj := &cachedObject{meta: meta{size: int64(n), etag: `"e"`}, data: make([]byte, n)}
	return newEntry(key, entryObject, obj, cacheEpoch.Add(time.Minute))
}

// checkCache verifies the cache's invariants: list and index hold the same entries, used and n
// are their sums, the counters agree, and the budget holds.
func checkCache(t *testing.T, c *cache, st *counters) {
	t.Helper()
	c.mu.Lock()
	defer c.mu.Unlock()
	var listed []string
	var used, n int64
	for e := c.list.next; e != &c.list; e = e.next {
		if e.next.prev != e {
			t.Fatalf("broken links at %q", e.key)
		}
		v, ok := c.index.Load(e.key)
		if !ok || v.(*entry) != e {
			t.Errorf("listed entry %q not in the index", e.key)
		}
		listed = append(listed, e.key)
		used += e.charge
		n++
	}
	var indexed []string
	c.index.Range(func(k, _ any) bool { indexed = append(indexed, k.(string)); return true })
	slices.Sort(listed)
	slices.Sort(indexed)
	if !slices.Equal(listed, indexed) {
		t.Errorf("list %q, index %q", listed, indexed)
	}
	if used != c.used || n != c.n {
		t.Errorf("used, n = %d, %d; entries sum to %d, %d", c.used, c.n, used, n)
	}
	if c.maxBytes > 0 && c.used > c.maxBytes {
		t.Errorf("used %d over budget %d", c.used, c.maxBytes)
	}
	if got := st.cachedBytes.Load(); got != c.used {
		t.Errorf("counter cachedBytes %d, want %d", got, c.used)
	}
	if got := st.cachedObjects.Load(); got != c.n {
		t.Errorf("counter cachedObjects %d, want %d", got, c.n)
	}
}

// keys returns the cache's keys, newest first.
func (c *cache) keys() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var ks []string
	for e := c.list.next; e != &c.list; e = e.next {
		ks = append(ks, e.key)
	}
	return ks
}

func TestCacheEviction(t *testing.T) {
	const unit = entryOverhead + 1 + 100 // charge of a one-letter key with 100 bytes (plus etag)
	tests := []struct {
		name      string
		budget    int64
		ops       []string // "+k" adds k (100 bytes), "?k" gets k, "-k" removes k
		want      []string // keys left, newest first
		evictions int64
	}{
		{"fits", 3 * (unit + 3), []string{"+a", "+b", "+c"}, []string{"c", "b", "a"}, 0},
		{"oldest goes", 3 * (unit + 3), []string{"+a", "+b", "+c", "+d"}, []string{"d", "c", "b"}, 1},
		{"hit gets a second chance", 3 * (unit + 3), []string{"+a", "+b", "+c", "?a", "+d"}, []string{"a", "d", "c"}, 1},
		{"all hit: oldest goes after its chance", 3 * (unit + 3), []string{"+a", "+b", "+c", "?a", "?b", "?c", "+d"}, []string{"d", "c", "b"}, 1},
		{"replace keeps one entry", 3 * (unit + 3), []string{"+a", "+a", "+a"}, []string{"a"}, 0},
		{"remove frees budget", 3 * (unit + 3), []string{"+a", "+b", "+c", "-b", "+d"}, []string{"d", "c", "a"}, 0},
		{"get of missing key", 3 * (unit + 3), []string{"?x", "+a"}, []string{"a"}, 0},
		{"budget below one entry", unit, []string{"+a", "+b"}, nil, 0},
		{"disabled", -1, []string{"+a", "?a"}, nil, 0},
		{"zero", 0, []string{"+a"}, nil, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var st counters
			c := newCache(tt.budget, &st)
			for _, op := range tt.ops {
				k := op[1:]
				switch op[0] {
				case '+':
					c.add(objEntry(k, 100))
				case '?':
					c.get(k)
				case '-':
					if e := c.get(k); e != nil {
						c.remove(e)
					}
				}
				checkCache(t, c, &st)
			}
			if got := c.keys(); !slices.Equal(got, tt.want) {
				t.Errorf("keys %q, want %q", got, tt.want)
			}
			if got := st.evictions.Load(); got != tt.evictions {
				t.Errorf("evictions %d, want %d", got, tt.evictions)
			}
		})
	}
}

func TestCacheChargesOverhead(t *testing.T) {
	var st counters
	c := newCache(1<<20, &st)
	c.add(newEntry("gone", entryNotFound, nil, cacheEpoch))
	c.add(objEntry("obj", 10))
	want := int64(entryOverhead+len("gone")) + int64(entryOverhead+len("obj")+10+len(`"e"`))
	if got := st.cachedBytes.Load(); got != want {
		t.Errorf("cachedBytes %d, want %d (empty bodies must still cost their overhead)", got, want)
	}
	// A budget of 100 entries' overhead holds 100 empty entries, not more.
	c = newCache(100*(entryOverhead+4), &st)
	for i := range 1000 {
		c.add(newEntry(fmt.Sprintf("k%03d", i), entryNotFound, nil, cacheEpoch))
	}
	checkCache(t, c, &st)
	if got := st.cachedObjects.Load(); got != 100 {
		t.Errorf("cachedObjects %d, want 100", got)
	}
}

func TestCacheReplace(t *testing.T) {
	var st counters
	c := newCache(1<<20, &st)
	old := objEntry("k", 10)
	c.add(old)
	renewed := objEntry("k", 10)
	if !c.replace(old, renewed) {
		t.Fatal("replace of the current entry failed")
	}
	if c.replace(old, objEntry("k", 20)) {
		t.Error("replace of an entry no longer current succeeded")
	}
	if got := c.get("k"); got != renewed {
		t.Errorf("get returned %p, want the renewed entry %p", got, renewed)
	}
	c.remove(old) // no longer current: no-op
	if c.get("k") != renewed {
		t.Error("remove of a stale entry removed the current one")
	}
	// An entry too large for the budget is not stored and drops the older one.
	small := newCache(2*entryOverhead, &st)
	small.add(objEntry("k", 10))
	if small.add(objEntry("k", 2*entryOverhead)) {
		t.Error("entry over the budget was stored")
	}
	if small.get("k") != nil {
		t.Error("older entry kept after a too large replacement")
	}
	checkCache(t, small, &st)
}

func TestCacheFresh(t *testing.T) {
	e := objEntry("k", 1) // expires at cacheEpoch+1m
	for _, tt := range []struct {
		at   time.Duration
		want bool
	}{{0, true}, {time.Minute - 1, true}, {time.Minute, false}, {time.Hour, false}} {
		if got := e.fresh(cacheEpoch.Add(tt.at)); got != tt.want {
			t.Errorf("fresh at +%v = %v, want %v", tt.at, got, tt.want)
		}
	}
}

// TestCacheConcurrent hammers one cache from several goroutines (run it with -race) and checks
// the invariants afterwards.
func TestCacheConcurrent(t *testing.T) {
	var st counters
	c := newCache(20*(entryOverhead+200), &st)
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			r := rand.New(rand.NewPCG(uint64(g), 1))
			for range 2000 {
				k := fmt.Sprintf("k%d", r.IntN(50))
				switch r.IntN(10) {
				case 0, 1, 2:
					c.add(objEntry(k, r.IntN(100)))
				case 3:
					if e := c.get(k); e != nil {
						c.remove(e)
					}
				case 4:
					if e := c.get(k); e != nil {
						c.replace(e, objEntry(k, 50))
					}
				default:
					if e := c.get(k); e != nil && e.key != k {
						t.Errorf("get(%q) returned entry of %q", k, e.key)
					}
				}
			}
		})
	}
	wg.Wait()
	checkCache(t, c, &st)
	if st.evictions.Load() == 0 {
		t.Error("no evictions: the test did not fill the cache")
	}
}
