package privates3

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"math"
	"strconv"
	"time"
)

// SharedCache is a cache tier shared by many Clients (processes), consulted after the memory
// cache and before S3 (Config.SharedCache; the package rediscache implements it on Redis and
// Valkey). Keys are opaque strings made by privates3 (bucket and full key in them); values are
// opaque bytes that privates3 encodes and verifies itself (metadata, body, length and a SHA-256
// digest), so a truncated or foreign value is a miss, never served. Values hold no credentials.
//
// Implementations must be safe for concurrent use, and every method must honour ctx and return
// promptly on failure: privates3 treats every error as a miss and falls back to S3.
type SharedCache interface {
	// Get returns the value stored under key, or (nil, nil) if there is none.
	Get(ctx context.Context, key string) ([]byte, error)
	// Set stores value under key for ttl (> 0).
	Set(ctx context.Context, key string, value []byte, ttl time.Duration) error
	// Lease tries to take a short exclusive lease on key for ttl (SET NX PX). It reports whether
	// this caller now holds it; false (nil error) means another instance holds it.
	Lease(ctx context.Context, key string, ttl time.Duration) (bool, error)
	// Release drops the lease on key if (and only if) this SharedCache value still holds it.
	Release(ctx context.Context, key string) error
}

// DefaultSharedCacheWait is Config.SharedCacheWait's default.
const DefaultSharedCacheWait = 2 * time.Second

// sharedReleaseTimeout bounds the Release of a lease, which runs even after Close cancelled the
// fetch, so that the other instances need not wait for the lease to expire.
const sharedReleaseTimeout = time.Second

// The shared tier's polling while another instance holds a key's lease: from the first to the
// longest pause, doubling.
const (
	sharedPollFirst = 5 * time.Millisecond
	sharedPollMax   = 100 * time.Millisecond
)

// sharedKey is the key of full's entry (and lease) in the shared tier: bucket and S3 key (a
// bucket name has no '/', so the two never run together ambiguously).
func (c *Client) sharedKey(full string) string { return "obj:" + c.cfg.Bucket + "/" + full }

// viaShared is fetchShared with a shared tier, after the memory cache missed. A fresh entry of the
// tier answers (and fills the memory cache). Otherwise the Client takes the key's lease and
// fetches from S3 (revalidating a stale entry, its own or the tier's), stores the result in the
// tier and releases the lease; while another instance holds the lease it polls the tier for that
// instance's entry, up to Config.SharedCacheWait, then fetches itself. Any failure of the tier
// means fetching from S3 as without it.
func (c *Client) viaShared(ctx context.Context, key, full string, stale *entry) (*fetched, error) {
	sk := c.sharedKey(full)
	var tierStale bool             // stale is the tier's entry, not in the memory cache
	leased, waited := false, false // leased: this fetch holds the key's lease
	deadline := time.Now().Add(c.cfg.SharedCacheWait)
	pause := sharedPollFirst
	for {
		se, ok := c.sharedGet(ctx, key, sk)
		if !ok {
			break
		}
		if se != nil && time.Now().Before(se.fresh) {
			c.stats.sharedHits.Add(1)
			return c.fromShared(key, full, se)
		}
		if se != nil && se.kind == entryObject && stale == nil {
			stale, tierStale = newEntry(full, entryObject, se.obj, se.fresh), true
		}
		if leased {
			break // looked again under the lease: still nothing
		}
		took, wait := c.sharedLease(ctx, sk, deadline)
		if took {
			// Another instance may have stored the entry and released the lease between the Get
			// and the Lease: look once more before fetching.
			leased = true
			defer c.releaseShared(ctx, sk)
			continue
		}
		if !wait {
			break
		}
		if !waited {
			c.stats.sharedWaits.Add(1)
			waited = true
		}
		if err := c.sharedPause(ctx, key, deadline, &pause); err != nil {
			return nil, err
		}
	}
	c.stats.sharedMisses.Add(1)
	return c.fetchToShared(ctx, key, full, sk, stale, tierStale)
}

// fetchToShared fetches full from S3 (revalidating stale, which is the tier's entry if tierStale)
// and stores the result in the tier.
func (c *Client) fetchToShared(ctx context.Context, key, full, sk string, stale *entry, tierStale bool) (*fetched, error) {
	res, err := c.fetchS3(ctx, key, full, stale)
	if tierStale && err == nil && res.obj == stale.obj { // a 304 renewed the tier's entry
		c.cache.add(newEntry(full, entryObject, res.obj, time.Now().Add(c.cfg.TTL)))
	}
	c.storeShared(ctx, sk, res, err)
	return res, err
}

