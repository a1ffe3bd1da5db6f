package main

// The demo: generated map tiles in a fake S3, served by `privates3` without -bucket and uploaded
// by `privates3 fake -tiles`.

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/privates3/privates3/privates3test"
)

const (
	demoBucket = "demo-tiles"
	demoPrefix = "tiles/"
	demoSeed   = 20260301
	// demoCacheControl lets browsers keep demo tiles (private: the bucket is private).
	demoCacheControl = "private, max-age=3600"
	// demoWaitZoom is the deepest zoom level rendered before start-up completes; deeper levels
	// (most of the work) are rendered while the server runs.
	demoWaitZoom = 3
	// demoProbeKey exists under demoPrefix once the tiles are put.
	demoProbeKey = "0/0/0.png"
)

// putTiles renders the demo tiles of zoom levels 0 to maxZoom into bucket of fake, under
// demoPrefix, calling zoomDone as generateTiles does. It returns the number of tiles and bytes.
func putTiles(ctx context.Context, fake *privates3test.Server, bucket string, maxZoom int, zoomDone func(z int)) (int, int64, error) {
	return generateTiles(ctx, demoSeed, maxZoom, func(key string, body []byte) error {
		fake.PutObject(bucket, demoPrefix+key, body,
			privates3test.ContentType("image/png"), privates3test.CacheControl(demoCacheControl))
		return nil
	}, zoomDone)
}

// demoTiles tracks the rendering of the demo tiles, which goes on in the background after
// start-up for the deeper zoom levels.
type demoTiles struct {
	ready  []chan struct{} // ready[z] is closed when every tile of zoom z is in the bucket
	done   chan struct{}   // closed when rendering has ended
	cancel context.CancelFunc
}

// startDemo renders the demo tiles into demoBucket of fake on all cores. It returns once zoom
// levels 0 to demoWaitZoom are in the bucket; deeper levels follow in the background (requests
// for their tiles wait for them, see wait). With archive, the tiles go into one PMTiles archive
// (see putArchive), which is complete when startDemo returns. On error rendering has stopped.
func startDemo(ctx context.Context, fake *privates3test.Server, maxZoom int, archive bool, log *slog.Logger) (*demoTiles, error) {
	gctx, cancel := context.WithCancel(context.WithoutCancel(ctx)) // cancelled by close
	d := &demoTiles{ready: make([]chan struct{}, maxZoom+1), done: make(chan struct{}), cancel: cancel}
	for z := range d.ready {
		d.ready[z] = make(chan struct{})
	}
	begin := time.Now()
	go func() {
		defer close(d.done)
		// Putting into the fake cannot fail: rendering ends early only when cancelled.
		put := putTiles
		if archive {
			put = putArchive
		}
		if n, size, err := put(gctx, fake, demoBucket, maxZoom, func(z int) { close(d.ready[z]) }); err == nil {
			log.Info("demo tiles generated", "tiles", n, "bytes", size, "maxZoom", maxZoom,
				"took", time.Since(begin).Round(time.Millisecond))
		}
	}()
	select {
	case <-d.ready[min(maxZoom, demoWaitZoom)]:
		return d, nil
	case <-ctx.Done():
		d.close()
		return nil, fmt.Errorf("generating demo tiles: %w", context.Cause(ctx))
	}
}

// close stops rendering and waits for it to end.
func (d *demoTiles) close() {
	d.cancel()
	<-d.done
}

// wait holds requests for demo tiles of a zoom level still being rendered until it is complete
// (or rendering ended), so that no tile is answered 404 at start-up.
func (d *demoTiles) wait(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		zoom, _, _ := strings.Cut(r.URL.Path, "/")
		if z, err := strconv.Atoi(zoom); err == nil && z >= 0 && z < len(d.ready) {
			select {
			case <-d.ready[z]:
			case <-d.done:
			case <-r.Context().Done():
				return
			}
		}
		next.ServeHTTP(w, r)
	})
}
