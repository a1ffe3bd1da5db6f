package pmtiles

import "fmt"

// MaxZoom is the highest zoom level a tile ID can address: the IDs of zoom 32 would not fit in
// 64 bits.
const MaxZoom = 31

// TileID returns the PMTiles tile ID of the tile z/x/y: the number of tiles of all lower zoom
// levels plus the tile's position on the Hilbert curve of zoom z. It fails if z > MaxZoom or x or
// y is not below 2^z.
func TileID(z uint8, x, y uint32) (uint64, error) {
	if z > MaxZoom {
		return 0, fmt.Errorf("pmtiles: zoom %d above %d", z, MaxZoom)
	}
	n := uint64(1) << z
	if uint64(x) >= n || uint64(y) >= n {
		return 0, fmt.Errorf("pmtiles: tile %d/%d/%d outside the zoom level", z, x, y)
	}
	return zoomStart(z) + hilbertIndex(n, uint64(x), uint64(y)), nil
}

// ZXY is the inverse of TileID: it returns the zoom and coordinates of a tile ID. It fails for
// IDs beyond zoom MaxZoom.
func ZXY(id uint64) (z uint8, x, y uint32, err error) {
	for z = 0; z <= MaxZoom; z++ {
		size := uint64(1) << (2 * uint64(z)) // tiles at zoom z; 2^62 at z=31, no overflow
		if id < size {
			xx, yy := hilbertPoint(uint64(1)<<z, id)
			return z, uint32(xx), uint32(yy), nil
		}
		id -= size
	}
	return 0, 0, 0, fmt.Errorf("pmtiles: tile ID beyond zoom %d", MaxZoom)
}

// zoomStart is the first tile ID of zoom z: (4^z - 1) / 3.
func zoomStart(z uint8) uint64 {
	return ((uint64(1) << (2 * uint64(z))) - 1) / 3
}

// hilbertIndex is the distance of cell (x, y) along the Hilbert curve filling an n×n grid
// (n a power of two), with the curve starting at (0, 0) and ending at (n-1, 0).
func hilbertIndex(n, x, y uint64) uint64 {
	var d uint64
	for s := n / 2; s > 0; s /= 2 {
		var rx, ry uint64
		if x&s != 0 {
			rx = 1
		}
		if y&s != 0 {
			ry = 1
		}
		d += s * s * ((3 * rx) ^ ry)
		x, y = rotate(n, x, y, rx, ry)
	}
	return d
}

// hilbertPoint is the inverse of hilbertIndex.
func hilbertPoint(n, d uint64) (x, y uint64) {
	for s := uint64(1); s < n; s *= 2 {
		rx := 1 & (d / 2)
		ry := 1 & (d ^ rx)
		x, y = rotate(s, x, y, rx, ry)
		x += s * rx
		y += s * ry
		d /= 4
	}
	return x, y
}

// rotate turns the quadrant so that the sub-curve in it has the orientation of the whole curve;
// x and y are below size, a power of two.
func rotate(size, x, y, rx, ry uint64) (uint64, uint64) {
	if ry == 0 {
		if rx == 1 {
			x = size - 1 - x
			y = size - 1 - y
		}
		x, y = y, x
	}
	return x, y
}
