package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"image"
	"image/png"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/privates3/privates3/privates3test"
)

// viewWidth and viewHeight are the size of the browser's viewport in the browser tests.
const viewWidth, viewHeight = 1024, 768

// viewerStatus is what the viewer's window.viewerStatus() returns.
type viewerStatus struct {
	State   string
	Zoom    int
	MaxZoom int
	Mode    string
	Tiles   []struct {
		Tile, Src, State string
		Complete         bool
		Width, Height    int
	}
}

// TestBrowser opens the map viewer in headless chromium, in each mode (and with -pmtiles, the
// tiles out of one archive), and checks that every
// visible tile decoded, that a reload sends no new GET to S3, that in redirect mode the
// presigned tile URLs are identical across reloads, and that zooming and panning load the new
// tiles. It saves a screenshot of each mode under the temporary directory.
func TestBrowser(t *testing.T) {
	bin := chromium(t)
	for _, mode := range []string{"proxy", "redirect", "pmtiles"} {
		t.Run(mode, func(t *testing.T) { testBrowser(t, bin, mode) })
	}
}

func testBrowser(t *testing.T, bin, mode string) {
	args := []string{"-mode", mode}
	if mode == "pmtiles" { // proxy mode, from one archive
		args = []string{"-pmtiles"}
	}
	a, p, ctx, st := openViewer(t, bin, args...)
	// At zoom 2 the world is 1024 pixels wide; centred at (0.45, 0.55) a 1024×768 view shows
	// columns 0-3 (the left edge is 51 pixels beyond the world) and rows 0-3.
	if len(st.Tiles) != 16 {
		t.Errorf("first load shows %d tiles, want 16", len(st.Tiles))
	}
	saveScreenshot(ctx, t, p, mode)
	first := redirects(t, p.takeEvents("Network.requestWillBeSent"))
	if mode == "redirect" {
		if len(first) != len(st.Tiles) {
			t.Errorf("first load: %d redirected tile requests, want %d", len(first), len(st.Tiles))
		}
		for tile, u := range first {
			if !strings.HasPrefix(u, a.fake.URL+"/"+demoBucket+"/"+demoPrefix+tile+".png?") || !strings.Contains(u, "X-Amz-Signature=") {
				t.Errorf("tile %s redirected to %s, want a presigned URL of the fake S3", tile, u)
			}
		}
	}

	// A reload: the browser's cache (and in proxy mode the server's) answer; S3 sees nothing.
	gets := a.fake.Count(privates3test.OpGetObject)
	reload(ctx, t, p)
	st = waitViewer(ctx, t, p)
	checkDecoded(t, "reload", st, 2)
	if n := a.fake.Count(privates3test.OpGetObject) - gets; n != 0 {
		t.Errorf("reload: %d new S3 GETs, want 0", n)
	}
	p.takeEvents("")

	// A reload with the browser's cache disabled: every tile is asked of the server again.
	if err := p.call(ctx, "Network.setCacheDisabled", map[string]any{"cacheDisabled": true}, nil); err != nil {
		t.Fatal(err)
	}
	reloadAll := func() viewerStatus {
		reload(ctx, t, p)
		st := waitViewer(ctx, t, p)
		checkDecoded(t, "reload without browser cache", st, 2)
		return st
	}
	if mode != "redirect" {
		hits := a.client.Stats().CacheHits
		gets = a.fake.Count(privates3test.OpGetObject)
		st = reloadAll()
		if n := a.fake.Count(privates3test.OpGetObject) - gets; n != 0 {
			t.Errorf("reload without browser cache: %d new S3 GETs, want 0 (the server's cache answers)", n)
		}
		if n := a.client.Stats().CacheHits - hits; n < int64(len(st.Tiles)) {
			t.Errorf("reload without browser cache: %d cache hits, want at least %d", n, len(st.Tiles))
		}
	} else {
		// Redirect mode: the server signs again, and must hand out the very same URLs.
		checkStableURLs(t, first, func() map[string]string {
			reloadAll()
			return redirects(t, p.takeEvents("Network.requestWillBeSent"))
		})
	}
	if err := p.call(ctx, "Network.setCacheDisabled", map[string]any{"cacheDisabled": false}, nil); err != nil {
		t.Fatal(err)
	}

	// The wheel zooms in at the cursor, a drag pans, the buttons zoom.
	mouse := func(typ string, x, y int, extra map[string]any) {
		params := map[string]any{"type": typ, "x": x, "y": y}
		for k, v := range extra {
			params[k] = v
		}
		if err := p.call(ctx, "Input.dispatchMouseEvent", params, nil); err != nil {
			t.Fatal(err)
		}
	}
	mouse("mouseWheel", 300, 300, map[string]any{"deltaX": 0, "deltaY": -120})
	st = waitViewer(ctx, t, p)
	checkDecoded(t, "wheel", st, 3)
	var before, after string
	p.eval(ctx, "location.hash", &before)
	mouse("mousePressed", 600, 500, map[string]any{"button": "left", "buttons": 1, "clickCount": 1})
	mouse("mouseMoved", 500, 400, map[string]any{"button": "left", "buttons": 1})
	mouse("mouseMoved", 300, 200, map[string]any{"button": "left", "buttons": 1})
	mouse("mouseReleased", 300, 200, map[string]any{"button": "left", "buttons": 0, "clickCount": 1})
	st = waitViewer(ctx, t, p)
	checkDecoded(t, "drag", st, 3)
	p.eval(ctx, "location.hash", &after)
	if before == after {
		t.Errorf("drag did not move the map (hash %s)", after)
	}
	if err := p.eval(ctx, `document.getElementById("zoom-out").click()`, nil); err != nil {
		t.Fatal(err)
	}
	st = waitViewer(ctx, t, p)
	checkDecoded(t, "zoom-out button", st, 2)
}

