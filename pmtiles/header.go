package pmtiles

import (
	"encoding/binary"
	"fmt"
	"strconv"
)

// HeaderSize is the length of a PMTiles v3 header, at the start of every archive.
const HeaderSize = 127

// RootLimit is the part of the archive that holds the header and the whole root directory
// (16 KiB): a reader fetches it with one range read.
const RootLimit = 16384

// Compression is a compression of the PMTiles specification (its section 3.3), used for the
// archive's directories and metadata (internal compression) and for its tiles.
type Compression uint8

// The compressions of the PMTiles specification.
const (
	UnknownCompression Compression = 0
	NoCompression      Compression = 1
	Gzip               Compression = 2
	Brotli             Compression = 3
	Zstd               Compression = 4
)

// String returns the compression's name: "unknown", "none", "gzip", "brotli", "zstd", or
// "Compression(N)".
func (c Compression) String() string {
	switch c {
	case UnknownCompression:
		return "unknown"
	case NoCompression:
		return "none"
	case Gzip:
		return "gzip"
	case Brotli:
		return "brotli"
	case Zstd:
		return "zstd"
	}
	return "Compression(" + strconv.Itoa(int(c)) + ")"
}

// contentEncoding is the HTTP Content-Encoding of tiles compressed with c ("" for none or
// unknown).
func (c Compression) contentEncoding() string {
	switch c {
	case Gzip:
		return "gzip"
	case Brotli:
		return "br"
	case Zstd:
		return "zstd"
	}
	return ""
}

// TileType is the type of an archive's tiles (the specification's section 3.2, Tile Type).
type TileType uint8

// The tile types of the PMTiles specification.
const (
	UnknownTileType TileType = 0
	MVT             TileType = 1 // Mapbox Vector Tile
	PNG             TileType = 2
	JPEG            TileType = 3
	WebP            TileType = 4
	AVIF            TileType = 5
	MLT             TileType = 6 // MapLibre Vector Tile
)

// String returns the tile type's name ("mvt", "png", ...), or "unknown".
func (t TileType) String() string {
	switch t {
	case MVT:
		return "mvt"
	case PNG:
		return "png"
	case JPEG:
		return "jpeg"
	case WebP:
		return "webp"
	case AVIF:
		return "avif"
	case MLT:
		return "mlt"
	}
	return "unknown"
}

// ContentType is the HTTP Content-Type of tiles of type t; application/octet-stream for
// UnknownTileType and values the specification does not define.
func (t TileType) ContentType() string {
	switch t {
	case MVT:
		return "application/vnd.mapbox-vector-tile"
	case PNG:
		return "image/png"
	case JPEG:
		return "image/jpeg"
	case WebP:
		return "image/webp"
	case AVIF:
		return "image/avif"
	case MLT:
		return "application/vnd.maplibre-vector-tile"
	}
	return "application/octet-stream"
}

// Extension is the file extension of tile URLs for type t, without the dot ("mvt", "png", "jpg",
// ...); "bin" for UnknownTileType.
func (t TileType) Extension() string {
	switch t {
	case JPEG:
		return "jpg"
	case UnknownTileType:
		return "bin"
	}
	if t > MLT {
		return "bin"
	}
	return t.String()
}

// extensionOK reports whether ext (without the dot) names tiles of type t. Archives of unknown
// type accept any extension.
func (t TileType) extensionOK(ext string) bool {
	switch t {
	case MVT:
		return ext == "mvt" || ext == "pbf"
	case JPEG:
		return ext == "jpg" || ext == "jpeg"
	case PNG, WebP, AVIF, MLT:
		return ext == t.String()
	}
	return true
}

// Header is the decoded 127-byte header of a PMTiles v3 archive. Offsets are relative to the
// start of the archive, except where noted; positions are degrees times 10,000,000, as stored.
type Header struct {
	RootOffset, RootLength                   uint64 // the root directory
	MetadataOffset, MetadataLength           uint64 // the JSON metadata
	LeafDirectoryOffset, LeafDirectoryLength uint64 // the section of all leaf directories
	TileDataOffset, TileDataLength           uint64 // the section of all tile data
	AddressedTiles                           uint64 // tiles before run-length encoding; 0: unknown
	TileEntries                              uint64 // directory entries of tiles; 0: unknown
	TileContents                             uint64 // distinct tile blobs; 0: unknown
	Clustered                                bool   // tile data ordered by tile ID
	InternalCompression                      Compression
	TileCompression                          Compression
	TileType                                 TileType
	MinZoom, MaxZoom                         uint8
	MinLonE7, MinLatE7                       int32
	MaxLonE7, MaxLatE7                       int32
	CenterZoom                               uint8
	CenterLonE7, CenterLatE7                 int32
}

