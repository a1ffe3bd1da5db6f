package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"

	"github.com/privates3/privates3"
	"github.com/privates3/privates3/privates3test"
)

// errUsage marks flag errors: the problem and the usage were printed, the exit code is 2.
var errUsage = errors.New("usage")

// newFlagSet returns the flag set of command name, whose usage is head and then the flags.
func newFlagSet(name, head string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(stderr, head+"\nFlags:\n")
		fs.PrintDefaults()
	}
	return fs
}

// parseFlags parses args with fs and checks what both commands require: no arguments after the
// flags, and addr (the -addr flag) host:port. It returns nil, flag.ErrHelp for -h, or errUsage.
func parseFlags(fs *flag.FlagSet, args []string, addr *string) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return errUsage // the flag package printed the problem and the usage
	}
	if fs.NArg() > 0 {
		return usageError(fs, "unexpected argument %q", fs.Arg(0))
	}
	if _, _, err := net.SplitHostPort(*addr); err != nil {
		return usageError(fs, "-addr must be host:port (got %q)", *addr)
	}
	return nil
}

// usageError prints the problem as one line "privates3: ..." and the usage of fs, and returns
// errUsage.
func usageError(fs *flag.FlagSet, format string, args ...any) error {
	errorf(fs.Output(), format, args...)
	fs.Usage()
	return errUsage
}

// exitCode is the exit code for an error of flag parsing: 0 for -h, else 2.
func exitCode(err error) int {
	if errors.Is(err, flag.ErrHelp) {
		return exitOK
	}
	return exitUsage
}

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
	logFormat  string // "text" or "json"
	maxZoom    int
	probeKey   string
	redis      string // URL of the shared cache tier; "" for none
	cloudfront bool   // -mode cloudfront: the demo behind a fake CloudFront edge (mode is Proxy)
	pmtiles    bool   // the demo's tiles as one PMTiles archive
}

// modeName is the -mode flag's value.
func (o serveOptions) modeName() string {
	if o.cloudfront {
		return "cloudfront"
	}
	return o.mode.String()
}

// parseServeFlags parses the server's flags. On error it prints the problem and the usage to
// stderr and returns an error wrapping errUsage (or flag.ErrHelp for -h).
func parseServeFlags(args []string, stderr io.Writer) (serveOptions, error) {
	o := serveOptions{}
	fs := newFlagSet("privates3", `Usage:
  privates3 [flags]          serve a bucket over HTTP (a generated demo bucket unless -bucket is set)
  privates3 fake [flags]     run only the fake S3 and STS (see privates3 fake -h)
`, stderr)
	fs.StringVar(&o.addr, "addr", "127.0.0.1:8080", "listen `address` (host:port)")
	mode := fs.String("mode", "proxy", "`mode` of serving objects: proxy (bytes through this server, cached), redirect (307 to stable presigned S3 URLs) or cloudfront (demo only: tiles from a fake CloudFront edge, authorized by signed cookies)")
	fs.StringVar(&o.bucket, "bucket", "", "S3 `bucket` to serve; if empty, a generated demo bucket in an embedded fake S3")
	fs.StringVar(&o.prefix, "prefix", "", "serve only keys under this `prefix` of -bucket (e.g. tiles/)")
	fs.StringVar(&o.roleARN, "role-arn", "", "IAM `role` to assume for reading -bucket; if empty, the base credentials read it directly")
	fs.StringVar(&o.region, "region", "", "AWS `region` of -bucket; if empty, from the environment or shared config")
	fs.StringVar(&o.endpoint, "endpoint", "", "S3 and STS endpoint `URL` for S3-compatible stores and `privates3 fake` (path-style addressing)")
	fs.Int64Var(&o.cacheBytes, "cache-bytes", privates3.DefaultCacheBytes, "memory `bytes` for cached objects (negative: no cache)")
	level := fs.String("log-level", "info", "log `level`: debug (one line per request), info, warn or error")
	fs.StringVar(&o.logFormat, "log-format", "text", "log `format`: text (key=value lines) or json (one JSON object per line)")
	fs.IntVar(&o.maxZoom, "max-zoom", 5, "deepest zoom `level` of the viewer, and of the generated demo tiles (0 to 8 for the demo)")
	fs.StringVar(&o.probeKey, "probe-key", "", "`key` read at start-up to check access to -bucket; if empty, a key that need not exist")
	fs.StringVar(&o.redis, "redis", "", "`URL` of a Redis or Valkey shared by all instances as a cache tier (redis://host:6379/0, rediss:// for TLS, user and password in the URL or the password in $"+redisPasswordEnv+"); if empty, none")
	fs.BoolVar(&o.pmtiles, "pmtiles", false, "demo only: pack the generated tiles into one PMTiles archive ("+demoPrefix+demoArchiveKey+") and serve them from it")
	if err := parseFlags(fs, args, &o.addr); err != nil {
		return serveOptions{}, err
	}
	if err := o.check(fs, *mode, *level); err != nil {
		return serveOptions{}, err
	}
	// The values of -bucket, -prefix, -role-arn and -endpoint are checked by privates3.New.
	return o, nil
}

