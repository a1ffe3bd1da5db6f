package pmtiles_test

import (
	"bytes"
	"context"
	"fmt"
	"log"
	"net/http"
	"net/http/httptest"

	"github.com/privates3/privates3"
	"github.com/privates3/privates3/pmtiles"
	"github.com/privates3/privates3/privates3test"
)

func ExampleTileID() {
	id, _ := pmtiles.TileID(12, 3423, 1763)
	z, x, y, _ := pmtiles.ZXY(id)
	fmt.Println(id, z, x, y)
	// Output: 19078479 12 3423 1763
}

// Serve the tiles of one archive uploaded to a private bucket (here the fake S3 of
// privates3test).
func ExampleReader_Handler() {
	srv := privates3test.NewServer()
	defer srv.Close()

	// An archive of two PNG tiles; real archives come from tippecanoe, planetiler or
	// go-pmtiles convert, uploaded as one object.
	var archive bytes.Buffer
	id0, _ := pmtiles.TileID(0, 0, 0)
	id1, _ := pmtiles.TileID(1, 1, 0)
	err := pmtiles.Write(&archive, []pmtiles.Tile{
		{ID: id0, Data: []byte("\x89PNG zoom 0")},
		{ID: id1, Data: []byte("\x89PNG zoom 1")},
	}, &pmtiles.WriteOptions{TileType: pmtiles.PNG, TileCompression: pmtiles.NoCompression,
		Metadata: []byte(`{"name":"islands"}`)})
	if err != nil {
		log.Fatal(err)
	}
	srv.PutObject("tiles", "islands.pmtiles", archive.Bytes())

	c, err := privates3.New(context.Background(), srv.Config("tiles"))
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	mux := http.NewServeMux()
	mux.Handle("/tiles/", http.StripPrefix("/tiles/", pmtiles.NewReader(c, nil).Handler(nil)))

	for _, path := range []string{"/tiles/islands/1/1/0.png", "/tiles/islands/1/0/0.png", "/tiles/islands/1/1/0.jpg", "/tiles/nowhere/0/0/0.png"} {
		rec := httptest.NewRecorder()
		mux.ServeHTTP(rec, httptest.NewRequest("GET", path, nil))
		fmt.Printf("%s %d %q %q\n", path, rec.Code, rec.Header().Get("Content-Type"), rec.Body.String())
	}
	// Output:
	// /tiles/islands/1/1/0.png 200 "image/png" "\x89PNG zoom 1"
	// /tiles/islands/1/0/0.png 204 "" ""
	// /tiles/islands/1/1/0.jpg 400 "text/plain; charset=utf-8" "Bad Request\n"
	// /tiles/nowhere/0/0/0.png 404 "text/plain; charset=utf-8" "Not Found\n"
}