var magic = [7]byte{'P', 'M', 'T', 'i', 'l', 'e', 's'}

// parseHeader decodes and checks the header at the start of b. Errors wrap ErrInvalidArchive.
func parseHeader(b []byte) (Header, error) {
	var h Header
	if len(b) < HeaderSize {
		return h, fmt.Errorf("%w: %d bytes, shorter than a header", ErrInvalidArchive, len(b))
	}
	if [7]byte(b[:7]) != magic {
		if b[0] == 'P' && b[1] == 'M' && b[2] < 3 {
			return h, fmt.Errorf("%w: PMTiles version %d, only version 3 is supported", ErrInvalidArchive, b[2])
		}
		return h, fmt.Errorf("%w: not a PMTiles archive", ErrInvalidArchive)
	}
	if b[7] != 3 {
		return h, fmt.Errorf("%w: PMTiles version %d, only version 3 is supported", ErrInvalidArchive, b[7])
	}
	u := func(off int) uint64 { return binary.LittleEndian.Uint64(b[off:]) }
	i := func(off int) int32 { return int32(binary.LittleEndian.Uint32(b[off:])) }
	h = Header{
		RootOffset: u(8), RootLength: u(16),
		MetadataOffset: u(24), MetadataLength: u(32),
		LeafDirectoryOffset: u(40), LeafDirectoryLength: u(48),
		TileDataOffset: u(56), TileDataLength: u(64),
		AddressedTiles: u(72), TileEntries: u(80), TileContents: u(88),
		Clustered:           b[96] != 0,
		InternalCompression: Compression(b[97]),
		TileCompression:     Compression(b[98]),
		TileType:            TileType(b[99]),
		MinZoom:             b[100], MaxZoom: b[101],
		MinLonE7: i(102), MinLatE7: i(106),
		MaxLonE7: i(110), MaxLatE7: i(114),
		CenterZoom:  b[118],
		CenterLonE7: i(119), CenterLatE7: i(123),
	}
	// The root directory must lie in the first RootLimit bytes (specification, chapter 2);
	// the check also keeps every later offset computation free of overflow.
	if h.RootLength == 0 || h.RootOffset < HeaderSize || h.RootOffset > RootLimit || h.RootLength > RootLimit-h.RootOffset {
		return h, fmt.Errorf("%w: root directory (offset %d, length %d) not within the first %d bytes",
			ErrInvalidArchive, h.RootOffset, h.RootLength, RootLimit)
	}
	for _, s := range []struct {
		name     string
		off, len uint64
	}{
		{"metadata", h.MetadataOffset, h.MetadataLength},
		{"leaf directories", h.LeafDirectoryOffset, h.LeafDirectoryLength},
		{"tile data", h.TileDataOffset, h.TileDataLength},
	} {
		if s.off > maxOffset || s.len > maxOffset-s.off {
			return h, fmt.Errorf("%w: %s section (offset %d, length %d) beyond any object size",
				ErrInvalidArchive, s.name, s.off, s.len)
		}
	}
	return h, nil
}

// maxOffset bounds every offset and end of a section: S3 objects are at most 5 TiB, and the
// bound keeps sums of two such values far from overflowing int64.
const maxOffset = 1 << 50

// appendHeader appends the 127-byte encoding of h to b.
func appendHeader(b []byte, h *Header) []byte {
	b = append(b, magic[:]...)
	b = append(b, 3)
	for _, v := range []uint64{
		h.RootOffset, h.RootLength, h.MetadataOffset, h.MetadataLength,
		h.LeafDirectoryOffset, h.LeafDirectoryLength, h.TileDataOffset, h.TileDataLength,
		h.AddressedTiles, h.TileEntries, h.TileContents,
	} {
		b = binary.LittleEndian.AppendUint64(b, v)
	}
	clustered := byte(0)
	if h.Clustered {
		clustered = 1
	}
	b = append(b, clustered, byte(h.InternalCompression), byte(h.TileCompression), byte(h.TileType), h.MinZoom, h.MaxZoom)
	for _, v := range []int32{h.MinLonE7, h.MinLatE7, h.MaxLonE7, h.MaxLatE7} {
		b = binary.LittleEndian.AppendUint32(b, uint32(v))
	}
	b = append(b, h.CenterZoom)
	b = binary.LittleEndian.AppendUint32(b, uint32(h.CenterLonE7))
	b = binary.LittleEndian.AppendUint32(b, uint32(h.CenterLatE7))
	return b
}
