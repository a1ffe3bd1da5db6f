package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"runtime"
	"slices"
	"strings"
	"sync/atomic"
	"text/tabwriter"
	"time"

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

// bench sets everything up, runs the rounds and prints the report to w.
func bench(ctx context.Context, o options, w io.Writer) error {
	b, err := newBackend(ctx, o)
	if err != nil {
		return err
	}
	defer b.close()
	b.cfg.MaxConnsPerHost = o.maxConns
	hitCfg := b.cfg // privates3's defaults: 64 MiB cache, objects up to 1 MiB cached
	hits, err := privates3.New(ctx, hitCfg)
	if err != nil {
		return err
	}
	defer hits.Close()
	missCfg := b.cfg
	missCfg.CacheBytes = -1
	misses, err := privates3.New(ctx, missCfg)
	if err != nil {
		return err
	}
	defer misses.Close()

	var servers []*server
	defer func() {
		for _, s := range servers {
			s.close()
		}
	}()
	start := func(h http.Handler) (string, error) {
		s, err := serve(h)
		if err != nil {
			return "", err
		}
		servers = append(servers, s)
		return s.url, nil
	}
	hitURL, err := start(mount(hits))
	if err != nil {
		return err
	}
	missURL, err := start(mount(misses))
	if err != nil {
		return err
	}
	bare, err := ceiling(mount(hits), b.small)
	if err != nil {
		return err
	}
	ceilURL, err := start(bare)
	if err != nil {
		return err
	}
	signed, err := presigned(ctx, hits, append(slices.Clone(b.small), b.big))
	if err != nil {
		return err
	}
	relayed := map[string]string{}
	for i, k := range append(slices.Clone(b.small), b.big) {
		relayed["/files/"+k] = signed[i]
	}
	signed = signed[:len(b.small)]
	var relayDials atomic.Int64
	rc := relayClient(o.conns, &relayDials)
	defer rc.CloseIdleConnections()
	relayURL, err := start(relay(rc, relayed))
	if err != nil {
		return err
	}
	urls := func(base string) []string {
		var us []string
		for _, k := range b.small {
			us = append(us, base+"/files/"+k)
		}
		return us
	}
	var cs []*contestant
	add := func(name, title string, us []string, dials *atomic.Int64, upstream func() int64) error {
		if !o.only[name] {
			return nil
		}
		t, err := newTarget(us)
		if err != nil {
			return err
		}
		cs = append(cs, &contestant{name: name, title: title, target: t, backendDials: dials, upstream: upstream})
		return nil
	}
	for _, err := range []error{
		add("ceiling", titleCeiling, urls(ceilURL), nil, nil),
		add("presigned", titlePresigned, signed, nil, nil),
		add("relay", titleRelay, urls(relayURL), &relayDials, nil),
		add("hits", titleHits, urls(hitURL), &b.dials, func() int64 { return hits.Stats().UpstreamGets }),
		add("misses", titleMisses, urls(missURL), &b.dials, func() int64 { return misses.Stats().UpstreamGets }),
	} {
		if err != nil {
			return err
		}
	}
	slotDur := o.duration / time.Duration(o.rounds*max(len(cs), 1))
	fmt.Fprintf(w, "privates3 loadtest: backend %s\n", b.name)
	fmt.Fprintf(w, "%d hot objects of %d bytes, %d connections, %d rounds, %v measured per contestant and round (after %v warm-up), GOMAXPROCS %d, %s\n",
		o.keys, o.objSize, o.conns, o.rounds, slotDur, o.warmup, runtime.GOMAXPROCS(0), loadavg())
	if o.backendLatency > 0 {
		fmt.Fprintf(w, "the fake delays every GetObject by %v\n", o.backendLatency)
	}

	var direct, proxied, relayedDL []download
	s3c := b.s3Client()
	dl := &http.Client{Transport: &http.Transport{DisableCompression: true}}
	defer dl.CloseIdleConnections()
	for r := range o.rounds {
		order := slices.Clone(cs)
		if len(order) > 0 {
			k := r % len(order)
			order = append(order[k:], order[:k]...)
		}
		for _, c := range order {
			s := measure(ctx, c, o.conns, o.warmup, slotDur)
			c.results = append(c.results, s)
			fmt.Fprintf(w, "round %d %-9s %8.0f req/s  p50 %6.2f ms  p99 %6.2f ms  %d failures  %d backend dials\n",
				r+1, c.name, s.rate(), ms(s.hist.quantile(0.5)), ms(s.hist.quantile(0.99)), s.failures, s.backendDials)
		}
		if o.only["download"] {
			pair := []struct {
				out *[]download
				get func(context.Context) (io.ReadCloser, error)
				nm  string
			}{
				{&direct, sdkGet(s3c, b.cfg.Bucket, b.big), "direct SDK GetObject"},
				{&proxied, httpGet(dl, hitURL+"/files/"+b.big), "through privates3"},
				{&relayedDL, httpGet(dl, relayURL+"/files/"+b.big), "through a bare relay"},
			}
			k := r % len(pair)
			pair = append(pair[k:], pair[:k]...)
			for _, p := range pair {
				d, err := measureDownload(ctx, o.bigSize, p.get)
				if err != nil {
					return fmt.Errorf("%s: %w", p.nm, err)
				}
				*p.out = append(*p.out, d)
				fmt.Fprintf(w, "round %d download %-20s %7.0f MiB/s  RSS %s -> peak %s\n", r+1, p.nm, d.mibps(), mib(d.rssBase), mib(d.rssPeak))
			}
		}
	}
	report(w, cs, direct, proxied, relayedDL, o)
	fmt.Fprintf(w, "privates3 with cache: %+v\n", statsLine(hits.Stats()))
	fmt.Fprintf(w, "privates3 without cache: %+v\n", statsLine(misses.Stats()))
	fmt.Fprintf(w, "at the end: %s\n", loadavg())
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

// summary is a contestant's medians over the rounds.
type summary struct {
	rate, p50, p99, dials, upstreamPerReq float64
	failures                              int64
}

func summarize(c *contestant) summary {
	var s summary
	var rates, p50s, p99s, dials, ups []float64
	for _, r := range c.results {
		rates = append(rates, r.rate())
		p50s = append(p50s, ms(r.hist.quantile(0.5)))
		p99s = append(p99s, ms(r.hist.quantile(0.99)))
		dials = append(dials, r.dialsPer1000())
		if r.requests > 0 {
			ups = append(ups, float64(r.upstream)/float64(r.requests))
		}
		s.failures += r.failures
	}
	s.rate, s.p50, s.p99, s.dials, s.upstreamPerReq = median(rates), median(p50s), median(p99s), median(dials), median(ups)
	return s
}

func report(w io.Writer, cs []*contestant, direct, proxied, relayed []download, o options) {
	fmt.Fprintf(w, "\nMedians of %d rounds:\n", o.rounds)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "contestant\treq/s\tp50 ms\tp99 ms\tbackend conns/1k req\tS3 GETs/req\tfailures\t")
	sums := map[string]summary{}
	for _, c := range cs {
		s := summarize(c)
		sums[c.name] = s
		dials, ups := "-", "-"
		if c.name != "ceiling" {
			dials = fmt.Sprintf("%.2f", s.dials)
		}
		if c.upstream != nil {
			ups = fmt.Sprintf("%.3f", s.upstreamPerReq)
		}
		fmt.Fprintf(tw, "%s\t%.0f\t%.2f\t%.2f\t%s\t%s\t%d\t\n", c.title, s.rate, s.p50, s.p99, dials, ups, s.failures)
	}
	tw.Flush()
	if len(direct) > 0 {
		fmt.Fprintf(w, "\n%s object, one download per round each way:\n", mib(o.bigSize))
		tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
		fmt.Fprintln(tw, "download\tMiB/s\tRSS before\tpeak RSS\tgrowth\t")
		for _, d := range []struct {
			nm string
			ds []download
		}{{titleDirect, direct}, {titleThrough, proxied}, {titleRelayed, relayed}} {
			rate, base, peak, growth := downloadSummary(d.ds)
			fmt.Fprintf(tw, "%s\t%.0f\t%s\t%s\t%s\t\n", d.nm, rate, mib(base), mib(peak), mib(growth))
		}
		tw.Flush()
	}
	fmt.Fprintln(w, "\nTargets (issue 10):")
	check := func(name string, got, limit float64, atLeast bool, unit string) {
		ok := got >= limit
		op := ">="
		if !atLeast {
			ok, op = got <= limit, "<="
		}
		verdict := "met"
		if !ok {
			verdict = "MISSED"
		}
		fmt.Fprintf(w, "  %-58s %8.3f%s (target %s %g%s) %s\n", name, got, unit, op, limit, unit, verdict)
	}
	hit, hok := sums["hits"]
	ceil, cok := sums["ceiling"]
	miss, mok := sums["misses"]
	pre, pok := sums["presigned"]
	if hok && cok && ceil.rate > 0 && ceil.p99 > 0 {
		check("cache hits req/s, ratio to the ceiling", hit.rate/ceil.rate, 0.95, true, "x")
		check("cache hits p99, ratio to the ceiling's", hit.p99/ceil.p99, 1.2, false, "x")
	}
	if mok && pok && pre.rate > 0 {
		check("misses req/s, ratio to direct presigned GETs", miss.rate/pre.rate, 1.0, true, "x")
	}
	if rel, ok := sums["relay"]; ok && mok && rel.rate > 0 {
		fmt.Fprintf(w, "  %-58s %8.3fx (privates3 misses vs the relay: %.3fx)\n", "bare relay req/s, ratio to direct presigned GETs", rel.rate/max(pre.rate, 1), miss.rate/rel.rate)
	}
	if mok {
		check("new backend connections per 1,000 misses (after warm-up)", miss.dials, 64, false, "")
	}
	if len(direct) > 0 {
		dr, _, _, _ := downloadSummary(direct)
		pr, _, _, growth := downloadSummary(proxied)
		check(mib(o.bigSize)+" through privates3, ratio to direct SDK", pr/dr, 0.9, true, "x")
		if rr, _, _, _ := downloadSummary(relayed); rr > 0 {
			fmt.Fprintf(w, "  %-58s %8.3fx (privates3 vs the relay: %.3fx)\n", "bare relay's download, ratio to direct SDK", rr/dr, pr/rr)
		}
		fmt.Fprintf(w, "  %-58s %8s (object %s: flat means independent of it)\n", "peak RSS growth during the download through privates3", mib(growth), mib(o.bigSize))
	}
}

