package pmtiles

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
)

// goPMTiles is the independent writer and reader these tests compare with: the reference Go
// implementation's command, pinned.
const goPMTiles = "github.com/protomaps/go-pmtiles@v1.31.2"

// installGoPMTiles builds the pinned go-pmtiles command into a temporary directory, or skips the
// test if the module cannot be fetched (no module proxy); any other failure fails the test.
func installGoPMTiles(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("builds go-pmtiles; skipped with -short")
	}
	dir := t.TempDir()
	dl := exec.Command("go", "mod", "download", goPMTiles)
	dl.Dir = dir
	if out, err := dl.CombinedOutput(); err != nil {
		t.Skipf("cannot fetch %s (no module proxy?): %v\n%s", goPMTiles, err, out)
	}
	install := exec.Command("go", "install", goPMTiles)
	install.Dir = dir
	install.Env = append(os.Environ(), "GOBIN="+dir, "GOFLAGS=-mod=mod")
	if out, err := install.CombinedOutput(); err != nil {
		t.Fatalf("go install %s: %v\n%s", goPMTiles, err, out)
	}
	return filepath.Join(dir, "go-pmtiles")
}

// interopTiles is a tile set of zooms 0 to 8 (87,381 places) that needs leaf directories: unique
// tiles of varied length, runs of one repeated "ocean" tile, and holes.
func interopTiles() map[[3]uint32][]byte {
	tiles := make(map[[3]uint32][]byte)
	ocean := []byte("\x89PNG ocean")
	for z := range uint32(9) {
		for x := range uint32(1) << z {
			for y := range uint32(1) << z {
				switch {
				case z >= 4 && (x+y)%11 == 3:
					continue // a hole
				case z >= 2 && y < (uint32(1)<<z)/4:
					tiles[[3]uint32{z, x, y}] = ocean
				default:
					sum := sha256.Sum256(fmt.Appendf(nil, "%d/%d/%d", z, x, y))
					tiles[[3]uint32{z, x, y}] = append([]byte("\x89PNG "), sum[:1+sum[0]%32]...)
				}
			}
		}
	}
	return tiles
}

// mbtilesScript writes an MBTiles 1.3 file (path in argv[1]) from records on stdin: z, x, y as
// little-endian uint32, the data length as uint32, the data. Rows are TMS (y flipped).
const mbtilesScript = `
import sqlite3, struct, sys
db = sqlite3.connect(sys.argv[1])
db.execute("CREATE TABLE metadata (name text, value text)")
db.execute("CREATE TABLE tiles (zoom_level integer, tile_column integer, tile_row integer, tile_data blob)")
db.executemany("INSERT INTO metadata VALUES (?, ?)", [
    ("name", "interop"), ("format", "png"), ("minzoom", "0"), ("maxzoom", "8"),
    ("bounds", "-10.5,-20.25,30.75,40.125"), ("center", "1.5,2.5,3"),
    ("attribution", "test tiles"),
])
inp = sys.stdin.buffer
rows = []
while True:
    head = inp.read(16)
    if not head:
        break
    z, x, y, n = struct.unpack("<IIII", head)
    rows.append((z, x, (1 << z) - 1 - y, inp.read(n)))
db.executemany("INSERT INTO tiles VALUES (?, ?, ?, ?)", rows)
db.execute("CREATE UNIQUE INDEX tile_index ON tiles (zoom_level, tile_column, tile_row)")
db.commit()
`

// TestInteropGoPMTiles compares with go-pmtiles, built once for both directions.
func TestInteropGoPMTiles(t *testing.T) {
	t.Parallel() // mostly waiting for go install and the tools
	bin := installGoPMTiles(t)
	t.Run("their writer", func(t *testing.T) { testTheirWriter(t, bin) })
	t.Run("their reader", func(t *testing.T) { testTheirReader(t, bin) })
}

