package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"runtime"
	"slices"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/privates3/privates3"
)

// The rows of the report.
const (
	titleCeiling   = "bare net/http handler, bytes from memory (ceiling)"
	titlePresigned = "presigned GETs straight at the backend"
	titleRelay     = "bare relay: net/http handler, presigned GET per request"
	titleHits      = "privates3 handler, cache hits"
	titleMisses    = "privates3 handler, CacheBytes -1 (every request to S3)"
	titleDirect    = "direct SDK GetObject"
	titleThrough   = "through privates3 (handler over loopback)"
	titleRelayed   = "through a bare relay (the least a proxy costs)"
)

// contestant is one server under load.
type contestant struct {
	name, title string
	target      target
	// backendDials, if not nil, counts the backend connections the contestant opens; if nil,
	// the generator's own dials are the backend's (presigned) or there is no backend (ceiling).
	backendDials *atomic.Int64
	upstream     func() int64 // S3 GETs so far, or nil
	results      []slot
}

// slot is one measured run of a contestant.
type slot struct {
	load
	backendDials int64
	upstream     int64
}

func (s slot) dialsPer1000() float64 {
	if s.requests == 0 {
		return 0
	}
	return float64(s.backendDials) * 1000 / float64(s.requests)
}

// downloads are the large downloads of all rounds, one series per way.
type downloads struct {
	direct, proxied, relayed []download
}

// rig is what a run measures: the backend, the two Clients, the contestants' servers, the
// contestants and the download clients, with what tears them down.
type rig struct {
	b            *backend
	hits, misses *privates3.Client // privates3's defaults, and CacheBytes -1

	servers                            []*server
	hitURL, missURL, ceilURL, relayURL string
	signed                             []string     // presigned URLs of the hot objects
	relayDials                         atomic.Int64 // backend connections of the relay

	cs  []*contestant
	s3c *s3.Client   // the direct download's SDK client
	dl  *http.Client // the downloads through the servers

	closers []func() // run in reverse order by close
}

// bench sets everything up, runs the rounds and prints the report to w.
func bench(ctx context.Context, o options, w io.Writer) error {
	r := &rig{}
	defer r.close()
	if err := r.setUp(ctx, o); err != nil {
		return err
	}
	slotDur := o.duration / time.Duration(o.rounds*max(len(r.cs), 1))
	printHeader(w, o, r.b.name, slotDur)
	var dls downloads
	for round := range o.rounds {
		r.measureRound(ctx, o, w, round, slotDur)
		if o.only["download"] {
			if err := r.downloadRound(ctx, o.bigSize, w, round, &dls); err != nil {
				return err
			}
		}
	}
	report(w, r.cs, dls, o)
	fmt.Fprintf(w, "privates3 with cache: %+v\n", statsLine(r.hits.Stats()))
	fmt.Fprintf(w, "privates3 without cache: %+v\n", statsLine(r.misses.Stats()))
	fmt.Fprintf(w, "at the end: %s\n", loadavg())
	return nil
}

// onClose registers f to run when r closes, before what was registered earlier.
func (r *rig) onClose(f func()) { r.closers = append(r.closers, f) }

// close tears down what setUp built, in the reverse order of building it.
func (r *rig) close() {
	for _, f := range slices.Backward(r.closers) {
		f()
	}
}

// setUp starts the backend, the Clients and the servers, and lists the contestants o selects.
// What it built before an error is torn down by close.
func (r *rig) setUp(ctx context.Context, o options) error {
	b, err := newBackend(ctx, o)
	if err != nil {
		return err
	}
	r.b = b
	r.onClose(b.close)
	if err := r.newClients(ctx, o.maxConns); err != nil {
		return err
	}
	r.onClose(r.closeServers)
	if err := r.startServers(ctx); err != nil {
		return err
	}
	if err := r.startRelay(ctx, o.conns); err != nil {
		return err
	}
	if err := r.addContestants(o.only); err != nil {
		return err
	}
	r.s3c = r.b.s3Client()
	r.dl = &http.Client{Transport: &http.Transport{DisableCompression: true}}
	r.onClose(r.dl.CloseIdleConnections)
	return nil
}

// newClients creates the two Clients: privates3's defaults (64 MiB cache, objects up to 1 MiB
// cached) and one without a cache, both with Config.MaxConnsPerHost maxConns.
func (r *rig) newClients(ctx context.Context, maxConns int) error {
	r.b.cfg.MaxConnsPerHost = maxConns
	hits, err := privates3.New(ctx, r.b.cfg)
	if err != nil {
		return err
	}
	r.hits = hits
	r.onClose(func() { hits.Close() })
	missCfg := r.b.cfg
	missCfg.CacheBytes = -1
	misses, err := privates3.New(ctx, missCfg)
	if err != nil {
		return err
	}
	r.misses = misses
	r.onClose(func() { misses.Close() })
	return nil
}

// serve starts a loopback server for h, closed with the others by closeServers, and returns its URL.
func (r *rig) serve(h http.Handler) (string, error) {
	s, err := serve(h)
	if err != nil {
		return "", err
	}
	r.servers = append(r.servers, s)
	return s.url, nil
}

// closeServers shuts the servers down in the order they started.
func (r *rig) closeServers() {
	for _, s := range r.servers {
		s.close()
	}
}

// startServers starts the servers of the two Clients' handlers and the ceiling's.
func (r *rig) startServers(ctx context.Context) error {
	var err error
	if r.hitURL, err = r.serve(mount(r.hits)); err != nil {
		return err
	}
	if r.missURL, err = r.serve(mount(r.misses)); err != nil {
		return err
	}
	bare, err := ceiling(mount(r.hits), r.b.small)
	if err != nil {
		return err
	}
	r.ceilURL, err = r.serve(bare)
	return err
}

