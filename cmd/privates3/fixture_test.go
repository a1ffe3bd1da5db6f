package main

// The fixture of this package's tests: the server and the fake command run in-process, external
// programs (found, or the test skipped), HTTP helpers, the checks of presigned redirect URLs,
// and a buffer safe for concurrent use.

import (
	"context"
	"encoding/json"
	"io"
	"maps"
	"net/http"
	"net/url"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/privates3/privates3"
)

// launch runs the server with args (on 127.0.0.1:0) until stop is called, which returns its exit
// code. It fails the test if the server exits at start-up.
func launch(t *testing.T, args ...string) (a *app, stdout, stderr *lockedBuffer, stop func() int) {
	t.Helper()
	return launchWith(t, nil, args...)
}

// launchWith is launch with setup (if not nil) called with the started server before it
// serves, to change its unexported knobs.
func launchWith(t *testing.T, setup func(*app), args ...string) (a *app, stdout, stderr *lockedBuffer, stop func() int) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	stdout, stderr = &lockedBuffer{}, &lockedBuffer{}
	readyc := make(chan *app, 1)
	exit := make(chan int, 1)
	go func() {
		exit <- runServe(ctx, append([]string{"-addr", "127.0.0.1:0"}, args...), stdout, stderr, func(a *app) {
			if setup != nil {
				setup(a)
			}
			readyc <- a
		})
	}()
	select {
	case a = <-readyc:
		return a, stdout, stderr, func() int { cancel(); return <-exit }
	case code := <-exit:
		cancel()
		t.Fatalf("exit code %d at start-up; stderr:\n%s", code, stderr.String())
		return nil, nil, nil, nil
	}
}

// startApp runs the server with args (on 127.0.0.1:0) until the end of the test, and checks
// that it tells the URL to open and then shuts down with exit code 0.
func startApp(t *testing.T, args ...string) (*app, *lockedBuffer) {
	t.Helper()
	return startAppWith(t, nil, args...)
}

// startAppWith is startApp with a setup function, as for launchWith.
func startAppWith(t *testing.T, setup func(*app), args ...string) (*app, *lockedBuffer) {
	t.Helper()
	a, stdout, stderr, stop := launchWith(t, setup, args...)
	t.Cleanup(func() {
		if code := stop(); code != exitOK {
			t.Errorf("exit code %d after shutdown; stderr:\n%s", code, stderr.String())
		}
	})
	if !strings.Contains(stdout.String(), "open "+a.url) {
		t.Errorf("stdout does not tell the URL %s:\n%s", a.url, stdout.String())
	}
	return a, stderr
}

// startFake runs `privates3 fake args...` until the end of the test and returns its exports.
func startFake(t *testing.T, args ...string) map[string]string {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	stdout, stderr := &lockedBuffer{}, &lockedBuffer{}
	exit := make(chan int, 1)
	go func() { exit <- run(ctx, append([]string{"fake"}, args...), stdout, stderr) }()
	t.Cleanup(func() {
		cancel()
		if code := <-exit; code != exitOK {
			t.Errorf("privates3 fake: exit code %d; stderr:\n%s", code, stderr.String())
		}
	})
	deadline := time.Now().Add(30 * time.Second)
	for !strings.Contains(stdout.String(), "# Serve it:") {
		select {
		case code := <-exit:
			exit <- code
			t.Fatalf("privates3 fake exited with %d:\n%s", code, stderr.String())
		case <-time.After(10 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("privates3 fake printed no exports in 30s:\n%s", stdout.String())
		}
	}
	exports := map[string]string{}
	for line := range strings.Lines(stdout.String()) {
		if kv, ok := strings.CutPrefix(strings.TrimSpace(line), "export "); ok {
			k, v, _ := strings.Cut(kv, "=")
			exports[k] = strings.Trim(v, "'")
		}
	}
	t.Logf("privates3 fake printed:\n%s", stdout.String())
	return exports
}

// lookTool returns the path of the program name (a name to look up in $PATH, or a path), or
// skips the test, saying how to install it.
func lookTool(t *testing.T, name, install string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		t.Skipf("%s is not installed (%s): skipping", name, install)
	}
	return p
}

// awsEnv points the default AWS credential chain at the given keys, region and endpoint ("" for
// none), and nothing else: no profile, no shared files, no instance metadata.
func awsEnv(t *testing.T, keyID, secret, region, endpoint string) {
	for k, v := range map[string]string{
		"AWS_ACCESS_KEY_ID":           keyID,
		"AWS_SECRET_ACCESS_KEY":       secret,
		"AWS_SESSION_TOKEN":           "",
		"AWS_REGION":                  region,
		"AWS_PROFILE":                 "",
		"AWS_ENDPOINT_URL":            endpoint,
		"AWS_CONFIG_FILE":             "/nonexistent/privates3-test",
		"AWS_SHARED_CREDENTIALS_FILE": "/nonexistent/privates3-test",
		"AWS_EC2_METADATA_DISABLED":   "true",
	} {
		t.Setenv(k, v)
	}
}

