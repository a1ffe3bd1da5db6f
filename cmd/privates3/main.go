// Command privates3 serves the objects of a private S3 bucket over HTTP through the privates3
// library, and runs the fake S3 and STS of privates3test on their own.
//
// With no flags it needs no AWS account: it starts the fake on loopback, fills a demo bucket with
// generated map tiles, assumes the fake's read-only role for that bucket, and serves the tiles at
// /tiles/{z}/{x}/{y}.png with a map viewer at /:
//
//	go run ./cmd/privates3
//
// With -bucket it serves a real bucket with the default AWS credential chain (environment, shared
// files, EC2/ECS/EKS roles), assuming -role-arn if given:
//
//	privates3 -addr 127.0.0.1:8080 -bucket tiles -role-arn arn:aws:iam::123456789012:role/tiles-reader
//
// With -mode cloudfront (demo only) the tiles are served by a fake CloudFront edge on another
// loopback port that reads the demo bucket like an Origin Access Control and admits only signed
// cookies, which the viewer gets from /cloudfront-cookies:
//
//	go run ./cmd/privates3 -mode cloudfront
//
// Other paths: /healthz answers "ok"; /debug/privates3/stats gives the Client's Stats as JSON.
// SIGINT or SIGTERM drains the requests in flight and closes the Client.
//
// The fake alone, for other clients (AWS CLI, other SDKs, browsers):
//
//	privates3 fake -addr 127.0.0.1:9000 -bucket demo -seed ./files
//
// prints the endpoint, region, base keys and the reader role's ARN as shell exports.
//
// Exit codes: 0 after a clean shutdown, 1 for a start-up or serving error, 2 for bad flags.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// Exit codes of run.
const (
	exitOK    = 0
	exitError = 1
	exitUsage = 2
)

// shutdownTimeout bounds the draining of requests in flight at shutdown.
const shutdownTimeout = 10 * time.Second

// run is the command: it parses args (without the program name), serves until ctx is done and
// returns the exit code. Output meant for the user (the URL to open, the fake's exports) goes to
// stdout; usage, errors and logs go to stderr.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) > 0 && args[0] == "fake" {
		return runFake(ctx, args[1:], stdout, stderr)
	}
	return runServe(ctx, args, stdout, stderr, nil)
}

// errorf prints one line "privates3: ..." to w.
func errorf(w io.Writer, format string, args ...any) {
	fmt.Fprintf(w, "privates3: "+format+"\n", args...)
}

// serveUntil answers requests on ln with h until ctx is done, then drains the requests in flight
// (for at most shutdownTimeout) and returns the exit code. It is the one server and shutdown path
// of both commands; connection errors go to log at debug level, a serving error to stderr.
func serveUntil(ctx context.Context, ln net.Listener, h http.Handler, log *slog.Logger, stderr io.Writer) int {
	srv := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelDebug),
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	var err error
	select {
	case err = <-errc:
	case <-ctx.Done():
		log.Info("shutting down")
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), shutdownTimeout)
		err = srv.Shutdown(sctx)
		cancel()
		if serr := <-errc; err == nil && !errors.Is(serr, http.ErrServerClosed) {
			err = serr
		}
	}
	if err != nil {
		errorf(stderr, "%v", err)
		return exitError
	}
	return exitOK
}
