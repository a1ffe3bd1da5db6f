package pmtiles

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/hex"
	"fmt"
	"io"
	"sync"
	"testing"
	"time"

	"github.com/privates3/privates3"
)

// memStore is an in-memory stand-in for the privates3 Client's ReadRange: objects in a map,
// If-Match checked like S3, every call recorded. It does no caching and no merging: the tests
// count what the Reader asks for.
type memStore struct {
	mu    sync.Mutex // guards objs, calls, fail
	objs  map[string]memObject
	calls []readCall
	fail  func(c readCall) error // if not nil and it returns an error, ReadRange returns it
}

type memObject struct {
	data []byte
	etag string
}

type readCall struct {
	key     string
	off, n  int64
	ifMatch string
}

func newMemStore() *memStore { return &memStore{objs: make(map[string]memObject)} }

// put stores data under key with an MD5 ETag, as S3 does for single-part uploads.
func (m *memStore) put(key string, data []byte) string {
	sum := md5.Sum(data)
	etag := `"` + hex.EncodeToString(sum[:]) + `"`
	m.mu.Lock()
	m.objs[key] = memObject{data: data, etag: etag}
	m.mu.Unlock()
	return etag
}

func (m *memStore) ReadRange(ctx context.Context, key string, off, n int64, ifMatch string) (*privates3.Object, error) {
	m.mu.Lock()
	c := readCall{key, off, n, ifMatch}
	m.calls = append(m.calls, c)
	o, ok := m.objs[key]
	fail := m.fail
	m.mu.Unlock()
	if fail != nil {
		if err := fail(c); err != nil {
			return nil, err
		}
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	switch {
	case off < 0 || n <= 0:
		return nil, fmt.Errorf("%w: range %d+%d", privates3.ErrInvalidOption, off, n)
	case !ok:
		return nil, fmt.Errorf("%w: %s", privates3.ErrNotFound, key)
	case ifMatch != "" && ifMatch != o.etag:
		return nil, fmt.Errorf("%s: %w", key, privates3.ErrPreconditionFailed)
	case off >= int64(len(o.data)):
		return nil, fmt.Errorf("%s: %w", key, privates3.ErrRangeNotSatisfiable)
	}
	end := min(off+n, int64(len(o.data)))
	return &privates3.Object{
		Body:         io.NopCloser(bytes.NewReader(o.data[off:end])),
		Size:         int64(len(o.data)),
		ETag:         o.etag,
		LastModified: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC),
	}, nil
}

// takeCalls returns the calls recorded since the last takeCalls.
func (m *memStore) takeCalls() []readCall {
	m.mu.Lock()
	defer m.mu.Unlock()
	c := m.calls
	m.calls = nil
	return c
}

// testTiles returns a tile set of zooms 0 to maxZoom with runs of identical tiles (a "sea" tile
// on every third column) and unique tiles elsewhere, keyed by tile ID, and as a slice for Write.
func testTiles(maxZoom uint8, salt string) (map[uint64][]byte, []Tile) {
	byID := make(map[uint64][]byte)
	var list []Tile
	sea := []byte("sea tile " + salt)
	for z := uint8(0); z <= maxZoom; z++ {
		n := uint32(1) << z
		for x := range n {
			for y := range n {
				if z >= 3 && x%5 == 4 && y%2 == 1 {
					continue // a hole: no tile
				}
				data := sea
				if x%3 != 0 {
					data = fmt.Appendf(nil, "%s tile %d/%d/%d %s", salt, z, x, y, bytes.Repeat([]byte{byte(x)}, int(y%7)))
				}
				id, _ := TileID(z, x, y)
				byID[id] = data
				list = append(list, Tile{ID: id, Data: data})
			}
		}
	}
	return byID, list
}

// build writes an archive with Write.
func build(t testing.TB, tiles []Tile, opts *WriteOptions) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := Write(&buf, tiles, opts); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}
