package pmtiles

import (
	"cmp"
	"fmt"
	"io"
	"slices"
)

// WriteOptions configures Write. A nil *WriteOptions means the zero value.
type WriteOptions struct {
	// TileType is the type of the tiles, written to the header. If zero, UnknownTileType.
	TileType TileType

	// TileCompression says how the tiles' bytes are compressed (Write stores them as given). If
	// zero, UnknownCompression.
	TileCompression Compression

	// Metadata is the archive's JSON metadata, a JSON object (not checked). If nil, "{}".
	Metadata []byte

	// MinLonE7, MinLatE7, MaxLonE7 and MaxLatE7 are the bounds written to the header, in degrees
	// times 10,000,000. If all zero, the whole Web Mercator world.
	MinLonE7, MinLatE7, MaxLonE7, MaxLatE7 int32

	// CenterZoom, CenterLonE7 and CenterLatE7 are the initial view written to the header. If all
	// zero, the center of the bounds at the lowest zoom of the tiles.
	CenterZoom               uint8
	CenterLonE7, CenterLatE7 int32

	// leafSize, if not zero, forces leaf directories of that many entries (for tests).
	leafSize int
	// internal is the internal compression; if zero, Gzip.
	internal Compression
}

// Write writes a PMTiles v3 archive of tiles to w: header, root directory, metadata, leaf
// directories (only if the root directory would not fit in the first 16 KiB) and tile data,
// in that order, with directories and metadata compressed with gzip. Write uses each tile's ID
// and Data (its Archive is ignored). Tiles with identical bytes are stored once, and runs of
// consecutive tile IDs with identical bytes take one directory entry, so the archive is
// clustered. Tiles may come in any order; an empty Data or two tiles with one ID is an error.
func Write(w io.Writer, tiles []Tile, opts *WriteOptions) error {
	var o WriteOptions
	if opts != nil {
		o = *opts
	}
	if o.internal == UnknownCompression {
		o.internal = Gzip
	}
	l, err := layOut(tiles)
	if err != nil {
		return err
	}
	meta := o.Metadata
	if meta == nil {
		meta = []byte("{}")
	}
	if meta, err = compress(o.internal, meta); err != nil {
		return err
	}
	root, leaves, err := directories(l.entries, o.internal, o.leafSize)
	if err != nil {
		return err
	}
	h := o.header(l)
	h.RootOffset, h.RootLength = HeaderSize, uint64(len(root))
	h.MetadataOffset, h.MetadataLength = h.RootOffset+h.RootLength, uint64(len(meta))
	h.LeafDirectoryOffset, h.LeafDirectoryLength = h.MetadataOffset+h.MetadataLength, uint64(len(leaves))
	h.TileDataOffset, h.TileDataLength = h.LeafDirectoryOffset+h.LeafDirectoryLength, uint64(len(l.data))

	out := appendHeader(make([]byte, 0, h.TileDataOffset), &h)
	out = append(out, root...)
	out = append(out, meta...)
	out = append(out, leaves...)
	if _, err := w.Write(out); err != nil {
		return err
	}
	_, err = w.Write(l.data)
	return err
}

// layout is the tile data section of an archive and the directory entries addressing it.
type layout struct {
	entries          []entry
	data             []byte
	tiles, contents  uint64 // tiles addressed, distinct blobs
	minZoom, maxZoom uint8
}

// layOut sorts tiles by ID and lays out their data: each distinct blob once, in the order of
// first use (clustered), with runs of consecutive IDs with one blob in one entry.
func layOut(tiles []Tile) (layout, error) {
	var l layout
	if len(tiles) == 0 {
		return l, fmt.Errorf("pmtiles: Write: no tiles")
	}
	sorted := slices.Clone(tiles)
	slices.SortFunc(sorted, func(a, b Tile) int { return cmp.Compare(a.ID, b.ID) })
	blobs := make(map[string]uint64) // tile bytes -> offset in data
	for i, t := range sorted {
		if err := checkTile(sorted, i); err != nil {
			return l, err
		}
		off, seen := blobs[string(t.Data)]
		if !seen {
			off = uint64(len(l.data))
			blobs[string(t.Data)] = off
			l.data = append(l.data, t.Data...)
		}
		l.tiles++
		if n := len(l.entries); n > 0 && seen {
			if last := &l.entries[n-1]; last.Offset == off && last.TileID+last.RunLength == t.ID {
				last.RunLength++
				continue
			}
		}
		l.entries = append(l.entries, entry{TileID: t.ID, Offset: off, Length: uint64(len(t.Data)), RunLength: 1})
	}
	l.contents = uint64(len(blobs))
	l.minZoom, _, _, _ = ZXY(sorted[0].ID)
	l.maxZoom, _, _, _ = ZXY(sorted[len(sorted)-1].ID)
	return l, nil
}

