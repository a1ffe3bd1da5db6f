package pmtiles

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/privates3/privates3"
)

// readAll reads every tile of zooms 0 to maxZoom and compares it with want (nil: no tile).
func readAll(t *testing.T, r *Reader, key string, maxZoom uint8, want map[uint64][]byte) {
	t.Helper()
	ctx := context.Background()
	for z := uint8(0); z <= maxZoom; z++ {
		for x := range uint32(1) << z {
			for y := range uint32(1) << z {
				id, _ := TileID(z, x, y)
				tile, err := r.Tile(ctx, key, z, x, y)
				if w, ok := want[id]; ok {
					if err != nil || !bytes.Equal(tile.Data, w) || tile.ID != id {
						t.Fatalf("tile %d/%d/%d = %q (id %d), %v; want %q", z, x, y, tile.Data, tile.ID, err, w)
					}
				} else if !errors.Is(err, ErrTileNotFound) {
					t.Fatalf("tile %d/%d/%d: err = %v, want ErrTileNotFound", z, x, y, err)
				}
			}
		}
	}
}

func TestReaderRoundTrip(t *testing.T) {
	for _, tt := range []struct {
		name    string
		maxZoom uint8
		opts    WriteOptions
		leaves  bool
	}{
		{"root only, gzip", 5, WriteOptions{}, false},
		// 4,000 entries do not fit in 16 KiB uncompressed: Write makes leaves itself.
		{"uncompressed", 6, WriteOptions{internal: NoCompression}, true},
		{"leaves of 50", 5, WriteOptions{leafSize: 50}, true},
		{"leaves of 1, uncompressed", 4, WriteOptions{leafSize: 1, internal: NoCompression}, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			want, tiles := testTiles(tt.maxZoom, "a")
			m := newMemStore()
			data := build(t, tiles, &tt.opts)
			etag := m.put("a.pmtiles", data)
			r := newReader(m, nil)
			readAll(t, r, "a.pmtiles", tt.maxZoom+1, want)
			info, err := r.Archive(context.Background(), "a.pmtiles")
			if err != nil {
				t.Fatal(err)
			}
			if info.ETag != etag || info.Size != int64(len(data)) || info.Header.MaxZoom != tt.maxZoom || !info.Header.Clustered {
				t.Errorf("Archive = %+v", info)
			}
			if got := info.Header.LeafDirectoryLength > 0; got != tt.leaves {
				t.Errorf("leaf directories: %v, want %v", got, tt.leaves)
			}
			// Runs and deduplication: fewer entries and blobs than tiles.
			if h := info.Header; h.AddressedTiles != uint64(len(tiles)) || h.TileEntries >= h.AddressedTiles || h.TileContents >= h.TileEntries {
				t.Errorf("counts: %d tiles, %d entries, %d contents", h.AddressedTiles, h.TileEntries, h.TileContents)
			}
		})
	}
}

// A cold tile in an archive with leaves costs three reads: the first 16 KiB, the leaf, the tile.
// Later tiles cost one read each plus one per leaf, every read after the first conditional on the
// archive's ETag, and the reads of one leaf identical, so that the Client can merge and cache
// them.
func TestReaderReads(t *testing.T) {
	_, tiles := testTiles(5, "a")
	m := newMemStore()
	etag := m.put("a.pmtiles", build(t, tiles, &WriteOptions{leafSize: 40}))
	r := newReader(m, &ReaderOptions{DirectoryCacheEntries: -1}) // every leaf read from the store
	ctx := context.Background()
	if _, err := r.Tile(ctx, "a.pmtiles", 5, 7, 9); err != nil {
		t.Fatal(err)
	}
	calls := m.takeCalls()
	if len(calls) != 3 || calls[0] != (readCall{"a.pmtiles", 0, RootLimit, ""}) {
		t.Fatalf("cold tile: reads %+v, want 3 starting with the first %d bytes", calls, RootLimit)
	}
	leaves := make(map[int64]int64) // offset -> length of every leaf read
	for range 2 {
		for x := range uint32(32) {
			if _, err := r.Tile(ctx, "a.pmtiles", 5, x, 3); err != nil && !errors.Is(err, ErrTileNotFound) {
				t.Fatal(err)
			}
		}
	}
	calls = append(calls[1:], m.takeCalls()...)
	for _, c := range calls {
		if c.ifMatch != etag {
			t.Fatalf("read %+v not conditional on %s", c, etag)
		}
		if c.off < 16384 && c.n < 200 { // the leaf directories come before the tile data
			if n, ok := leaves[c.off]; ok && n != c.n {
				t.Fatalf("leaf at %d read with lengths %d and %d", c.off, n, c.n)
			}
			leaves[c.off] = c.n
		}
	}
	if len(leaves) < 2 {
		t.Fatalf("only %d leaves read", len(leaves))
	}
}