// sharedGet returns the tier's entry sk, fresh or not, or nil if it has none (or only an invalid
// one). ok is false if the tier failed.
func (c *Client) sharedGet(ctx context.Context, key, sk string) (se *sharedEntry, ok bool) {
	v, err := c.cfg.SharedCache.Get(ctx, sk)
	if err != nil {
		c.sharedFailed()
		return nil, false
	}
	if v == nil {
		return nil, true
	}
	if se, err = decodeShared(v, sk); err != nil {
		c.stats.sharedInvalid.Add(1)
		c.log.Warn("privates3: shared cache entry rejected", "key", key, "err", err)
		return nil, true
	}
	return se, true
}

// sharedLease tries to take the lease on sk. took reports that it did; otherwise wait reports
// whether to wait for the holder's entry rather than fetch at once (not if the tier failed, now
// or lately, so that leases may have been lost, nor past deadline).
func (c *Client) sharedLease(ctx context.Context, sk string, deadline time.Time) (took, wait bool) {
	// A lease lives no longer than the others wait for it: one lost with its holder (a crash, a
	// Release that failed) delays them at most that long.
	ok, err := c.cfg.SharedCache.Lease(ctx, sk, c.cfg.SharedCacheWait)
	switch {
	case err != nil:
		c.sharedFailed()
		return false, false
	case ok:
		return true, false
	}
	now := time.Now()
	return false, now.Before(deadline) && now.UnixNano() >= c.sharedTrouble.Load()
}

// sharedPause waits before the next look at the tier: *pause (doubled for the next time, up to
// sharedPollMax), and not past deadline. It returns an error if ctx ends first.
func (c *Client) sharedPause(ctx context.Context, key string, deadline time.Time, pause *time.Duration) error {
	t := time.NewTimer(min(*pause, time.Until(deadline)))
	defer t.Stop()
	*pause = min(2**pause, sharedPollMax)
	select {
	case <-ctx.Done():
		return upstreamError(ctx, "GetObject", strconv.Quote(key), ctx.Err(), c.cfg.FetchTimeout)
	case <-t.C:
		return nil
	}
}

// sharedFailed counts a failed call of the tier, and for SharedCacheWait from now makes fetches
// not wait for leases held by others: the failure may have lost a Release.
func (c *Client) sharedFailed() {
	c.stats.sharedErrors.Add(1)
	c.sharedTrouble.Store(time.Now().Add(c.cfg.SharedCacheWait).UnixNano())
}

// releaseShared releases the lease on sk, also after Close cancelled ctx, so that the other
// instances need not wait for it to expire.
func (c *Client) releaseShared(ctx context.Context, sk string) {
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), sharedReleaseTimeout)
	defer cancel()
	if c.cfg.SharedCache.Release(rctx, sk) != nil {
		c.sharedFailed()
	}
}

// fromShared answers a fetch with a fresh entry of the tier, and keeps it in the memory cache
// until the entry's own freshness ends (so that all instances revalidate together), at most TTL.
func (c *Client) fromShared(key, full string, se *sharedEntry) (*fetched, error) {
	now := time.Now()
	switch se.kind {
	case entryNotFound:
		if c.cfg.NegativeTTL > 0 {
			c.cache.add(newEntry(full, entryNotFound, nil, minTime(se.fresh, now.Add(c.cfg.NegativeTTL))))
		}
		return nil, notFoundError(key)
	case entryObject:
		if int64(len(se.obj.data)) > c.cfg.MaxCacheableSize {
			se.obj.data, se.kind = nil, entryLarge // another instance's larger limit: stream it here
		}
	}
	c.cache.add(newEntry(full, se.kind, se.obj, minTime(se.fresh, now.Add(c.cfg.TTL))))
	return &fetched{obj: se.obj}, nil
}

