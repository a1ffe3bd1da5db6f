package pmtiles

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sync/singleflight"

	"github.com/privates3/privates3"
)

// Defaults of the ReaderOptions fields.
const (
	DefaultArchiveTTL      = time.Minute
	DefaultMaxTileSize     = 16 << 20
	DefaultMaxMetadataSize = 4 << 20
	DefaultMaxArchives     = 1024
	DefaultLoadTimeout     = 30 * time.Second
	// DefaultDirectoryCacheEntries holds about 8 MiB of decoded directory entries.
	DefaultDirectoryCacheEntries = 1 << 18
)

// ReaderOptions configures a Reader. A nil *ReaderOptions means the zero value: every field's
// default.
type ReaderOptions struct {
	// ArchiveTTL is how long an archive's header, root directory and ETag are used without asking
	// S3 again. Within it, an archive replaced in the bucket is noticed at the first read of its
	// bytes that the Client's cache cannot answer (S3 answers If-Match with 412); after it, the
	// next request reads the header again. If zero or negative, DefaultArchiveTTL (1m).
	ArchiveTTL time.Duration

	// MaxTileSize is the largest tile read; a directory entry naming a larger one makes the
	// archive invalid. If zero or negative, DefaultMaxTileSize (16 MiB).
	MaxTileSize int64

	// MaxMetadataSize bounds the JSON metadata, compressed and decompressed. If zero or
	// negative, DefaultMaxMetadataSize (4 MiB).
	MaxMetadataSize int64

	// MaxArchives bounds the number of archives whose header and root directory are held in
	// memory (at most about 16 KiB each when compressed, MaxDirectorySize decoded). If zero
	// or negative, DefaultMaxArchives (1024).
	MaxArchives int

	// LoadTimeout bounds the shared read of an archive's header and root directory, which
	// concurrent callers wait for together. If zero or negative, DefaultLoadTimeout (30s).
	LoadTimeout time.Duration

	// DirectoryCacheEntries bounds the decoded leaf directories kept in memory, counted in
	// entries (32 bytes each), so that tiles of a hot leaf directory do not decompress and decode
	// it again. The compressed directories are cached by the Client either way. If zero,
	// DefaultDirectoryCacheEntries (2^18, about 8 MiB); if negative, none are kept.
	DirectoryCacheEntries int
}

// rangeReader is the part of *privates3.Client a Reader uses (the seam for tests).
type rangeReader interface {
	ReadRange(ctx context.Context, key string, off, n int64, ifMatch string) (*privates3.Object, error)
}

// Reader reads tiles and metadata of PMTiles v3 archives stored as objects of a bucket, through a
// privates3 Client's range reads. It keeps each archive's header and root directory in memory,
// and reads leaf directories, metadata and tiles with range reads conditional on the archive's
// ETag, so the Client's cache holds them keyed by that ETag and every answer comes from one
// version of the archive. Create it once with NewReader and reuse it; it is safe for concurrent
// use and starts no goroutines. The zero value is not usable.
type Reader struct {
	src    rangeReader
	opts   ReaderOptions
	now    func() time.Time // the clock; a seam for tests
	flight singleflight.Group
	dirs   *dirCache

	mu       sync.Mutex          // guards archives
	archives map[string]*archive // by key
}

// archive is the in-memory state of one version of an archive.
type archive struct {
	info   Archive
	root   []entry
	loaded atomic.Int64 // when the header was last read (or found unchanged), in Unix nanoseconds
}

// Archive describes the version of an archive a tile or the metadata was read from.
type Archive struct {
	Key          string    // the object's key, as given to the Reader
	ETag         string    // the object's ETag, quoted as S3 sends it
	Size         int64     // the object's size in bytes
	LastModified time.Time // the object's Last-Modified; zero if S3 sent none
	Header       Header

	tagPrefix string // the start of the handler's ETags for this version (see etagPrefix)
}

// Tile is one tile of an archive.
type Tile struct {
	ID      uint64 // the tile ID (see TileID)
	Data    []byte // the tile's bytes as stored, compressed with Archive.Header.TileCompression
	Archive Archive
}

// NewReader returns a Reader of the archives in c's bucket. opts may be nil (see
// ReaderOptions); the Reader keeps its own copy. The Reader stays usable as long as c is open.
func NewReader(c *privates3.Client, opts *ReaderOptions) *Reader {
	return newReader(c, opts)
}

