package privates3

import (
	"container/list"
	"fmt"
	"sync"
	"testing"
)

// strictLRU is the baseline for BenchmarkCacheGet: the classic LRU (map plus list, as in
// golang-lru), which must take its mutex on every hit to move the entry to the front.
type strictLRU struct {
	mu    sync.Mutex // guards items, order
	items map[string]*list.Element
	order *list.List
}

func (l *strictLRU) get(key string) *entry {
	l.mu.Lock()
	defer l.mu.Unlock()
	el, ok := l.items[key]
	if !ok {
		return nil
	}
	l.order.MoveToFront(el)
	return el.Value.(*entry)
}

// rwMap is a map under a sync.RWMutex with no recency tracking at all: the cheapest locked read.
type rwMap struct {
	mu    sync.RWMutex // guards items
	items map[string]*entry
}

func (m *rwMap) get(key string) *entry {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return m.items[key]
}

// BenchmarkCacheGet compares the cache's hit path (sync.Map index, ref bit) with a strict LRU
// under a mutex and a plain map under an RWMutex, all holding the same 1000 entries, read by
// parallel goroutines.
func BenchmarkCacheGet(b *testing.B) {
	const n = 1000
	keys := make([]string, n)
	var st counters
	c := newCache(1<<30, &st)
	strict := &strictLRU{items: map[string]*list.Element{}, order: list.New()}
	rw := &rwMap{items: map[string]*entry{}}
	for i := range keys {
		keys[i] = fmt.Sprintf("tiles/%d/%d/%d.png", i%20, i/20, i)
		e := objEntry(keys[i], 1024)
		c.add(e)
		strict.items[keys[i]] = strict.order.PushFront(e)
		rw.items[keys[i]] = e
	}
	for _, bm := range []struct {
		name string
		get  func(string) *entry
	}{
		{"cache", c.get},
		{"strictLRU", strict.get},
		{"RWMutexMap", rw.get},
	} {
		b.Run(bm.name, func(b *testing.B) {
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				i := 0
				for pb.Next() {
					if bm.get(keys[i%n]) == nil {
						b.Error("miss")
						return
					}
					i += 7
				}
			})
		})
	}
}

// BenchmarkCacheAdd measures storing entries into a full cache (each add evicts one).
func BenchmarkCacheAdd(b *testing.B) {
	var st counters
	c := newCache(1000*(entryOverhead+1024+32), &st)
	entries := make([]*entry, 4096)
	for i := range entries {
		entries[i] = objEntry(fmt.Sprintf("tiles/%d.png", i), 1024)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		e := entries[i%len(entries)]
		c.add(newEntry(e.key, entryObject, e.obj, e.expires))
	}
}