// noRedirect is an HTTP client that returns redirects instead of following them.
var noRedirect = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

// get GETs url with c and returns the response (its body read and closed) and the body.
func get(t *testing.T, c *http.Client, url string) (*http.Response, []byte) {
	t.Helper()
	resp, err := c.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("GET %s: reading the body: %v", url, err)
	}
	return resp, body
}

func getStats(t *testing.T, base string) privates3.Stats {
	t.Helper()
	resp, body := get(t, http.DefaultClient, base+"debug/privates3/stats")
	var st privates3.Stats
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "application/json" {
		t.Fatalf("stats: %s %s", resp.Status, resp.Header.Get("Content-Type"))
	}
	if err := json.Unmarshal(body, &st); err != nil {
		t.Fatalf("stats: %v\n%s", err, body)
	}
	return st
}

// demoWindow is the signing window of the demo's redirects: the server passes no Presign options,
// so PresignOptions.Window defaults to a quarter of DefaultPresignExpiry.
const demoWindow = privates3.DefaultPresignExpiry / 4

// signedAt returns the signing time (X-Amz-Date) of a presigned URL.
func signedAt(t *testing.T, u string) time.Time {
	t.Helper()
	pu, err := url.Parse(u)
	if err != nil {
		t.Fatalf("presigned URL %q: %v", u, err)
	}
	at, err := time.Parse("20060102T150405Z", pu.Query().Get("X-Amz-Date"))
	if err != nil {
		t.Fatalf("presigned URL %s: X-Amz-Date: %v", u, err)
	}
	return at
}

// checkStableURLs requires that fetch, asking the server again, get the very URLs of first (by
// tile), each signed at the start of a window. The one excuse for a difference is a window
// boundary passing in between, which shows as each URL that differs signed exactly one window
// later; then it fetches twice more, within the new window, and requires identity of those.
func checkStableURLs(t *testing.T, first map[string]string, fetch func() map[string]string) {
	t.Helper()
	again := fetch()
	if !maps.Equal(first, again) && windowPassed(t, first, again) {
		t.Logf("a signing window ended between two requests; asking twice within the new one")
		first, again = fetch(), fetch()
	}
	for tile, u := range first {
		// The URLs of one window are identical only if signed at its start.
		if at := signedAt(t, u); !at.Truncate(demoWindow).Equal(at) {
			t.Errorf("tile %s: presigned URL signed at %s, not at the start of a %s window: %s", tile, at, demoWindow, u)
		}
		if again[tile] != u {
			t.Errorf("tile %s: requests within one signing window redirect to different URLs:\n%s\n%s", tile, u, again[tile])
		}
	}
	if len(first) == 0 || len(again) != len(first) {
		t.Errorf("%d redirects, then %d", len(first), len(again))
	}
}

// windowPassed reports whether every URL of b that differs from the URL of a for the same tile
// was signed exactly one demoWindow later.
func windowPassed(t *testing.T, a, b map[string]string) bool {
	t.Helper()
	for tile, u := range a {
		if b[tile] != u && (b[tile] == "" || signedAt(t, b[tile]).Sub(signedAt(t, u)) != demoWindow) {
			return false
		}
	}
	return len(a) == len(b)
}

// lockedBuffer is a bytes buffer safe for concurrent writers and readers.
type lockedBuffer struct {
	mu  sync.Mutex // guards buf
	buf []byte
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.buf = append(b.buf, p...)
	return len(p), nil
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return string(b.buf)
}

// TestWindowPassed checks the one excuse checkStableURLs accepts for URLs that differ.
func TestWindowPassed(t *testing.T) {
	at := func(date string) string { return "http://s3.test/b/k?X-Amz-Date=" + date + "&X-Amz-Signature=" + date }
	a := map[string]string{"0/0/0": at("20260301T101500Z"), "1/0/0": at("20260301T101500Z")}
	for _, tt := range []struct {
		name string
		b    map[string]string
		want bool
	}{
		{"all one window later", map[string]string{"0/0/0": at("20260301T103000Z"), "1/0/0": at("20260301T103000Z")}, true},
		{"some one window later", map[string]string{"0/0/0": at("20260301T101500Z"), "1/0/0": at("20260301T103000Z")}, true},
		{"two windows later", map[string]string{"0/0/0": at("20260301T104500Z"), "1/0/0": at("20260301T104500Z")}, false},
		{"a second later", map[string]string{"0/0/0": at("20260301T101501Z"), "1/0/0": at("20260301T101501Z")}, false},
		{"a tile missing", map[string]string{"0/0/0": at("20260301T103000Z")}, false},
		{"same date, other URL", map[string]string{"0/0/0": at("20260301T101500Z") + "x", "1/0/0": at("20260301T101500Z")}, false},
	} {
		if got := windowPassed(t, a, tt.b); got != tt.want {
			t.Errorf("%s: windowPassed = %v, want %v", tt.name, got, tt.want)
		}
	}
}
