package main

import (
	"bytes"
	"context"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"math"
	"runtime"
	"sync"
	"sync/atomic"
)

// tileSize is the width and height of a map tile in pixels.
const tileSize = 256

// tile names one map tile in the usual z/x/y scheme: at zoom z the world is 2^z × 2^z tiles.
type tile struct{ z, x, y int }

// key is the tile's object key below the demo prefix.
func (t tile) key() string { return fmt.Sprintf("%d/%d/%d.png", t.z, t.x, t.y) }

// terrain renders tiles of a synthetic island world: fractal value noise (more octaves at higher
// zooms, so zooming in reveals detail), tinted by elevation and shaded from the north-west. The
// same world coordinates give the same elevation at every zoom, so tiles of neighbouring zooms
// agree. Rendering is deterministic: the same seed gives the same bytes.
type terrain struct {
	seed    uint32
	palette color.Palette // elevation band × shade level
}

const (
	bands      = 32 // elevation bands (8 water, 24 land)
	waterBands = 8
	shades     = 8 // hillshade levels per band
	baseFreq   = 4 // lattice cells across the world for the first octave
)

func newTerrain(seed uint32) *terrain {
	t := &terrain{seed: seed, palette: make(color.Palette, 0, bands*shades)}
	// Hypsometric tints: deep to shallow water, then beach, lowland green, hills, rock, snow.
	stops := []struct {
		at      float64
		r, g, b float64
	}{
		{0, 16, 42, 92}, {7, 70, 130, 190}, // water
		{8, 222, 208, 160}, {9, 140, 180, 100}, {10, 120, 170, 90}, {16, 60, 128, 60}, // beach, grass, forest
		{22, 150, 130, 90}, {27, 120, 110, 100}, {29, 200, 200, 200}, {31, 250, 250, 255}, // rock, snow
	}
	for b := 0; b < bands; b++ {
		var r, g, bl float64
		for i := 0; i+1 < len(stops); i++ {
			s0, s1 := stops[i], stops[i+1]
			if float64(b) >= s0.at && float64(b) <= s1.at {
				f := (float64(b) - s0.at) / (s1.at - s0.at)
				r, g, bl = s0.r+(s1.r-s0.r)*f, s0.g+(s1.g-s0.g)*f, s0.b+(s1.b-s0.b)*f
				break
			}
		}
		for s := 0; s < shades; s++ {
			k := 0.55 + 0.6*float64(s)/(shades-1)
			if b < waterBands {
				k = 1 // water is flat
			}
			t.palette = append(t.palette, color.RGBA{clamp8(r * k), clamp8(g * k), clamp8(bl * k), 255})
		}
	}
	return t
}

func clamp8(v float64) uint8 {
	return uint8(max(0, min(255, math.Round(v))))
}

// hash maps a lattice point of one octave to [0, 1).
func (t *terrain) hash(ix, iy, oct int32) float64 {
	h := uint32(ix)*0x9E3779B1 ^ uint32(iy)*0x85EBCA77 ^ uint32(oct)*0xC2B2AE3D ^ t.seed
	h ^= h >> 15
	h *= 0x2C1B3C6D
	h ^= h >> 12
	h *= 0x297A2D39
	h ^= h >> 15
	return float64(h>>8) / (1 << 24)
}

// scratch holds one worker's buffers, reused across tiles.
type scratch struct {
	elev    []float64 // (tileSize+2)² elevations, one pixel of border for the shading
	lattice []float64
	sx, ix  []float64
	img     *image.Paletted
	buf     bytes.Buffer
	enc     png.Encoder
}

func (t *terrain) newScratch() *scratch {
	const n = tileSize + 2
	return &scratch{
		elev: make([]float64, n*n),
		sx:   make([]float64, n),
		ix:   make([]float64, n),
		img:  image.NewPaletted(image.Rect(0, 0, tileSize, tileSize), t.palette),
		enc:  png.Encoder{CompressionLevel: png.BestSpeed, BufferPool: &encoderBuffer{}},
	}
}

// encoderBuffer keeps one worker's PNG encoder state (its zlib writer, about 1 MB) across tiles.
type encoderBuffer struct{ b *png.EncoderBuffer }

func (p *encoderBuffer) Get() *png.EncoderBuffer  { return p.b }
func (p *encoderBuffer) Put(b *png.EncoderBuffer) { p.b = b }

// octaves is how many noise octaves are visible at zoom z: until a lattice cell is ~2 pixels.
func octaves(z int) int { return 6 + z }

// elevations and render are exempt from the race detector's instrumentation, which slows their
// per-pixel loops down some fortyfold (tests run with -race): they touch only the calling worker's
// scratch and the terrain's read-only palette; generateTiles's shared state stays instrumented.

