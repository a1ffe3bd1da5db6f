package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"math/bits"
	"net"
	"net/url"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// The load generator is a minimal HTTP/1.1 client written for this program rather than net/http's
// Client or Debian's wrk. It runs in the same process on the same cores as the servers it
// measures, so it must cost little per request: each connection writes a request rendered in
// advance and parses the response in place (status line, Content-Length, body discarded) with no
// allocation, as wrk does. Unlike wrk, it needs nothing installed (`go run` is enough), records
// every latency in a histogram (wrk's percentiles come from a sample), and counts its own dials.
// Every contestant is measured with the same generator, so the ratios compare servers, not
// clients.

// target is what a load generator asks: the address of one server and the requests it sends.
type target struct {
	addr string      // host:port to dial
	tls  *tls.Config // nil for plain HTTP
	reqs [][]byte    // rendered requests; each connection cycles through them
}

// newTarget returns a target that GETs each of urls, which all name the same host.
func newTarget(urls []string) (target, error) {
	var t target
	for _, s := range urls {
		u, err := url.Parse(s)
		if err != nil {
			return target{}, err
		}
		addr := u.Host
		if u.Port() == "" {
			port := "80"
			if u.Scheme == "https" {
				port = "443"
			}
			addr = net.JoinHostPort(u.Hostname(), port)
		}
		if t.addr != "" && t.addr != addr {
			return target{}, fmt.Errorf("loadtest: requests for two hosts (%s, %s)", t.addr, addr)
		}
		t.addr = addr
		if u.Scheme == "https" {
			t.tls = &tls.Config{ServerName: u.Hostname()}
		}
		t.reqs = append(t.reqs, []byte("GET "+u.RequestURI()+" HTTP/1.1\r\nHost: "+u.Host+"\r\nUser-Agent: privates3-loadtest\r\n\r\n"))
	}
	if len(t.reqs) == 0 {
		return target{}, errors.New("loadtest: no requests")
	}
	return t, nil
}

// load is the outcome of one run of the generator.
type load struct {
	requests int64 // answered 200 with the whole body read
	failures int64 // errors and other statuses
	dials    int64 // connections the generator opened
	elapsed  time.Duration
	hist     histogram
}

func (l load) rate() float64 { return float64(l.requests) / l.elapsed.Seconds() }

// run sends requests over conns keep-alive connections for d (or until ctx ends) and returns what
// happened. A connection that fails is replaced; every read and write has a deadline, so run
// returns soon after d even if the server hangs.
func (t target) run(ctx context.Context, conns int, d time.Duration) load {
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	start := time.Now()
	end := start.Add(d)
	var (
		wg                sync.WaitGroup
		mu                sync.Mutex
		total             load
		reqs, fails, dial atomic.Int64
	)
	for w := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			h := newHistogram()
			t.worker(ctx, w, end, h, &reqs, &fails, &dial)
			mu.Lock()
			total.hist.merge(h)
			mu.Unlock()
		}()
	}
	wg.Wait()
	total.elapsed = time.Since(start)
	total.requests, total.failures, total.dials = reqs.Load(), fails.Load(), dial.Load()
	return total
}

// worker is one connection's loop: request, response, record, until end.
func (t target) worker(ctx context.Context, w int, end time.Time, h *histogram, reqs, fails, dials *atomic.Int64) {
	var (
		conn net.Conn
		br   *bufio.Reader
	)
	defer func() {
		if conn != nil {
			conn.Close()
		}
	}()
	dialer := net.Dialer{Timeout: 5 * time.Second}
	i := w * 7 // spread the connections over the keys
	for ctx.Err() == nil {
		if conn == nil {
			c, err := dialer.DialContext(ctx, "tcp", t.addr)
			if err != nil {
				if ctx.Err() == nil {
					fails.Add(1)
					time.Sleep(10 * time.Millisecond) // bounded by ctx's deadline
				}
				continue
			}
			dials.Add(1)
			if t.tls != nil {
				c = tls.Client(c, t.tls)
			}
			// A hung server cannot hold the run past its end by more than this.
			c.SetDeadline(end.Add(5 * time.Second))
			conn, br = c, bufio.NewReaderSize(c, 64<<10)
		}
		req := t.reqs[i%len(t.reqs)]
		i++
		t0 := time.Now()
		ok, keep, err := roundTrip(conn, br, req)
		if err != nil {
			if ctx.Err() == nil && time.Now().Before(end) {
				fails.Add(1)
			}
			conn.Close()
			conn = nil
			continue
		}
		h.record(time.Since(t0))
		if ok {
			reqs.Add(1)
		} else {
			fails.Add(1)
		}
		if !keep {
			conn.Close()
			conn = nil
		}
	}
}

