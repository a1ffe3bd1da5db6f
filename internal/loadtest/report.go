package main

import (
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/privates3/privates3"
)

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

// report prints the medians of the contestants and of the downloads, and the targets.
func report(w io.Writer, cs []*contestant, dls downloads, o options) {
	fmt.Fprintf(w, "\nMedians of %d rounds:\n", o.rounds)
	sums := reportMedians(w, cs)
	if len(dls.direct) > 0 {
		reportDownloads(w, o.bigSize, dls)
	}
	fmt.Fprintln(w, "\nTargets (issue 10):")
	requestTargets(w, sums)
	if len(dls.direct) > 0 {
		downloadTargets(w, o.bigSize, dls)
	}
}

// reportMedians prints a row of medians per contestant and returns them by contestant name.
func reportMedians(w io.Writer, cs []*contestant) map[string]summary {
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
	return sums
}

// reportDownloads prints a row per way of downloading the object of size bytes.
func reportDownloads(w io.Writer, size int64, dls downloads) {
	fmt.Fprintf(w, "\n%s object, one download per round each way:\n", mib(size))
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "download\tMiB/s\tRSS before\tpeak RSS\tgrowth\t")
	for _, d := range []struct {
		nm string
		ds []download
	}{{titleDirect, dls.direct}, {titleThrough, dls.proxied}, {titleRelayed, dls.relayed}} {
		rate, base, peak, growth := downloadSummary(d.ds)
		fmt.Fprintf(tw, "%s\t%.0f\t%s\t%s\t%s\t\n", d.nm, rate, mib(base), mib(peak), mib(growth))
	}
	tw.Flush()
}

// printTarget prints one target line: the figure got, the limit it must reach (at least, or at
// most) and whether it does.
func printTarget(w io.Writer, name string, got, limit float64, atLeast bool, unit string) {
	ok, op := got >= limit, ">="
	if !atLeast {
		ok, op = got <= limit, "<="
	}
	verdict := "met"
	if !ok {
		verdict = "MISSED"
	}
	fmt.Fprintf(w, "  %-58s %8.3f%s (target %s %g%s) %s\n", name, got, unit, op, limit, unit, verdict)
}

// requestTargets prints the targets on request rates, latency and connections, for the
// contestants that ran (sums), with the bare relay's ratio for comparison.
func requestTargets(w io.Writer, sums map[string]summary) {
	hit, hok := sums["hits"]
	ceil, cok := sums["ceiling"]
	miss, mok := sums["misses"]
	pre, pok := sums["presigned"]
	if hok && cok && ceil.rate > 0 && ceil.p99 > 0 {
		printTarget(w, "cache hits req/s, ratio to the ceiling", hit.rate/ceil.rate, 0.95, true, "x")
		printTarget(w, "cache hits p99, ratio to the ceiling's", hit.p99/ceil.p99, 1.2, false, "x")
	}
	if mok && pok && pre.rate > 0 {
		printTarget(w, "misses req/s, ratio to direct presigned GETs", miss.rate/pre.rate, 1.0, true, "x")
	}
	if rel, ok := sums["relay"]; ok && mok && rel.rate > 0 {
		fmt.Fprintf(w, "  %-58s %8.3fx (privates3 misses vs the relay: %.3fx)\n", "bare relay req/s, ratio to direct presigned GETs", rel.rate/max(pre.rate, 1), miss.rate/rel.rate)
	}
	if mok {
		printTarget(w, "new backend connections per 1,000 misses (after warm-up)", miss.dials, 64, false, "")
	}
}

// downloadTargets prints the targets on the download of the object of size bytes, with the bare
// relay's ratio for comparison.
func downloadTargets(w io.Writer, size int64, dls downloads) {
	dr, _, _, _ := downloadSummary(dls.direct)
	pr, _, _, growth := downloadSummary(dls.proxied)
	printTarget(w, mib(size)+" through privates3, ratio to direct SDK", pr/dr, 0.9, true, "x")
	if rr, _, _, _ := downloadSummary(dls.relayed); rr > 0 {
		fmt.Fprintf(w, "  %-58s %8.3fx (privates3 vs the relay: %.3fx)\n", "bare relay's download, ratio to direct SDK", rr/dr, pr/rr)
	}
	fmt.Fprintf(w, "  %-58s %8s (object %s: flat means independent of it)\n", "peak RSS growth during the download through privates3", mib(growth), mib(size))
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
