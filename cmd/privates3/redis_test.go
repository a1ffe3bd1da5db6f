package main

import (
	"bytes"
	"io"
	"net"
	"net/http"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/privates3/privates3/privates3test"
)

// startRedisServer starts Debian's redis-server on a free loopback port, without persistence,
// until the end of the test, and returns its address (host:port) once it answers redis-cli's
// PING. (The rediscache package's tests have the full fixture; this command needs only a
// running server.)
func startRedisServer(t *testing.T) string {
	t.Helper()
	redis := lookTool(t, "redis-server", "apt-get install redis-server")
	cli := lookTool(t, "redis-cli", "apt-get install redis-server")
	addr := freeLoopbackAddr(t)
	host, port, _ := net.SplitHostPort(addr)
	cmd := exec.Command(redis, "--port", port, "--bind", host,
		"--save", "", "--appendonly", "no", "--dir", t.TempDir())
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	t.Cleanup(func() { cmd.Process.Kill(); <-done })
	for deadline := time.Now().Add(10 * time.Second); ; {
		if out, _ := exec.Command(cli, "-h", host, "-p", port, "ping").Output(); strings.TrimSpace(string(out)) == "PONG" {
			return addr
		}
		if time.Now().After(deadline) {
			t.Fatal("redis-server not ready after 10s")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// freeLoopbackAddr returns an address (127.0.0.1:port) that was free a moment ago.
func freeLoopbackAddr(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

func TestRedisFlag(t *testing.T) {
	addr := startRedisServer(t)
	url := "redis://" + addr + "/0"
	const tile = "tiles/1/1/0.png"

	a, _ := startApp(t, "-redis", url, "-max-zoom", "1")
	resp, first := get(t, http.DefaultClient, a.url+tile)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("tile: %s", resp.Status)
	}
	out, err := exec.Command("redis-cli", "-u", url, "--scan", "--pattern", "privates3:v1:e:*").Output()
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
	url := "redis://" + freeLoopbackAddr(t)
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
