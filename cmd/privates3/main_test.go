package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"image/png"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/cookiejar"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/privates3/privates3"
	"github.com/privates3/privates3/privates3test"
)

func TestParseServeFlags(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		check   func(t *testing.T, o serveOptions)
		wantErr string // substring of stderr; "" means success
	}{
		{name: "defaults", args: nil, check: func(t *testing.T, o serveOptions) {
			if o.addr != "127.0.0.1:8080" || o.mode != privates3.Proxy || o.bucket != "" || o.maxZoom != 5 ||
				o.cacheBytes != privates3.DefaultCacheBytes || o.logLevel != slog.LevelInfo || o.logFormat != "text" {
				t.Errorf("defaults = %+v", o)
			}
		}},
		{name: "redirect", args: []string{"-mode", "redirect", "-log-level", "debug", "-addr", "127.0.0.1:0"}, check: func(t *testing.T, o serveOptions) {
			if o.mode != privates3.Redirect || o.logLevel != slog.LevelDebug || o.addr != "127.0.0.1:0" {
				t.Errorf("got %+v", o)
			}
		}},
		{name: "real bucket", args: []string{"-bucket", "tiles", "-prefix", "v1/", "-role-arn", "arn:aws:iam::1:role/r",
			"-region", "eu-west-1", "-endpoint", "http://127.0.0.1:9000", "-cache-bytes", "1000", "-max-zoom", "18", "-probe-key", "0/0/0.png"},
			check: func(t *testing.T, o serveOptions) {
				want := serveOptions{addr: "127.0.0.1:8080", mode: privates3.Proxy, bucket: "tiles", prefix: "v1/",
					roleARN: "arn:aws:iam::1:role/r", region: "eu-west-1", endpoint: "http://127.0.0.1:9000",
					cacheBytes: 1000, logLevel: slog.LevelInfo, logFormat: "text", maxZoom: 18, probeKey: "0/0/0.png"}
				if o != want {
					t.Errorf("got  %+v\nwant %+v", o, want)
				}
			}},
		{name: "unknown flag", args: []string{"-nope"}, wantErr: "flag provided but not defined: -nope"},
		{name: "bad mode", args: []string{"-mode", "mirror"}, wantErr: `-mode must be proxy, redirect or cloudfront (got "mirror")`},
		{name: "cloudfront", args: []string{"-mode", "cloudfront"}, check: func(t *testing.T, o serveOptions) {
			if !o.cloudfront || o.mode != privates3.Proxy {
				t.Errorf("got %+v", o)
			}
		}},
		{name: "cloudfront with bucket", args: []string{"-mode", "cloudfront", "-bucket", "tiles"}, wantErr: "-mode cloudfront is a demo"},
		{name: "bad log level", args: []string{"-log-level", "loud"}, wantErr: "-log-level must be"},
		{name: "json logs", args: []string{"-log-format", "json"}, check: func(t *testing.T, o serveOptions) {
			if o.logFormat != "json" {
				t.Errorf("logFormat = %q", o.logFormat)
			}
		}},
		{name: "bad log format", args: []string{"-log-format", "xml"}, wantErr: `-log-format must be text or json (got "xml")`},
		{name: "extra argument", args: []string{"serve"}, wantErr: `unexpected argument "serve"`},
		{name: "bad addr", args: []string{"-addr", "8080"}, wantErr: "-addr must be host:port"},
		{name: "prefix without bucket", args: []string{"-prefix", "x/"}, wantErr: "-prefix needs -bucket"},
		{name: "role without bucket", args: []string{"-role-arn", "arn:aws:iam::1:role/r"}, wantErr: "-role-arn needs -bucket"},
		{name: "demo zoom too deep", args: []string{"-max-zoom", "9"}, wantErr: "-max-zoom must be between 0 and 8"},
		{name: "bad cache bytes", args: []string{"-cache-bytes", "lots"}, wantErr: "invalid value"},
		{name: "pmtiles", args: []string{"-pmtiles"}, check: func(t *testing.T, o serveOptions) {
			if !o.pmtiles || o.bucket != "" {
				t.Errorf("got %+v", o)
			}
		}},
		{name: "pmtiles with bucket", args: []string{"-pmtiles", "-bucket", "b"}, wantErr: "-pmtiles is for the demo bucket"},
		{name: "pmtiles redirect", args: []string{"-pmtiles", "-mode", "redirect"}, wantErr: "-pmtiles serves tiles out of one archive"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stderr bytes.Buffer
			o, err := parseServeFlags(tt.args, &stderr)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("error %v; stderr:\n%s", err, stderr.String())
				}
				tt.check(t, o)
				return
			}
			if !errors.Is(err, errUsage) {
				t.Fatalf("error = %v, want errUsage", err)
			}
			if !strings.Contains(stderr.String(), tt.wantErr) || !strings.Contains(stderr.String(), "Usage:") {
				t.Errorf("stderr does not contain %q and the usage:\n%s", tt.wantErr, stderr.String())
			}
		})
	}
}

