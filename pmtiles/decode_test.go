package pmtiles

import (
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"errors"
	"reflect"
	"testing"
)

func sampleHeader() Header {
	return Header{
		RootOffset: 127, RootLength: 300,
		MetadataOffset: 427, MetadataLength: 20,
		LeafDirectoryOffset: 447, LeafDirectoryLength: 1000,
		TileDataOffset: 1447, TileDataLength: 1 << 40,
		AddressedTiles: 5, TileEntries: 4, TileContents: 3,
		Clustered:           true,
		InternalCompression: Gzip, TileCompression: Gzip, TileType: MVT,
		MinZoom: 0, MaxZoom: 14,
		MinLonE7: -1800000000, MinLatE7: -850511287, MaxLonE7: 1800000000, MaxLatE7: 850511287,
		CenterZoom: 3, CenterLonE7: 123456789, CenterLatE7: -98765432,
	}
}

func TestHeaderRoundTrip(t *testing.T) {
	h := sampleHeader()
	b := appendHeader(nil, &h)
	if len(b) != HeaderSize {
		t.Fatalf("encoded header has %d bytes, want %d", len(b), HeaderSize)
	}
	got, err := parseHeader(b)
	if err != nil {
		t.Fatal(err)
	}
	if got != h {
		t.Fatalf("round trip:\n got %+v\nwant %+v", got, h)
	}
}

func TestParseHeaderErrors(t *testing.T) {
	valid := sampleHeader()
	with := func(f func(h *Header)) []byte {
		h := valid
		f(&h)
		return appendHeader(nil, &h)
	}
	setByte := func(i int, v byte) []byte {
		b := appendHeader(nil, &valid)
		b[i] = v
		return b
	}
	v2 := append([]byte("PM"), 2, 0)
	v2 = append(v2, make([]byte, 200)...)
	tests := []struct {
		name string
		b    []byte
	}{
		{"empty", nil},
		{"short", appendHeader(nil, &valid)[:126]},
		{"bad magic", setByte(0, 'X')},
		{"version 2", v2},
		{"version 4", setByte(7, 4)},
		{"root length zero", with(func(h *Header) { h.RootLength = 0 })},
		{"root inside header", with(func(h *Header) { h.RootOffset = 100 })},
		{"root beyond 16 KiB", with(func(h *Header) { h.RootOffset, h.RootLength = 16000, 385 })},
		{"root length 2^63", with(func(h *Header) { h.RootLength = 1 << 63 })},
		{"root offset overflow", with(func(h *Header) { h.RootOffset, h.RootLength = ^uint64(0), 2 })},
		{"metadata length 2^63", with(func(h *Header) { h.MetadataLength = 1 << 63 })},
		{"leaf length 2^63", with(func(h *Header) { h.LeafDirectoryLength = 1 << 63 })},
		{"tile data overflow", with(func(h *Header) { h.TileDataOffset, h.TileDataLength = 1<<63+1, 1<<63 })},
	}
	for _, tt := range tests {
		if _, err := parseHeader(tt.b); !errors.Is(err, ErrInvalidArchive) {
			t.Errorf("%s: err = %v, want ErrInvalidArchive", tt.name, err)
		}
	}
}

func TestDirectoryRoundTrip(t *testing.T) {
	entries := []entry{
		{TileID: 0, Offset: 0, Length: 10, RunLength: 1},
		{TileID: 1, Offset: 10, Length: 5, RunLength: 3},  // contiguous: offset encoded as 0
		{TileID: 7, Offset: 0, Length: 10, RunLength: 1},  // deduplicated: points back
		{TileID: 8, Offset: 100, Length: 2, RunLength: 0}, // a leaf
		{TileID: 1 << 40, Offset: 1 << 45, Length: 1 << 30, RunLength: 1 << 33},
	}
	got, err := parseDirectory(appendDirectory(nil, entries))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, entries) {
		t.Fatalf("round trip:\n got %+v\nwant %+v", got, entries)
	}
}

func TestFindEntry(t *testing.T) {
	dir := []entry{
		{TileID: 5, Length: 1, RunLength: 3},         // tiles 5, 6, 7
		{TileID: 10, Length: 1, RunLength: 0},        // leaf from 10
		{TileID: 100, Length: 1, RunLength: 1},       // tile 100
		{TileID: 1<<64 - 2, Length: 1, RunLength: 5}, // a run that would overflow
	}
	tests := []struct {
		id   uint64
		want int // index into dir, -1 for none
	}{
		{0, -1}, {4, -1}, {5, 0}, {7, 0}, {8, -1}, {9, -1},
		{10, 1}, {99, 1}, {100, 2}, {101, -1}, {1<<64 - 3, -1}, {1<<64 - 2, 3}, {1<<64 - 1, 3},
	}
	for _, tt := range tests {
		e, ok := findEntry(dir, tt.id)
		switch {
		case tt.want < 0 && ok:
			t.Errorf("findEntry(%d) = %+v, want none", tt.id, e)
		case tt.want >= 0 && (!ok || e != dir[tt.want]):
			t.Errorf("findEntry(%d) = %+v, %v; want %+v", tt.id, e, ok, dir[tt.want])
		}
	}
}

func uvarints(vs ...uint64) []byte {
	var b []byte
	for _, v := range vs {
		b = binary.AppendUvarint(b, v)
	}
	return b
}