// An archive written by go-pmtiles convert (from an MBTiles file written by Python's sqlite3)
// decodes tile for tile.
func testTheirWriter(t *testing.T, bin string) {
	python, err := exec.LookPath("python3")
	if err != nil {
		t.Skip("python3 (with sqlite3) not installed")
	}
	dir := t.TempDir()
	mbtiles, archive := filepath.Join(dir, "in.mbtiles"), filepath.Join(dir, "out.pmtiles")
	tiles := interopTiles()

	var feed bytes.Buffer
	for k, data := range tiles {
		for _, v := range []uint32{k[0], k[1], k[2], uint32(len(data))} {
			feed.Write(binary.LittleEndian.AppendUint32(nil, v))
		}
		feed.Write(data)
	}
	py := exec.Command(python, "-c", mbtilesScript, mbtiles)
	py.Stdin = &feed
	if out, err := py.CombinedOutput(); err != nil {
		t.Fatalf("python3 writing MBTiles: %v\n%s", err, out)
	}
	conv := exec.Command(bin, "convert", mbtiles, archive)
	if out, err := conv.CombinedOutput(); err != nil {
		t.Fatalf("go-pmtiles convert: %v\n%s", err, out)
	}
	data, err := os.ReadFile(archive)
	if err != nil {
		t.Fatal(err)
	}

	m := newMemStore()
	m.put("interop.pmtiles", data)
	r := newReader(m, nil)
	ctx := context.Background()
	info, err := r.Archive(ctx, "interop.pmtiles")
	if err != nil {
		t.Fatal(err)
	}
	h := info.Header
	if h.LeafDirectoryLength == 0 {
		t.Error("go-pmtiles wrote no leaf directories: the test does not cover them")
	}
	if h.TileType != PNG || h.TileCompression != NoCompression || h.InternalCompression != Gzip ||
		h.MinZoom != 0 || h.MaxZoom != 8 || h.MinLonE7 != -105000000 || h.MaxLatE7 != 401250000 || h.CenterZoom != 3 {
		t.Errorf("header: %+v", h)
	}
	checked := compareTiles(t, r, "interop.pmtiles", tiles)
	_, meta, err := r.Metadata(ctx, "interop.pmtiles")
	if err != nil || !bytes.Contains(meta, []byte(`"attribution":"test tiles"`)) {
		t.Errorf("metadata = %s, %v", meta, err)
	}
	t.Logf("%d tiles (%d places) compared; archive of %d bytes, %d tile entries, %d bytes of leaves",
		len(tiles), checked, len(data), h.TileEntries, h.LeafDirectoryLength)
}

// compareTiles reads every place of zooms 0 to 8 and a sample of zoom 9 from the archive under
// key and compares it with tiles (absent: a hole). It returns the number of places read.
func compareTiles(t *testing.T, r *Reader, key string, tiles map[[3]uint32][]byte) int {
	t.Helper()
	checked := 0
	for z := range uint32(10) {
		step := uint32(1)
		if z == 9 { // beyond the tiles: a sample
			step = 7
		}
		for x := uint32(0); x < 1<<z; x += step {
			for y := uint32(0); y < 1<<z; y += step {
				want, ok := tiles[[3]uint32{z, x, y}]
				tile, err := r.Tile(context.Background(), key, uint8(z), x, y)
				switch {
				case ok && (err != nil || !bytes.Equal(tile.Data, want)):
					t.Fatalf("tile %d/%d/%d = %q, %v; want %q", z, x, y, tile.Data, err, want)
				case !ok && !errors.Is(err, ErrTileNotFound):
					t.Fatalf("tile %d/%d/%d: %q, %v; want ErrTileNotFound", z, x, y, tile.Data, err)
				}
				checked++
			}
		}
	}
	return checked
}

// go-pmtiles verifies the archives Write makes and reads the same tiles from them.
func testTheirReader(t *testing.T, bin string) {
	var list []Tile
	tiles := interopTiles()
	for k, data := range tiles {
		id, _ := TileID(uint8(k[0]), k[1], k[2])
		list = append(list, Tile{ID: id, Data: data})
	}
	dir := t.TempDir()
	for _, tt := range []struct {
		name string
		opts WriteOptions
	}{{"auto", WriteOptions{TileType: PNG, TileCompression: NoCompression}}, {"leaves of 100", WriteOptions{TileType: PNG, TileCompression: NoCompression, leafSize: 100}}} {
		path := filepath.Join(dir, tt.name+".pmtiles")
		if err := os.WriteFile(path, build(t, list, &tt.opts), 0o644); err != nil {
			t.Fatal(err)
		}
		if out, err := exec.Command(bin, "verify", path).CombinedOutput(); err != nil {
			t.Fatalf("%s: go-pmtiles verify: %v\n%s", tt.name, err, out)
		}
		// A sample of tiles and holes, one process each.
		for _, k := range [][3]uint32{{0, 0, 0}, {3, 5, 1}, {5, 17, 30}, {8, 255, 0}, {8, 100, 200}, {8, 3, 0}} {
			want := tiles[k]
			args := []string{"tile", path}
			for _, v := range k {
				args = append(args, strconv.Itoa(int(v)))
			}
			var stdout, stderr bytes.Buffer
			cmd := exec.Command(bin, args...)
			cmd.Stdout, cmd.Stderr = bufio.NewWriter(&stdout), &stderr
			err := cmd.Run()
			cmd.Stdout.(*bufio.Writer).Flush()
			if want == nil {
				if err == nil && stdout.Len() > 0 {
					t.Errorf("%s: tile %v: go-pmtiles found %q in a hole", tt.name, k, stdout.Bytes())
				}
				continue
			}
			if err != nil || !bytes.Equal(stdout.Bytes(), want) {
				t.Errorf("%s: go-pmtiles tile %v = %q, %v (%s); want %q", tt.name, k, stdout.Bytes(), err, stderr.String(), want)
			}
		}
	}
}