// checkTile checks tile i of tiles sorted by ID: not empty, a valid ID, not the previous one's.
func checkTile(sorted []Tile, i int) error {
	t := sorted[i]
	switch {
	case len(t.Data) == 0:
		return fmt.Errorf("pmtiles: Write: tile %d is empty", t.ID)
	case i > 0 && t.ID == sorted[i-1].ID:
		return fmt.Errorf("pmtiles: Write: tile %d given twice", t.ID)
	}
	if _, _, _, err := ZXY(t.ID); err != nil {
		return fmt.Errorf("pmtiles: Write: %w", err)
	}
	return nil
}

// header returns the header of an archive of l, without the sections' offsets and lengths.
func (o *WriteOptions) header(l layout) Header {
	h := Header{
		AddressedTiles: l.tiles, TileEntries: uint64(len(l.entries)), TileContents: l.contents,
		Clustered:           true,
		InternalCompression: o.internal, TileCompression: o.TileCompression, TileType: o.TileType,
		MinZoom: l.minZoom, MaxZoom: l.maxZoom,
		MinLonE7: o.MinLonE7, MinLatE7: o.MinLatE7, MaxLonE7: o.MaxLonE7, MaxLatE7: o.MaxLatE7,
		CenterZoom: o.CenterZoom, CenterLonE7: o.CenterLonE7, CenterLatE7: o.CenterLatE7,
	}
	if h.MinLonE7 == 0 && h.MinLatE7 == 0 && h.MaxLonE7 == 0 && h.MaxLatE7 == 0 {
		h.MinLonE7, h.MinLatE7, h.MaxLonE7, h.MaxLatE7 = -180e7, -850511287, 180e7, 850511287
	}
	if h.CenterZoom == 0 && h.CenterLonE7 == 0 && h.CenterLatE7 == 0 {
		h.CenterZoom = l.minZoom
		h.CenterLonE7 = int32((int64(h.MinLonE7) + int64(h.MaxLonE7)) / 2)
		h.CenterLatE7 = int32((int64(h.MinLatE7) + int64(h.MaxLatE7)) / 2)
	}
	return h
}

// directories encodes entries as a root directory that fits in the first RootLimit bytes, and,
// if the entries do not fit in it, leaf directories of leafSize entries (doubled until the root
// fits; if leafSize is zero, a root directory alone is tried first, then leaves of 4096).
func directories(entries []entry, c Compression, leafSize int) (root, leaves []byte, err error) {
	if leafSize == 0 {
		root, err = compress(c, appendDirectory(nil, entries))
		if err != nil || len(root) <= RootLimit-HeaderSize {
			return root, nil, err
		}
		leafSize = 4096
	}
	for ; ; leafSize *= 2 {
		var rootEntries []entry
		leaves = leaves[:0]
		for chunk := range slices.Chunk(entries, leafSize) {
			leaf, err := compress(c, appendDirectory(nil, chunk))
			if err != nil {
				return nil, nil, err
			}
			rootEntries = append(rootEntries, entry{TileID: chunk[0].TileID, Offset: uint64(len(leaves)), Length: uint64(len(leaf))})
			leaves = append(leaves, leaf...)
		}
		root, err = compress(c, appendDirectory(nil, rootEntries))
		if err != nil || len(root) <= RootLimit-HeaderSize {
			return root, leaves, err
		}
	}
}