// downloadSummary returns the median rate, the median baseline RSS, the highest peak RSS and the
// largest growth of ds.
func downloadSummary(ds []download) (rate float64, base, peak, growth int64) {
	var rates, bases []float64
	for _, d := range ds {
		rates = append(rates, d.mibps())
		bases = append(bases, float64(d.rssBase))
		peak = max(peak, d.rssPeak)
		growth = max(growth, d.rssPeak-d.rssBase)
	}
	return median(rates), int64(median(bases)), peak, growth
}

func statsLine(s privates3.Stats) string {
	return fmt.Sprintf("%d cache hits, %d misses, %d S3 GETs, %d deduplicated, %d streamed, %d STS calls",
		s.CacheHits, s.CacheMisses, s.UpstreamGets, s.Deduplicated, s.Streamed, s.STSCalls)
}

func median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	v = slices.Clone(v)
	slices.Sort(v)
	if len(v)%2 == 1 {
		return v[len(v)/2]
	}
	return (v[len(v)/2-1] + v[len(v)/2]) / 2
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

func mib(n int64) string {
	if n < 0 {
		return "?"
	}
	return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
}

// loadavg is the machine's load average (Linux), which the figures depend on.
func loadavg() string {
	p, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "load average unknown"
	}
	f := strings.Fields(string(p))
	if len(f) < 3 {
		return "load average unknown"
	}
	return "load average " + strings.Join(f[:3], " ")
}
