package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/privates3/privates3"
	"github.com/privates3/privates3/privates3test"
)

// backend is the S3 endpoint under test: the in-process fake, or an external endpoint.
type backend struct {
	name   string
	awsCfg aws.Config // base credentials; HTTPClient is the SDK's BuildableClient counting dials
	cfg    privates3.Config
	dials  atomic.Int64 // TCP connections opened by clients built from awsCfg
	fake   *privates3test.Server
	small  []string // keys of the hot objects
	big    string   // key of the large object
}

// countingClient returns the SDK's default HTTP client (what config.LoadDefaultConfig sets, the
// path every real deployment takes), with a dialer that counts the connections it opens.
func countingClient(n *atomic.Int64) *awshttp.BuildableClient {
	return awshttp.NewBuildableClient().WithDialerOptions(func(d *net.Dialer) {
		d.Control = func(_, _ string, _ syscall.RawConn) error {
			n.Add(1)
			return nil
		}
	})
}

// newBackend starts the fake (o.endpoint empty) or connects to o.endpoint, and makes sure the
// objects exist: o.keys hot objects of o.objSize bytes, and one of o.bigSize bytes.
func newBackend(ctx context.Context, o options) (*backend, error) {
	b := &backend{big: o.keyPrefix + "big.bin"}
	for i := range o.keys {
		b.small = append(b.small, fmt.Sprintf("%sobj-%03d.bin", o.keyPrefix, i))
	}
	rng := rand.NewChaCha8([32]byte{})
	body := func() []byte {
		p := make([]byte, o.objSize)
		rng.Read(p)
		return p
	}
	if o.endpoint == "" {
		srv, err := privates3test.Start()
		if err != nil {
			return nil, err
		}
		b.fake, b.name = srv, "privates3test fake at "+srv.URL+" (in process)"
		for _, k := range b.small {
			srv.PutObject("tiles", k, body(), privates3test.ContentType("application/octet-stream"))
		}
		srv.PutSyntheticObject("tiles", b.big, o.bigSize)
		if o.backendLatency > 0 {
			srv.InjectFault(privates3test.Fault{Op: privates3test.OpGetObject, Latency: o.backendLatency})
		}
		b.cfg = srv.Config("tiles")
		b.awsCfg = srv.AWSConfig()
		b.awsCfg.HTTPClient = countingClient(&b.dials)
		b.cfg.AWS = &b.awsCfg
		return b, nil
	}
	opts := []func(*config.LoadOptions) error{config.WithHTTPClient(countingClient(&b.dials))}
	if o.region != "" {
		opts = append(opts, config.WithRegion(o.region))
	}
	if o.accessKeyID != "" {
		opts = append(opts, config.WithCredentialsProvider(credentials.NewStaticCredentialsProvider(o.accessKeyID, o.secretAccessKey, o.sessionToken)))
	}
	awsCfg, err := config.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return nil, err
	}
	b.awsCfg, b.name = awsCfg, o.endpoint+" bucket "+o.bucket
	b.cfg = privates3.Config{
		Bucket: o.bucket, RoleARN: o.roleARN, AWS: &b.awsCfg,
		Endpoint: o.endpoint, STSEndpoint: o.stsEndpoint, UsePathStyle: true,
	}
	if o.upload {
		if err := b.upload(ctx, o, body); err != nil {
			return nil, err
		}
	}
	return b, nil
}

// upload puts the objects with the base credentials.
func (b *backend) upload(ctx context.Context, o options, body func() []byte) error {
	s3c := b.s3Client()
	put := func(key string, p []byte) error {
		_, err := s3c.PutObject(ctx, &s3.PutObjectInput{Bucket: &o.bucket, Key: &key, Body: bytes.NewReader(p), ContentType: aws.String("application/octet-stream")})
		return err
	}
	for _, k := range b.small {
		if err := put(k, body()); err != nil {
			return fmt.Errorf("loadtest: upload %s: %w", k, err)
		}
	}
	big := make([]byte, o.bigSize) // freed before anything is measured
	if _, err := io.ReadFull(privates3test.SyntheticReader(o.bigSize), big); err != nil {
		return err
	}
	if err := put(b.big, big); err != nil {
		return fmt.Errorf("loadtest: upload %s: %w", b.big, err)
	}
	return nil
}

// s3Client returns a plain SDK S3 client of the backend (base credentials), as an application
// calling GetObject itself would use.
func (b *backend) s3Client() *s3.Client {
	return s3.NewFromConfig(b.awsCfg, func(so *s3.Options) {
		so.UsePathStyle = b.cfg.UsePathStyle
		if b.cfg.Endpoint != "" {
			so.BaseEndpoint = aws.String(b.cfg.Endpoint)
		}
		// As privates3 does: both sides copy bytes, neither computes a checksum.
		so.ResponseChecksumValidation = aws.ResponseChecksumValidationWhenRequired
	})
}

