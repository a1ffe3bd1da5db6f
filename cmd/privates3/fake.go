package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"mime"
	"net"
	"net/http"
	"os"
	"path"
	"strings"

	"github.com/privates3/privates3"
	"github.com/privates3/privates3/privates3test"
)

// runFake is `privates3 fake`: the fake S3 and STS of privates3test, alone, for other clients.
func runFake(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	o, fl, err := parseFakeFlags(args, stderr)
	if err != nil {
		return exitCode(err)
	}
	// The fake runs in-process and this command serves its handler, so that the listener is
	// exactly -addr (including port 0) and a busy port is an error rather than a panic.
	srv := privates3test.NewServer(privates3test.InProcess(), privates3test.Region(o.region))
	defer srv.Close()
	if err := checkReader(ctx, srv, o.bucket); errors.Is(err, privates3.ErrInvalidConfig) {
		return exitCode(usageError(fl, "-bucket must be a name S3 accepts: %v", err))
	} else if err != nil {
		errorf(stderr, "the printed role cannot read s3://%s/: %v", o.bucket, err)
		return exitError
	}

	var seeded []string
	if o.seed != "" {
		n, size, err := seedBucket(srv, o.bucket, o.seed)
		if err != nil {
			errorf(stderr, "seeding s3://%s/ from %s: %v", o.bucket, o.seed, err)
			return exitError
		}
		seeded = append(seeded, fmt.Sprintf("%d files (%d bytes) from %s", n, size, o.seed))
	}
	if o.tiles >= 0 {
		n, size, err := putTiles(ctx, srv, o.bucket, o.tiles, nil)
		if err != nil {
			errorf(stderr, "generating tiles: %v", err)
			return exitError
		}
		seeded = append(seeded, fmt.Sprintf("%d map tiles (%d bytes) under %s", n, size, demoPrefix))
	}

	log := slog.New(slog.NewTextHandler(stderr, nil))
	ln, err := net.Listen("tcp", o.addr)
	if err != nil {
		errorf(stderr, "%v", err)
		return exitError
	}
	if _, err := io.WriteString(stdout, exports(srv, o, "http://"+ln.Addr().String(), seeded)); err != nil {
		errorf(stderr, "writing the exports: %v", err)
	}
	return serveUntil(ctx, ln, srv.Handler(), log, stderr)
}

// checkReader checks with a privates3 Client, as `privates3 -bucket` will build one, that the
// reader role of bucket can be assumed: an invalid bucket name is the Client's ErrInvalidConfig.
// It runs on the fake alone, so a cancelled ctx does not stop it.
func checkReader(ctx context.Context, srv *privates3test.Server, bucket string) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), probeTimeout)
	defer cancel()
	c, err := privates3.New(ctx, srv.Config(bucket))
	if err != nil {
		return err
	}
	return c.Close()
}

// exports is what `privates3 fake` prints: shell exports for a fake at endpoint, and how to use it.
func exports(srv *privates3test.Server, o fakeOptions, endpoint string, seeded []string) string {
	var b strings.Builder
	base := srv.BaseCredentials()
	fmt.Fprintf(&b, "# privates3 fake: S3 and STS at %s (region %s) until interrupted.\n", endpoint, o.region)
	fmt.Fprintf(&b, "# Paste into a shell. The keys are the fake's own and die with it.\n")
	for _, kv := range [][2]string{
		{"AWS_ENDPOINT_URL", endpoint},
		{"AWS_REGION", o.region},
		{"AWS_DEFAULT_REGION", o.region},
		{"AWS_ACCESS_KEY_ID", base.AccessKeyID},
		{"AWS_SECRET_ACCESS_KEY", base.SecretAccessKey},
		{"PRIVATES3_BUCKET", o.bucket},
		{"PRIVATES3_ROLE_ARN", srv.ReaderRole(o.bucket)},
	} {
		fmt.Fprintf(&b, "export %s=%s\n", kv[0], shellQuote(kv[1]))
	}
	fmt.Fprintf(&b, "unset AWS_SESSION_TOKEN AWS_PROFILE\n")
	fmt.Fprintf(&b, "# AWS CLI older than 2.13 ignores AWS_ENDPOINT_URL: add --endpoint-url \"$AWS_ENDPOINT_URL\" (path-style).\n")
	for _, s := range seeded {
		fmt.Fprintf(&b, "# s3://%s/: %s\n", o.bucket, s)
	}
	serveCmd := `privates3 -bucket "$PRIVATES3_BUCKET" -role-arn "$PRIVATES3_ROLE_ARN" -endpoint "$AWS_ENDPOINT_URL"`
	if o.tiles >= 0 {
		serveCmd += fmt.Sprintf(" -prefix %s -probe-key %s -max-zoom %d", demoPrefix, demoProbeKey, o.tiles)
	}
	fmt.Fprintf(&b, "# Serve it: %s -addr 127.0.0.1:8080\n", serveCmd)
	return b.String()
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
	files := os.DirFS(dir)
	err = fs.WalkDir(files, ".", func(key string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return err
		}
		body, err := fs.ReadFile(files, key)
		if err != nil {
			return err
		}
		ctype := mime.TypeByExtension(path.Ext(key))
		if ctype == "" {
			ctype = http.DetectContentType(body)
		}
		srv.PutObject(bucket, key, body, privates3test.ContentType(ctype))
		n++
		size += int64(len(body))
		return nil
	})
	return n, size, err
}

// shellQuote returns s as one word for a POSIX shell.
func shellQuote(s string) string {
	if s != "" && strings.Trim(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789+-./:=@_,") == "" {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
