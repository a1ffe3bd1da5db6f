package main

import (
	"bufio"
	"bytes"
	"context"
	"math/rand/v2"
	"net"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/privates3/privates3/privates3test"
)

// row returns the figures after title in the report's medians table.
func row(t *testing.T, out, title string) []float64 {
	t.Helper()
	for line := range strings.Lines(out) {
		_, rest, ok := strings.Cut(line, title)
		if !ok || strings.HasPrefix(strings.TrimSpace(line), "round") {
			continue
		}
		var v []float64
		for _, f := range strings.Fields(rest) {
			if f == "-" {
				v = append(v, -1)
				continue
			}
			if f == "MiB" {
				continue
			}
			n, err := strconv.ParseFloat(f, 64)
			if err != nil {
				t.Fatalf("row %q: field %q is not a number", title, f)
			}
			v = append(v, n)
		}
		return v
	}
	t.Fatalf("no row %q in:\n%s", title, out)
	return nil
}

func runOK(t *testing.T, args ...string) string {
	t.Helper()
	var out, errb bytes.Buffer
	if code := run(context.Background(), args, &out, &errb); code != 0 {
		t.Fatalf("exit code %d, stderr:\n%s\nstdout:\n%s", code, errb.String(), out.String())
	}
	t.Log(out.String())
	return out.String()
}

// A short run against the fake prints every row with sane figures: requests served and no
// failures, p50 <= p99, no S3 GET for a cache hit and at least some for misses, no new backend
// connection per request once warm, downloads whose memory does not follow the object's size.
func TestShortRun(t *testing.T) {
	const big = 16 << 20
	out := runOK(t, "-duration", "2500ms", "-rounds", "1", "-warmup", "100ms", "-conns", "8", "-keys", "10", "-big-size", strconv.Itoa(big))
	for _, title := range []string{titleCeiling, titlePresigned, titleRelay, titleHits, titleMisses} {
		checkContestantRow(t, title, row(t, out, title))
	}
	for _, title := range []string{titleDirect, titleThrough, titleRelayed} {
		checkDownloadRow(t, title, row(t, out, title), big)
	}
	for _, target := range []string{"ratio to the ceiling ", "ratio to the ceiling's", "ratio to direct presigned GETs", "per 1,000 misses", "ratio to direct SDK", "peak RSS growth"} {
		if !strings.Contains(out, target) {
			t.Errorf("no target line %q", target)
		}
	}
}

// checkContestantRow checks the figures v of the medians row title: requests served and no
// failures, p50 <= p99, and for hits and misses their S3 GETs and backend connections.
func checkContestantRow(t *testing.T, title string, v []float64) {
	t.Helper()
	if len(v) != 6 {
		t.Fatalf("row %q: %v, want 6 figures", title, v)
	}
	rate, p50, p99, dials, upstream, failures := v[0], v[1], v[2], v[3], v[4], v[5]
	if rate <= 0 || failures != 0 || p50 <= 0 || p50 > p99 {
		t.Errorf("row %q: req/s %v, p50 %v, p99 %v, failures %v", title, rate, p50, p99, failures)
	}
	switch title {
	case titleHits:
		if upstream != 0 || dials != 0 {
			t.Errorf("cache hits: %v S3 GETs per request, %v backend connections per 1,000, want 0", upstream, dials)
		}
	case titleMisses:
		checkMisses(t, upstream, dials)
	}
}

// checkMisses checks the misses' S3 GETs per request and backend connections per 1,000 requests.
func checkMisses(t *testing.T, upstream, dials float64) {
	t.Helper()
	if upstream <= 0 || upstream > 1 {
		t.Errorf("misses: %v S3 GETs per request, want in (0, 1]", upstream)
	}
	if dials > 64 {
		t.Errorf("misses: %v backend connections per 1,000 requests after warm-up, want <= 64", dials)
	}
}

// checkDownloadRow checks the figures v of the download row title, for an object of big bytes:
// a rate, RSS figures, and a growth under half the object's size.
func checkDownloadRow(t *testing.T, title string, v []float64, big int) {
	t.Helper()
	if len(v) != 4 {
		t.Fatalf("row %q: %v, want 4 figures", title, v)
	}
	if rate, base, peak, growth := v[0], v[1], v[2], v[3]; rate <= 0 || base <= 0 || peak <= 0 || growth > float64(big/2>>20) {
		t.Errorf("row %q: %v MiB/s, RSS %v -> %v MiB, growth %v MiB (object %d MiB)", title, rate, base, peak, growth, big>>20)
	}
}

