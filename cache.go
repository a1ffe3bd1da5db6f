package privates3

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
)

// entryOverhead is what the cache charges for one entry besides its key, body and metadata
// strings: the entry and object structs, the index node and the list links (about 300 bytes on
// 64-bit platforms, rounded up). Counting it keeps a cache full of tiny objects or not-found
// entries within its budget.
const entryOverhead = 320

// entryKind says what a cache entry remembers about a key.
type entryKind uint8

const (
	entryObject   entryKind = iota // the whole object (a complete 200 body) and its metadata
	entryNotFound                  // S3 said the object does not exist
	entryLarge                     // the object's metadata; it is too large to cache: bytes come from S3
)

// meta is an object's metadata, as S3 sent it.
type meta struct {
	size            int64 // of the whole object; -1 if S3 sent no length
	contentType     string
	contentEncoding string
	cacheControl    string
	etag            string
	lastModified    time.Time
}

// metaOf returns the metadata of an S3 answer's fields.
func metaOf(size *int64, contentType, contentEncoding, cacheControl, etag *string, lastModified *time.Time) meta {
	m := meta{
		size: -1, contentType: aws.ToString(contentType), contentEncoding: aws.ToString(contentEncoding),
		cacheControl: aws.ToString(cacheControl), etag: aws.ToString(etag), lastModified: aws.ToTime(lastModified),
	}
	if size != nil {
		m.size = *size
	}
	return m
}

// public returns an Object with m's metadata and no Body.
func (m *meta) public() Object {
	return Object{
		Size: m.size, ContentType: m.contentType, ContentEncoding: m.contentEncoding,
		CacheControl: m.cacheControl, ETag: m.etag, LastModified: m.lastModified,
	}
}

// cachedObject is an object's metadata and, for an object held in memory, its bytes. It is
// immutable once cached: every caller reads it through its own reader.
type cachedObject struct {
	meta
	data []byte // nil for an object too large to cache (entryLarge)
}

// entry is one key's cache entry. Everything but the list links and ref is immutable after the
// entry is added: renewing an entry replaces it with a copy.
type entry struct {
	key     string
	kind    entryKind
	obj     *cachedObject // nil for entryNotFound
	expires time.Time     // fresh until then; an expired object entry is revalidated
	charge  int64         // bytes counted against the budget

	// ref is set by hits and cleared by the eviction hand: an entry hit since the hand last
	// passed it gets a second chance instead of being evicted.
	ref atomic.Bool

	prev, next *entry // the cache's list; guarded by cache.mu
}

// fresh reports whether e may be used without asking S3 at time now.
func (e *entry) fresh(now time.Time) bool { return now.Before(e.expires) }

// newEntry returns an entry for key with its charge computed.
func newEntry(key string, kind entryKind, obj *cachedObject, expires time.Time) *entry {
	e := &entry{key: key, kind: kind, obj: obj, expires: expires}
	e.charge = entryOverhead + int64(len(key))
	if obj != nil {
		e.charge += int64(len(obj.data) + len(obj.contentType) + len(obj.contentEncoding) +
			len(obj.cacheControl) + len(obj.etag))
	}
	return e
}

// cache is a byte-bounded cache of objects, not-found answers and "too large" markers, safe for
// concurrent use. Its budget counts every entry's charge (body, key, metadata and
// entryOverhead).
//
// Replacement is least-recently-used, approximated by the second-chance (CLOCK) rule so that a
// hit takes no lock: the index is a sync.Map (lock-free loads), and a hit only sets the entry's
// ref bit instead of moving it to the front of a list under a mutex. Evicting takes the oldest
// entry; if it was hit since it was added or last passed over, it moves to the front instead.
// cache_bench_test.go compares this with a strict LRU that locks on every hit.
//
// The cache does not expire entries itself: callers compare an entry's expires with their clock
// and replace or remove it.
type cache struct {
	maxBytes int64 // <= 0: nothing is cached
	st       *counters
	index    sync.Map // key -> *entry; lock-free reads, written only with mu held

	mu   sync.Mutex // guards list (the links of every entry), used, n
	list entry      // sentinel: list.next is the newest entry, list.prev the next eviction candidate
	used int64      // sum of the entries' charges
	n    int64      // number of entries
}

// newCache returns an empty cache of at most maxBytes bytes (nothing is cached if maxBytes <= 0)
// that keeps its size, entry count and evictions in st.
func newCache(maxBytes int64, st *counters) *cache {
	c := &cache{maxBytes: maxBytes, st: st}
	c.list.next, c.list.prev = &c.list, &c.list
	return c
}

// get returns key's entry, fresh or not, or nil. It takes no lock.
func (c *cache) get(key string) *entry {
	v, ok := c.index.Load(key)
	if !ok {
		return nil
	}
	e := v.(*entry)
	if !e.ref.Load() { // read before writing: a hot entry's cache line stays shared
		e.ref.Store(true)
	}
	return e
}

// add stores e, replacing any entry of its key, and evicts entries until the cache fits its
// budget. An entry larger than the whole budget is not stored (and an older entry of its key is
// removed). It reports whether e was stored.
func (c *cache) add(e *entry) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.storeLocked(e)
}

// replace stores e in place of old, only if old is still e's key's entry, and reports whether it
// did. It renews or updates an entry without overwriting a newer one stored meanwhile.
func (c *cache) replace(old, e *entry) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if cur, ok := c.index.Load(e.key); !ok || cur.(*entry) != old {
		return false
	}
	return c.storeLocked(e)
}

// storeLocked is add with mu held.
func (c *cache) storeLocked(e *entry) bool {
	if old, ok := c.index.Load(e.key); ok {
		c.removeLocked(old.(*entry))
	}
	defer c.publishLocked()
	if e.charge > c.maxBytes {
		return false
	}
	c.index.Store(e.key, e)
	c.pushFrontLocked(e)
	c.used += e.charge
	c.n++
	c.evictLocked(e)
	return true
}

// remove deletes e if it is still its key's entry.
func (c *cache) remove(e *entry) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if cur, ok := c.index.Load(e.key); ok && cur.(*entry) == e {
		c.removeLocked(e)
		c.publishLocked()
	}
}

// removeLocked unlinks e, which must be in the cache, and deletes it from the index.
func (c *cache) removeLocked(e *entry) {
	c.index.CompareAndDelete(e.key, e)
	e.prev.next, e.next.prev = e.next, e.prev
	e.prev, e.next = nil, nil
	c.used -= e.charge
	c.n--
}

// pushFrontLocked links e as the newest entry.
func (c *cache) pushFrontLocked(e *entry) {
	e.prev, e.next = &c.list, c.list.next
	c.list.next.prev = e
	c.list.next = e
}

// evictLocked removes the least recently used entries until used fits maxBytes, sparing added
// (the entry just stored). An entry hit since the hand last passed it moves to the front once
// instead; after as many second chances as there are entries, the oldest entry goes regardless,
// so hits racing with eviction cannot make it spin.
func (c *cache) evictLocked(added *entry) {
	chances := c.n
	for c.used > c.maxBytes && c.list.prev != &c.list {
		e := c.list.prev
		if e == added || chances > 0 && e.ref.Load() {
			if e != added {
				chances--
				e.ref.Store(false)
			}
			e.prev.next, e.next.prev = e.next, e.prev
			c.pushFrontLocked(e)
			continue
		}
		c.removeLocked(e)
		c.st.evictions.Add(1)
	}
}

// publishLocked copies the cache's size into the counters.
func (c *cache) publishLocked() {
	c.st.cachedBytes.Store(c.used)
	c.st.cachedObjects.Store(c.n)
}
