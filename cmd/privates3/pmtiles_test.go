package main

import (
	"bytes"
	"encoding/json"
	"net/http"
	"testing"

	"github.com/privates3/privates3/privates3test"
)

// TestServeDemoPMTiles runs the demo with -pmtiles: the tiles come out of one archive in the
// fake bucket, byte for byte the tiles the demo renders, with at most 3 S3 GETs for the first
// tile and 1 for each further one.
func TestServeDemoPMTiles(t *testing.T) {
	a, _ := startApp(t, "-pmtiles", "-max-zoom", "3")
	if n := a.fake.CountKey(privates3test.OpGetObject, demoPrefix+"0/0/0.png"); n != 0 {
		t.Errorf("%d GETs of a per-tile object", n)
	}
	resp, body := get(t, http.DefaultClient, a.url+"config.json")
	var cfg struct{ Tiles string }
	if err := json.Unmarshal(body, &cfg); err != nil || resp.StatusCode != http.StatusOK || cfg.Tiles != "tiles/islands/{z}/{x}/{y}.png" {
		t.Fatalf("config.json: %s %+v %v", resp.Status, cfg, err)
	}

	tr := newTerrain(demoSeed)
	s := tr.newScratch()
	gets := a.fake.Count(privates3test.OpGetObject)
	for i, tl := range []tile{{3, 5, 2}, {3, 5, 3}, {0, 0, 0}, {2, 3, 1}} {
		resp, body := get(t, http.DefaultClient, a.url+"tiles/islands/"+tl.key())
		want, err := tr.render(tl, s)
		if err != nil {
			t.Fatal(err)
		}
		if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "image/png" || !bytes.Equal(body, want) {
			t.Fatalf("tile %s: %s %q, %d bytes; want the rendered tile (%d bytes)", tl.key(), resp.Status, resp.Header.Get("Content-Type"), len(body), len(want))
		}
		n := a.fake.Count(privates3test.OpGetObject) - gets
		gets += n
		if i == 0 && n > 3 || i > 0 && n != 1 {
			t.Errorf("tile %s (%d.): %d S3 GETs", tl.key(), i+1, n)
		}
	}
	if resp, _ := get(t, http.DefaultClient, a.url+"tiles/islands/4/0/0.png"); resp.StatusCode != http.StatusNoContent {
		t.Errorf("tile beyond the archive: %s, want 204", resp.Status)
	}
	resp, body = get(t, http.DefaultClient, a.url+"tiles/islands.json")
	var tj struct {
		Tiles   []string
		MaxZoom int
		Name    string
	}
	if err := json.Unmarshal(body, &tj); err != nil || resp.StatusCode != http.StatusOK || tj.MaxZoom != 3 ||
		len(tj.Tiles) != 1 || tj.Tiles[0] != a.url+"tiles/islands/{z}/{x}/{y}.png" || tj.Name != "privates3 demo islands" {
		t.Errorf("TileJSON: %s %+v %v", resp.Status, tj, err)
	}
}
