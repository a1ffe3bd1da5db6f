package pmtiles

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/privates3/privates3"
	"github.com/privates3/privates3/privates3test"
)

// BenchmarkTiles compares serving tiles from one PMTiles archive (Reader.Handler) with serving
// one object per tile (Client.Handler), through the handlers in process, against the fake S3.
// "warm": the Client's cache holds everything after a first pass (directories and tiles);
// "uncached": Config.CacheBytes < 0, so every tile is a GET (the archive's decoded leaves stay in
// the Reader). GETs/1000tiles counts the fake's GetObject requests during the timed loop,
// GETs/1000tiles-first-pass during a first pass over every tile (cold caches).
func BenchmarkTiles(b *testing.B) {
	want, tiles := testTiles(6, "bench")
	archive := build(b, tiles, &WriteOptions{TileType: PNG, leafSize: 512})
	paths := make([][2]string, 0, len(tiles)) // archive path, object path
	for _, t := range tiles {
		z, x, y, _ := ZXY(t.ID)
		p := fmt.Sprintf("%d/%d/%d.png", z, x, y)
		paths = append(paths, [2]string{"world/" + p, p})
	}
	for _, mode := range []string{"warm", "uncached"} {
		for i, kind := range []string{"pmtiles", "objects"} {
			b.Run(mode+"/"+kind, func(b *testing.B) {
				srv := privates3test.NewServer()
				defer srv.Close()
				cfg := srv.Config("tiles")
				if mode == "uncached" {
					cfg.CacheBytes = -1
				}
				c, err := privates3.New(context.Background(), cfg)
				if err != nil {
					b.Fatal(err)
				}
				defer c.Close()
				var h http.Handler
				if kind == "pmtiles" {
					srv.PutObject("tiles", "world.pmtiles", archive)
					h = NewReader(c, nil).Handler(nil)
				} else {
					for _, t := range tiles {
						z, x, y, _ := ZXY(t.ID)
						srv.PutObject("tiles", fmt.Sprintf("%d/%d/%d.png", z, x, y), want[t.ID], privates3test.ContentType("image/png"))
					}
					h = c.Handler(nil)
				}
				serve := func(p string) {
					rec := httptest.NewRecorder()
					req := httptest.NewRequest("GET", "/", nil)
					req.URL.Path = p // as http.StripPrefix leaves it
					h.ServeHTTP(rec, req)
					if rec.Code != 200 {
						b.Fatalf("%s: %d", p, rec.Code)
					}
				}
				srv.ResetCounts()
				for _, p := range paths { // the first pass
					serve(p[i])
				}
				first := srv.Count(privates3test.OpGetObject)
				srv.ResetCounts()
				b.ResetTimer()
				n := 0
				for b.Loop() {
					serve(paths[n%len(paths)][i])
					n++
				}
				b.StopTimer()
				b.ReportMetric(float64(first)*1000/float64(len(paths)), "GETs/1000tiles-first-pass")
				b.ReportMetric(float64(srv.Count(privates3test.OpGetObject))*1000/float64(n), "GETs/1000tiles")
				b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "tiles/s")
			})
		}
	}
}