// check sets the mode and log level from their flags' values and checks the flags' combination.
func (o *serveOptions) check(fs *flag.FlagSet, mode, level string) error {
	modes := map[string]privates3.Mode{"proxy": privates3.Proxy, "redirect": privates3.Redirect, "cloudfront": privates3.Proxy}
	var ok bool
	if o.mode, ok = modes[mode]; !ok {
		return usageError(fs, "-mode must be proxy, redirect or cloudfront (got %q)", mode)
	}
	if o.cloudfront = mode == "cloudfront"; o.cloudfront && o.bucket != "" {
		return usageError(fs, "-mode cloudfront is a demo of the fake CloudFront edge and takes no -bucket (see README, Serving through CloudFront)")
	}
	if err := o.logLevel.UnmarshalText([]byte(level)); err != nil {
		return usageError(fs, "-log-level must be debug, info, warn or error (got %q)", level)
	}
	if o.logFormat != "text" && o.logFormat != "json" {
		return usageError(fs, "-log-format must be text or json (got %q)", o.logFormat)
	}
	if o.pmtiles && o.bucket != "" {
		return usageError(fs, "-pmtiles is for the demo bucket: it needs no -bucket")
	}
	if o.pmtiles && o.mode != privates3.Proxy {
		return usageError(fs, "-pmtiles serves tiles out of one archive through this server: it needs -mode proxy")
	}
	return o.checkBucket(fs)
}

// checkBucket checks the flags that depend on whether -bucket is set.
func (o *serveOptions) checkBucket(fs *flag.FlagSet) error {
	if o.bucket == "" {
		for _, f := range []struct{ name, value string }{
			{"prefix", o.prefix}, {"role-arn", o.roleARN}, {"region", o.region}, {"endpoint", o.endpoint}, {"probe-key", o.probeKey},
		} {
			if f.value != "" {
				return usageError(fs, "-%s needs -bucket (without -bucket the demo bucket is served)", f.name)
			}
		}
		if o.maxZoom < 0 || o.maxZoom > 8 {
			return usageError(fs, "-max-zoom must be between 0 and 8 for the demo bucket (got %d)", o.maxZoom)
		}
	} else if o.maxZoom < 0 || o.maxZoom > 24 {
		return usageError(fs, "-max-zoom must be between 0 and 24 (got %d)", o.maxZoom)
	}
	return nil
}

// fakeOptions are the flags of `privates3 fake`.
type fakeOptions struct {
	addr   string
	bucket string
	seed   string // directory to upload; "" for none
	tiles  int    // deepest zoom of the demo tiles to upload; -1 for none
	region string
}

// parseFakeFlags parses the flags of `privates3 fake` as parseServeFlags does. It returns the
// flag set too, for the check of -bucket, which needs the fake (see runFake).
func parseFakeFlags(args []string, stderr io.Writer) (fakeOptions, *flag.FlagSet, error) {
	o := fakeOptions{}
	fs := newFlagSet("privates3 fake", `Usage:
  privates3 fake [flags]

Runs only the fake S3 and STS (privates3test) until interrupted, and prints the endpoint, region,
base keys and the ARN of a role that may read the bucket, as shell exports.
`, stderr)
	fs.StringVar(&o.addr, "addr", "127.0.0.1:9000", "listen `address` (host:port); keep it on loopback: the fake's keys are printed for anyone")
	fs.StringVar(&o.bucket, "bucket", "demo", "`bucket` the printed role may read, and where -seed and -tiles upload")
	fs.StringVar(&o.seed, "seed", "", "upload the files under `dir` into the bucket (keys are their paths relative to dir)")
	fs.IntVar(&o.tiles, "tiles", -1, "upload the demo map tiles of zoom 0 to `N` (at most 8) under the key prefix "+demoPrefix+"; -1: none")
	fs.StringVar(&o.region, "region", privates3test.DefaultRegion, "`region` the fake claims to be in")
	if err := parseFlags(fs, args, &o.addr); err != nil {
		return o, fs, err
	}
	if o.region == "" {
		return o, fs, usageError(fs, "-region must not be empty")
	}
	if o.tiles < -1 || o.tiles > 8 {
		return o, fs, usageError(fs, "-tiles must be between -1 and 8 (got %d)", o.tiles)
	}
	return o, fs, nil
}
