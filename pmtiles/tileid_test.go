package pmtiles

import (
	"math/rand/v2"
	"testing"
)

func TestTileID(t *testing.T) {
	tests := []struct {
		z    uint8
		x, y uint32
		id   uint64
	}{
		// The table of the specification, section 4.1.
		{0, 0, 0, 0},
		{1, 0, 0, 1},
		{1, 0, 1, 2},
		{1, 1, 1, 3},
		{1, 1, 0, 4},
		{2, 0, 0, 5},
		{12, 3423, 1763, 19078479},
		// The ends of zoom levels: the curve starts at (0,0) and ends at (2^z-1, 0).
		{2, 3, 0, 20},
		{3, 0, 0, 21},
		{31, 0, 0, zoomStart(31)},
		{31, 1<<31 - 1, 0, zoomStart(31) + 1<<62 - 1},
	}
	for _, tt := range tests {
		id, err := TileID(tt.z, tt.x, tt.y)
		if err != nil || id != tt.id {
			t.Errorf("TileID(%d, %d, %d) = %d, %v; want %d", tt.z, tt.x, tt.y, id, err, tt.id)
		}
		z, x, y, err := ZXY(tt.id)
		if err != nil || z != tt.z || x != tt.x || y != tt.y {
			t.Errorf("ZXY(%d) = %d/%d/%d, %v; want %d/%d/%d", tt.id, z, x, y, err, tt.z, tt.x, tt.y)
		}
	}
}

func TestTileIDErrors(t *testing.T) {
	for _, tt := range []struct {
		z    uint8
		x, y uint32
	}{{32, 0, 0}, {255, 0, 0}, {0, 1, 0}, {0, 0, 1}, {3, 8, 0}, {3, 0, 8}, {31, 1 << 31, 0}} {
		if id, err := TileID(tt.z, tt.x, tt.y); err == nil {
			t.Errorf("TileID(%d, %d, %d) = %d, want an error", tt.z, tt.x, tt.y, id)
		}
	}
	beyond := zoomStart(31) + 1<<62
	for _, id := range []uint64{beyond, beyond + 1, ^uint64(0)} {
		if z, x, y, err := ZXY(id); err == nil {
			t.Errorf("ZXY(%d) = %d/%d/%d, want an error", id, z, x, y)
		}
	}
}

// Every tile of the low zoom levels has its own ID, consecutive within the level, and the curve
// moves to a neighbouring tile at every step (what makes it a Hilbert curve).
func TestTileIDBijectiveAndContinuous(t *testing.T) {
	for z := uint8(0); z <= 6; z++ {
		n := uint32(1) << z
		seen := make(map[uint64]bool)
		for x := range n {
			for y := range n {
				id, err := TileID(z, x, y)
				if err != nil {
					t.Fatal(err)
				}
				if id < zoomStart(z) || id >= zoomStart(z+1) || seen[id] {
					t.Fatalf("TileID(%d, %d, %d) = %d: outside its level or duplicate", z, x, y, id)
				}
				seen[id] = true
			}
		}
		var px, py uint32
		for id := zoomStart(z); id < zoomStart(z+1); id++ {
			_, x, y, err := ZXY(id)
			if err != nil {
				t.Fatal(err)
			}
			if id > zoomStart(z) {
				dx, dy := int(x)-int(px), int(y)-int(py)
				if dx*dx+dy*dy != 1 {
					t.Fatalf("zoom %d: tile %d at %d/%d does not neighbour %d/%d", z, id, x, y, px, py)
				}
			}
			px, py = x, y
		}
	}
}

func TestTileIDRoundTripRandom(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for range 10000 {
		z := uint8(rng.IntN(MaxZoom + 1))
		n := uint64(1) << z
		x, y := uint32(rng.Uint64N(n)), uint32(rng.Uint64N(n))
		id, err := TileID(z, x, y)
		if err != nil {
			t.Fatal(err)
		}
		z2, x2, y2, err := ZXY(id)
		if err != nil || z2 != z || x2 != x || y2 != y {
			t.Fatalf("ZXY(TileID(%d, %d, %d)) = %d/%d/%d, %v", z, x, y, z2, x2, y2, err)
		}
	}
}

func FuzzZXY(f *testing.F) {
	f.Add(uint64(0))
	f.Add(uint64(19078479))
	f.Add(^uint64(0))
	f.Fuzz(func(t *testing.T, id uint64) {
		z, x, y, err := ZXY(id)
		if err != nil {
			return
		}
		back, err := TileID(z, x, y)
		if err != nil || back != id {
			t.Fatalf("TileID(ZXY(%d)) = %d, %v", id, back, err)
		}
	})
}
