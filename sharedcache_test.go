package privates3

import (
	"bytes"
	"testing"
	"time"
)

func sharedEntries() map[string]*sharedEntry {
	fresh := time.UnixMilli(1_800_000_000_123)
	m := meta{size: 5, contentType: "image/png", contentEncoding: "gzip", cacheControl: "max-age=60",
		etag: `"abc"`, lastModified: time.Unix(1_700_000_000, 0).UTC()}
	return map[string]*sharedEntry{
		"object":    {kind: entryObject, fresh: fresh, obj: &cachedObject{meta: m, data: []byte("hello")}},
		"empty":     {kind: entryObject, fresh: fresh, obj: &cachedObject{meta: meta{size: 0}, data: []byte{}}},
		"large":     {kind: entryLarge, fresh: fresh, obj: &cachedObject{meta: meta{size: 1 << 40, etag: `"big"`}}},
		"not found": {kind: entryNotFound, fresh: fresh},
	}
}

func TestSharedEntryRoundTrip(t *testing.T) {
	const sk = "obj:tiles/a/b.png"
	for name, se := range sharedEntries() {
		got, err := decodeShared(encodeShared(se, sk), sk)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if got.kind != se.kind || !got.fresh.Equal(se.fresh) {
			t.Fatalf("%s: kind %v fresh %v; want %v %v", name, got.kind, got.fresh, se.kind, se.fresh)
		}
		if se.obj == nil {
			if got.obj != nil {
				t.Fatalf("%s: obj %+v; want nil", name, got.obj)
			}
			continue
		}
		if got.obj.meta != se.obj.meta || !bytes.Equal(got.obj.data, se.obj.data) || (got.obj.data == nil) != (se.obj.data == nil) {
			t.Fatalf("%s: %+v; want %+v", name, got.obj, se.obj)
		}
	}
}

func TestSharedEntryRejected(t *testing.T) {
	const sk = "obj:tiles/a/b.png"
	good := encodeShared(sharedEntries()["object"], sk)
	flip := func(i int) []byte { b := bytes.Clone(good); b[i] ^= 1; return b }
	for name, v := range map[string][]byte{
		"empty":          {},
		"short":          good[:10],
		"truncated":      good[:len(good)-1],
		"truncated body": append(bytes.Clone(good[:len(good)-40]), good[len(good)-32:]...),
		"flipped magic":  flip(0),
		"flipped body":   flip(len(good) - 33),
		"flipped digest": flip(len(good) - 1),
		"appended":       append(bytes.Clone(good), 0),
		"plain value":    []byte("hello"),
	} {
		if se, err := decodeShared(v, sk); err == nil {
			t.Errorf("%s: decoded %+v; want an error", name, se)
		}
	}
	// A valid entry copied to another key is foreign there.
	if _, err := decodeShared(good, "obj:tiles/other.png"); err == nil {
		t.Error("entry of another key accepted")
	}
}

func FuzzDecodeShared(f *testing.F) {
	const sk = "obj:tiles/k"
	for _, se := range sharedEntries() {
		f.Add(encodeShared(se, sk))
	}
	f.Add([]byte("ps3e\x01"))
	f.Fuzz(func(t *testing.T, v []byte) {
		se, err := decodeShared(v, sk)
		if err != nil {
			return
		}
		// Whatever decodes is consistent, and encodes back to the same bytes.
		if se.kind == entryObject && int64(len(se.obj.data)) != se.obj.size {
			t.Fatalf("object of size %d with %d bytes", se.obj.size, len(se.obj.data))
		}
		if !bytes.Equal(encodeShared(se, sk), v) {
			t.Fatal("re-encoding differs")
		}
	})
}