func (b *backend) close() {
	if b.fake != nil {
		b.fake.Close()
	}
}

// server is an HTTP server on 127.0.0.1 for one contestant.
type server struct {
	srv *http.Server
	url string
}

func serve(h http.Handler) (*server, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	s := &server{srv: &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}, url: "http://" + ln.Addr().String()}
	go s.srv.Serve(ln) // stopped by close
	return s, nil
}

func (s *server) close() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := s.srv.Shutdown(ctx); err != nil {
		s.srv.Close()
	}
}

// mount is how the README mounts the handler.
func mount(c *privates3.Client) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/files/", http.StripPrefix("/files/", c.Handler(nil)))
	return mux
}

// ceiling returns a bare handler that writes, from memory, the response privates3's handler h
// gives for each key (the same status, headers and body), and nothing else.
func ceiling(h http.Handler, keys []string) (http.Handler, error) {
	type answer struct {
		hdr  http.Header
		body []byte
	}
	answers := make(map[string]answer, len(keys))
	for _, k := range keys {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/files/"+k, nil))
		if rec.Code != http.StatusOK {
			return nil, fmt.Errorf("loadtest: GET %s through privates3: status %d", k, rec.Code)
		}
		answers["/files/"+k] = answer{rec.Header().Clone(), rec.Body.Bytes()}
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		a, ok := answers[r.URL.Path]
		if !ok {
			http.NotFound(w, r)
			return
		}
		hdr := w.Header()
		for k, v := range a.hdr {
			hdr[k] = v
		}
		w.Write(a.body)
	}), nil
}

// presigned returns one presigned GET URL per key, signed by c.
func presigned(ctx context.Context, c *privates3.Client, keys []string) ([]string, error) {
	var urls []string
	for _, k := range keys {
		u, err := c.Presign(ctx, k, nil)
		if err != nil {
			return nil, err
		}
		urls = append(urls, u.URL)
	}
	if len(urls) == 0 {
		return nil, errors.New("loadtest: no keys")
	}
	return urls, nil
}

// relay returns the least any proxy does on a miss: a bare net/http handler that GETs the
// object's presigned URL (signed in advance, so no signing per request) with a pooled net/http
// client and copies the answer's body, with the Content-Length, to its client. It is what
// privates3's miss path would cost without the SDK, its cache and its checks.
func relay(hc *http.Client, signed map[string]string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u, ok := signed[r.URL.Path]
		if !ok {
			http.NotFound(w, r)
			return
		}
		req, err := http.NewRequestWithContext(r.Context(), http.MethodGet, u, nil)
		if err != nil {
			http.Error(w, "bad gateway", http.StatusBadGateway)
			return
		}
		resp, err := hc.Do(req)
		if err != nil {
			http.Error(w, "bad gateway", http.StatusBadGateway)
			return
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			http.Error(w, "bad gateway", http.StatusBadGateway)
			return
		}
		w.Header()["Content-Length"] = resp.Header["Content-Length"]
		w.Header()["Content-Type"] = resp.Header["Content-Type"]
		buf := relayBuffers.Get().(*[256 << 10]byte)
		defer relayBuffers.Put(buf)
		io.CopyBuffer(writerOnly{w}, readerOnly{resp.Body}, buf[:])
	})
}

var relayBuffers = sync.Pool{New: func() any { return new([256 << 10]byte) }}

// relayClient is the relay's HTTP client: net/http's, with a pool for conns connections and a
// dialer counting the connections it opens.
func relayClient(conns int, dials *atomic.Int64) *http.Client {
	d := &net.Dialer{Timeout: 5 * time.Second, Control: func(_, _ string, _ syscall.RawConn) error {
		dials.Add(1)
		return nil
	}}
	return &http.Client{Transport: &http.Transport{
		DialContext: d.DialContext, MaxIdleConns: 2 * conns, MaxIdleConnsPerHost: 2 * conns,
		IdleConnTimeout: 90 * time.Second, DisableCompression: true,
	}}
}

// readerOnly and writerOnly hide WriterTo and ReaderFrom (net/http's response has one, copying
// with a 32 KiB buffer), so that io.CopyBuffer uses its 256 KiB buffer, as privates3 does.
type (
	readerOnly struct{ io.Reader }
	writerOnly struct{ io.Writer }
)
