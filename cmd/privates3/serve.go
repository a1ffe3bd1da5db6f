package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"time"

	"github.com/aws/aws-sdk-go-v2/config"

	"github.com/privates3/privates3"
	"github.com/privates3/privates3/privates3test"
	"github.com/privates3/privates3/rediscache"
)

// redisPasswordEnv names the environment variable with the password of -redis, for URLs without
// one (a password in the command line is visible to every user of the machine).
const redisPasswordEnv = "PRIVATES3_REDIS_PASSWORD"

const (
	// defaultProbeKey is read at start-up to check that the role can read the bucket; it need not
	// exist (not found proves access when the role may list the bucket).
	defaultProbeKey = "privates3-start-up-probe"
	probeTimeout    = 15 * time.Second
)

// app is a started server.
type app struct {
	opts   serveOptions
	log    *slog.Logger
	fake   *privates3test.Server // the embedded fake of the demo; nil with -bucket
	demo   *demoTiles            // the demo's rendering; nil with -bucket
	tiles  int                   // demo tiles, rendered or being rendered
	bucket string                // the bucket served
	client *privates3.Client
	cfg    privates3.Config // the Client's
	probe  probeFunc        // reads the bucket once (start-up and /readyz)
	tel    *telemetry       // metrics.go
	// readyTTL is how long /readyz reuses a probe's result (readyProbeTTL; tests change it
	// before the server serves).
	readyTTL time.Duration
	shared   *rediscache.Cache // the -redis tier; nil without
	cf       *cloudFrontDemo   // -mode cloudfront's fake edge; nil otherwise
	ln       net.Listener
	url      string // http://host:port/
}

// runServe parses args, starts the server and serves until ctx is done. If ready is not nil, it is
// called with the started server (tests use it to find the address and the fake).
func runServe(ctx context.Context, args []string, stdout, stderr io.Writer, ready func(*app)) int {
	o, err := parseServeFlags(args, stderr)
	if err != nil {
		return exitCode(err)
	}
	a, err := start(ctx, o, stderr)
	if err != nil {
		errorf(stderr, "%v", err)
		if errors.Is(err, privates3.ErrInvalidConfig) || errors.Is(err, rediscache.ErrInvalidOptions) {
			return exitUsage // a flag's value that the library refuses
		}
		return exitError
	}
	if a.demo != nil {
		fmt.Fprintf(stdout, "privates3: demo bucket %q: %d map tiles (zoom 0-%d) in an embedded fake S3 at %s\n",
			demoBucket, a.tiles, o.maxZoom, a.fake.URL)
		if o.pmtiles {
			fmt.Fprintf(stdout, "privates3: the tiles are one PMTiles archive, s3://%s/%s%s (TileJSON at %stiles/%s.json)\n",
				demoBucket, demoPrefix, demoArchiveKey, a.url, demoArchive)
		}
		select {
		case <-a.demo.done:
		default:
			fmt.Fprintf(stdout, "privates3: zoom %d-%d still rendering in the background; their tiles wait for it\n",
				demoWaitZoom+1, o.maxZoom)
		}
	} else {
		fmt.Fprintf(stdout, "privates3: serving bucket %q\n", o.bucket)
	}
	if a.cf != nil {
		fmt.Fprintf(stdout, "privates3: fake CloudFront edge at %s (key group: one key generated at start-up, %s); tiles need the signed cookies of %s\n",
			a.cf.edge.URL, demoKeyID, cookiesPath)
	}
	fmt.Fprintf(stdout, "privates3: %s mode; open %s\n", o.modeName(), a.url)
	if ready != nil {
		ready(a)
	}
	defer a.close()
	return serveUntil(ctx, a.ln, a.routes(), a.log, stderr)
}

// start builds the Client (and the demo), checks that the bucket is readable and listens. The
// returned app serves nothing until serveUntil runs. On error everything started is stopped.
func start(ctx context.Context, o serveOptions, stderr io.Writer) (a *app, err error) {
	a = &app{opts: o, log: newLogger(o, stderr), readyTTL: readyProbeTTL}
	defer func() {
		if err != nil {
			a.close()
			a = nil
		}
	}()
	cfg, probeKey, err := a.config(ctx)
	if err != nil {
		return a, err
	}
	a.bucket = cfg.Bucket
	cfg.CacheBytes = o.cacheBytes
	if cfg.CacheBytes == 0 {
		cfg.CacheBytes = -1 // -cache-bytes 0 means no cache, not the default
	}
	cfg.Logger = a.log
	if a.tel, err = newTelemetry(); err != nil {
		return a, err
	}
	cfg.MeterProvider = a.tel.provider
	if o.redis != "" {
		if cfg.SharedCache, err = a.startShared(ctx, o.redis); err != nil {
			return a, err
		}
	}
	// The library validates the configuration (the bucket name included) and names the field.
	if a.client, err = privates3.New(ctx, cfg); err != nil {
		switch {
		case errors.Is(err, privates3.ErrInvalidConfig):
			return a, fmt.Errorf("bad flag value: %w", err)
		case cfg.RoleARN != "":
			return a, fmt.Errorf("cannot assume role %s for bucket %q: %w", cfg.RoleARN, cfg.Bucket, err)
		}
		return a, fmt.Errorf("cannot get credentials for bucket %q: %w", cfg.Bucket, err)
	}
	a.cfg = cfg
	a.probe = func(ctx context.Context) error { return a.probeKey(ctx, probeKey) }
	if err := a.probe(ctx); err != nil {
		return a, err
	}
	if a.ln, err = net.Listen("tcp", o.addr); err != nil {
		return a, err
	}
	a.url = "http://" + a.ln.Addr().String() + "/"
	if o.cloudfront {
		if a.cf, err = a.startCloudFront(); err != nil {
			return a, err
		}
	}
	return a, nil
}