// The external-endpoint flags work against any S3-compatible endpoint with STS: here the fake
// on its own, reached only through the flags, with the objects uploaded by -upload.
func TestExternalEndpoint(t *testing.T) {
	srv := privates3test.NewServer()
	defer srv.Close()
	srv.CreateBucket("tiles") // an external endpoint's bucket exists before -upload
	base := srv.BaseCredentials()
	t.Setenv("AWS_CONFIG_FILE", "/dev/null")
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	out := runOK(t, "-endpoint", srv.URL, "-sts-endpoint", srv.URL, "-bucket", "tiles", "-region", srv.Region(),
		"-access-key-id", base.AccessKeyID, "-secret-access-key", base.SecretAccessKey, "-role-arn", srv.ReaderRole("tiles"),
		"-upload", "-only", "misses,download", "-duration", "500ms", "-rounds", "1", "-warmup", "0", "-conns", "4", "-keys", "3",
		"-big-size", strconv.Itoa(2<<20))
	if v := row(t, out, titleMisses); v[0] <= 0 || v[5] != 0 {
		t.Errorf("misses against the external endpoint: %v", v)
	}
	if srv.Count(privates3test.OpAssumeRole) == 0 {
		t.Error("-role-arn: no AssumeRole call")
	}
	if strings.Contains(out, base.SecretAccessKey) {
		t.Error("the secret key is in the output")
	}
}

func TestFlagErrors(t *testing.T) {
	for _, args := range [][]string{
		{"extra"},
		{"-only", "hits,nope"},
		{"-endpoint", "http://127.0.0.1:1"},
		{"-role-arn", "arn:aws:iam::1:role/r"},
		{"-upload"},
		{"-endpoint", "http://127.0.0.1:1", "-bucket", "b", "-backend-latency", "1ms"},
		{"-duration", "0"},
		{"-rounds", "0"},
		{"-conns", "-1"},
		{"-max-conns-per-host", "-1"},
		{"-size", "2000000"},
		{"-big-size", "1000"},
		{"-nosuchflag"},
	} {
		var out, errb bytes.Buffer
		if code := run(context.Background(), args, &out, &errb); code != 2 {
			t.Errorf("%q: exit code %d, want 2", args, code)
		}
		if out.Len() != 0 || !strings.Contains(errb.String(), "Usage:") {
			t.Errorf("%q: stdout %q, stderr %q: want the problem and the usage on stderr only", args, out.String(), errb.String())
		}
	}
}

// The histogram's quantiles are within its bucket precision (about 3%) of the exact ones.
func TestHistogram(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, tc := range []struct {
		name string
		gen  func() time.Duration
	}{
		{"uniform 1-10ms", func() time.Duration { return time.Millisecond + time.Duration(rng.Int64N(int64(9*time.Millisecond))) }},
		{"exponential mean 2ms", func() time.Duration { return time.Duration(rng.ExpFloat64() * float64(2*time.Millisecond)) }},
		{"small values", func() time.Duration { return time.Duration(rng.IntN(200)) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var h histogram
			var all []time.Duration
			for range 100000 {
				d := tc.gen()
				h.record(d)
				all = append(all, d)
			}
			slices.Sort(all)
			for _, q := range []float64{0.5, 0.9, 0.99} {
				want := all[int(q*float64(len(all)))-1]
				got := h.quantile(q)
				if diff := float64(got-want) / float64(max(want, 1)); diff > 0.04 || diff < -0.04 {
					if got-want > 2 || want-got > 2 { // exact buckets below 64ns
						t.Errorf("q%v = %v, exact %v", q, got, want)
					}
				}
			}
		})
	}
	var empty histogram
	if empty.quantile(0.5) != 0 {
		t.Error("quantile of an empty histogram is not 0")
	}
}

// The response parser rejects what it cannot frame, so that a broken server shows as failures
// rather than as fast requests.
func TestRoundTrip(t *testing.T) {
	for _, tc := range []struct {
		name, resp    string
		ok, keep, err bool
	}{
		{"200", "HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabc", true, true, false},
		{"404 keeps the connection", "HTTP/1.1 404 Not Found\r\ncontent-length: 2\r\n\r\nno", false, true, false},
		{"Connection: close", "HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 1\r\n\r\nx", true, false, false},
		{"no Content-Length", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nx\r\n0\r\n\r\n", false, false, true},
		{"bad Content-Length", "HTTP/1.1 200 OK\r\nContent-Length: x\r\n\r\n", false, false, true},
		{"not HTTP", "SSH-2.0-OpenSSH\r\n\r\n", false, false, true},
		{"short body", "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc", false, false, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			client, server := net.Pipe()
			defer client.Close()
			go func() {
				defer server.Close()
				bufio.NewReader(server).ReadString('\n') // the request line is enough
				server.Write([]byte(tc.resp))
			}()
			ok, keep, err := roundTrip(client, bufio.NewReader(client), []byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n"))
			if ok != tc.ok || keep != tc.keep || (err != nil) != tc.err {
				t.Errorf("ok %v keep %v err %v, want %v %v error %v", ok, keep, err, tc.ok, tc.keep, tc.err)
			}
		})
	}
}