func newReader(src rangeReader, opts *ReaderOptions) *Reader {
	r := &Reader{src: src, now: time.Now, archives: make(map[string]*archive)}
	if opts != nil {
		r.opts = *opts
	}
	if r.opts.ArchiveTTL <= 0 {
		r.opts.ArchiveTTL = DefaultArchiveTTL
	}
	if r.opts.MaxTileSize <= 0 {
		r.opts.MaxTileSize = DefaultMaxTileSize
	}
	if r.opts.MaxMetadataSize <= 0 {
		r.opts.MaxMetadataSize = DefaultMaxMetadataSize
	}
	if r.opts.MaxArchives <= 0 {
		r.opts.MaxArchives = DefaultMaxArchives
	}
	if r.opts.LoadTimeout <= 0 {
		r.opts.LoadTimeout = DefaultLoadTimeout
	}
	if r.opts.DirectoryCacheEntries == 0 {
		r.opts.DirectoryCacheEntries = DefaultDirectoryCacheEntries
	}
	r.dirs = newDirCache(max(r.opts.DirectoryCacheEntries, 0))
	return r
}

// Tile returns tile z/x/y of the archive stored under key (relative to the Client's
// Config.Prefix). A tile the archive does not contain gives an error wrapping ErrTileNotFound.
//
// A tile costs one range read (answered from the Client's cache if it holds it), plus one for
// its leaf directory if the cache does not hold that, plus one for the header and root directory
// if they are not in memory: at most three upstream GETs. If the archive was replaced since its
// header was read, the Reader drops what it knew of it and reads it again, once.
//
// Errors wrap ErrTileNotFound, ErrInvalidArchive, ErrUnsupportedCompression, or the Client's
// errors (privates3.ErrNotFound if the archive does not exist, ...); a z/x/y outside zoom level
// z gives an error wrapping ErrInvalidTile.
func (r *Reader) Tile(ctx context.Context, key string, z uint8, x, y uint32) (Tile, error) {
	id, err := TileID(z, x, y)
	if err != nil {
		return Tile{}, fmt.Errorf("%w: %v", ErrInvalidTile, err)
	}
	var t Tile
	err = r.withArchive(ctx, key, func(a *archive) error {
		e, ok, err := r.find(ctx, a, id)
		if err != nil {
			return err
		}
		if !ok {
			return fmt.Errorf("%w: %d/%d/%d in %q", ErrTileNotFound, z, x, y, key)
		}
		h := &a.info.Header
		if e.Length > uint64(r.opts.MaxTileSize) {
			return fmt.Errorf("%w: tile of %d bytes exceeds MaxTileSize", ErrInvalidArchive, e.Length)
		}
		if e.Offset+e.Length > h.TileDataLength {
			return fmt.Errorf("%w: tile beyond the tile data section", ErrInvalidArchive)
		}
		data, err := r.read(ctx, a, h.TileDataOffset+e.Offset, e.Length)
		if err != nil {
			return err
		}
		t = Tile{ID: id, Data: data, Archive: a.info}
		return nil
	})
	return t, err
}

// Metadata returns the JSON metadata of the archive stored under key, decompressed, and the
// version of the archive it belongs to. An archive without metadata gives "{}". Errors as Tile's.
func (r *Reader) Metadata(ctx context.Context, key string) (Archive, []byte, error) {
	var (
		info Archive
		meta []byte
	)
	err := r.withArchive(ctx, key, func(a *archive) error {
		h := &a.info.Header
		info = a.info
		if h.MetadataLength == 0 {
			meta = []byte("{}")
			return nil
		}
		if h.MetadataLength > uint64(r.opts.MaxMetadataSize) {
			return fmt.Errorf("%w: metadata of %d bytes exceeds MaxMetadataSize", ErrInvalidArchive, h.MetadataLength)
		}
		b, err := r.read(ctx, a, h.MetadataOffset, h.MetadataLength)
		if err != nil {
			return err
		}
		meta, err = decompress(h.InternalCompression, b, r.opts.MaxMetadataSize)
		return err
	})
	return info, meta, err
}

