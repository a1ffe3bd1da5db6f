package pmtiles

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/privates3/privates3"
	"github.com/privates3/privates3/privates3test"
)

// BenchmarkTiles compares serving tiles from one PMTiles archive (Reader.Handler) with serving
// one object per tile (Client.Handler), through the handlers in process, against one fake S3,
// each with its own Client. The two are interleaved request by request, so that both see the
// same machine load; the metrics are per tile of each (one b.N iteration serves one of each).
// "warm": the Clients' caches hold everything after a first pass (directories and tiles);
// "uncached": Config.CacheBytes < 0, so every tile is a GET (the archive's decoded leaves stay in
// the Reader). GETs/1000 counts the fake's GetObject requests for each, in the timed loop and in
// the first pass over every tile (cold caches).
func BenchmarkTiles(b *testing.B) {
	want, tiles := testTiles(6, "bench")
	archive := build(b, tiles, &WriteOptions{TileType: PNG, leafSize: 512})
	for _, mode := range []string{"warm", "uncached"} {
		b.Run(mode, func(b *testing.B) {
			srv := privates3test.NewServer()
			defer srv.Close()
			cfg := srv.Config("tiles")
			if mode == "uncached" {
				cfg.CacheBytes = -1
			}
			var clients [2]*privates3.Client
			for i := range clients {
				c, err := privates3.New(context.Background(), cfg)
				if err != nil {
					b.Fatal(err)
				}
				defer c.Close()
				clients[i] = c
			}
			srv.PutObject("tiles", "world.pmtiles", archive)
			handlers := [2]http.Handler{NewReader(clients[0], nil).Handler(nil), clients[1].Handler(nil)}
			var paths [2][]string   // archive paths, object keys
			var objectKeys []string // for counting
			for _, t := range tiles {
				z, x, y, _ := ZXY(t.ID)
				p := fmt.Sprintf("%d/%d/%d.png", z, x, y)
				srv.PutObject("tiles", p, want[t.ID], privates3test.ContentType("image/png"))
				paths[0] = append(paths[0], "world/"+p)
				paths[1] = append(paths[1], p)
				objectKeys = append(objectKeys, p)
			}
			gets := func() [2]int {
				n := 0
				for _, k := range objectKeys {
					n += srv.CountKey(privates3test.OpGetObject, k)
				}
				return [2]int{srv.CountKey(privates3test.OpGetObject, "world.pmtiles"), n}
			}
			serve := func(kind int, p string) {
				rec := httptest.NewRecorder()
				req := httptest.NewRequest("GET", "/", nil)
				req.URL.Path = p // as http.StripPrefix leaves it
				handlers[kind].ServeHTTP(rec, req)
				if rec.Code != 200 {
					b.Fatalf("%s: %d", p, rec.Code)
				}
			}
			for kind := range handlers { // the first pass
				for _, p := range paths[kind] {
					serve(kind, p)
				}
			}
			first := gets()
			var spent [2]time.Duration
			n := 0
			for b.Loop() {
				for kind := range handlers {
					begin := time.Now()
					serve(kind, paths[kind][n%len(tiles)])
					spent[kind] += time.Since(begin)
				}
				n++
			}
			loop := gets()
			for kind, name := range []string{"pmtiles", "objects"} {
				b.ReportMetric(float64(spent[kind].Nanoseconds())/float64(n), name+"-ns/tile")
				b.ReportMetric(float64(loop[kind]-first[kind])*1000/float64(n), name+"-GETs/1000")
				b.ReportMetric(float64(first[kind])*1000/float64(len(tiles)), name+"-GETs/1000-first-pass")
			}
			b.ReportMetric(float64(spent[0])/float64(spent[1]), "time-ratio-pmtiles/objects")
		})
	}
}
