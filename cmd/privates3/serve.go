package main

import (
	"bytes"
	"context"
	_ "embed"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/config"

	"github.com/privates3/privates3"
	"github.com/privates3/privates3/privates3test"
)

// The map viewer: one hand-written page, no third-party code.
//
//go:embed viewer.html
var viewerHTML []byte

const (
	demoBucket = "demo-tiles"
	demoPrefix = "tiles/"
	demoSeed   = 20260301
	// demoCacheControl lets browsers keep demo tiles (private: the bucket is private).
	demoCacheControl = "private, max-age=3600"
	// demoWaitZoom is the deepest zoom level rendered before start-up completes; deeper levels
	// (most of the work) are rendered while the server runs.
	demoWaitZoom = 3
	// demoProbeKey exists in the demo bucket.
	demoProbeKey = "0/0/0.png"
	// defaultProbeKey is read at start-up to check that the role can read the bucket; it need not
	// exist (not found proves access when the role may list the bucket).
	defaultProbeKey = "privates3-start-up-probe"

	probeTimeout    = 15 * time.Second
	shutdownTimeout = 10 * time.Second
)

// serveOptions are the flags of the server.
type serveOptions struct {
	addr       string
	mode       privates3.Mode
	bucket     string // "" serves the generated demo bucket from an embedded fake
	prefix     string
	roleARN    string
	region     string
	endpoint   string
	cacheBytes int64
	logLevel   slog.Level
	maxZoom    int
	probeKey   string
}

// errUsage marks flag errors: the usage was printed, the exit code is 2.
var errUsage = errors.New("usage")

// parseServeFlags parses the server's flags. On error it prints the problem and the usage to
// stderr and returns an error wrapping errUsage (or flag.ErrHelp for -h).
func parseServeFlags(args []string, stderr io.Writer) (serveOptions, error) {
	o := serveOptions{}
	fs := flag.NewFlagSet("privates3", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.addr, "addr", "127.0.0.1:8080", "listen `address` (host:port)")
	mode := fs.String("mode", "proxy", "`mode` of serving objects: proxy (bytes through this server, cached) or redirect (307 to stable presigned S3 URLs)")
	fs.StringVar(&o.bucket, "bucket", "", "S3 `bucket` to serve; if empty, a generated demo bucket in an embedded fake S3")
	fs.StringVar(&o.prefix, "prefix", "", "serve only keys under this `prefix` of -bucket (e.g. tiles/)")
	fs.StringVar(&o.roleARN, "role-arn", "", "IAM `role` to assume for reading -bucket; if empty, the base credentials read it directly")
	fs.StringVar(&o.region, "region", "", "AWS `region` of -bucket; if empty, from the environment or shared config")
	fs.StringVar(&o.endpoint, "endpoint", "", "S3 and STS endpoint `URL` for S3-compatible stores and `privates3 fake` (path-style addressing)")
	fs.Int64Var(&o.cacheBytes, "cache-bytes", privates3.DefaultCacheBytes, "memory `bytes` for cached objects (negative: no cache)")
	level := fs.String("log-level", "info", "log `level`: debug (one line per request), info, warn or error")
	fs.IntVar(&o.maxZoom, "max-zoom", 5, "deepest zoom `level` of the viewer, and of the generated demo tiles (0 to 8 for the demo)")
	fs.StringVar(&o.probeKey, "probe-key", "", "`key` read at start-up to check access to -bucket; if empty, a key that need not exist")
	fs.Usage = func() {
		fmt.Fprint(stderr, `Usage:
  privates3 [flags]          serve a bucket over HTTP (a generated demo bucket unless -bucket is set)
  privates3 fake [flags]     run only the fake S3 and STS (see privates3 fake -h)

Flags:
`)
		fs.PrintDefaults()
	}
	usage := func(format string, args ...any) (serveOptions, error) {
		errorf(stderr, format, args...)
		fs.Usage()
		return serveOptions{}, errUsage
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return serveOptions{}, err
		}
		return serveOptions{}, errUsage // the flag package printed the problem and the usage
	}
	if fs.NArg() > 0 {
		return usage("unexpected argument %q", fs.Arg(0))
	}
	switch *mode {
	case "proxy":
		o.mode = privates3.Proxy
	case "redirect":
		o.mode = privates3.Redirect
	default:
		return usage("-mode must be proxy or redirect (got %q)", *mode)
	}
	if err := o.logLevel.UnmarshalText([]byte(*level)); err != nil {
		return usage("-log-level must be debug, info, warn or error (got %q)", *level)
	}
	if _, _, err := net.SplitHostPort(o.addr); err != nil {
		return usage("-addr must be host:port (got %q)", o.addr)
	}
	if o.bucket == "" {
		for _, f := range []struct{ name, value string }{
			{"prefix", o.prefix}, {"role-arn", o.roleARN}, {"region", o.region}, {"endpoint", o.endpoint}, {"probe-key", o.probeKey},
		} {
			if f.value != "" {
				return usage("-%s needs -bucket (without -bucket the demo bucket is served)", f.name)
			}
		}
		if o.maxZoom < 0 || o.maxZoom > 8 {
			return usage("-max-zoom must be between 0 and 8 for the demo bucket (got %d)", o.maxZoom)
		}
	} else if o.maxZoom < 0 || o.maxZoom > 24 {
		return usage("-max-zoom must be between 0 and 24 (got %d)", o.maxZoom)
	}
	if o.endpoint != "" && !strings.HasPrefix(o.endpoint, "http://") && !strings.HasPrefix(o.endpoint, "https://") {
		return usage("-endpoint must be an http:// or https:// URL (got %q)", o.endpoint)
	}
	return o, nil
}

