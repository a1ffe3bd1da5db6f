package main

// Liveness and readiness: /healthz answers while the process serves; /readyz only while the
// credentials stay valid for a while and the bucket answers.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"
	"time"

	"github.com/privates3/privates3"
)

const (
	// minCredentialLife is the least remaining validity of the credentials for /readyz to answer
	// 200: below it, requests are about to fail unless a refresh succeeds.
	minCredentialLife = time.Minute
	// readyProbeTTL is how long /readyz reuses the result of its probe of the bucket, so that
	// frequent checks (several load balancers, each every second) send at most one S3 request
	// per interval.
	readyProbeTTL = 5 * time.Second
	// readyProbeTimeout bounds one probe of the bucket.
	readyProbeTimeout = 5 * time.Second
)

// readiness answers /readyz. Its zero value is not usable; set every field but the cached result.
type readiness struct {
	expiry func() (time.Time, bool)        // when the credentials expire; false: never
	probe  func(ctx context.Context) error // reads the bucket once
	ttl    time.Duration                   // how long a probe's result is reused

	mu  sync.Mutex // guards at, err; held during a probe, so concurrent checks share it
	at  time.Time  // when the last probe ended; zero: none yet
	err error      // its result
}

// check returns nil if the server is ready, else the reason in one line.
func (rd *readiness) check(ctx context.Context) error {
	if exp, ok := rd.expiry(); ok {
		switch left := time.Until(exp); {
		case left <= 0:
			return fmt.Errorf("credentials expired %s ago", (-left).Round(time.Second))
		case left < minCredentialLife:
			return fmt.Errorf("credentials expire in %s", left.Round(time.Second))
		}
	}
	rd.mu.Lock()
	defer rd.mu.Unlock()
	if !rd.at.IsZero() && time.Since(rd.at) < rd.ttl {
		return rd.err
	}
	// A caller that gives up does not fail the probe for the callers after it.
	pctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), readyProbeTimeout)
	defer cancel()
	rd.err, rd.at = rd.probe(pctx), time.Now()
	return rd.err
}

// ServeHTTP answers 200 "ready" or 503 with the reason.
func (rd *readiness) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	if err := rd.check(r.Context()); err != nil {
		w.WriteHeader(http.StatusServiceUnavailable)
		io.WriteString(w, "not ready: "+err.Error()+"\n")
		return
	}
	io.WriteString(w, "ready\n")
}

// readinessOf returns the readiness of the started server a: its Client's credentials, and the
// start-up probe, whose error is logged in full and answered as the library's sentinel only (no
// bucket, role or key on an endpoint any client may reach).
func (a *app) readinessOf() *readiness {
	return &readiness{
		expiry: a.client.CredentialsExpiry,
		probe: func(ctx context.Context) error {
			err := a.probe(ctx)
			if err == nil {
				return nil
			}
			a.log.Warn("readiness probe failed", "err", err)
			return fmt.Errorf("bucket not readable: %s", sentinelText(err))
		},
		ttl: a.readyTTL,
	}
}

// sentinelText is the text of the privates3 sentinel error err wraps, or "error".
func sentinelText(err error) string {
	for _, s := range []error{
		privates3.ErrNotFound, privates3.ErrCredentials, privates3.ErrAccessDenied, privates3.ErrThrottled,
		privates3.ErrTimeout, privates3.ErrClosed, privates3.ErrUpstream, context.DeadlineExceeded,
	} {
		if errors.Is(err, s) {
			return s.Error()
		}
	}
	return "error"
}