var (
	errMalformed = errors.New("loadtest: malformed response")
	errNoLength  = errors.New("loadtest: response without Content-Length")
)

// roundTrip writes req and reads one response, discarding its body. ok reports status 200;
// keep reports whether the connection may be reused.
func roundTrip(conn net.Conn, br *bufio.Reader, req []byte) (ok, keep bool, err error) {
	if _, err := conn.Write(req); err != nil {
		return false, false, err
	}
	if ok, err = readStatus(br); err != nil {
		return false, false, err
	}
	n, keep, err := readHeader(br)
	if err != nil {
		return false, false, err
	}
	if _, err := br.Discard(int(n)); err != nil {
		return false, false, err
	}
	return ok, keep, nil
}

// readStatus reads a response's status line; ok reports status 200.
func readStatus(br *bufio.Reader) (ok bool, err error) {
	line, err := br.ReadSlice('\n')
	if err != nil {
		return false, err
	}
	if len(line) < 12 || !bytes.HasPrefix(line, []byte("HTTP/1.")) {
		return false, errMalformed
	}
	return string(line[9:12]) == "200", nil
}

// readHeader reads a response's header up to the blank line ending it and returns the body's
// length (Content-Length, which it requires) and whether the connection may be reused.
func readHeader(br *bufio.Reader) (n int64, keep bool, err error) {
	n, keep = -1, true
	for {
		line, err := br.ReadSlice('\n')
		if err != nil {
			return 0, false, err
		}
		if len(line) <= 2 { // the blank line ending the header
			break
		}
		if k, v, found := bytes.Cut(line, []byte(":")); found {
			v = bytes.TrimSpace(v)
			switch {
			case len(k) == 14 && bytes.EqualFold(k, []byte("Content-Length")):
				if n, err = strconv.ParseInt(string(v), 10, 64); err != nil {
					return 0, false, errMalformed
				}
			case len(k) == 10 && bytes.EqualFold(k, []byte("Connection")):
				keep = !bytes.EqualFold(v, []byte("close"))
			}
		}
	}
	if n < 0 {
		return 0, false, errNoLength
	}
	return n, keep, nil
}

// histogram counts latencies in buckets of about 3% width (the top 6 significant bits of the
// value in nanoseconds), so percentiles are exact to that precision whatever the range.
type histogram struct {
	counts [1920]uint64
	n      uint64
}

func newHistogram() *histogram { return new(histogram) }

func bucketOf(v uint64) int {
	if v < 64 {
		return int(v)
	}
	n := bits.Len64(v) // >= 7
	return (n-6)*32 + int(v>>(n-6))
}

// bucketValue is the middle of bucket i.
func bucketValue(i int) float64 {
	if i < 64 {
		return float64(i)
	}
	n, m := i/32+5, i%32+32
	return (float64(m) + 0.5) * float64(uint64(1)<<(n-6))
}

func (h *histogram) record(d time.Duration) {
	if d < 0 {
		d = 0
	}
	h.counts[bucketOf(uint64(d))]++
	h.n++
}

func (h *histogram) merge(o *histogram) {
	for i, c := range o.counts {
		h.counts[i] += c
	}
	h.n += o.n
}

// quantile returns the latency below which a fraction q of the recorded ones fall; 0 if none.
func (h *histogram) quantile(q float64) time.Duration {
	if h.n == 0 {
		return 0
	}
	rank := uint64(q*float64(h.n) + 0.5)
	rank = max(rank, 1)
	var seen uint64
	for i, c := range h.counts {
		seen += c
		if seen >= rank {
			return time.Duration(bucketValue(i))
		}
	}
	return time.Duration(bucketValue(len(h.counts) - 1))
}
