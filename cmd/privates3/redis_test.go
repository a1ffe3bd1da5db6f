package main

import (
	"bytes"
	"io"
	"net/http"
	"os/exec"
	"strconv"
	"strings"
	"testing"

	"github.com/privates3/privates3/privates3test"
)

func TestRedisFlag(t *testing.T) {
	port := startRedisServer(t)
	url := "redis://127.0.0.1:" + strconv.Itoa(port) + "/0"
	const tile = "tiles/1/1/0.png"

	a, _ := startApp(t, "-redis", url, "-max-zoom", "1")
	resp, first := get(t, http.DefaultClient, a.url+tile)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("tile: %s", resp.Status)
	}
	out, err := exec.Command("redis-cli", "-p", strconv.Itoa(port), "--scan", "--pattern", "privates3:v1:e:*").Output()
	if err != nil || !strings.Contains(string(out), "/"+tile) {
		t.Fatalf("entries in Redis: %q, %v; want the tile's", out, err)
	}

	// A second server (its own embedded fake, with the same demo tiles) finds the tile in Redis.
	b, _ := startApp(t, "-redis", url, "-max-zoom", "1")
	resp, second := get(t, http.DefaultClient, b.url+tile)
	if resp.StatusCode != http.StatusOK || !bytes.Equal(first, second) {
		t.Fatalf("tile from the second server: %s, %d bytes; want the first's %d", resp.Status, len(second), len(first))
	}
	if n := b.fake.CountKey(privates3test.OpGetObject, tile); n != 0 {
		t.Fatalf("second server: %d S3 GETs of the tile; want 0 (served from Redis)", n)
	}
}

func TestRedisFlagRedisDown(t *testing.T) {
	url := "redis://127.0.0.1:" + strconv.Itoa(freeLoopbackPort(t))
	a, stderr := startApp(t, "-redis", url, "-max-zoom", "1")
	resp, _ := get(t, http.DefaultClient, a.url+"tiles/0/0/0.png")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("tile with Redis down: %s; want 200 from S3", resp.Status)
	}
	if !strings.Contains(stderr.String(), "shared cache tier not reachable") {
		t.Fatalf("no warning about Redis in the log:\n%s", stderr.String())
	}
}

func TestRedisFlagBadURL(t *testing.T) {
	var stderr bytes.Buffer
	code := runServe(t.Context(), []string{"-addr", "127.0.0.1:0", "-redis", "http://u:hunter2@127.0.0.1:1"}, io.Discard, &stderr, nil)
	if code != exitUsage || !strings.Contains(stderr.String(), "-redis") || strings.Contains(stderr.String(), "hunter2") {
		t.Fatalf("exit code %d, stderr %q; want %d naming -redis without the password", code, stderr.String(), exitUsage)
	}
}
