package pmtiles

import "errors"

// Sentinel errors. See the package documentation, section Errors.
var (
	ErrInvalidArchive         = errors.New("pmtiles: invalid archive")
	ErrUnsupportedCompression = errors.New("pmtiles: unsupported compression")
	ErrTileNotFound           = errors.New("pmtiles: tile not in archive")
	ErrInvalidTile            = errors.New("pmtiles: invalid tile coordinates")
)
