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
// end. The peak resident set comes from the kernel's high-water mark (VmHWM, reset before the
// download through /proc/self/clear_refs), which costs nothing while the download runs; where that
// reset is refused it is sampled every 10ms instead.
func measureDownload(ctx context.Context, want int64, get func(context.Context) (io.ReadCloser, error)) (download, error) {
	runtime.GC()
	debug.FreeOSMemory() // a baseline that does not carry garbage of earlier rounds
	var d download
	d.rssBase = status("VmRSS")
	hwm := os.WriteFile("/proc/self/clear_refs", []byte("5"), 0) == nil
	stop := make(chan struct{})
	var wg sync.WaitGroup
	if !hwm {
		wg.Add(1)
		go func() {
			defer wg.Done()
			peak := d.rssBase
			tick := time.NewTicker(10 * time.Millisecond)
			defer tick.Stop()
			for {
				select {
				case <-stop:
					d.rssPeak = max(peak, status("VmRSS"))
					return
				case <-tick.C:
					peak = max(peak, status("VmRSS"))
				}
			}
		}()
	}
	start := time.Now()
	n, err := func() (int64, error) {
		body, err := get(ctx)
		if err != nil {
			return 0, err
		}
		defer body.Close()
		// The same copy for every contestant: a 256 KiB buffer, as privates3 streams with.
		return io.CopyBuffer(discard{}, body, make([]byte, 256<<10))
	}()
	d.elapsed = time.Since(start)
	close(stop)
	wg.Wait()
	if hwm {
		d.rssPeak = status("VmHWM")
	}
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

// status returns a size field of /proc/self/status (such as VmRSS) in bytes, or -1.
func status(field string) int64 {
	p, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return -1
	}
	for line := range bytes.Lines(p) {
		k, v, ok := bytes.Cut(line, []byte(":"))
		if !ok || string(k) != field {
			continue
		}
		f := bytes.Fields(v) // "123456 kB"
		if len(f) != 2 || string(f[1]) != "kB" {
			return -1
		}
		n, err := strconv.ParseInt(string(f[0]), 10, 64)
		if err != nil {
			return -1
		}
		return n << 10
	}
	return -1
}