// config returns the Client's configuration and the key to probe at start-up: for the demo,
// after starting the embedded fake and the rendering of the tiles; else from the flags.
func (a *app) config(ctx context.Context) (cfg privates3.Config, probeKey string, err error) {
	o := a.opts
	if o.bucket == "" {
		if a.fake, err = privates3test.Start(); err != nil {
			return cfg, "", fmt.Errorf("starting the embedded fake S3: %w", err)
		}
		if a.demo, err = startDemo(ctx, a.fake, o.maxZoom, o.pmtiles, a.log); err != nil {
			return cfg, "", err
		}
		a.tiles = tileCount(o.maxZoom)
		cfg = a.fake.Config(demoBucket)
		cfg.Prefix = demoPrefix
		if o.pmtiles {
			return cfg, demoArchiveKey, nil
		}
		return cfg, demoProbeKey, nil
	}
	cfg = privates3.Config{Bucket: o.bucket, Prefix: o.prefix, RoleARN: o.roleARN}
	if o.endpoint != "" {
		cfg.Endpoint, cfg.STSEndpoint, cfg.UsePathStyle = o.endpoint, o.endpoint, true
	}
	if o.region != "" {
		// The default credential chain, with the region overridden.
		awsCfg, err := config.LoadDefaultConfig(ctx, config.WithRegion(o.region))
		if err != nil {
			return cfg, "", fmt.Errorf("loading the AWS configuration: %w", err)
		}
		cfg.AWS = &awsCfg
	}
	if probeKey = o.probeKey; probeKey == "" {
		probeKey = defaultProbeKey
	}
	return cfg, probeKey, nil
}

// startShared starts the shared cache tier of -redis and checks it once. An unreachable Redis is
// only a warning: the tier falls back to S3 and reconnects by itself.
func (a *app) startShared(ctx context.Context, url string) (privates3.SharedCache, error) {
	sc, err := rediscache.New(rediscache.Options{URL: url, Password: os.Getenv(redisPasswordEnv), Logger: a.log})
	if err != nil {
		return nil, fmt.Errorf("bad flag value: -redis: %w", err)
	}
	a.shared = sc
	// The first connection is made in the background: give it a second.
	ctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	err = sc.Ping(ctx)
	for err != nil && ctx.Err() == nil && (errors.Is(err, rediscache.ErrUnavailable) || errors.Is(err, rediscache.ErrTimeout)) {
		select {
		case <-ctx.Done():
		case <-time.After(50 * time.Millisecond):
		}
		err = sc.Ping(ctx)
	}
	if err != nil {
		a.log.Warn("shared cache tier not reachable at start-up; serving from S3 until it is", "err", err)
	} else {
		a.log.Info("shared cache tier reachable")
	}
	return sc, nil
}

// probeFunc checks that the bucket is readable.
type probeFunc func(ctx context.Context) error

// probeKey reads the first byte of key from S3 (never from the cache), so that a bucket the role
// cannot read is reported at start-up rather than at the first request, and /readyz sees S3
// and STS as they are now.
func (a *app) probeKey(ctx context.Context, key string) error {
	ctx, cancel := context.WithTimeout(ctx, probeTimeout)
	defer cancel()
	cfg := a.cfg
	obj, err := a.client.ReadRange(ctx, key, 0, 1, "")
	if err == nil {
		obj.Body.Close()
		a.log.Debug("probe: object readable", "key", key)
		return nil
	}
	if errors.Is(err, privates3.ErrRangeNotSatisfiable) { // an empty object
		a.log.Debug("probe: object readable (empty)", "key", key)
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
		a.log.Debug("probe: bucket readable (probe key absent, as expected)", "key", key)
		return nil
	case errors.Is(err, privates3.ErrAccessDenied):
		hint := "it needs s3:GetObject on arn:aws:s3:::" + cfg.Bucket + "/" + cfg.Prefix + "*"
		if a.opts.probeKey == "" && a.demo == nil {
			hint += " (and s3:ListBucket, or -probe-key naming an existing key, to tell a missing key from a denied one)"
		}
		return fmt.Errorf("%s cannot read %s: %w; %s", who, where, err, hint)
	default:
		return fmt.Errorf("cannot read %s (probe of key %q): %w", where, key, err)
	}
}

// newLogger returns the server's logger: text or JSON lines (-log-format) at -log-level.
func newLogger(o serveOptions, w io.Writer) *slog.Logger {
	ho := &slog.HandlerOptions{Level: o.logLevel}
	if o.logFormat == "json" {
		return slog.New(slog.NewJSONHandler(w, ho))
	}
	return slog.New(slog.NewTextHandler(w, ho))
}

// s3Code returns the error code of S3's answer that err wraps, or "".
func s3Code(err error) string {
	var api interface{ ErrorCode() string }
	if errors.As(err, &api) {
		return api.ErrorCode()
	}
	return ""
}

// close releases what start acquired. It is safe on a partly started app.
func (a *app) close() {
	if a.ln != nil {
		a.ln.Close() // already closed if serveUntil ran; the error is irrelevant
	}
	if a.cf != nil {
		a.cf.close()
	}
	if a.client != nil {
		a.client.Close()
	}
	a.tel.close()
	if a.shared != nil {
		a.shared.Close()
	}
	if a.demo != nil {
		a.demo.close()
	}
	if a.fake != nil {
		a.fake.Close()
	}
}