// openViewer starts the server with args and -max-zoom 3, and headless chromium (bin) with a
// viewport of viewWidth×viewHeight; it loads the viewer at zoom 2 centred on (0.45, 0.55),
// checks that the tiles of that first load decoded, and returns the server, the page, a context
// for the page's commands (60s at most, cancelled at the end of the test) and the viewer's status.
func openViewer(t *testing.T, bin string, args ...string) (*app, *cdp, context.Context, viewerStatus) {
	t.Helper()
	a, _ := startApp(t, append(args, "-max-zoom", "3")...)
	p := startBrowser(t, bin, viewWidth, viewHeight).page(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	preparePage(ctx, t, p, viewWidth, viewHeight)
	if err := p.call(ctx, "Page.navigate", map[string]any{"url": a.url + "#2/0.45000/0.55000"}, nil); err != nil {
		t.Fatal(err)
	}
	st := waitViewer(ctx, t, p)
	checkDecoded(t, "first load", st, 2)
	return a, p, ctx, st
}

// waitViewer polls the viewer until the page that is current has settled every visible tile.
func waitViewer(ctx context.Context, t *testing.T, p *cdp) viewerStatus {
	t.Helper()
	const expr = `(() => { if (window.__reloading || !window.viewerStatus) return null;
		const s = viewerStatus(); return s.state === "loading" ? null : s; })()`
	for {
		var st *viewerStatus
		if err := p.eval(ctx, expr, &st); err != nil && !strings.Contains(err.Error(), "context") {
			// Evaluations during a navigation may fail; try again.
			t.Logf("evaluating the viewer's status: %v", err)
		}
		if st != nil {
			return *st
		}
		select {
		case <-ctx.Done():
			t.Fatalf("the viewer did not settle: %v", ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// reload reloads the page; waitViewer then waits for the new document.
func reload(ctx context.Context, t *testing.T, p *cdp) {
	t.Helper()
	if err := p.eval(ctx, "window.__reloading = true", nil); err != nil {
		t.Fatal(err)
	}
	if err := p.call(ctx, "Page.reload", map[string]any{}, nil); err != nil {
		t.Fatal(err)
	}
}

func checkDecoded(t *testing.T, when string, st viewerStatus, zoom int) {
	t.Helper()
	if st.State != "ready" || st.Zoom != zoom || len(st.Tiles) < 4 {
		t.Errorf("%s: viewer state %q at zoom %d with %d tiles, want ready at zoom %d with at least 4", when, st.State, st.Zoom, len(st.Tiles), zoom)
	}
	for _, tl := range st.Tiles {
		if !tl.Complete || tl.Width != tileSize || tl.Height != tileSize || tl.State != "ok" {
			t.Errorf("%s: tile %s not decoded: %+v", when, tl.Tile, tl)
		}
	}
}

// redirects maps tile names ("z/x/y") to the URLs they were redirected to, from
// Network.requestWillBeSent events.
func redirects(t *testing.T, events []cdpMessage) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, e := range events {
		var ev struct {
			Request          struct{ URL string }
			RedirectResponse *struct {
				URL    string
				Status int
			}
		}
		if err := json.Unmarshal(e.Params, &ev); err != nil {
			t.Fatal(err)
		}
		if ev.RedirectResponse == nil {
			continue
		}
		_, path, ok := strings.Cut(ev.RedirectResponse.URL, "/tiles/")
		if !ok {
			continue
		}
		out[strings.TrimSuffix(path, ".png")] = ev.Request.URL
	}
	return out
}

// saveScreenshot captures the page, checks that it shows a map (many colours, not a blank page)
// of viewWidth×viewHeight) and writes it to $PRIVATES3_SCREENSHOT_DIR, else the temporary directory.
func saveScreenshot(ctx context.Context, t *testing.T, p *cdp, mode string) {
	t.Helper()
	var shot struct{ Data string }
	if err := p.call(ctx, "Page.captureScreenshot", map[string]any{"format": "png"}, &shot); err != nil {
		t.Fatal(err)
	}
	data, err := base64.StdEncoding.DecodeString(shot.Data)
	if err != nil {
		t.Fatal(err)
	}
	img, err := png.Decode(bytes.NewReader(data))
	if err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	if b := img.Bounds(); b.Dx() != viewWidth || b.Dy() != viewHeight {
		t.Errorf("screenshot is %v, want %dx%d", b, viewWidth, viewHeight)
	}
	if n := colours(img); n < 32 {
		t.Errorf("screenshot has %d colours: not a map", n)
	}
	dir := os.Getenv("PRIVATES3_SCREENSHOT_DIR")
	if dir == "" {
		dir = os.TempDir()
	}
	path := filepath.Join(dir, fmt.Sprintf("privates3-viewer-%s.png", mode))
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot of the viewer in %s mode: %s", mode, path)
}

func colours(img image.Image) int {
	seen := map[[3]uint32]bool{}
	b := img.Bounds()
	for y := b.Min.Y; y < b.Max.Y; y += 7 {
		for x := b.Min.X; x < b.Max.X; x += 7 {
			r, g, bl, _ := img.At(x, y).RGBA()
			seen[[3]uint32{r, g, bl}] = true
		}
	}
	return len(seen)
}

// TestBrowserCloudFront opens the viewer of -mode cloudfront in headless chromium: it gets the
// signed cookies once, every tile comes from the fake CloudFront edge with them, a reload sends
// no request to S3 (the browser's cache, then with it disabled the edge's cache answers), and
// the screenshot shows the map.
func TestBrowserCloudFront(t *testing.T) {
	a, p, ctx, st := openViewer(t, chromium(t), "-mode", "cloudfront")
	edge := a.cf.edge
	if len(st.Tiles) != 16 || st.Mode != "cloudfront" {
		t.Errorf("first load shows %d tiles in mode %q, want 16 in cloudfront", len(st.Tiles), st.Mode)
	}
	for _, tl := range st.Tiles {
		if !strings.HasPrefix(tl.Src, edge.URL+"/tiles/") {
			t.Errorf("tile %s loaded from %s, not from the edge %s", tl.Tile, tl.Src, edge.URL)
		}
	}
	var jar struct {
		Cookies []struct {
			Name     string
			HTTPOnly bool `json:"httpOnly"`
		}
	}
	if err := p.call(ctx, "Network.getCookies", map[string]any{"urls": []string{edge.URL + "/tiles/2/0/0.png"}}, &jar); err != nil {
		t.Fatal(err)
	}
	names := map[string]bool{}
	for _, c := range jar.Cookies {
		names[c.Name] = c.HTTPOnly
	}
	for _, n := range []string{"CloudFront-Policy", "CloudFront-Signature", "CloudFront-Key-Pair-Id"} {
		if !names[n] {
			t.Errorf("the browser sends no HttpOnly cookie %s to the edge (has %v)", n, names)
		}
	}
	s := edge.Stats()
	if s.Denied != 0 || s.OriginRequests < 16 {
		t.Errorf("edge after the first load: %+v", s)
	}
	saveScreenshot(ctx, t, p, "cloudfront")

	// A reload: nothing reaches S3.
	gets := a.fake.Count(privates3test.OpGetObject)
	reload(ctx, t, p)
	checkDecoded(t, "reload", waitViewer(ctx, t, p), 2)
	if n := a.fake.Count(privates3test.OpGetObject) - gets; n != 0 {
		t.Errorf("reload: %d new S3 GETs, want 0", n)
	}
	// A second viewer load with the browser's cache disabled: the edge answers every tile from
	// its cache, S3 still sees nothing.
	if err := p.call(ctx, "Network.setCacheDisabled", map[string]any{"cacheDisabled": true}, nil); err != nil {
		t.Fatal(err)
	}
	before := edge.Stats()
	reload(ctx, t, p)
	st = waitViewer(ctx, t, p)
	checkDecoded(t, "reload without browser cache", st, 2)
	after := edge.Stats()
	if n := a.fake.Count(privates3test.OpGetObject) - gets; n != 0 {
		t.Errorf("reload without browser cache: %d new S3 GETs, want 0", n)
	}
	if after.Hits-before.Hits < int64(len(st.Tiles)) || after.OriginRequests != before.OriginRequests || after.Denied != 0 {
		t.Errorf("reload without browser cache: edge %+v then %+v, want %d more hits and no origin request", before, after, len(st.Tiles))
	}
	// Without the cookies the edge refuses the same tile.
	resp, err := http.Get(st.Tiles[0].Src)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Errorf("tile without cookies: %d, want 403", resp.StatusCode)
	}
}

// preparePage enables the page and network events of p and sets its viewport.
func preparePage(ctx context.Context, t *testing.T, p *cdp, width, height int) {
	t.Helper()
	for _, m := range []string{"Page.enable", "Network.enable"} {
		if err := p.call(ctx, m, nil, nil); err != nil {
			t.Fatal(err)
		}
	}
	err := p.call(ctx, "Emulation.setDeviceMetricsOverride",
		map[string]any{"width": width, "height": height, "deviceScaleFactor": 1, "mobile": false}, nil)
	if err != nil {
		t.Fatal(err)
	}
}
