package main

// The demo with -pmtiles: the generated tiles packed into one PMTiles archive in the fake bucket
// and served by the pmtiles package.

import (
	"bytes"
	"context"
	"fmt"
	"sync"

	"github.com/privates3/privates3/pmtiles"
	"github.com/privates3/privates3/privates3test"
)

const (
	// demoArchive names the demo archive: the object demoPrefix+demoArchive+".pmtiles", served
	// under /tiles/demoArchive/.
	demoArchive = "islands"
	// demoArchiveKey is its key under demoPrefix.
	demoArchiveKey = demoArchive + pmtiles.ArchiveExtension
)

// putArchive renders the demo tiles of zoom levels 0 to maxZoom and puts them into bucket of fake
// as one PMTiles archive, demoPrefix+demoArchiveKey. The archive can only be written whole, so
// zoomDone (if not nil) is called for every level once it is in the bucket. It returns the number
// of tiles and the archive's size.
func putArchive(ctx context.Context, fake *privates3test.Server, bucket string, maxZoom int, zoomDone func(z int)) (int, int64, error) {
	var (
		mu    sync.Mutex // guards tiles
		tiles []pmtiles.Tile
	)
	n, _, err := generateTiles(ctx, demoSeed, maxZoom, func(key string, body []byte) error {
		var z uint8
		var x, y uint32
		if _, err := fmt.Sscanf(key, "%d/%d/%d.png", &z, &x, &y); err != nil {
			return err
		}
		id, err := pmtiles.TileID(z, x, y)
		if err != nil {
			return err
		}
		mu.Lock()
		tiles = append(tiles, pmtiles.Tile{ID: id, Data: bytes.Clone(body)})
		mu.Unlock()
		return nil
	}, nil)
	if err != nil {
		return 0, 0, err
	}
	var archive bytes.Buffer
	err = pmtiles.Write(&archive, tiles, &pmtiles.WriteOptions{
		TileType:        pmtiles.PNG,
		TileCompression: pmtiles.NoCompression,
		Metadata:        []byte(`{"name":"privates3 demo islands","description":"Generated terrain, served from one private PMTiles archive","attribution":"privates3 demo"}`),
	})
	if err != nil {
		return 0, 0, err
	}
	fake.PutObject(bucket, demoPrefix+demoArchiveKey, archive.Bytes(),
		privates3test.ContentType("application/vnd.pmtiles"))
	if zoomDone != nil {
		for z := range maxZoom + 1 {
			zoomDone(z)
		}
	}
	return n, int64(archive.Len()), nil
}
