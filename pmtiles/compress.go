package pmtiles

import (
	"bytes"
	"compress/gzip"
	"fmt"
	"io"
)

// decompress undoes the internal compression c of a directory or of the metadata. The result is
// refused once it exceeds limit bytes, so a compression bomb costs at most limit bytes of
// memory. Brotli, zstd and unknown compressions give an error wrapping ErrUnsupportedCompression;
// corrupt data an error wrapping ErrInvalidArchive.
func decompress(c Compression, b []byte, limit int64) ([]byte, error) {
	switch c {
	case NoCompression:
		if int64(len(b)) > limit {
			return nil, fmt.Errorf("%w: section of %d bytes exceeds %d", ErrInvalidArchive, len(b), limit)
		}
		return b, nil
	case Gzip:
		zr, err := gzip.NewReader(bytes.NewReader(b))
		if err != nil {
			return nil, fmt.Errorf("%w: gzip: %v", ErrInvalidArchive, err)
		}
		out, err := io.ReadAll(io.LimitReader(zr, limit+1))
		if err != nil {
			return nil, fmt.Errorf("%w: gzip: %v", ErrInvalidArchive, err)
		}
		if int64(len(out)) > limit {
			return nil, fmt.Errorf("%w: section decompresses to more than %d bytes", ErrInvalidArchive, limit)
		}
		return out, nil
	}
	return nil, fmt.Errorf("%w: internal compression %v", ErrUnsupportedCompression, c)
}

// compress applies internal compression c (NoCompression or Gzip) to b.
func compress(c Compression, b []byte) ([]byte, error) {
	switch c {
	case NoCompression:
		return b, nil
	case Gzip:
		var buf bytes.Buffer
		zw, _ := gzip.NewWriterLevel(&buf, gzip.BestCompression)
		zw.Write(b)
		if err := zw.Close(); err != nil {
			return nil, err
		}
		return buf.Bytes(), nil
	}
	return nil, fmt.Errorf("%w: internal compression %v", ErrUnsupportedCompression, c)
}
