package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"mime"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/privates3/privates3/privates3test"
)

// runFake is `privates3 fake`: the fake S3 and STS of privates3test, alone, for other clients.
func runFake(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fl := flag.NewFlagSet("privates3 fake", flag.ContinueOnError)
	fl.SetOutput(stderr)
	addr := fl.String("addr", "127.0.0.1:9000", "listen `address` (host:port); keep it on loopback: the fake's keys are printed for anyone")
	bucket := fl.String("bucket", "demo", "`bucket` the printed role may read, and where -seed and -tiles upload")
	seed := fl.String("seed", "", "upload the files under `dir` into the bucket (keys are their paths relative to dir)")
	tiles := fl.Int("tiles", -1, "upload the demo map tiles of zoom 0 to `N` (at most 8) under the key prefix "+demoPrefix+"; -1: none")
	region := fl.String("region", privates3test.DefaultRegion, "`region` the fake claims to be in")
	fl.Usage = func() {
		fmt.Fprint(stderr, `Usage:
  privates3 fake [flags]

Runs only the fake S3 and STS (privates3test) until interrupted, and prints the endpoint, region,
base keys and the ARN of a role that may read the bucket, as shell exports.

Flags:
`)
		fl.PrintDefaults()
	}
	usage := func(format string, args ...any) int {
		errorf(stderr, format, args...)
		fl.Usage()
		return exitUsage
	}
	if err := fl.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK
		}
		return exitUsage
	}
	if fl.NArg() > 0 {
		return usage("unexpected argument %q", fl.Arg(0))
	}
	if _, _, err := net.SplitHostPort(*addr); err != nil {
		return usage("-addr must be host:port (got %q)", *addr)
	}
	if !validBucket(*bucket) {
		return usage("-bucket must be 3 to 63 characters of a-z, 0-9, '.' and '-' (got %q)", *bucket)
	}
	if *region == "" {
		return usage("-region must not be empty")
	}
	if *tiles < -1 || *tiles > 8 {
		return usage("-tiles must be between -1 and 8 (got %d)", *tiles)
	}

	// The fake runs in-process and this command serves its handler, so that the listener is
	// exactly -addr (including port 0) and a busy port is an error rather than a panic.
	srv := privates3test.NewServer(privates3test.InProcess(), privates3test.Region(*region))
	defer srv.Close()
	role := srv.ReaderRole(*bucket)

	var seeded []string
	if *seed != "" {
		n, size, err := seedBucket(srv, *bucket, *seed)
		if err != nil {
			errorf(stderr, "seeding s3://%s/ from %s: %v", *bucket, *seed, err)
			return exitError
		}
		seeded = append(seeded, fmt.Sprintf("%d files (%d bytes) from %s", n, size, *seed))
	}
	if *tiles >= 0 {
		n, size, err := generateTiles(ctx, demoSeed, *tiles, func(key string, body []byte) error {
			srv.PutObject(*bucket, demoPrefix+key, body,
				privates3test.ContentType("image/png"), privates3test.CacheControl(demoCacheControl))
			return nil
		}, nil)
		if err != nil {
			errorf(stderr, "generating tiles: %v", err)
			return exitError
		}
		seeded = append(seeded, fmt.Sprintf("%d map tiles (%d bytes) under %s", n, size, demoPrefix))
	}

	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		errorf(stderr, "%v", err)
		return exitError
	}
	hs := &http.Server{Handler: srv.Handler(), ReadHeaderTimeout: time.Minute}
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(ln) }()

	endpoint := "http://" + ln.Addr().String()
	base := srv.BaseCredentials()
	w := &errWriter{w: stdout}
	w.printf("# privates3 fake: S3 and STS at %s (region %s) until interrupted.\n", endpoint, *region)
	w.printf("# Paste into a shell. The keys are the fake's own and die with it.\n")
	for _, kv := range [][2]string{
		{"AWS_ENDPOINT_URL", endpoint},
		{"AWS_REGION", *region},
		{"AWS_DEFAULT_REGION", *region},
		{"AWS_ACCESS_KEY_ID", base.AccessKeyID},
		{"AWS_SECRET_ACCESS_KEY", base.SecretAccessKey},
		{"PRIVATES3_BUCKET", *bucket},
		{"PRIVATES3_ROLE_ARN", role},
	} {
		w.printf("export %s=%s\n", kv[0], shellQuote(kv[1]))
	}
	w.printf("unset AWS_SESSION_TOKEN AWS_PROFILE\n")
	w.printf("# AWS CLI older than 2.13 ignores AWS_ENDPOINT_URL: add --endpoint-url \"$AWS_ENDPOINT_URL\" (path-style).\n")
	for _, s := range seeded {
		w.printf("# s3://%s/: %s\n", *bucket, s)
	}
	serveCmd := `privates3 -bucket "$PRIVATES3_BUCKET" -role-arn "$PRIVATES3_ROLE_ARN" -endpoint "$AWS_ENDPOINT_URL"`
	if *tiles >= 0 {
		serveCmd += fmt.Sprintf(" -prefix %s -probe-key 0/0/0.png -max-zoom %d", demoPrefix, *tiles)
	}
	w.printf("# Serve it: %s -addr 127.0.0.1:8080\n", serveCmd)
	if w.err != nil {
		errorf(stderr, "writing the exports: %v", w.err)
	}

	select {
	case err = <-errc:
	case <-ctx.Done():
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), shutdownTimeout)
		err = hs.Shutdown(sctx)
		cancel()
		<-errc
	}
	if err != nil && !errors.Is(err, http.ErrServerClosed) {
		errorf(stderr, "%v", err)
		return exitError
	}
	return exitOK
}

// seedBucket uploads every regular file under dir into bucket, with its path relative to dir
// (slash-separated) as key and a Content-Type from its extension or content.
func seedBucket(srv *privates3test.Server, bucket, dir string) (n int, size int64, err error) {
	info, err := os.Stat(dir)
	if err != nil {
		return 0, 0, err
	}
	if !info.IsDir() {
		return 0, 0, fmt.Errorf("%s is not a directory", dir)
	}
	err = filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return err
		}
		rel, err := filepath.Rel(dir, path)
		if err != nil {
			return err
		}
		body, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		ctype := mime.TypeByExtension(filepath.Ext(path))
		if ctype == "" {
			ctype = http.DetectContentType(body)
		}
		srv.PutObject(bucket, filepath.ToSlash(rel), body, privates3test.ContentType(ctype))
		n++
		size += int64(len(body))
		return nil
	})
	return n, size, err
}

// validBucket reports whether b is a bucket name the fake and S3 accept (the simple rules).
func validBucket(b string) bool {
	if len(b) < 3 || len(b) > 63 {
		return false
	}
	for _, ch := range b {
		if !(ch >= 'a' && ch <= 'z' || ch >= '0' && ch <= '9' || ch == '.' || ch == '-') {
			return false
		}
	}
	return true
}

// shellQuote returns s as one word for a POSIX shell.
func shellQuote(s string) string {
	if s != "" && strings.Trim(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789+-./:=@_,") == "" {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// errWriter keeps the first write error, so that a sequence of prints is checked once.
type errWriter struct {
	w   io.Writer
	err error
}

func (w *errWriter) printf(format string, args ...any) {
	if w.err == nil {
		_, w.err = fmt.Fprintf(w.w, format, args...)
	}
}