// With the decoded directories kept, a tile of a known leaf costs exactly one read.
func TestReaderDirectoryCache(t *testing.T) {
	_, tiles := testTiles(5, "a")
	m := newMemStore()
	m.put("a.pmtiles", build(t, tiles, &WriteOptions{leafSize: 40}))
	r := newReader(m, nil)
	ctx := context.Background()
	r.Tile(ctx, "a.pmtiles", 5, 7, 9)
	m.takeCalls()
	for y := range uint32(4) {
		if _, err := r.Tile(ctx, "a.pmtiles", 5, 7, 8+y); err != nil && !errors.Is(err, ErrTileNotFound) {
			t.Fatal(err)
		}
		if c := m.takeCalls(); len(c) > 1 {
			t.Fatalf("tile 5/7/%d: %d reads, want at most 1", 8+y, len(c))
		}
	}
}

func TestDirCacheBound(t *testing.T) {
	c := newDirCache(10)
	a := &archive{}
	for off := range uint64(20) {
		c.add(dirKey{a, off}, make([]entry, 3))
		if c.entries > 10 {
			t.Fatalf("%d entries held, bound 10", c.entries)
		}
	}
	if _, ok := c.get(dirKey{a, 19}); !ok {
		t.Error("most recent directory evicted")
	}
	if _, ok := c.get(dirKey{a, 0}); ok {
		t.Error("oldest directory kept")
	}
	c.add(dirKey{a, 99}, make([]entry, 11))
	if _, ok := c.get(dirKey{a, 99}); ok {
		t.Error("directory above the bound stored")
	}
	if _, ok := c.get(dirKey{&archive{}, 19}); ok {
		t.Error("directory found under another archive version")
	}
}

