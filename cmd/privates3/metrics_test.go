package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/privates3/privates3/privates3test"
)

// scrape reads /metrics of the server at base with the Prometheus text parser.
func scrape(t *testing.T, base string) map[string]*dto.MetricFamily {
	t.Helper()
	resp, body := get(t, http.DefaultClient, base+"metrics")
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/plain") {
		t.Fatalf("/metrics: %s %s", resp.Status, resp.Header.Get("Content-Type"))
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	families, err := p.TextToMetricFamilies(bytes.NewReader(body))
	if err != nil {
		t.Fatalf("/metrics is not the Prometheus text format: %v\n%s", err, body)
	}
	return families
}

// sample returns the value of the sample of family name whose labels include labels (k=v
// pairs): a counter's or gauge's value, a histogram's count. It fails the test unless exactly
// one sample matches or the family has the wrong type.
func sample(t *testing.T, families map[string]*dto.MetricFamily, name string, typ dto.MetricType, labels ...string) float64 {
	t.Helper()
	f := families[name]
	if f == nil {
		t.Fatalf("no metric family %s", name)
	}
	if f.GetType() != typ {
		t.Fatalf("%s: type %v, want %v", name, f.GetType(), typ)
	}
	var found []float64
next:
	for _, m := range f.GetMetric() {
		have := map[string]string{}
		for _, l := range m.GetLabel() {
			have[l.GetName()] = l.GetValue()
		}
		for _, kv := range labels {
			k, v, _ := strings.Cut(kv, "=")
			if have[k] != v {
				continue next
			}
		}
		switch typ {
		case dto.MetricType_COUNTER:
			found = append(found, m.GetCounter().GetValue())
		case dto.MetricType_GAUGE:
			found = append(found, m.GetGauge().GetValue())
		case dto.MetricType_HISTOGRAM:
			found = append(found, float64(m.GetHistogram().GetSampleCount()))
		}
	}
	if len(found) != 1 {
		t.Fatalf("%s%v: %d samples match, want 1", name, labels, len(found))
	}
	return found[0]
}

// TestMetricsEndpoint scrapes /metrics of the running server after a few tile requests and
// checks the exact values of the library's instruments, parsed by Prometheus's own parser.
func TestMetricsEndpoint(t *testing.T) {
	a, _ := startApp(t, "-max-zoom", "1")
	for _, tt := range []struct {
		path   string
		status int
	}{{"tiles/0/0/0.png", 200}, {"tiles/0/0/0.png", 200}, {"tiles/1/0/0.png", 200}, {"tiles/7/0/0.png", 404}} {
		if resp, _ := get(t, http.DefaultClient, a.url+tt.path); resp.StatusCode != tt.status {
			t.Fatalf("GET %s: %s, want %d", tt.path, resp.Status, tt.status)
		}
	}
	f := scrape(t, a.url)
	counter, gauge, histogram := dto.MetricType_COUNTER, dto.MetricType_GAUGE, dto.MetricType_HISTOGRAM
	st := getStats(t, a.url)
	for _, c := range []struct {
		name   string
		typ    dto.MetricType
		labels []string
		want   float64
	}{
		{"privates3_cache_lookups_total", counter, []string{"privates3_result=hit"}, 1},
		{"privates3_cache_lookups_total", counter, []string{"privates3_result=miss"}, 3},
		{"privates3_cache_entries", gauge, nil, 3}, // two tiles, one not-found
		{"privates3_cache_size_bytes", gauge, nil, float64(st.CachedBytes)},
		// The start-up probe (a 1-byte ranged GET), two tiles, one not found.
		{"privates3_s3_duration_seconds", histogram, []string{"rpc_method=GetObject", "error_type="}, 3},
		{"privates3_s3_duration_seconds", histogram, []string{"rpc_method=GetObject", "error_type=not_found"}, 1},
		{"privates3_sts_duration_seconds", histogram, []string{"rpc_method=AssumeRole", "error_type="}, 1},
		{"http_server_request_duration_seconds", histogram, []string{"privates3_mode=proxy", "http_request_method=GET", "privates3_status_class=2xx"}, 3},
		{"http_server_request_duration_seconds", histogram, []string{"privates3_mode=proxy", "http_request_method=GET", "privates3_status_class=4xx"}, 1},
		{"http_server_active_requests", gauge, []string{"privates3_mode=proxy"}, 0},
		{"privates3_credentials_refreshes_total", counter, []string{"privates3_result=failure"}, 0},
	} {
		if got := sample(t, f, c.name, c.typ, c.labels...); got != c.want {
			t.Errorf("%s%v = %v, want %v", c.name, c.labels, got, c.want)
		}
	}
	if left := sample(t, f, "privates3_credentials_remaining_seconds", gauge); left < 50*60 || left > 3600 {
		t.Errorf("privates3_credentials_remaining_seconds = %v, want about an hour", left)
	}
	if served := sample(t, f, "privates3_served_bytes_total", counter, "privates3_source=cache"); served <= 0 {
		t.Errorf("privates3_served_bytes_total{source=cache} = %v", served)
	}
	if f["go_goroutines"] == nil {
		t.Errorf("no Go runtime metrics")
	}
}