// app is a started server.
type app struct {
	opts   serveOptions
	log    *slog.Logger
	fake   *privates3test.Server // the embedded fake of the demo; nil with -bucket
	client *privates3.Client
	ln     net.Listener
	srv    *http.Server
	url    string // http://host:port/
	demo   *demoTiles
	tiles  int // demo tiles, rendered or being rendered
}

// runServe parses args, starts the server and serves until ctx is done. If ready is not nil, it is
// called with the started server (tests use it to find the address and the fake).
func runServe(ctx context.Context, args []string, stdout, stderr io.Writer, ready func(*app)) int {
	o, err := parseServeFlags(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return exitOK
	} else if err != nil {
		return exitUsage
	}
	a, err := start(ctx, o, stderr)
	if err != nil {
		errorf(stderr, "%v", err)
		return exitError
	}
	if a.fake != nil {
		fmt.Fprintf(stdout, "privates3: demo bucket %q: %d map tiles (zoom 0-%d) in an embedded fake S3 at %s\n",
			demoBucket, a.tiles, o.maxZoom, a.fake.URL)
		select {
		case <-a.demo.done:
		default:
			fmt.Fprintf(stdout, "privates3: zoom %d-%d still rendering in the background; their tiles wait for it\n",
				demoWaitZoom+1, o.maxZoom)
		}
	} else {
		fmt.Fprintf(stdout, "privates3: serving bucket %q\n", o.bucket)
	}
	fmt.Fprintf(stdout, "privates3: %s mode; open %s\n", o.mode, a.url)
	if ready != nil {
		ready(a)
	}
	if err := a.serve(ctx); err != nil {
		errorf(stderr, "%v", err)
		return exitError
	}
	return exitOK
}

// start builds the Client (and the demo fake), checks that the bucket is readable and listens.
// The returned app serves nothing until serve is called. On error everything started is stopped.
func start(ctx context.Context, o serveOptions, stderr io.Writer) (a *app, err error) {
	a = &app{
		opts: o,
		log:  slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: o.logLevel})),
	}
	defer func() {
		if err != nil {
			a.close()
			a = nil
		}
	}()
	var cfg privates3.Config
	probeKey := o.probeKey
	if o.bucket == "" {
		if err := a.startDemo(ctx); err != nil {
			return a, err
		}
		cfg = a.fake.Config(demoBucket)
		cfg.Prefix = demoPrefix
		probeKey = demoProbeKey
	} else {
		cfg = privates3.Config{
			Bucket:  o.bucket,
			Prefix:  o.prefix,
			RoleARN: o.roleARN,
		}
		if o.endpoint != "" {
			cfg.Endpoint, cfg.STSEndpoint, cfg.UsePathStyle = o.endpoint, o.endpoint, true
		}
		if o.region != "" {
			// The default credential chain, with the region overridden.
			awsCfg, err := config.LoadDefaultConfig(ctx, config.WithRegion(o.region))
			if err != nil {
				return a, fmt.Errorf("loading the AWS configuration: %w", err)
			}
			cfg.AWS = &awsCfg
		}
		if probeKey == "" {
			probeKey = defaultProbeKey
		}
	}
	cfg.CacheBytes = o.cacheBytes
	if cfg.CacheBytes == 0 {
		cfg.CacheBytes = -1 // -cache-bytes 0 means no cache, not the default
	}
	cfg.Logger = a.log

	a.client, err = privates3.New(ctx, cfg)
	if err != nil {
		if cfg.RoleARN != "" {
			return a, fmt.Errorf("cannot assume role %s for bucket %q: %w", cfg.RoleARN, cfg.Bucket, err)
		}
		return a, fmt.Errorf("cannot get credentials for bucket %q: %w", cfg.Bucket, err)
	}
	if err := a.probe(ctx, cfg, probeKey); err != nil {
		return a, err
	}

	a.ln, err = net.Listen("tcp", o.addr)
	if err != nil {
		return a, err
	}
	a.url = "http://" + a.ln.Addr().String() + "/"
	a.srv = &http.Server{
		Handler:           a.routes(),
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(a.log.Handler(), slog.LevelDebug),
	}
	return a, nil
}