// Archive returns the description of the archive stored under key (its header and ETag), read
// from S3 if not in memory. Errors as Tile's.
func (r *Reader) Archive(ctx context.Context, key string) (Archive, error) {
	var info Archive
	err := r.withArchive(ctx, key, func(a *archive) error {
		info = a.info
		return nil
	})
	return info, err
}

// withArchive runs fn with the archive's in-memory state. If fn finds that the archive was
// replaced (a read conditional on its ETag failed), the state is dropped and fn runs once more
// with the new archive's, so fn never sees two versions.
func (r *Reader) withArchive(ctx context.Context, key string, fn func(a *archive) error) error {
	var err error
	for attempt := 0; attempt < 2; attempt++ {
		var a *archive
		a, err = r.archive(ctx, key)
		if err != nil {
			break
		}
		err = fn(a)
		if !isReplaced(err) {
			break
		}
		r.forget(key, a)
	}
	if errors.Is(err, ErrInvalidArchive) || errors.Is(err, ErrUnsupportedCompression) {
		err = fmt.Errorf("%w (archive %q)", err, key)
	}
	return err
}

// archive returns the in-memory state of the archive under key, reading its header and root
// directory if they are missing or older than ArchiveTTL. Concurrent callers share one read.
func (r *Reader) archive(ctx context.Context, key string) (*archive, error) {
	if a := r.lookup(key); a != nil {
		return a, nil
	}
	ch := r.flight.DoChan(key, func() (any, error) {
		// A load that finished just before this one started may have stored a fresh state.
		if a := r.lookup(key); a != nil {
			return a, nil
		}
		lctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), r.opts.LoadTimeout)
		defer cancel()
		a, err := r.load(lctx, key)
		if err != nil {
			return nil, err
		}
		return r.store(key, a), nil
	})
	select {
	case res := <-ch:
		if res.Err != nil {
			return nil, res.Err
		}
		return res.Val.(*archive), nil
	case <-ctx.Done():
		return nil, fmt.Errorf("pmtiles: reading the header of %q: %w", key, context.Cause(ctx))
	}
}

// lookup returns the stored state of key if it is younger than ArchiveTTL.
func (r *Reader) lookup(key string) *archive {
	r.mu.Lock()
	a := r.archives[key]
	r.mu.Unlock()
	if a == nil || r.now().Sub(time.Unix(0, a.loaded.Load())) >= r.opts.ArchiveTTL {
		return nil
	}
	return a
}

// store makes a the state of key and returns it; if the state held was read from the same
// version (same ETag, as after ArchiveTTL), that one is kept and returned instead, renewed, so
// that its decoded leaf directories stay in use.
func (r *Reader) store(key string, a *archive) *archive {
	r.mu.Lock()
	defer r.mu.Unlock()
	if old := r.archives[key]; old != nil && old.info.ETag == a.info.ETag && old.info.Size == a.info.Size {
		old.loaded.Store(a.loaded.Load())
		return old
	}
	if _, ok := r.archives[key]; !ok && len(r.archives) >= r.opts.MaxArchives {
		for k := range r.archives { // an arbitrary victim: map order is random
			delete(r.archives, k)
			break
		}
	}
	r.archives[key] = a
	return a
}

// forget drops the state a of key, unless another caller has already replaced it.
func (r *Reader) forget(key string, a *archive) {
	r.mu.Lock()
	if r.archives[key] == a {
		delete(r.archives, key)
	}
	r.mu.Unlock()
}

// load reads the header and root directory of key with one range read of its first RootLimit
// bytes.
func (r *Reader) load(ctx context.Context, key string) (*archive, error) {
	obj, err := r.src.ReadRange(ctx, key, 0, RootLimit, "")
	if err != nil {
		if errors.Is(err, privates3.ErrRangeNotSatisfiable) {
			return nil, fmt.Errorf("%w: empty object", ErrInvalidArchive)
		}
		return nil, err
	}
	defer obj.Body.Close()
	b, err := io.ReadAll(io.LimitReader(obj.Body, RootLimit))
	if err != nil {
		return nil, err
	}
	if obj.ETag == "" {
		return nil, fmt.Errorf("%w: S3 sent no ETag", ErrInvalidArchive)
	}
	h, err := parseHeader(b)
	if err != nil {
		return nil, err
	}
	if h.RootOffset+h.RootLength > uint64(len(b)) {
		return nil, fmt.Errorf("%w: root directory beyond the end of the object", ErrInvalidArchive)
	}
	d, err := decompress(h.InternalCompression, b[h.RootOffset:h.RootOffset+h.RootLength], MaxDirectorySize)
	if err != nil {
		return nil, err
	}
	root, err := parseDirectory(d)
	if err != nil {
		return nil, err
	}
	a := &archive{
		info: Archive{
			Key: key, ETag: obj.ETag, Size: obj.Size, LastModified: obj.LastModified, Header: h,
			tagPrefix: etagPrefix(obj.ETag),
		},
		root: root,
	}
	a.loaded.Store(r.now().UnixNano())
	return a, nil
}

