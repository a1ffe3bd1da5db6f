package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"runtime"
	"runtime/debug"
	"strconv"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// download is the outcome of one large download.
type download struct {
	bytes   int64
	elapsed time.Duration
	rssBase int64 // resident set before the download, bytes
	rssPeak int64 // highest resident set sampled during it
}

func (d download) mibps() float64 { return float64(d.bytes) / (1 << 20) / d.elapsed.Seconds() }

// measureDownload runs get (which returns the body of the large object) and reads the body to the
// end, sampling the process's resident set every 2ms.
func measureDownload(ctx context.Context, want int64, get func(context.Context) (io.ReadCloser, error)) (download, error) {
	runtime.GC()
	debug.FreeOSMemory() // a baseline that does not carry garbage of earlier rounds
	var d download
	d.rssBase = rss()
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		peak := d.rssBase
		tick := time.NewTicker(2 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				d.rssPeak = max(peak, rss())
				return
			case <-tick.C:
				peak = max(peak, rss())
			}
		}
	}()
	start := time.Now()
	n, err := func() (int64, error) {
		body, err := get(ctx)
		if err != nil {
			return 0, err
		}
		defer body.Close()
		// The same copy for both contestants: a 256 KiB buffer, as privates3 streams with.
		return io.CopyBuffer(discard{}, body, make([]byte, 256<<10))
	}()
	d.elapsed = time.Since(start)
	close(stop)
	wg.Wait()
	d.bytes = n
	if err == nil && n != want {
		err = fmt.Errorf("loadtest: downloaded %d bytes, want %d", n, want)
	}
	return d, err
}

// discard is io.Discard without ReadFrom, so that io.CopyBuffer uses the buffer it is given.
type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }

// sdkGet is the direct download: one SDK GetObject.
func sdkGet(s3c *s3.Client, bucket, key string) func(context.Context) (io.ReadCloser, error) {
	return func(ctx context.Context) (io.ReadCloser, error) {
		out, err := s3c.GetObject(ctx, &s3.GetObjectInput{Bucket: &bucket, Key: &key})
		if err != nil {
			return nil, err
		}
		return out.Body, nil
	}
}

// httpGet is the download through privates3's handler over loopback.
func httpGet(hc *http.Client, url string) func(context.Context) (io.ReadCloser, error) {
	return func(ctx context.Context) (io.ReadCloser, error) {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return nil, err
		}
		resp, err := hc.Do(req)
		if err != nil {
			return nil, err
		}
		if resp.StatusCode != http.StatusOK {
			resp.Body.Close()
			return nil, fmt.Errorf("loadtest: GET %s: status %d", url, resp.StatusCode)
		}
		return resp.Body, nil
	}
}

// rss returns the resident set size of this process in bytes (Linux), or -1.
func rss() int64 {
	p, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		return -1
	}
	f := bytes.Fields(p)
	if len(f) < 2 {
		return -1
	}
	pages, err := strconv.ParseInt(string(f[1]), 10, 64)
	if err != nil {
		return -1
	}
	return pages * int64(os.Getpagesize())
}
