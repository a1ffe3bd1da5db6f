package pmtiles

import (
	"encoding/binary"
	"fmt"
	"sort"
)

// MaxDirectorySize bounds a directory (root or leaf) after decompression, and a leaf directory's
// compressed length. Larger directories are refused as invalid before they are read or
// decompressed past the bound, which keeps the memory of decoding a hostile archive bounded. The
// leaves of a planet-scale archive are a few hundred KiB.
const MaxDirectorySize = 4 << 20

// maxDepth bounds the chain of directories followed for one tile: the root and up to three
// levels of leaves (the specification discourages more than one). It also ends cycles of leaf
// pointers.
const maxDepth = 4

// entry is one directory entry: a run of RunLength tiles starting at TileID whose data are
// Length bytes at Offset in the tile data section, or (RunLength 0) a leaf directory of Length
// bytes at Offset in the leaf directory section.
type entry struct {
	TileID, Offset, Length, RunLength uint64
}

// minEntryBytes is the smallest encoding of an entry: four one-byte varints.
const minEntryBytes = 4

// parseDirectory decodes a decompressed directory (specification section 4.3). Its entries are
// checked to be in strictly ascending tile ID order with lengths above zero and offsets that do
// not overflow. Errors wrap ErrInvalidArchive.
func parseDirectory(b []byte) ([]entry, error) {
	r := varintReader{b: b}
	n := r.next()
	if r.err != nil {
		return nil, r.err
	}
	if n == 0 {
		return nil, fmt.Errorf("%w: empty directory", ErrInvalidArchive)
	}
	// Bound the allocation by what the bytes can hold before trusting the count.
	if n > uint64(len(r.b))/minEntryBytes {
		return nil, fmt.Errorf("%w: directory of %d bytes claims %d entries", ErrInvalidArchive, len(b), n)
	}
	entries := make([]entry, n)
	for _, column := range []func(*varintReader, []entry) error{tileIDs, runLengths, lengths, offsets} {
		if err := column(&r, entries); err != nil {
			return nil, err
		}
		if r.err != nil {
			return nil, r.err
		}
	}
	return entries, nil
}

// tileIDs reads the delta-encoded tile IDs of entries.
func tileIDs(r *varintReader, entries []entry) error {
	var id uint64
	for i := range entries {
		d := r.next()
		if i > 0 && d == 0 && r.err == nil {
			return fmt.Errorf("%w: directory entries not in ascending tile ID order", ErrInvalidArchive)
		}
		if id+d < id {
			return fmt.Errorf("%w: tile ID overflows", ErrInvalidArchive)
		}
		id += d
		entries[i].TileID = id
	}
	return nil
}

func runLengths(r *varintReader, entries []entry) error {
	for i := range entries {
		entries[i].RunLength = r.next()
	}
	return nil
}

// lengths reads the lengths of entries, each above zero and below maxOffset.
func lengths(r *varintReader, entries []entry) error {
	for i := range entries {
		entries[i].Length = r.next()
		if r.err == nil && (entries[i].Length == 0 || entries[i].Length > maxOffset) {
			return fmt.Errorf("%w: directory entry of length %d", ErrInvalidArchive, entries[i].Length)
		}
	}
	return nil
}

// offsets reads the offsets of entries: 0 for "right after the previous entry", else offset+1.
// Offsets and lengths stay below maxOffset, so the sums cannot overflow.
func offsets(r *varintReader, entries []entry) error {
	for i := range entries {
		v := r.next()
		switch {
		case r.err != nil:
			return nil
		case v == 0 && i > 0:
			entries[i].Offset = entries[i-1].Offset + entries[i-1].Length
		case v == 0 || v-1 > maxOffset:
			return fmt.Errorf("%w: directory entry offset out of range", ErrInvalidArchive)
		default:
			entries[i].Offset = v - 1
		}
		if entries[i].Offset > maxOffset {
			return fmt.Errorf("%w: directory entry offset out of range", ErrInvalidArchive)
		}
	}
	return nil
}

// varintReader reads unsigned varints until the first error, which it keeps.
type varintReader struct {
	b   []byte
	err error
}

func (r *varintReader) next() uint64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Uvarint(r.b)
	if n <= 0 {
		if n == 0 {
			r.err = fmt.Errorf("%w: directory truncated", ErrInvalidArchive)
		} else {
			r.err = fmt.Errorf("%w: directory varint overflows 64 bits", ErrInvalidArchive)
		}
		return 0
	}
	r.b = r.b[n:]
	return v
}

// findEntry returns the entry of entries (sorted by TileID) that covers id: the tile run that
// contains it, or the leaf directory it must be in. ok is false if no entry covers id.
func findEntry(entries []entry, id uint64) (e entry, ok bool) {
	i := sort.Search(len(entries), func(i int) bool { return entries[i].TileID > id })
	if i == 0 {
		return entry{}, false
	}
	e = entries[i-1]
	if e.RunLength == 0 || id-e.TileID < e.RunLength {
		return e, true
	}
	return entry{}, false
}

// appendDirectory appends the uncompressed encoding of entries (specification section 4.2).
func appendDirectory(b []byte, entries []entry) []byte {
	b = binary.AppendUvarint(b, uint64(len(entries)))
	var last uint64
	for _, e := range entries {
		b = binary.AppendUvarint(b, e.TileID-last)
		last = e.TileID
	}
	for _, e := range entries {
		b = binary.AppendUvarint(b, e.RunLength)
	}
	for _, e := range entries {
		b = binary.AppendUvarint(b, e.Length)
	}
	for i, e := range entries {
		if i > 0 && e.Offset == entries[i-1].Offset+entries[i-1].Length {
			b = binary.AppendUvarint(b, 0)
		} else {
			b = binary.AppendUvarint(b, e.Offset+1)
		}
	}
	return b
}