// storeShared stores the result of a fetch from S3 in the tier: a cacheable object (also one a
// 304 renewed) for TTL, a large object's metadata for TTL, a not-found for NegativeTTL. The
// entry stays in the tier for twice its freshness, so that an instance without it in memory can
// still revalidate it with its ETag instead of downloading it again.
func (c *Client) storeShared(ctx context.Context, sk string, res *fetched, err error) {
	se := &sharedEntry{}
	ttl := c.cfg.TTL
	switch {
	case errors.Is(err, ErrNotFound) && c.cfg.NegativeTTL > 0:
		se.kind, ttl = entryNotFound, c.cfg.NegativeTTL
	case err != nil:
		return
	case res.obj.data != nil:
		se.kind, se.obj = entryObject, res.obj
	case res.obj.size >= 0:
		se.kind, se.obj = entryLarge, res.obj
	default:
		return
	}
	se.fresh = time.Now().Add(ttl)
	if c.cfg.SharedCache.Set(ctx, sk, encodeShared(se, sk), 2*ttl) != nil {
		c.sharedFailed()
	}
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

// sharedEntry is an entry of the shared tier, decoded.
type sharedEntry struct {
	kind  entryKind
	obj   *cachedObject // nil for entryNotFound; data nil for entryLarge
	fresh time.Time     // fresh until then, on every instance's clock
}

// The encoding of a shared entry, version 1: magic, version and kind bytes, freshness (Unix ms),
// size, Last-Modified (Unix ns; MinInt64 for none), then as uvarint-length-prefixed strings the
// tier key, Content-Type, Content-Encoding, Cache-Control, ETag and the body, and last the
// SHA-256 of everything before it. Decoding checks the digest first, then every length, that the
// key is the one looked up (a value copied to another key is foreign) and that an object's body
// has its size; anything else is a miss.
const (
	sharedMagic   = "ps3e"
	sharedVersion = 1
)

var errSharedEntry = errors.New("privates3: invalid shared cache entry")

func encodeShared(se *sharedEntry, sk string) []byte {
	var m meta
	var data []byte
	if se.obj != nil {
		m, data = se.obj.meta, se.obj.data
	}
	lm := int64(math.MinInt64)
	if !m.lastModified.IsZero() {
		lm = m.lastModified.UnixNano()
	}
	b := make([]byte, 0, len(sharedMagic)+2+3*8+6*binary.MaxVarintLen64+len(sk)+len(m.contentType)+
		len(m.contentEncoding)+len(m.cacheControl)+len(m.etag)+len(data)+sha256.Size)
	b = append(b, sharedMagic...)
	b = append(b, sharedVersion, byte(se.kind))
	b = binary.BigEndian.AppendUint64(b, uint64(se.fresh.UnixMilli()))
	b = binary.BigEndian.AppendUint64(b, uint64(m.size))
	b = binary.BigEndian.AppendUint64(b, uint64(lm))
	for _, s := range []string{sk, m.contentType, m.contentEncoding, m.cacheControl, m.etag} {
		b = binary.AppendUvarint(b, uint64(len(s)))
		b = append(b, s...)
	}
	b = binary.AppendUvarint(b, uint64(len(data)))
	b = append(b, data...)
	sum := sha256.Sum256(b)
	return append(b, sum[:]...)
}

func decodeShared(v []byte, sk string) (*sharedEntry, error) {
	const head = len(sharedMagic) + 2 + 3*8
	if len(v) < head+sha256.Size {
		return nil, errSharedEntry
	}
	body, sum := v[:len(v)-sha256.Size], v[len(v)-sha256.Size:]
	if want := sha256.Sum256(body); !bytes.Equal(sum, want[:]) {
		return nil, errSharedEntry
	}
	if string(body[:len(sharedMagic)]) != sharedMagic || body[len(sharedMagic)] != sharedVersion {
		return nil, errSharedEntry
	}
	se := &sharedEntry{kind: entryKind(body[len(sharedMagic)+1])}
	p := body[len(sharedMagic)+2:]
	se.fresh = time.UnixMilli(int64(binary.BigEndian.Uint64(p)))
	m := meta{size: int64(binary.BigEndian.Uint64(p[8:]))}
	if lm := int64(binary.BigEndian.Uint64(p[16:])); lm != math.MinInt64 {
		m.lastModified = time.Unix(0, lm).UTC()
	}
	fields, ok := sharedFields(p[24:])
	if !ok || string(fields[0]) != sk {
		return nil, errSharedEntry
	}
	m.contentType, m.contentEncoding = string(fields[1]), string(fields[2])
	m.cacheControl, m.etag = string(fields[3]), string(fields[4])
	if !se.setBody(m, fields[5]) {
		return nil, errSharedEntry
	}
	return se, nil
}

// sharedFields splits p into the six length-prefixed fields of an entry, which must fill it
// exactly.
func sharedFields(p []byte) (fields [6][]byte, ok bool) {
	for i := range fields {
		n, k := binary.Uvarint(p)
		if k <= 0 || n > uint64(len(p)-k) {
			return fields, false
		}
		fields[i] = p[k : k+int(n)]
		p = p[k+int(n):]
	}
	return fields, len(p) == 0
}

// setBody sets se.obj from m and the body field data, and reports whether they fit se's kind: an
// object's body has its size, other kinds have none, and a large object has a size.
func (se *sharedEntry) setBody(m meta, data []byte) bool {
	switch se.kind {
	case entryObject:
		se.obj = &cachedObject{meta: m, data: data} // non-nil (a part of v), also when empty
		return m.size == int64(len(data))
	case entryLarge:
		se.obj = &cachedObject{meta: m}
		return m.size >= 0 && len(data) == 0
	case entryNotFound:
		return len(data) == 0
	}
	return false
}
