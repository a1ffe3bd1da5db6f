package main

import (
	"bytes"
	"context"
	"errors"
	"image"
	"image/png"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
)

func renderAll(t *testing.T, seed uint32, maxZoom int) map[string][]byte {
	t.Helper()
	var mu sync.Mutex // guards tiles, done
	tiles := map[string][]byte{}
	var done []int
	n, size, err := generateTiles(context.Background(), seed, maxZoom, func(key string, body []byte) error {
		mu.Lock()
		defer mu.Unlock()
		if _, dup := tiles[key]; dup {
			t.Errorf("tile %s generated twice", key)
		}
		tiles[key] = bytes.Clone(body)
		return nil
	}, func(z int) {
		mu.Lock()
		defer mu.Unlock()
		if want := tileCount(z) - tileCount(z-1); countZoom(tiles, z) != want {
			t.Errorf("zoom %d done with %d of its %d tiles", z, countZoom(tiles, z), want)
		}
		done = append(done, z)
	})
	if err != nil {
		t.Fatal(err)
	}
	var total int64
	for _, b := range tiles {
		total += int64(len(b))
	}
	if n != len(tiles) || size != total || n != tileCount(maxZoom) {
		t.Errorf("generateTiles reported %d tiles, %d bytes; put saw %d, %d; want %d tiles", n, size, len(tiles), total, tileCount(maxZoom))
	}
	slices.Sort(done)
	if want := []int{0, 1, 2, 3, 4, 5, 6, 7, 8}[:maxZoom+1]; !slices.Equal(done, want) {
		t.Errorf("zoomDone called for %v, want %v", done, want)
	}
	return tiles
}

func countZoom(tiles map[string][]byte, z int) int {
	n := 0
	for key := range tiles {
		if strings.HasPrefix(key, strconv.Itoa(z)+"/") {
			n++
		}
	}
	return n
}

func TestGenerateTiles(t *testing.T) {
	tiles := renderAll(t, demoSeed, 2)
	if len(tiles) != 1+4+16 {
		t.Fatalf("%d tiles, want 21", len(tiles))
	}
	for _, key := range []string{"0/0/0.png", "1/1/0.png", "2/3/3.png", "2/0/2.png"} {
		img, err := png.Decode(bytes.NewReader(tiles[key]))
		if err != nil {
			t.Fatalf("%s: %v", key, err)
		}
		if b := img.Bounds(); b != image.Rect(0, 0, tileSize, tileSize) {
			t.Errorf("%s: bounds %v", key, b)
		}
	}
	// Deterministic: the same seed gives the same bytes, another seed another world.
	again := renderAll(t, demoSeed, 1)
	other := renderAll(t, demoSeed+1, 1)
	for key, b := range again {
		if !bytes.Equal(b, tiles[key]) {
			t.Errorf("%s differs between two renderings with one seed", key)
		}
		if bytes.Equal(b, other[key]) {
			t.Errorf("%s is the same for two seeds", key)
		}
	}
}

// TestTilesAgreeAcrossZooms checks that a tile and its four children show the same place: the
// children, each shrunk to a quadrant, have about the parent's mean colour per quadrant.
func TestTilesAgreeAcrossZooms(t *testing.T) {
	tiles := renderAll(t, demoSeed, 2)
	decode := func(key string) image.Image {
		img, err := png.Decode(bytes.NewReader(tiles[key]))
		if err != nil {
			t.Fatalf("%s: %v", key, err)
		}
		return img
	}
	mean := func(img image.Image, r image.Rectangle) [3]float64 {
		var s [3]float64
		for y := r.Min.Y; y < r.Max.Y; y++ {
			for x := r.Min.X; x < r.Max.X; x++ {
				cr, cg, cb, _ := img.At(x, y).RGBA()
				s[0] += float64(cr >> 8)
				s[1] += float64(cg >> 8)
				s[2] += float64(cb >> 8)
			}
		}
		n := float64(r.Dx() * r.Dy())
		return [3]float64{s[0] / n, s[1] / n, s[2] / n}
	}
	parent := decode("1/1/0.png")
	const h = tileSize / 2
	for _, c := range []struct {
		key  string
		quad image.Rectangle
	}{
		{"2/2/0.png", image.Rect(0, 0, h, h)}, {"2/3/0.png", image.Rect(h, 0, tileSize, h)},
		{"2/2/1.png", image.Rect(0, h, h, tileSize)}, {"2/3/1.png", image.Rect(h, h, tileSize, tileSize)},
	} {
		pm, cm := mean(parent, c.quad), mean(decode(c.key), image.Rect(0, 0, tileSize, tileSize))
		for i := range 3 {
			if d := pm[i] - cm[i]; d > 12 || d < -12 {
				t.Errorf("%s: mean colour %.0f, parent's quadrant %.0f", c.key, cm, pm)
				break
			}
		}
	}
}

func TestGenerateTilesErrors(t *testing.T) {
	boom := errors.New("boom")
	_, _, err := generateTiles(context.Background(), 1, 3, func(key string, body []byte) error {
		if key == "2/1/1.png" {
			return boom
		}
		return nil
	}, nil)
	if !errors.Is(err, boom) {
		t.Errorf("error %v, want one wrapping the put error", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, _, err := generateTiles(ctx, 1, 3, func(string, []byte) error { return nil }, nil); !errors.Is(err, context.Canceled) {
		t.Errorf("error %v after cancel, want context.Canceled", err)
	}
}

// BenchmarkRenderTile measures one 256×256 tile at zoom 5 (11 octaves), PNG encoding included.
func BenchmarkRenderTile(b *testing.B) {
	tr := newTerrain(demoSeed)
	s := tr.newScratch()
	b.ReportAllocs()
	var size int
	for i := 0; b.Loop(); i++ {
		body, err := tr.render(tile{5, 10 + i%8, 12}, s)
		if err != nil {
			b.Fatal(err)
		}
		size = len(body)
	}
	b.ReportMetric(float64(size), "bytes/tile")
}