func TestParseDirectoryErrors(t *testing.T) {
	tests := []struct {
		name string
		b    []byte
	}{
		{"empty input", nil},
		{"zero entries", uvarints(0)},
		{"2^60 entries", uvarints(1<<60, 1, 1, 1, 1)},
		{"count beyond bytes", uvarints(3, 1, 1, 1, 1, 1, 1, 1, 1)},
		{"varint overflow", []byte{1, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f, 0, 0, 0}},
		{"truncated", uvarints(2, 1, 1, 1, 1, 1, 1, 1)},
		{"repeated tile ID", uvarints(2, 1, 0, 1, 1, 1, 1, 1, 1)},
		{"tile ID overflow", uvarints(2, 1<<63, 1<<63, 1, 1, 1, 1, 1, 1)},
		{"zero length", uvarints(1, 0, 1, 0, 1)},
		{"length 2^63", uvarints(1, 0, 1, 1<<63, 1)},
		{"first offset zero", uvarints(1, 0, 1, 1, 0)},
		{"offset 2^63", uvarints(1, 0, 1, 1, 1<<63)},
	}
	for _, tt := range tests {
		if got, err := parseDirectory(tt.b); !errors.Is(err, ErrInvalidArchive) {
			t.Errorf("%s: parseDirectory = %v, %v; want ErrInvalidArchive", tt.name, got, err)
		}
	}
}

func gzipped(t testing.TB, b []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	zw.Write(b)
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestDecompress(t *testing.T) {
	plain := []byte("hello, tiles")
	for _, c := range []Compression{NoCompression, Gzip} {
		z, err := compress(c, plain)
		if err != nil {
			t.Fatal(err)
		}
		got, err := decompress(c, z, 100)
		if err != nil || !bytes.Equal(got, plain) {
			t.Errorf("%v: decompress = %q, %v", c, got, err)
		}
	}
	// A gzip bomb: 8 MiB of zeros in about 8 KiB is cut off at the limit.
	bomb := gzipped(t, make([]byte, 2*MaxDirectorySize))
	if _, err := decompress(Gzip, bomb, MaxDirectorySize); !errors.Is(err, ErrInvalidArchive) {
		t.Errorf("gzip bomb: err = %v, want ErrInvalidArchive", err)
	}
	if _, err := decompress(NoCompression, make([]byte, 101), 100); !errors.Is(err, ErrInvalidArchive) {
		t.Errorf("too long uncompressed: err = %v, want ErrInvalidArchive", err)
	}
	if _, err := decompress(Gzip, []byte("not gzip"), 100); !errors.Is(err, ErrInvalidArchive) {
		t.Errorf("corrupt gzip: err = %v, want ErrInvalidArchive", err)
	}
	if _, err := decompress(Gzip, gzipped(t, plain)[:15], 100); !errors.Is(err, ErrInvalidArchive) {
		t.Errorf("truncated gzip: err = %v, want ErrInvalidArchive", err)
	}
	for _, c := range []Compression{UnknownCompression, Brotli, Zstd, 9} {
		if _, err := decompress(c, plain, 100); !errors.Is(err, ErrUnsupportedCompression) {
			t.Errorf("%v: err = %v, want ErrUnsupportedCompression", c, err)
		}
	}
}

func FuzzParseHeader(f *testing.F) {
	h := sampleHeader()
	f.Add(appendHeader(nil, &h))
	f.Add([]byte("PMTiles\x03"))
	f.Fuzz(func(t *testing.T, b []byte) {
		h, err := parseHeader(b)
		if err != nil {
			if !errors.Is(err, ErrInvalidArchive) {
				t.Fatalf("error %v does not wrap ErrInvalidArchive", err)
			}
			return
		}
		// What parses is in range and re-encodes to the same bytes.
		if h.RootOffset+h.RootLength > RootLimit {
			t.Fatalf("root directory beyond %d accepted: %+v", RootLimit, h)
		}
		if enc := appendHeader(nil, &h); !bytes.Equal(enc[8:96], b[8:96]) || !bytes.Equal(enc[97:], b[97:HeaderSize]) {
			t.Fatalf("re-encoding differs")
		}
	})
}

func FuzzParseDirectory(f *testing.F) {
	f.Add(appendDirectory(nil, []entry{{0, 0, 10, 1}, {1, 10, 5, 3}, {8, 100, 2, 0}}))
	f.Add(uvarints(1<<60, 1, 1, 1, 1))
	f.Add(uvarints(2, 1, 0, 1, 1, 1, 1, 1, 1))
	f.Fuzz(func(t *testing.T, b []byte) {
		entries, err := parseDirectory(b)
		if err != nil {
			if !errors.Is(err, ErrInvalidArchive) {
				t.Fatalf("error %v does not wrap ErrInvalidArchive", err)
			}
			return
		}
		if len(entries) == 0 || len(entries) > len(b)/minEntryBytes {
			t.Fatalf("%d entries from %d bytes", len(entries), len(b))
		}
		for i, e := range entries {
			if e.Length == 0 || e.Length > maxOffset || e.Offset > maxOffset || (i > 0 && e.TileID <= entries[i-1].TileID) {
				t.Fatalf("entry %d out of range: %+v", i, e)
			}
		}
		// A valid directory re-encodes to one that decodes to the same entries.
		again, err := parseDirectory(appendDirectory(nil, entries))
		if err != nil || !reflect.DeepEqual(again, entries) {
			t.Fatalf("re-encoded directory decodes to %v, %v", again, err)
		}
	})
}