func TestRunExitCodes(t *testing.T) {
	tests := []struct {
		args       []string
		want       int
		wantStderr string
	}{
		{[]string{"-mode", "mirror"}, exitUsage, "Usage:"},
		{[]string{"-h"}, exitOK, "Usage:"},
		{[]string{"-bucket", "Not_A_Bucket"}, exitUsage, "Config.Bucket"},
		{[]string{"-bucket", "b-1", "-endpoint", "127.0.0.1:9000"}, exitUsage, "Config.Endpoint"},
		{[]string{"fake", "-h"}, exitOK, "privates3 fake [flags]"},
		{[]string{"fake", "extra"}, exitUsage, `unexpected argument "extra"`},
		{[]string{"fake", "-bucket", "Not_A_Bucket"}, exitUsage, "-bucket must be a name S3 accepts"},
		{[]string{"fake", "-addr", "9000"}, exitUsage, "-addr must be host:port"},
		{[]string{"fake", "-nope"}, exitUsage, "flag provided but not defined"},
		{[]string{"fake", "-tiles", "9"}, exitUsage, "-tiles must be between -1 and 8"},
		{[]string{"fake", "-addr", "127.0.0.1:0", "-seed", "/nonexistent/privates3"}, exitError, "seeding s3://demo/ from /nonexistent/privates3"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			ctx, cancel := context.WithCancel(context.Background())
			cancel() // nothing may start serving
			if got := run(ctx, tt.args, &stdout, &stderr); got != tt.want {
				t.Errorf("exit code %d, want %d; stderr:\n%s", got, tt.want, stderr.String())
			}
			if !strings.Contains(stderr.String(), tt.wantStderr) {
				t.Errorf("stderr does not contain %q:\n%s", tt.wantStderr, stderr.String())
			}
		})
	}
}

// TestStartErrors starts the server against a real-bucket configuration (the default credential
// chain, fed by environment variables, against a fake) and checks that each problem is reported
// at start-up, in one line, with exit code 1.
func TestStartErrors(t *testing.T) {
	fake := privates3test.NewServer()
	defer fake.Close()
	base := fake.BaseCredentials()
	awsEnv(t, base.AccessKeyID, base.SecretAccessKey, fake.Region(), "")
	fake.PutObject("readable", "hello.txt", []byte("hello"))
	fake.PutObject("forbidden", "hello.txt", []byte("hello"))
	reader := fake.ReaderRole("readable")
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()

	tests := []struct {
		name string
		args []string
		want []string // substrings of the one error line
	}{
		{"role cannot read bucket", []string{"-bucket", "forbidden", "-role-arn", reader},
			[]string{"cannot read s3://forbidden/", reader, "s3:GetObject on arn:aws:s3:::forbidden/*"}},
		{"role cannot read probe key", []string{"-bucket", "forbidden", "-role-arn", reader, "-probe-key", "hello.txt"},
			[]string{"cannot read s3://forbidden/"}},
		{"unknown role", []string{"-bucket", "readable", "-role-arn", "arn:aws:iam::" + privates3test.AccountID + ":role/nobody"},
			[]string{"cannot assume role arn:aws:iam::" + privates3test.AccountID + ":role/nobody"}},
		{"missing probe key", []string{"-bucket", "readable", "-role-arn", reader, "-probe-key", "nothing-here"},
			[]string{`probe key "nothing-here" not found in s3://readable/`}},
		{"no such bucket", []string{"-bucket", "nonexistent", "-role-arn", fake.ReaderRole("nonexistent")},
			[]string{`bucket "nonexistent" does not exist`}},
		{"busy address", []string{"-bucket", "readable", "-role-arn", reader, "-addr", busy.Addr().String()},
			[]string{"address already in use"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			args := append([]string{"-addr", "127.0.0.1:0", "-endpoint", fake.URL, "-log-level", "error"}, tt.args...)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			code := runServe(ctx, args, &stdout, &stderr, func(a *app) {
				t.Errorf("server started")
				cancel()
			})
			if code != exitError {
				t.Errorf("exit code %d, want %d", code, exitError)
			}
			lines := strings.Split(strings.TrimSpace(stderr.String()), "\n")
			if len(lines) != 1 || !strings.HasPrefix(lines[0], "privates3: ") {
				t.Fatalf("stderr is not one line starting with \"privates3: \":\n%s", stderr.String())
			}
			t.Log(lines[0])
			for _, w := range tt.want {
				if !strings.Contains(lines[0], w) {
					t.Errorf("error line does not contain %q:\n%s", w, lines[0])
				}
			}
			if strings.Contains(lines[0], base.SecretAccessKey) {
				t.Errorf("error line contains the secret key")
			}
		})
	}
}

