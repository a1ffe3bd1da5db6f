package pmtiles

import (
	"container/list"
	"sync"
)

// dirCache keeps recently decoded leaf directories, so that a tile in a hot leaf costs a map
// lookup instead of a decompression and decoding of thousands of entries. The Client's cache
// keeps the compressed bytes (and answers misses here without S3); this one only saves CPU. It is
// bounded by the number of entries held, and keyed by the archive version's in-memory state, so
// the directories of a replaced archive are never found for the new one.
type dirCache struct {
	max int // entries; 0 disables the cache

	mu      sync.Mutex // guards entries, items, lru
	entries int
	items   map[dirKey]*list.Element
	lru     list.List // of *dirItem, most recent first
}

type dirKey struct {
	a   *archive
	off uint64 // the leaf's offset in the archive
}

type dirItem struct {
	key dirKey
	dir []entry
}

func newDirCache(maxEntries int) *dirCache {
	return &dirCache{max: maxEntries, items: make(map[dirKey]*list.Element)}
}

func (c *dirCache) get(k dirKey) ([]entry, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	el, ok := c.items[k]
	if !ok {
		return nil, false
	}
	c.lru.MoveToFront(el)
	return el.Value.(*dirItem).dir, true
}

// add stores dir, evicting the least recently used directories to stay within max entries.
// Directories larger than max are not stored.
func (c *dirCache) add(k dirKey, dir []entry) {
	if len(dir) > c.max {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.items[k]; ok {
		return
	}
	for c.entries+len(dir) > c.max {
		old := c.lru.Remove(c.lru.Back()).(*dirItem)
		delete(c.items, old.key)
		c.entries -= len(old.dir)
	}
	c.items[k] = c.lru.PushFront(&dirItem{key: k, dir: dir})
	c.entries += len(dir)
}