// TestReadyz: /readyz is 200 while the bucket is readable, 503 with a one-line reason when the
// token expired (the fake's clock) and STS fails, and 200 again once STS recovers; /healthz stays
// 200 throughout.
func TestReadyz(t *testing.T) {
	a, stderr := startAppWith(t, func(a *app) { a.readyTTL = 0 }, "-max-zoom", "0", "-log-format", "json")
	check := func(path string, status int, body string) {
		t.Helper()
		resp, b := get(t, http.DefaultClient, a.url+path)
		if resp.StatusCode != status || string(b) != body {
			t.Fatalf("GET /%s: %d %q, want %d %q", path, resp.StatusCode, b, status, body)
		}
	}
	check("readyz", 200, "ready\n")
	a.fake.Advance(2 * time.Hour)
	a.fake.InjectFault(privates3test.Fault{Op: privates3test.OpAssumeRole, Status: 500})
	check("readyz", 503, "not ready: bucket not readable: privates3: credentials unavailable\n")
	check("healthz", 200, "ok\n")
	a.fake.ClearFaults()
	time.Sleep(1100 * time.Millisecond) // the library reuses a failed renewal's error for a second
	check("readyz", 200, "ready\n")

	// The failed probe was logged, as JSON (-log-format json).
	logged := false
	for line := range strings.Lines(stderr.String()) {
		var rec map[string]any
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatalf("log line is not JSON: %q", line)
		}
		logged = logged || rec["msg"] == "readiness probe failed"
	}
	if !logged {
		t.Errorf("no log line for the failed probe:\n%s", stderr.String())
	}
}

// TestReadiness checks the readiness rules with stub credentials and probes: the credentials'
// remaining life, the reuse of a probe's result within the TTL, and a probe that a caller's
// cancelled context does not cut short.
func TestReadiness(t *testing.T) {
	errDenied := errors.New("bucket not readable: privates3: access denied")
	for _, tt := range []struct {
		name      string
		expires   time.Duration // from now; 0: never
		probeErr  error
		want      string // "" for ready
		wantProbe int32
	}{
		{"never expire", 0, nil, "", 1},
		{"long valid", time.Hour, nil, "", 1},
		{"expiring", 30 * time.Second, nil, "credentials expire in 30s", 0},
		{"expired", -90 * time.Second, nil, "credentials expired 1m30s ago", 0},
		{"probe fails", time.Hour, errDenied, errDenied.Error(), 1},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var probes atomic.Int32
			exp := time.Now().Add(tt.expires)
			rd := &readiness{
				expiry: func() (time.Time, bool) { return exp, tt.expires != 0 },
				probe: func(ctx context.Context) error {
					probes.Add(1)
					if ctx.Err() != nil {
						return ctx.Err()
					}
					return tt.probeErr
				},
				ttl: time.Hour,
			}
			ctx, cancel := context.WithCancel(t.Context())
			cancel() // the probe must not depend on the caller's context
			for range 3 {
				err := rd.check(ctx)
				if got := ""; err != nil {
					got = err.Error()
					if got != tt.want {
						t.Fatalf("check = %q, want %q", got, tt.want)
					}
				} else if tt.want != "" {
					t.Fatalf("check = nil, want %q", tt.want)
				}
			}
			if n := probes.Load(); n != tt.wantProbe {
				t.Errorf("%d probes for 3 checks within the TTL, want %d", n, tt.wantProbe)
			}
		})
	}
}