// TestServeDemo starts the demo in each mode and fetches the viewer, a tile (a PNG), /healthz and
// the stats; it checks the request log and that a second fetch of a tile reaches S3 no more.
func TestServeDemo(t *testing.T) {
	for _, mode := range []string{"proxy", "redirect"} {
		t.Run(mode, func(t *testing.T) {
			a, stderr := startApp(t, "-mode", mode, "-max-zoom", "2", "-log-level", "debug")
			if a.tiles != 1+4+16 {
				t.Errorf("%d demo tiles, want 21", a.tiles)
			}

			resp, body := get(t, http.DefaultClient, a.url)
			if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") ||
				!bytes.Contains(body, []byte("viewerStatus")) {
				t.Errorf("viewer: %s %q, %d bytes", resp.Status, resp.Header.Get("Content-Type"), len(body))
			}
			resp, body = get(t, http.DefaultClient, a.url+"config.json")
			var cfg struct {
				Tiles   string
				MaxZoom int
				Mode    string
			}
			if err := json.Unmarshal(body, &cfg); err != nil || resp.StatusCode != http.StatusOK ||
				cfg.MaxZoom != 2 || cfg.Mode != mode || cfg.Tiles != "tiles/{z}/{x}/{y}.png" {
				t.Errorf("config.json: %s %+v %v", resp.Status, cfg, err)
			}
			resp, body = get(t, http.DefaultClient, a.url+"healthz")
			if resp.StatusCode != http.StatusOK || string(body) != "ok\n" {
				t.Errorf("healthz: %s %q", resp.Status, body)
			}

			gets := a.fake.Count(privates3test.OpGetObject)
			tileURL := a.url + "tiles/2/1/3.png"
			if mode == "redirect" {
				redirect := func() map[string]string {
					resp, _ := get(t, noRedirect, tileURL)
					loc := resp.Header.Get("Location")
					if resp.StatusCode != http.StatusTemporaryRedirect || !strings.HasPrefix(loc, a.fake.URL+"/"+demoBucket+"/tiles/2/1/3.png?") {
						t.Errorf("redirect: %s to %q", resp.Status, loc)
					}
					return map[string]string{"2/1/3": loc}
				}
				checkStableURLs(t, redirect(), redirect)
			}
			resp, body = get(t, http.DefaultClient, tileURL) // follows the redirect
			if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "image/png" {
				t.Fatalf("tile: %s %q", resp.Status, resp.Header.Get("Content-Type"))
			}
			img, err := png.Decode(bytes.NewReader(body))
			if err != nil {
				t.Fatalf("tile is not a PNG: %v", err)
			}
			if b := img.Bounds(); b.Dx() != tileSize || b.Dy() != tileSize {
				t.Errorf("tile is %v, want %dx%d", b, tileSize, tileSize)
			}
			if got := a.fake.Count(privates3test.OpGetObject) - gets; got != 1 {
				t.Errorf("first fetch of a tile: %d S3 GETs, want 1", got)
			}
			if mode == "proxy" {
				get(t, http.DefaultClient, tileURL)
				if got := a.fake.Count(privates3test.OpGetObject) - gets; got != 1 {
					t.Errorf("second fetch of a tile: %d S3 GETs in all, want 1 (cached)", got)
				}
				if st := getStats(t, a.url); st.CacheHits < 1 || st.UpstreamGets < 1 {
					t.Errorf("stats after two fetches: %+v", st)
				}
			}

			missing := a.url + "tiles/7/0/0.png"
			if mode == "redirect" {
				// The handler does not ask S3 first: it redirects, and S3 answers the 404.
				resp, _ := get(t, noRedirect, missing)
				if loc := resp.Header.Get("Location"); resp.StatusCode != http.StatusTemporaryRedirect ||
					!strings.HasPrefix(loc, a.fake.URL+"/"+demoBucket+"/tiles/7/0/0.png?") {
					t.Errorf("missing tile: %s to %q, want a redirect to its presigned URL", resp.Status, loc)
				}
			}
			resp, _ = get(t, http.DefaultClient, missing) // follows the redirect
			if resp.StatusCode != http.StatusNotFound {
				t.Errorf("missing tile: %s, want 404", resp.Status)
			}
			if log := stderr.String(); !strings.Contains(log, "msg=request method=GET path=/healthz status=200") {
				t.Errorf("no debug log line for /healthz:\n%s", log)
			}
		})
	}
}