// startRelay presigns every object (the hot ones for the presigned contestant, all of them for
// the relay) and starts the relay's server with a client pooling conns connections.
func (r *rig) startRelay(ctx context.Context, conns int) error {
	keys := append(slices.Clone(r.b.small), r.b.big)
	signed, err := presigned(ctx, r.hits, keys)
	if err != nil {
		return err
	}
	relayed := map[string]string{}
	for i, k := range keys {
		relayed["/files/"+k] = signed[i]
	}
	r.signed = signed[:len(r.b.small)]
	rc := relayClient(conns, &r.relayDials)
	r.onClose(rc.CloseIdleConnections)
	r.relayURL, err = r.serve(relay(rc, relayed))
	return err
}

// urls returns the URLs of the hot objects on the server at base.
func (r *rig) urls(base string) []string {
	var us []string
	for _, k := range r.b.small {
		us = append(us, base+"/files/"+k)
	}
	return us
}

// addContestants lists, in the report's order, the contestants only selects.
func (r *rig) addContestants(only map[string]bool) error {
	for _, c := range []struct {
		name, title string
		urls        []string
		dials       *atomic.Int64
		upstream    func() int64
	}{
		{"ceiling", titleCeiling, r.urls(r.ceilURL), nil, nil},
		{"presigned", titlePresigned, r.signed, nil, nil},
		{"relay", titleRelay, r.urls(r.relayURL), &r.relayDials, nil},
		{"hits", titleHits, r.urls(r.hitURL), &r.b.dials, func() int64 { return r.hits.Stats().UpstreamGets }},
		{"misses", titleMisses, r.urls(r.missURL), &r.b.dials, func() int64 { return r.misses.Stats().UpstreamGets }},
	} {
		if !only[c.name] {
			continue
		}
		t, err := newTarget(c.urls)
		if err != nil {
			return err
		}
		r.cs = append(r.cs, &contestant{name: c.name, title: c.title, target: t, backendDials: c.dials, upstream: c.upstream})
	}
	return nil
}

// printHeader prints what the run measures and on what.
func printHeader(w io.Writer, o options, backend string, slotDur time.Duration) {
	fmt.Fprintf(w, "privates3 loadtest: backend %s\n", backend)
	fmt.Fprintf(w, "%d hot objects of %d bytes, %d connections, %d rounds, %v measured per contestant and round (after %v warm-up), GOMAXPROCS %d, %s\n",
		o.keys, o.objSize, o.conns, o.rounds, slotDur, o.warmup, runtime.GOMAXPROCS(0), loadavg())
	if o.backendLatency > 0 {
		fmt.Fprintf(w, "the fake delays every GetObject by %v\n", o.backendLatency)
	}
}

// rotated returns a copy of s that starts at its element k modulo len(s), so that each round
// starts with another contestant.
func rotated[T any](s []T, k int) []T {
	if len(s) == 0 {
		return nil
	}
	k %= len(s)
	return append(slices.Clone(s[k:]), s[:k]...)
}

// measureRound measures each contestant once, in an order rotating with round, and prints each
// slot's figures.
func (r *rig) measureRound(ctx context.Context, o options, w io.Writer, round int, slotDur time.Duration) {
	for _, c := range rotated(r.cs, round) {
		s := measure(ctx, c, o.conns, o.warmup, slotDur)
		c.results = append(c.results, s)
		fmt.Fprintf(w, "round %d %-9s %8.0f req/s  p50 %6.2f ms  p99 %6.2f ms  %d failures  %d backend dials\n",
			round+1, c.name, s.rate(), ms(s.hist.quantile(0.5)), ms(s.hist.quantile(0.99)), s.failures, s.backendDials)
	}
}

// downloadRound downloads the large object (size bytes) once each way, in an order rotating with
// round, appends the outcomes to dls and prints them.
func (r *rig) downloadRound(ctx context.Context, size int64, w io.Writer, round int, dls *downloads) error {
	ways := []struct {
		out *[]download
		get func(context.Context) (io.ReadCloser, error)
		nm  string
	}{
		{&dls.direct, sdkGet(r.s3c, r.b.cfg.Bucket, r.b.big), "direct SDK GetObject"},
		{&dls.proxied, httpGet(r.dl, r.hitURL+"/files/"+r.b.big), "through privates3"},
		{&dls.relayed, httpGet(r.dl, r.relayURL+"/files/"+r.b.big), "through a bare relay"},
	}
	for _, p := range rotated(ways, round) {
		d, err := measureDownload(ctx, size, p.get)
		if err != nil {
			return fmt.Errorf("%s: %w", p.nm, err)
		}
		*p.out = append(*p.out, d)
		fmt.Fprintf(w, "round %d download %-20s %7.0f MiB/s  RSS %s -> peak %s\n", round+1, p.nm, d.mibps(), mib(d.rssBase), mib(d.rssPeak))
	}
	return nil
}

// measure warms c up, then runs one measured slot.
func measure(ctx context.Context, c *contestant, conns int, warmup, d time.Duration) slot {
	if warmup > 0 {
		c.target.run(ctx, conns, warmup)
	}
	var dials0, up0 int64
	if c.backendDials != nil {
		dials0 = c.backendDials.Load()
	}
	if c.upstream != nil {
		up0 = c.upstream()
	}
	s := slot{load: c.target.run(ctx, conns, d)}
	switch {
	case c.backendDials != nil:
		s.backendDials = c.backendDials.Load() - dials0
	case c.name == "presigned":
		s.backendDials = s.dials
	}
	if c.upstream != nil {
		s.upstream = c.upstream() - up0
	}
	return s
}