// Concurrent first requests share one read of the header.
func TestReaderConcurrentCold(t *testing.T) {
	want, tiles := testTiles(4, "a")
	m := newMemStore()
	m.put("a.pmtiles", build(t, tiles, &WriteOptions{leafSize: 30}))
	r := newReader(m, nil)
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for i := range 64 {
		wg.Go(func() {
			z, x, y := uint8(4), uint32(i%16), uint32(i/16)
			id, _ := TileID(z, x, y)
			tile, err := r.Tile(context.Background(), "a.pmtiles", z, x, y)
			if w, ok := want[id]; ok && (err != nil || !bytes.Equal(tile.Data, w)) {
				errs <- fmt.Errorf("tile %d/%d/%d = %q, %v", z, x, y, tile.Data, err)
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	headers := 0
	for _, c := range m.takeCalls() {
		if c.ifMatch == "" {
			headers++
		}
	}
	if headers != 1 {
		t.Errorf("%d reads of the header, want 1", headers)
	}
}

// A replaced archive is noticed at the first conditional read; the Reader then reads the new
// header and serves only the new archive's tiles.
func TestReaderArchiveReplaced(t *testing.T) {
	wantA, tilesA := testTiles(4, "a")
	wantB, tilesB := testTiles(4, "b")
	m := newMemStore()
	m.put("t.pmtiles", build(t, tilesA, &WriteOptions{leafSize: 20}))
	r := newReader(m, nil)
	readAll(t, r, "t.pmtiles", 4, wantA)
	etagB := m.put("t.pmtiles", build(t, tilesB, &WriteOptions{leafSize: 33}))
	m.takeCalls()
	tile, err := r.Tile(context.Background(), "t.pmtiles", 4, 1, 1)
	if err != nil || tile.Archive.ETag != etagB {
		t.Fatalf("after replacement: tile from %s, %v; want %s", tile.Archive.ETag, err, etagB)
	}
	calls := m.takeCalls()
	// The failed conditional read, then header, leaf and tile of the new archive.
	if len(calls) != 4 || calls[1].ifMatch != "" || calls[2].ifMatch != etagB || calls[3].ifMatch != etagB {
		t.Fatalf("reads after replacement: %+v", calls)
	}
	readAll(t, r, "t.pmtiles", 4, wantB)
}

// An archive replaced again during the retry gives an error, never a tile of either version
// decoded with the other's directories.
func TestReaderReplacedTwice(t *testing.T) {
	_, tiles := testTiles(3, "a")
	m := newMemStore()
	m.put("t.pmtiles", build(t, tiles, nil))
	m.fail = func(c readCall) error {
		if c.ifMatch != "" {
			return privates3.ErrPreconditionFailed
		}
		return nil
	}
	r := newReader(m, nil)
	if _, err := r.Tile(context.Background(), "t.pmtiles", 3, 1, 1); !errors.Is(err, privates3.ErrPreconditionFailed) {
		t.Fatalf("err = %v, want the precondition failure", err)
	}
	if n := len(m.takeCalls()); n != 4 {
		t.Errorf("%d reads, want 4 (header and tile, twice)", n)
	}
}

func TestReaderArchiveTTL(t *testing.T) {
	_, tiles := testTiles(2, "a")
	m := newMemStore()
	m.put("a.pmtiles", build(t, tiles, nil))
	now := time.Unix(1e9, 0)
	r := newReader(m, &ReaderOptions{ArchiveTTL: time.Minute})
	r.now = func() time.Time { return now }
	ctx := context.Background()
	headers := func() (n int) {
		for _, c := range m.takeCalls() {
			if c.ifMatch == "" {
				n++
			}
		}
		return n
	}
	r.Tile(ctx, "a.pmtiles", 1, 0, 0)
	now = now.Add(59 * time.Second)
	r.Tile(ctx, "a.pmtiles", 1, 0, 1)
	if n := headers(); n != 1 {
		t.Fatalf("%d header reads within the TTL, want 1", n)
	}
	before, _ := r.Archive(ctx, "a.pmtiles")
	r.mu.Lock()
	state := r.archives["a.pmtiles"]
	r.mu.Unlock()
	now = now.Add(time.Second)
	r.Tile(ctx, "a.pmtiles", 1, 1, 1)
	if n := headers(); n != 1 {
		t.Fatalf("%d header reads after the TTL, want 1", n)
	}
	// The archive did not change: the state (and its decoded leaves) is kept, renewed.
	r.mu.Lock()
	kept := r.archives["a.pmtiles"] == state
	r.mu.Unlock()
	if !kept {
		t.Error("unchanged archive: state replaced after the TTL")
	}
	now = now.Add(30 * time.Second)
	r.Tile(ctx, "a.pmtiles", 1, 1, 0)
	if n := headers(); n != 0 {
		t.Fatalf("%d header reads within the renewed TTL, want 0", n)
	}
	// A replaced archive is read anew after the TTL even if no read fails before.
	etag := m.put("a.pmtiles", build(t, tiles, &WriteOptions{Metadata: []byte(`{"v":2}`)}))
	now = now.Add(time.Minute)
	after, err := r.Archive(ctx, "a.pmtiles")
	if err != nil || after.ETag != etag || after.ETag == before.ETag {
		t.Errorf("after the TTL: ETag %s, %v; want %s", after.ETag, err, etag)
	}
}

func TestReaderMetadata(t *testing.T) {
	_, tiles := testTiles(1, "a")
	m := newMemStore()
	m.put("a.pmtiles", build(t, tiles, &WriteOptions{Metadata: []byte(`{"name":"a"}`)}))
	m.put("b.pmtiles", build(t, tiles, nil))
	r := newReader(m, nil)
	for key, want := range map[string]string{"a.pmtiles": `{"name":"a"}`, "b.pmtiles": `{}`} {
		_, meta, err := r.Metadata(context.Background(), key)
		if err != nil || string(meta) != want {
			t.Errorf("Metadata(%s) = %s, %v; want %s", key, meta, err, want)
		}
	}
}

func TestReaderErrors(t *testing.T) {
	ctx := context.Background()
	m := newMemStore()
	r := newReader(m, nil)
	if _, err := r.Tile(ctx, "missing.pmtiles", 0, 0, 0); !errors.Is(err, privates3.ErrNotFound) {
		t.Errorf("missing archive: err = %v, want ErrNotFound", err)
	}
	if _, err := r.Tile(ctx, "missing.pmtiles", 1, 2, 0); !errors.Is(err, ErrInvalidTile) {
		t.Errorf("x outside zoom: err = %v, want ErrInvalidTile", err)
	}
	m.put("empty.pmtiles", nil)
	if _, err := r.Tile(ctx, "empty.pmtiles", 0, 0, 0); !errors.Is(err, ErrInvalidArchive) {
		t.Errorf("empty object: err = %v, want ErrInvalidArchive", err)
	}
	m.put("text.pmtiles", bytes.Repeat([]byte("not an archive "), 100))
	if _, err := r.Tile(ctx, "text.pmtiles", 0, 0, 0); !errors.Is(err, ErrInvalidArchive) {
		t.Errorf("not an archive: err = %v, want ErrInvalidArchive", err)
	}

	_, tiles := testTiles(2, "a")
	good := build(t, tiles, &WriteOptions{leafSize: 3})
	brotli := bytes.Clone(good)
	brotli[97] = byte(Brotli)
	m.put("brotli.pmtiles", brotli)
	if _, err := r.Tile(ctx, "brotli.pmtiles", 0, 0, 0); !errors.Is(err, ErrUnsupportedCompression) {
		t.Errorf("brotli directories: err = %v, want ErrUnsupportedCompression", err)
	}
	truncated := good[:len(good)-10]
	m.put("truncated.pmtiles", truncated)
	var terr error
	for id := range uint64(21) {
		z, x, y, _ := ZXY(id)
		if _, err := r.Tile(ctx, "truncated.pmtiles", z, x, y); err != nil && !errors.Is(err, ErrTileNotFound) {
			terr = err
		}
	}
	if !errors.Is(terr, ErrInvalidArchive) {
		t.Errorf("truncated archive: err = %v, want ErrInvalidArchive", terr)
	}
}

// hostile returns an archive whose root directory is root, with the given leaf section and
// tile data.
func hostile(root []entry, leaves, tiles []byte) []byte {
	rootBytes := appendDirectory(nil, root)
	h := Header{
		RootOffset: HeaderSize, RootLength: uint64(len(rootBytes)),
		InternalCompression: NoCompression, TileType: PNG, MaxZoom: 5,
	}
	h.MetadataOffset = h.RootOffset + h.RootLength
	h.LeafDirectoryOffset, h.LeafDirectoryLength = h.MetadataOffset, uint64(len(leaves))
	h.TileDataOffset, h.TileDataLength = h.LeafDirectoryOffset+uint64(len(leaves)), uint64(len(tiles))
	b := appendHeader(nil, &h)
	b = append(b, rootBytes...)
	b = append(b, leaves...)
	return append(b, tiles...)
}

// Hostile archives are refused without reading beyond what they are, and without unbounded
// memory or loops.
func TestReaderHostile(t *testing.T) {
	selfLeaf := appendDirectory(nil, []entry{{TileID: 0, Offset: 0, Length: 5, RunLength: 0}})
	for len(selfLeaf) < 5 {
		selfLeaf = append(selfLeaf, 0)
	}
	tests := []struct {
		name    string
		archive []byte
		reads   int // at most
	}{
		{"leaf of length 2^62", hostile([]entry{{TileID: 0, Offset: 0, Length: 1 << 62}}, nil, nil), 1},
		{"leaf beyond its section", hostile([]entry{{TileID: 0, Offset: 10, Length: 5}}, make([]byte, 12), nil), 1},
		{"leaf beyond the object", hostile([]entry{{TileID: 0, Offset: 1 << 40, Length: 5}}, nil, nil), 1},
		{"leaf pointing to itself", hostile([]entry{{TileID: 0, Offset: 0, Length: 5}}, selfLeaf, nil), 1 + maxDepth},
		{"tile beyond its section", hostile([]entry{{TileID: 0, Offset: 0, Length: 9, RunLength: 1}}, nil, make([]byte, 8)), 1},
		{"tile of 2^40 bytes", hostile([]entry{{TileID: 0, Offset: 0, Length: 1 << 40, RunLength: 1}}, nil, nil), 1},
		{"garbage leaf", hostile([]entry{{TileID: 0, Offset: 0, Length: 4}}, uvarints(1<<60, 1, 1), nil), 2},
	}
	for _, tt := range tests {
		m := newMemStore()
		m.put("h.pmtiles", tt.archive)
		r := newReader(m, nil)
		_, err := r.Tile(context.Background(), "h.pmtiles", 0, 0, 0)
		if !errors.Is(err, ErrInvalidArchive) {
			t.Errorf("%s: err = %v, want ErrInvalidArchive", tt.name, err)
		}
		if n := len(m.takeCalls()); n > tt.reads {
			t.Errorf("%s: %d reads, want at most %d", tt.name, n, tt.reads)
		}
	}
}

// FuzzReader decodes whole archives: any bytes give a tile or an error, never a panic or more
// reads than the depth limit allows.
func FuzzReader(f *testing.F) {
	_, tiles := testTiles(2, "f")
	f.Add(build(f, tiles, nil))
	f.Add(build(f, tiles, &WriteOptions{leafSize: 4, internal: NoCompression}))
	f.Add(hostile([]entry{{TileID: 0, Offset: 0, Length: 5}}, []byte{1, 0, 0, 5, 1}, nil))
	f.Fuzz(func(t *testing.T, b []byte) {
		m := newMemStore()
		m.put("f.pmtiles", b)
		r := newReader(m, nil)
		for _, id := range []uint64{0, 3, 20} {
			z, x, y, _ := ZXY(id)
			r.Tile(context.Background(), "f.pmtiles", z, x, y)
			if n := len(m.takeCalls()); n > 1+maxDepth {
				t.Fatalf("%d reads for one tile", n)
			}
		}
		r.Metadata(context.Background(), "f.pmtiles")
	})
}