// TestDemoDeepZoomWaits asks for a tile of a zoom level rendered after start-up: the request
// waits for it rather than failing.
func TestDemoDeepZoomWaits(t *testing.T) {
	a, _ := startApp(t, "-max-zoom", "4")
	if a.tiles != tileCount(4) {
		t.Errorf("%d tiles, want %d", a.tiles, tileCount(4))
	}
	resp, body := get(t, http.DefaultClient, a.url+"tiles/4/15/15.png")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("deepest tile right after start-up: %s", resp.Status)
	}
	if _, err := png.Decode(bytes.NewReader(body)); err != nil {
		t.Errorf("deepest tile: %v", err)
	}
}

// TestGracefulShutdown checks that a request in flight when the server is told to stop is
// answered before run returns.
func TestGracefulShutdown(t *testing.T) {
	a, _, stderr, stop := launch(t, "-max-zoom", "1")
	// The upstream GET of this tile is slow, so that it is still in flight at shutdown.
	a.fake.InjectFault(privates3test.Fault{Op: privates3test.OpGetObject, Key: demoPrefix + "1/1/1.png", Latency: 500 * time.Millisecond})
	gets := a.fake.Count(privates3test.OpGetObject)
	type result struct {
		status int
		err    error
	}
	done := make(chan result, 1)
	go func() {
		resp, err := http.Get(a.url + "tiles/1/1/1.png")
		if err != nil {
			done <- result{err: err}
			return
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		done <- result{status: resp.StatusCode}
	}()
	for a.fake.Count(privates3test.OpGetObject) == gets {
		time.Sleep(time.Millisecond) // until the request is in flight upstream
	}
	code := stop()
	r := <-done
	if code != exitOK {
		t.Errorf("exit code %d:\n%s", code, stderr.String())
	}
	if r.err != nil || r.status != http.StatusOK {
		t.Errorf("request in flight at shutdown: %d %v", r.status, r.err)
	}
	if _, err := http.Get(a.url + "healthz"); err == nil {
		t.Errorf("server still answers after shutdown")
	}
}

// FuzzParseServeFlags checks that any arguments either give a usage error or options that the
// server can use.
func FuzzParseServeFlags(f *testing.F) {
	for _, seed := range [][2]string{
		{"-mode", "redirect"}, {"-addr", "127.0.0.1:0"}, {"-bucket", "b-1"}, {"-prefix", "x/"},
		{"-max-zoom", "-1"}, {"-log-level", "DEBUG+2"}, {"-endpoint", "http://[::1]:9"}, {"--", "x"},
	} {
		f.Add(seed[0], seed[1])
	}
	f.Fuzz(func(t *testing.T, a, b string) {
		var stderr bytes.Buffer
		o, err := parseServeFlags([]string{a, b}, &stderr)
		if err != nil {
			if !errors.Is(err, errUsage) && !errors.Is(err, flag.ErrHelp) {
				t.Fatalf("error %v is neither errUsage nor flag.ErrHelp", err)
			}
			return
		}
		if o.mode != privates3.Proxy && o.mode != privates3.Redirect {
			t.Errorf("mode %v", o.mode)
		}
		if _, _, err := net.SplitHostPort(o.addr); err != nil {
			t.Errorf("addr %q: %v", o.addr, err)
		}
		if o.bucket == "" && (o.prefix != "" || o.roleARN != "" || o.endpoint != "" || o.maxZoom < 0 || o.maxZoom > 8) {
			t.Errorf("demo options %+v", o)
		}
		if o.maxZoom < 0 || o.maxZoom > 24 {
			t.Errorf("maxZoom %d", o.maxZoom)
		}
	})
}

// unquoteShell undoes shellQuote's quoting: single-quoted runs and the '\” escape.
func unquoteShell(s string) (string, bool) {
	var out strings.Builder
	for len(s) > 0 {
		switch {
		case strings.HasPrefix(s, `\'`):
			out.WriteByte('\'')
			s = s[2:]
		case s[0] == '\'':
			end := strings.IndexByte(s[1:], '\'')
			if end < 0 {
				return "", false
			}
			out.WriteString(s[1 : 1+end])
			s = s[2+end:]
		case strings.ContainsRune(" \t\n\"$`\\|&;<>()*?[]#~!{}", rune(s[0])):
			return "", false // would be special to the shell unquoted
		default:
			out.WriteByte(s[0])
			s = s[1:]
		}
	}
	return out.String(), true
}

func FuzzShellQuote(f *testing.F) {
	for _, s := range []string{"", "plain", "a b", "it's", "x/y+z=", "$HOME", "'", `\`, "a\nb"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		q := shellQuote(s)
		if got, ok := unquoteShell(q); !ok || got != s {
			t.Errorf("shellQuote(%q) = %s, which a shell reads as %q (ok %v)", s, q, got, ok)
		}
	})
}

// TestShellQuoteWithShell has /bin/sh read what shellQuote wrote.
func TestShellQuoteWithShell(t *testing.T) {
	sh := lookTool(t, "sh", "a POSIX shell")
	for _, s := range []string{"", "plain", "a b", "it's", "x/y+z=", "$HOME `id`", "'", `\`, "a\nb", "29wXe+2VnF/SmU4V"} {
		out, err := exec.Command(sh, "-c", "printf %s "+shellQuote(s)).Output()
		if err != nil || string(out) != s {
			t.Errorf("sh read %q as %q (%v)", shellQuote(s), out, err)
		}
	}
}

// TestServeCloudFront: in -mode cloudfront the viewer's tiles are on the fake edge, which
// refuses them without the cookies of /cloudfront-cookies; with them, two viewers loading the
// same tiles make one S3 GET per tile.
func TestServeCloudFront(t *testing.T) {
	a, _ := startApp(t, "-mode", "cloudfront", "-max-zoom", "2")
	var cfg struct {
		Tiles, Cookies, Mode string
	}
	_, body := get(t, http.DefaultClient, a.url+"config.json")
	if err := json.Unmarshal(body, &cfg); err != nil {
		t.Fatal(err)
	}
	edge := a.cf.edge.URL
	if cfg.Mode != "cloudfront" || cfg.Tiles != edge+"/tiles/{z}/{x}/{y}.png" || cfg.Cookies != "cloudfront-cookies" {
		t.Fatalf("config.json: %+v", cfg)
	}
	if resp, _ := get(t, http.DefaultClient, edge+"/tiles/0/0/0.png"); resp.StatusCode != http.StatusForbidden {
		t.Fatalf("tile without cookies: %d", resp.StatusCode)
	}
	if resp, _ := get(t, http.DefaultClient, a.url+"tiles/0/0/0.png"); resp.StatusCode != http.StatusNotFound {
		t.Fatalf("the server itself serves tiles in cloudfront mode: %d", resp.StatusCode)
	}
	tiles := []string{"0/0/0", "1/0/0", "1/1/1", "2/3/2"}
	gets := a.fake.Count(privates3test.OpGetObject)
	for viewer := range 2 {
		jar, _ := cookiejar.New(nil)
		c := &http.Client{Jar: jar}
		resp, err := c.Post(a.url+cfg.Cookies, "", nil)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if n := len(resp.Cookies()); resp.StatusCode != http.StatusOK || n != 3 {
			t.Fatalf("viewer %d: cookies: %d, %d cookies", viewer, resp.StatusCode, n)
		}
		for _, tl := range tiles {
			resp, body := get(t, c, edge+"/tiles/"+tl+".png")
			if resp.StatusCode != http.StatusOK || !bytes.HasPrefix(body, []byte("\x89PNG")) {
				t.Fatalf("viewer %d: tile %s: %d", viewer, tl, resp.StatusCode)
			}
		}
		if n := a.fake.Count(privates3test.OpGetObject) - gets; n != len(tiles) {
			t.Fatalf("after viewer %d: %d S3 GETs for %d tiles", viewer, n, len(tiles))
		}
	}
	var st privates3test.EdgeStats
	if _, body := get(t, http.DefaultClient, a.url+"debug/privates3/edge"); json.Unmarshal(body, &st) != nil || st.Hits < int64(len(tiles)) {
		t.Fatalf("edge stats %s", body)
	}
}
