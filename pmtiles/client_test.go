package pmtiles

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/privates3/privates3"
	"github.com/privates3/privates3/privates3test"
)

// newClient returns a Client of the bucket "tiles" of a fake S3.
func newClient(t testing.TB) (*privates3test.Server, *privates3.Client) {
	t.Helper()
	srv := privates3test.NewServer()
	t.Cleanup(srv.Close)
	c, err := privates3.New(context.Background(), srv.Config("tiles"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return srv, c
}

func md5ETag(b []byte) string {
	sum := md5.Sum(b)
	return `"` + hex.EncodeToString(sum[:]) + `"`
}

// Against the fake S3: the first tile of a cold archive costs at most three GETs (first 16 KiB,
// leaf, tile), and every later tile of a directory already read exactly one.
func TestClientUpstreamGets(t *testing.T) {
	srv, c := newClient(t)
	want, tiles := testTiles(6, "a")
	srv.PutObject("tiles", "world.pmtiles", build(t, tiles, &WriteOptions{leafSize: 200}))
	r := NewReader(c, nil)
	ctx := context.Background()
	srv.ResetCounts()
	tile, err := r.Tile(ctx, "world.pmtiles", 6, 10, 20)
	if err != nil {
		t.Fatal(err)
	}
	id, _ := TileID(6, 10, 20)
	if !bytes.Equal(tile.Data, want[id]) {
		t.Fatalf("tile = %q, want %q", tile.Data, want[id])
	}
	if n := srv.Count(privates3test.OpGetObject); n > 3 {
		t.Fatalf("cold tile: %d GETs, want at most 3", n)
	}
	if info, _ := r.Archive(ctx, "world.pmtiles"); info.Header.LeafDirectoryLength == 0 {
		t.Fatal("no leaf directories: the test does not cover them")
	}
	// Neighbours on the Hilbert curve share the leaf: exactly one GET each for their bytes, none
	// for bytes read before (the deduplicated sea tile, or a tile read again: the Client's cache).
	seen := map[string]bool{string(tile.Data): true}
	tested := 0
	for i := uint64(1); i <= 40; i++ {
		z, x, y, _ := ZXY(id + i)
		w, ok := want[id+i]
		srv.ResetCounts()
		tile, err := r.Tile(ctx, "world.pmtiles", z, x, y)
		n := srv.Count(privates3test.OpGetObject)
		if !ok {
			if !errors.Is(err, ErrTileNotFound) || n != 0 {
				t.Fatalf("hole %d/%d/%d: %v with %d GETs, want ErrTileNotFound with 0", z, x, y, err, n)
			}
			continue
		}
		wantGets := 1
		if seen[string(w)] {
			wantGets = 0
		}
		if err != nil || !bytes.Equal(tile.Data, w) || n != wantGets {
			t.Fatalf("tile %d/%d/%d = %q, %v with %d GETs; want %q with %d", z, x, y, tile.Data, err, n, w, wantGets)
		}
		seen[string(w)] = true
		tested += wantGets
		if _, err := r.Tile(ctx, "world.pmtiles", z, x, y); err != nil || srv.Count(privates3test.OpGetObject) != n {
			t.Fatalf("tile %d/%d/%d again: %v, %d GETs in all", z, x, y, err, srv.Count(privates3test.OpGetObject))
		}
	}
	if tested < 10 {
		t.Fatalf("only %d tiles with a GET each: the test proves little", tested)
	}
}

// Concurrent requests for tiles of one uncached leaf directory read it once.
func TestClientConcurrentLeaf(t *testing.T) {
	srv, c := newClient(t)
	_, tiles := testTiles(6, "a")
	srv.PutObject("tiles", "world.pmtiles", build(t, tiles, &WriteOptions{leafSize: 4096}))
	r := NewReader(c, &ReaderOptions{DirectoryCacheEntries: -1})
	ctx := context.Background()
	if _, err := r.Archive(ctx, "world.pmtiles"); err != nil {
		t.Fatal(err)
	}
	srv.ResetCounts()
	// The sea tile at 6/0/0 (x%3 == 0) is one blob for many tiles: after the leaf, one tile GET.
	var wg sync.WaitGroup
	for range 32 {
		wg.Go(func() {
			if _, err := r.Tile(ctx, "world.pmtiles", 6, 0, 0); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if n := srv.Count(privates3test.OpGetObject); n != 2 {
		t.Errorf("32 concurrent tiles in one cold leaf: %d GETs, want 2 (the leaf, the tile)", n)
	}
}

// A load run during which the archive is replaced: every answer is one archive's tile, the one
// its ETag names, and after the replacement the new archive is served.
func TestClientArchiveReplacedUnderLoad(t *testing.T) {
	srv, c := newClient(t)
	wantA, tilesA := testTiles(5, "a")
	wantB, tilesB := testTiles(5, "b")
	archA := build(t, tilesA, &WriteOptions{leafSize: 64, TileType: PNG})
	archB := build(t, tilesB, &WriteOptions{leafSize: 97, TileType: PNG})
	versions := map[string]map[uint64][]byte{md5ETag(archA): wantA, md5ETag(archB): wantB}
	srv.PutObject("tiles", "world.pmtiles", archA)
	ts := httptest.NewServer(NewReader(c, nil).Handler(nil))
	defer ts.Close()

	var (
		served   [2]atomic.Int64 // answers from A, B
		replaced atomic.Bool
		wg       sync.WaitGroup
	)
	for g := range 8 {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(g), 1))
			for i := range 150 {
				if g == 0 && i == 50 {
					srv.PutObject("tiles", "world.pmtiles", archB)
					replaced.Store(true)
				}
				z := uint8(5)
				x, y := uint32(rng.IntN(32)), uint32(rng.IntN(32))
				id, _ := TileID(z, x, y)
				res, err := http.Get(fmt.Sprintf("%s/world/%d/%d/%d.png", ts.URL, z, x, y))
				if err != nil {
					t.Error(err)
					return
				}
				body, _ := io.ReadAll(res.Body)
				res.Body.Close()
				if res.StatusCode == http.StatusNoContent {
					if _, ok := wantA[id]; ok { // both versions have the same holes
						t.Errorf("tile %d/%d/%d: 204, but both archives have it", z, x, y)
					}
					continue
				}
				if res.StatusCode != 200 {
					t.Errorf("tile %d/%d/%d: %d", z, x, y, res.StatusCode)
					continue
				}
				v := -1
				for i, e := range []string{md5ETag(archA), md5ETag(archB)} {
					if res.Header.Get("ETag") == etag(e, strconv.FormatUint(id, 10)) {
						v = i
						if !bytes.Equal(body, versions[e][id]) {
							t.Errorf("tile %d/%d/%d: ETag names archive %c, body %q is not its tile", z, x, y, 'A'+i, body)
						}
					}
				}
				if v < 0 {
					t.Errorf("tile %d/%d/%d: ETag %q names neither archive", z, x, y, res.Header.Get("ETag"))
					continue
				}
				served[v].Add(1)
			}
		})
	}
	wg.Wait()
	t.Logf("served %d tiles of A and %d of B", served[0].Load(), served[1].Load())
	if served[0].Load() == 0 || served[1].Load() == 0 {
		t.Errorf("served %d tiles of A and %d of B; want both", served[0].Load(), served[1].Load())
	}
	// Once the new archive has been seen, the old one is gone: a tile not read before is B's.
	res, err := http.Get(ts.URL + "/world/4/8/8.png")
	if err == nil {
		res.Body.Close()
		if id, _ := TileID(4, 8, 8); res.Header.Get("ETag") != etag(md5ETag(archB), strconv.FormatUint(id, 10)) {
			t.Errorf("after the run: ETag %q, not archive B's", res.Header.Get("ETag"))
		}
	}
}