// demoTiles tracks the rendering of the demo tiles, which goes on in the background after
// start-up for the deeper zoom levels.
type demoTiles struct {
	ready  []chan struct{} // ready[z] is closed when every tile of zoom z is in the bucket
	done   chan struct{}   // closed when rendering has ended
	err    error           // why rendering failed; read after done is closed
	cancel context.CancelFunc
}

// startDemo starts the embedded fake and renders the demo tiles into it on all cores. It returns
// once zoom levels 0 to demoWaitZoom are in the bucket; deeper levels follow in the background
// (requests for their tiles wait for them, see waitForTiles).
func (a *app) startDemo(ctx context.Context) error {
	fake, err := privates3test.Start()
	if err != nil {
		return fmt.Errorf("starting the embedded fake S3: %w", err)
	}
	a.fake = fake
	gctx, cancel := context.WithCancel(context.WithoutCancel(ctx)) // cancelled by close
	d := &demoTiles{ready: make([]chan struct{}, a.opts.maxZoom+1), done: make(chan struct{}), cancel: cancel}
	for z := range d.ready {
		d.ready[z] = make(chan struct{})
	}
	a.demo = d
	begin := time.Now()
	go func() {
		defer close(d.done)
		n, size, err := generateTiles(gctx, demoSeed, a.opts.maxZoom, func(key string, body []byte) error {
			fake.PutObject(demoBucket, demoPrefix+key, body,
				privates3test.ContentType("image/png"), privates3test.CacheControl(demoCacheControl))
			return nil
		}, func(z int) { close(d.ready[z]) })
		d.err = err
		if err != nil {
			if gctx.Err() == nil {
				a.log.Error("generating demo tiles", "err", err)
			}
			return
		}
		a.log.Info("demo tiles generated", "tiles", n, "bytes", size, "maxZoom", a.opts.maxZoom,
			"took", time.Since(begin).Round(time.Millisecond))
	}()
	select {
	case <-d.ready[min(a.opts.maxZoom, demoWaitZoom)]:
	case <-d.done:
		if d.err != nil {
			return fmt.Errorf("generating demo tiles: %w", d.err)
		}
	case <-ctx.Done():
		return fmt.Errorf("generating demo tiles: %w", context.Cause(ctx))
	}
	a.tiles = tileCount(a.opts.maxZoom)
	return nil
}

// waitForTiles holds requests for demo tiles of a zoom level still being rendered until it is
// complete (or rendering ended), so that no tile is answered 404 at start-up.
func (a *app) waitForTiles(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		zoom, _, _ := strings.Cut(r.URL.Path, "/")
		if z, err := strconv.Atoi(zoom); err == nil && z >= 0 && z < len(a.demo.ready) {
			select {
			case <-a.demo.ready[z]:
			case <-a.demo.done:
			case <-r.Context().Done():
				return
			}
		}
		next.ServeHTTP(w, r)
	})
}

// probe reads key once, so that a bucket the role cannot read is reported at start-up rather
// than at the first request.
func (a *app) probe(ctx context.Context, cfg privates3.Config, key string) error {
	ctx, cancel := context.WithTimeout(ctx, probeTimeout)
	defer cancel()
	obj, err := a.client.GetObject(ctx, key)
	if err == nil {
		obj.Body.Close()
		a.log.Debug("start-up probe: object readable", "key", key)
		return nil
	}
	where := fmt.Sprintf("s3://%s/%s", cfg.Bucket, cfg.Prefix)
	who := "the base credentials"
	if cfg.RoleARN != "" {
		who = "role " + cfg.RoleARN
	}
	switch {
	case errors.Is(err, privates3.ErrNotFound) && s3Code(err) == "NoSuchBucket":
		return fmt.Errorf("bucket %q does not exist (S3 NoSuchBucket)", cfg.Bucket)
	case errors.Is(err, privates3.ErrNotFound):
		// S3 says "not found" only to those allowed to list the bucket; otherwise a missing key
		// is "access denied" (below).
		if a.opts.probeKey != "" {
			return fmt.Errorf("probe key %q not found in %s: %w", key, where, err)
		}
		a.log.Debug("start-up probe: bucket readable (probe key absent, as expected)", "key", key)
		return nil
	case errors.Is(err, privates3.ErrAccessDenied):
		hint := "it needs s3:GetObject on arn:aws:s3:::" + cfg.Bucket + "/" + cfg.Prefix + "*"
		if a.opts.probeKey == "" && cfg.Bucket != demoBucket {
			hint += " (and s3:ListBucket, or -probe-key naming an existing key, to tell a missing key from a denied one)"
		}
		return fmt.Errorf("%s cannot read %s: %w; %s", who, where, err, hint)
	default:
		return fmt.Errorf("cannot read %s (probe of key %q): %w", where, key, err)
	}
}