// find returns the entry of the tile run containing id, following leaf directories from the root
// down to maxDepth levels. ok is false if the archive has no such tile.
func (r *Reader) find(ctx context.Context, a *archive, id uint64) (e entry, ok bool, err error) {
	h := &a.info.Header
	dir := a.root
	for range maxDepth {
		e, ok := findEntry(dir, id)
		if !ok || e.RunLength > 0 {
			return e, ok, nil
		}
		if e.Length > MaxDirectorySize {
			return entry{}, false, fmt.Errorf("%w: leaf directory of %d bytes exceeds %d", ErrInvalidArchive, e.Length, MaxDirectorySize)
		}
		if e.Offset+e.Length > h.LeafDirectoryLength {
			return entry{}, false, fmt.Errorf("%w: leaf directory beyond the leaf directory section", ErrInvalidArchive)
		}
		var err error
		if dir, err = r.leaf(ctx, a, h.LeafDirectoryOffset+e.Offset, e.Length); err != nil {
			return entry{}, false, err
		}
	}
	return entry{}, false, fmt.Errorf("%w: leaf directories nested deeper than %d levels", ErrInvalidArchive, maxDepth-1)
}

// leaf returns the decoded leaf directory of n bytes at off.
func (r *Reader) leaf(ctx context.Context, a *archive, off, n uint64) ([]entry, error) {
	k := dirKey{a, off}
	if dir, ok := r.dirs.get(k); ok {
		return dir, nil
	}
	// Every reader of this leaf asks for the same bytes, so the Client merges concurrent reads
	// into one GET and caches the result under the archive's ETag.
	b, err := r.read(ctx, a, off, n)
	if err != nil {
		return nil, err
	}
	d, err := decompress(a.info.Header.InternalCompression, b, MaxDirectorySize)
	if err != nil {
		return nil, err
	}
	dir, err := parseDirectory(d)
	if err != nil {
		return nil, err
	}
	r.dirs.add(k, dir)
	return dir, nil
}

// read returns bytes [off, off+n) of the archive version a, with a read conditional on its ETag.
// off and n are below maxOffset (the decoders check), so off+n does not overflow.
func (r *Reader) read(ctx context.Context, a *archive, off, n uint64) ([]byte, error) {
	if off+n > uint64(a.info.Size) {
		return nil, fmt.Errorf("%w: section at %d+%d beyond the object's %d bytes", ErrInvalidArchive, off, n, a.info.Size)
	}
	obj, err := r.src.ReadRange(ctx, a.info.Key, int64(off), int64(n), a.info.ETag)
	if err != nil {
		if errors.Is(err, privates3.ErrRangeNotSatisfiable) {
			// The object shrank although its ETag matched: only a replaced archive does that.
			return nil, fmt.Errorf("pmtiles: %q changed while read: %w", a.info.Key, err)
		}
		return nil, err
	}
	defer obj.Body.Close()
	if obj.ETag != a.info.ETag {
		// A Client must not do this; if one does, treat it as the replacement it reveals.
		return nil, fmt.Errorf("pmtiles: %q: ETag %s, want %s: %w", a.info.Key, obj.ETag, a.info.ETag, privates3.ErrPreconditionFailed)
	}
	b := make([]byte, n)
	if _, err := io.ReadFull(obj.Body, b); err != nil {
		if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("%w: section at %d+%d truncated", ErrInvalidArchive, off, n)
		}
		return nil, err
	}
	return b, nil
}

// isReplaced reports whether err says that the archive is no longer the version read before.
func isReplaced(err error) bool {
	return errors.Is(err, privates3.ErrPreconditionFailed)
}
