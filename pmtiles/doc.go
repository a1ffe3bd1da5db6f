// Package pmtiles serves the tiles of PMTiles v3 archives kept in a private S3 bucket, read
// through a privates3 Client: one object per tile set instead of one per tile.
//
// A Reader decodes archives as the PMTiles v3 specification describes them
// (https://github.com/protomaps/PMTiles/blob/main/spec/v3/spec.md): the 127-byte header, root and
// leaf directories of varint-encoded, run-length entries, and tile IDs along the Hilbert curve of
// each zoom level (TileID, ZXY). It reads the header and root directory with one range read of
// the archive's first 16 KiB and keeps them in memory; leaf directories, metadata and tiles are
// range reads conditional on the archive's ETag (If-Match), which the Client caches under that
// ETag and shares between concurrent callers. When the archive is replaced, S3 refuses the
// condition and the Reader starts over with the new archive, so no answer mixes two versions.
//
// Reader.Handler serves {archive}/{z}/{x}/{y}.{ext} and {archive}.json (TileJSON) from the
// objects {archive}.pmtiles:
//
//	r := pmtiles.NewReader(client, nil)
//	http.Handle("/tiles/", http.StripPrefix("/tiles/", r.Handler(nil)))
//
// Write builds an archive from tiles in memory (for small tile sets, tests and demos).
//
// Internal compression (of directories and metadata) may be none or gzip; archives using brotli
// or zstd are refused with ErrUnsupportedCompression, because the standard library has neither
// decoder. Tile compression is not undone: tiles are served as stored, with the matching
// Content-Encoding.
//
// # Errors
//
// Errors of the Reader wrap one of these sentinels, or one of the privates3 Client's (such as
// privates3.ErrNotFound for a missing archive); test them with errors.Is:
//
//   - ErrTileNotFound: the archive holds no tile at these coordinates.
//   - ErrInvalidTile: the coordinates are outside their zoom level, or the zoom above MaxZoom.
//   - ErrInvalidArchive: the object is not a valid PMTiles v3 archive, or one that exceeds the
//     Reader's bounds (MaxDirectorySize, ReaderOptions.MaxTileSize, ...).
//   - ErrUnsupportedCompression: the archive's internal compression is brotli, zstd or unknown.
package pmtiles