// s3Code returns the error code of S3's answer that err wraps, or "".
func s3Code(err error) string {
	var api interface{ ErrorCode() string }
	if errors.As(err, &api) {
		return api.ErrorCode()
	}
	return ""
}

// routes returns the server's handler.
func (a *app) routes() http.Handler {
	mux := http.NewServeMux()
	tiles := a.client.Handler(&privates3.HandlerOptions{Mode: a.opts.mode})
	if a.demo != nil {
		tiles = a.waitForTiles(tiles)
	}
	mux.Handle("/tiles/", http.StripPrefix("/tiles/", tiles))
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Header().Set("Cache-Control", "no-cache")
		w.Header().Set("Content-Security-Policy", "default-src 'self'; img-src *; style-src 'unsafe-inline'; script-src 'unsafe-inline'")
		http.ServeContent(w, r, "index.html", time.Time{}, bytes.NewReader(viewerHTML))
	})
	mux.HandleFunc("GET /config.json", func(w http.ResponseWriter, r *http.Request) {
		bucket := a.opts.bucket
		if bucket == "" {
			bucket = demoBucket
		}
		writeJSON(w, map[string]any{
			"tiles":   "tiles/{z}/{x}/{y}.png",
			"maxZoom": a.opts.maxZoom,
			"mode":    a.opts.mode.String(),
			"bucket":  bucket,
		})
	})
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
		io.WriteString(w, "ok\n")
	})
	mux.HandleFunc("GET /debug/privates3/stats", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, a.client.Stats())
	})
	return a.logRequests(mux)
}

func writeJSON(w http.ResponseWriter, v any) {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.Write(append(b, '\n'))
}

// statusWriter records the status and size of a response, for the request log.
type statusWriter struct {
	http.ResponseWriter
	status int
	bytes  int64
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(p []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	n, err := w.ResponseWriter.Write(p)
	w.bytes += int64(n)
	return n, err
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// logRequests logs one line per request at debug level. It logs the path, never the query (which
// may carry signatures of other services).
func (a *app) logRequests(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !a.log.Enabled(r.Context(), slog.LevelDebug) {
			next.ServeHTTP(w, r)
			return
		}
		begin := time.Now()
		sw := &statusWriter{ResponseWriter: w}
		next.ServeHTTP(sw, r)
		a.log.LogAttrs(r.Context(), slog.LevelDebug, "request",
			slog.String("method", r.Method), slog.String("path", r.URL.Path),
			slog.Int("status", sw.status), slog.Int64("bytes", sw.bytes),
			slog.Duration("took", time.Since(begin)), slog.String("remote", r.RemoteAddr))
	})
}

// serve answers requests until ctx is done, then drains the requests in flight (for at most
// shutdownTimeout) and closes the Client and the fake.
func (a *app) serve(ctx context.Context) error {
	errc := make(chan error, 1)
	go func() { errc <- a.srv.Serve(a.ln) }()
	var err error
	select {
	case err = <-errc:
	case <-ctx.Done():
		a.log.Info("shutting down")
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), shutdownTimeout)
		err = a.srv.Shutdown(sctx)
		cancel()
		if serr := <-errc; !errors.Is(serr, http.ErrServerClosed) && err == nil {
			err = serr
		}
	}
	a.close()
	if errors.Is(err, http.ErrServerClosed) {
		err = nil
	}
	return err
}

// close releases what start acquired. It is safe on a partly started app.
func (a *app) close() {
	if a.ln != nil {
		a.ln.Close() // already closed if serve ran; the error is irrelevant
	}
	if a.client != nil {
		a.client.Close()
	}
	if a.demo != nil {
		a.demo.cancel()
		<-a.demo.done
	}
	if a.fake != nil {
		a.fake.Close()
	}
}