// elevations fills s.elev with the elevation of every pixel of tile tl and its one-pixel border.
// Elevations are about -1..1; below 0 is water.
//
//go:norace
func (t *terrain) elevations(tl tile, s *scratch) {
	const n = tileSize + 2
	world := float64(tileSize) * float64(int(1)<<tl.z) // world size in pixels at this zoom
	x0 := float64(tl.x*tileSize - 1)
	y0 := float64(tl.y*tileSize - 1)
	// Island shape: lower the terrain towards the world's edges.
	for j := 0; j < n; j++ {
		v := (y0+float64(j)+0.5)/world - 0.5
		for i := 0; i < n; i++ {
			u := (x0+float64(i)+0.5)/world - 0.5
			s.elev[j*n+i] = 0.30 - 2.2*(u*u+v*v)
		}
	}
	amp := 0.75
	for oct := 0; oct < octaves(tl.z); oct++ {
		freq := float64(baseFreq) * float64(int(1)<<oct) / world // lattice cells per pixel
		// Lattice cells spanned by this tile, plus one on each side.
		lx0 := int32(math.Floor(x0 * freq))
		ly0 := int32(math.Floor(y0 * freq))
		lx1 := int32(math.Floor((x0+n)*freq)) + 1
		ly1 := int32(math.Floor((y0+n)*freq)) + 1
		lw, lh := int(lx1-lx0+1), int(ly1-ly0+1)
		if cap(s.lattice) < lw*lh {
			s.lattice = make([]float64, lw*lh)
		}
		lat := s.lattice[:lw*lh]
		for j := range lh {
			for i := range lw {
				lat[j*lw+i] = t.hash(lx0+int32(i), ly0+int32(j), int32(oct))*2 - 1
			}
		}
		// Per-column lattice index and smoothed fraction.
		for i := 0; i < n; i++ {
			ix, sx := cell(x0+float64(i), freq)
			s.ix[i], s.sx[i] = ix-float64(lx0), sx
		}
		for j := 0; j < n; j++ {
			iy, sy := cell(y0+float64(j), freq)
			row0 := lat[int(iy-float64(ly0))*lw:]
			row1 := row0[lw:]
			e := s.elev[j*n : j*n+n]
			for i := range e {
				ix := int(s.ix[i])
				a := row0[ix] + (row0[ix+1]-row0[ix])*s.sx[i]
				b := row1[ix] + (row1[ix+1]-row1[ix])*s.sx[i]
				e[i] += amp * (a + (b-a)*sy)
			}
		}
		amp *= 0.5
	}
}

// cell returns the lattice cell of the pixel at p (world pixels) for a lattice of freq cells per
// pixel, and the smoothed fraction of the way across it.
func cell(p, freq float64) (index, smooth float64) {
	fp := (p + 0.5) * freq
	index = math.Floor(fp)
	f := fp - index
	return index, f * f * (3 - 2*f)
}

// render draws tile tl into s.img and returns its PNG encoding (valid until the next call).
//
//go:norace
func (t *terrain) render(tl tile, s *scratch) ([]byte, error) {
	const n = tileSize + 2
	t.elevations(tl, s)
	// The gradient in world units keeps the shading alike across zooms.
	pixel := 1 / (float64(tileSize) * float64(int(1)<<tl.z))
	const exaggeration = 0.004
	lx, ly, lz := -1/math.Sqrt(3), -1/math.Sqrt(3), 1/math.Sqrt(3)
	for y := 0; y < tileSize; y++ {
		row := s.img.Pix[y*s.img.Stride:]
		for x := 0; x < tileSize; x++ {
			c := (y+1)*n + x + 1
			e := s.elev[c]
			band := waterBands + int(e*float64(bands-waterBands)/0.9)
			if e < 0 {
				band = max(0, waterBands-1+int(e*waterBands/0.6))
			}
			band = min(band, bands-1)
			gx := (max(s.elev[c+1], 0) - max(s.elev[c-1], 0)) / (2 * pixel) * exaggeration
			gy := (max(s.elev[c+n], 0) - max(s.elev[c-n], 0)) / (2 * pixel) * exaggeration
			norm := math.Sqrt(gx*gx + gy*gy + 1)
			light := (-gx*lx - gy*ly + lz) / norm // in [-1, 1]; flat ground gives lz
			shade := int(math.Round((light + 0.2) / 1.2 * (shades - 1)))
			shade = max(0, min(shades-1, shade))
			row[x] = uint8(band*shades + shade)
		}
	}
	s.buf.Reset()
	if err := s.enc.Encode(&s.buf, s.img); err != nil {
		return nil, err
	}
	return s.buf.Bytes(), nil
}

// generateTiles renders every tile of zoom levels 0..maxZoom on all cores, zoom by zoom, and calls
// put for each (put is called concurrently and must copy body if it keeps it). When every tile of
// a zoom level has been put, it calls zoomDone (if not nil) with that level. It returns the number
// of tiles and their total size in bytes, or the first error (put's or ctx's).
func generateTiles(ctx context.Context, seed uint32, maxZoom int, put func(key string, body []byte) error, zoomDone func(z int)) (int, int64, error) {
	t := newTerrain(seed)
	work := make(chan tile)
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	remaining := make([]atomic.Int64, maxZoom+1) // tiles of each zoom not yet put
	for z := range remaining {
		remaining[z].Store(1 << (2 * z))
	}
	var (
		wg    sync.WaitGroup
		count atomic.Int64
		total atomic.Int64
	)
	for range runtime.GOMAXPROCS(0) {
		wg.Go(func() {
			s := t.newScratch()
			for tl := range work {
				body, err := t.render(tl, s)
				if err == nil {
					err = put(tl.key(), body)
				}
				if err != nil {
					cancel(fmt.Errorf("tile %s: %w", tl.key(), err))
					continue
				}
				count.Add(1)
				total.Add(int64(len(body)))
				if remaining[tl.z].Add(-1) == 0 && zoomDone != nil {
					zoomDone(tl.z)
				}
			}
		})
	}
feed:
	for z := 0; z <= maxZoom; z++ {
		for y := 0; y < 1<<z; y++ {
			for x := 0; x < 1<<z; x++ {
				select {
				case work <- tile{z, x, y}:
				case <-ctx.Done():
					break feed
				}
			}
		}
	}
	close(work)
	wg.Wait()
	if err := context.Cause(ctx); err != nil {
		return 0, 0, err
	}
	return int(count.Load()), total.Load(), nil
}

// tileCount is the number of tiles of zoom levels 0..maxZoom: 1 + 4 + ... + 4^maxZoom.
func tileCount(maxZoom int) int { return (1<<(2*maxZoom+2) - 1) / 3 }
