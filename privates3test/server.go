// Package privates3test provides fake Amazon S3 and STS servers for tests, used like
// [net/http/httptest].
//
// A [Server] speaks the S3 REST API and the STS query API (AssumeRole, GetCallerIdentity) on one
// loopback URL, as AWS does for any correct client (the Go, Python and JavaScript SDKs, the AWS
// CLI), not only for privates3. In S3 it serves GetObject, HeadObject, PutObject, DeleteObject,
// CopyObject, ListObjectsV2 and ListObjects (prefix, delimiter, max-keys, continuation-token,
// start-after, marker, fetch-owner, encoding-type=url), HeadBucket, GetBucketLocation, and
// multipart uploads (CreateMultipartUpload, UploadPart, CompleteMultipartUpload with S3's part
// checks and "md5-of-md5s-N" ETag, AbortMultipartUpload, ListParts, ListMultipartUploads).
//
//   - It verifies SigV4 signatures, in Authorization headers and in presigned queries, over
//     exactly the signed headers, with the payload hash checked; aws-chunked bodies
//     (STREAMING-AWS4-HMAC-SHA256-PAYLOAD, STREAMING-UNSIGNED-PAYLOAD-TRAILER and
//     STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER) have every chunk and trailer signature
//     verified and x-amz-decoded-content-length enforced.
//   - It verifies the checksums uploads carry (x-amz-checksum-crc32, -crc32c, -crc64nvme, -sha1,
//     -sha256, in headers or trailers, and Content-MD5), stores them (or, as S3 does, a
//     CRC-64/NVME of its own), and returns them on GET and HEAD with x-amz-checksum-mode:
//     ENABLED, so SDKs that validate responses are satisfied.
//   - It issues temporary credentials (ASIA… keys with session tokens) that expire on the
//     server's clock, and rejects expired or unknown tokens and expired presigned URLs.
//   - It evaluates the assumed role's identity policy intersected with the session policy.
//   - It answers with AWS's XML error shapes and codes.
//
// A test controls it through a clock ([Server.Advance]), fault injection
// ([Server.InjectFault]: error statuses, throttling, latency, hangs, dropped connections) and
// request counters ([Server.Count]).
//
// # Addressing
//
// Buckets are addressed path-style (URL/bucket/key) or virtual-hosted, with the bucket in the
// host: http://bucket.localhost:PORT/key ([Server.VirtualHost] is "localhost:PORT"). A Go SDK
// client reaches the virtual-hosted form with BaseEndpoint "http://"+[Server.VirtualHost]() and
// HTTPClient [Server.Client], which resolves every name under localhost to 127.0.0.1 (RFC 6761);
// other programs need a resolver that does the same (systemd-resolved, curl and browsers do;
// glibc without nss-myhostname does not), or else path-style: the AWS CLI with
// "addressing_style = path" in the s3 section of its config, boto3 with
// Config(s3={"addressing_style": "path"}), the JavaScript SDK with forcePathStyle: true, the Go
// SDK with UsePathStyle. In every case the endpoint is [Server.URL] (for the AWS CLI and SDKs
// that read it, AWS_ENDPOINT_URL).
//
// Buckets exist once [Server.CreateBucket] or [Server.PutObject] made them; PUT requests do not
// create buckets.
//
// # Identities
//
// Every server has one base IAM user ([Server.BaseCredentials], account 123456789012) that may
// do anything in S3 (like a bucket owner) and may assume every role. Roles are added with
// [Server.AddRole]; [Server.ReaderRole] creates a read-only role for one bucket. Temporary
// credentials may do what their role's policy, intersected with the session policy, allows.
// Policies support Effect Allow and Deny, Action, NotAction, Resource and NotResource (a string
// or an array), with the wildcards * and ?. Statements with a Condition are ignored (they
// neither allow nor deny).
//
// # Time
//
// The server's clock ([Server.Now]) is real time plus an offset that [Server.Advance]
// changes. Every expiry decision uses it: the expiration of temporary
// credentials, of presigned URLs, and the Last-Modified time of new objects.
//
// The clock-skew check (RequestTimeTooSkewed, more than 15 minutes between the request's
// X-Amz-Date and the server's time) compares against real time instead, and the Date header of
// every response is real time. The reason: AWS SDKs (aws-sdk-go-v2 among them) correct their
// signing time by the skew they observe in the Date header, and every other client signs with
// its own real clock; if the skew check followed the advanced clock, advancing it by an hour to
// expire a token would make every later request of such a client fail as skewed, which is not
// what a test of token expiry wants. Inside a [testing/synctest] bubble, real time is the
// bubble's fake time, so time.Sleep moves both clocks together.
//
// # In-process mode
//
// With [InProcess], the server does not listen on any socket: [Server.Client] reaches it over
// in-memory connections ([net.Pipe]), which makes it usable inside [testing/synctest] bubbles
// (create the Server inside the bubble).
//
// # Errors
//
// Errors are AWS's XML documents: for S3, Error{Code, Message, RequestId, HostId, …} with the
// x-amz-request-id header (and no body for HEAD, as S3 does); for STS,
// ErrorResponse{Error{Type, Code, Message}, RequestId} with x-amzn-RequestId. The codes are
// AWS's: S3 AccessDenied, NoSuchKey, NoSuchBucket, InvalidAccessKeyId, InvalidToken,
// ExpiredToken, SignatureDoesNotMatch, RequestTimeTooSkewed, AuthorizationHeaderMalformed,
// AuthorizationQueryParametersError, InvalidArgument, InvalidRequest, InvalidRange,
// PreconditionFailed, XAmzContentSHA256Mismatch, BadDigest, InvalidDigest, EntityTooSmall,
// EntityTooLarge, InvalidPart, InvalidPartOrder, MalformedXML, IncompleteBody,
// MissingContentLength, InvalidChunkSizeError, MalformedTrailerError, MethodNotAllowed,
// NotImplemented, RequestHeaderSectionTooLarge; STS
// ValidationError, AccessDenied, MalformedPolicyDocument, InvalidClientTokenId,
// SignatureDoesNotMatch, ExpiredToken, MissingAuthenticationToken, IncompleteSignature,
// MissingAction, InvalidAction; and whatever a [Fault] names. Answers never contain secret keys
// or session tokens, except the credentials AssumeRole issues.
//
// # Limits
//
// Memory: objects live in memory. A PutObject or UploadPart body is at most 64 MiB (beyond,
// EntityTooLarge), and request bodies are read whole before they are stored. Parts of unfinished
// multipart uploads are kept in memory, at most 1 GiB per Server in all (beyond, UploadPart
// answers EntityTooLarge); a completed upload's object holds its parts without copying them, and
// aborting or completing frees what it does not use. Listings copy and sort the keys under the
// prefix (fine for test buckets, not for millions of keys).
//
// Not implemented: ListBuckets, bucket creation and deletion over HTTP, DeleteObjects, versioning,
// ACLs and bucket configuration (those answer NotImplemented), UploadPartCopy, GetObject by
// partNumber, the delimiter of ListMultipartUploads, policy conditions, role chaining, SigV4a
// (ECDSA) signatures. Chunked uploads in STREAMING-AWS4-HMAC-SHA256-PAYLOAD modes must use
// chunks of at least 8 KiB, except the last, as on S3. A listing with max-keys=0 is an empty,
// untruncated page. Objects stored with [Server.PutSyntheticObject] have a multipart-style ETag
// instead of an MD5, and no checksum.
package privates3test

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/privates3/privates3"
)

// Operation names, for [Fault.Op], [Server.Count] and [Server.CountKey].
const (
	OpGetObject         = "GetObject"
	OpHeadObject        = "HeadObject"
	OpPutObject         = "PutObject"
	OpDeleteObject      = "DeleteObject"
	OpAssumeRole        = "AssumeRole"
	OpGetCallerIdentity = "GetCallerIdentity"

	OpCopyObject              = "CopyObject"
	OpListObjectsV2           = "ListObjectsV2"
	OpListObjects             = "ListObjects"
	OpHeadBucket              = "HeadBucket"
	OpGetBucketLocation       = "GetBucketLocation"
	OpCreateMultipartUpload   = "CreateMultipartUpload"
	OpUploadPart              = "UploadPart"
	OpCompleteMultipartUpload = "CompleteMultipartUpload"
	OpAbortMultipartUpload    = "AbortMultipartUpload"
	OpListParts               = "ListParts"
	OpListMultipartUploads    = "ListMultipartUploads"
)

// AccountID is the AWS account of every identity of a Server.
const AccountID = "123456789012"

// inProcessURL is the URL of a Server created with [InProcess]. The host does not resolve: only
// [Server.Client] reaches the server.
const inProcessURL = "http://privates3test.invalid"

// DefaultRegion is the region of a Server unless [Region] says otherwise.
const DefaultRegion = "us-east-1"

// Option configures a Server created by [NewServer].
type Option func(*options)

type options struct {
	inProcess bool
	region    string
}

// InProcess makes the server listen on no socket: its URL is "http://privates3test.invalid",
// which does not resolve, and only [Server.Client] (and [Server.AWSConfig], [Server.Config], which use it)
// reach it, over in-memory connections. Use it inside [testing/synctest] bubbles.
func InProcess() Option { return func(o *options) { o.inProcess = true } }

// Region sets the server's region (used in signatures). If not given, [DefaultRegion].
func Region(r string) Option { return func(o *options) { o.region = r } }

// Server is a fake S3 and STS server. Create it with [NewServer] and stop it with
// [Server.Close]. All methods are safe for concurrent use, also while requests are served.
type Server struct {
	// URL is the base URL of the server, "http://127.0.0.1:port" without a trailing slash, or
	// "http://privates3test.invalid" in in-process mode. S3 buckets are addressed path-style: URL/bucket/key.
	URL string

	region    string
	inProcess bool
	handler   http.Handler
	httpSrv   *http.Server
	listener  net.Listener
	client    *http.Client
	transport *http.Transport
	serveDone chan struct{}

	// clock offset from real time, in nanoseconds.
	offset atomic.Int64

	requestSeq atomic.Uint64
	putSeq     atomic.Uint64 // distinguishes the ETags of synthetic objects

	base aws.Credentials

	mu       sync.Mutex         // guards the fields below
	buckets  map[string]*bucket // by name
	roles    map[string]*role   // by ARN
	sessions map[string]*session
	tokens   map[string]*session // by session token
	faults   []*faultEntry
	counts   map[string]int
	keyCount map[[2]string]int
	// pendingBytes is the size of the parts of every unfinished multipart upload, at most
	// maxPending (maxPendingUploadBytes; tests lower it).
	pendingBytes, maxPending int64

	closeMu  sync.Mutex // guards closed, and handlers.Add against Close
	closed   bool
	closing  chan struct{} // closed by Close: hanging handlers return
	handlers sync.WaitGroup
}

// NewServer starts a fake S3 and STS server on a loopback address (127.0.0.1, random port) and
// returns it; the caller must Close it. Like [net/http/httptest.NewServer], it panics if it cannot
// listen; commands use [Start] instead.
func NewServer(opts ...Option) *Server {
	s, err := Start(opts...)
	if err != nil {
		panic(err.Error())
	}
	return s
}

// Start is [NewServer] for commands: it returns an error instead of panicking when it cannot
// listen.
func Start(opts ...Option) (*Server, error) {
	o := options{region: DefaultRegion}
	for _, opt := range opts {
		opt(&o)
	}
	s := &Server{
		region:     o.region,
		inProcess:  o.inProcess,
		buckets:    map[string]*bucket{},
		roles:      map[string]*role{},
		sessions:   map[string]*session{},
		tokens:     map[string]*session{},
		counts:     map[string]int{},
		keyCount:   map[[2]string]int{},
		maxPending: maxPendingUploadBytes,
		closing:    make(chan struct{}),
		serveDone:  make(chan struct{}),
	}
	s.base = aws.Credentials{
		AccessKeyID:     "AKIA" + randomString(16, upperAlnum),
		SecretAccessKey: randomString(40, secretAlphabet),
		Source:          "privates3test",
	}
	s.handler = http.HandlerFunc(s.serveHTTP)
	s.httpSrv = &http.Server{
		Handler:           s.handler,
		ReadHeaderTimeout: time.Minute,
		// The handler checks the header size itself, to answer with S3's XML error.
		MaxHeaderBytes: 1 << 20,
		ErrorLog:       nil,
	}
	s.transport = &http.Transport{
		MaxIdleConnsPerHost: 64,
		IdleConnTimeout:     90 * time.Second,
		ForceAttemptHTTP2:   false,
	}
	if o.inProcess {
		pl := newPipeListener()
		s.listener = pl
		s.URL = inProcessURL
		s.transport.DialContext = pl.dial
	} else {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("privates3test: failed to listen on 127.0.0.1: %w", err)
		}
		s.listener = l
		s.URL = "http://" + l.Addr().String()
		s.transport.DialContext = dialLocalhost
	}
	s.client = &http.Client{Transport: s.transport}
	go func() {
		defer close(s.serveDone)
		_ = s.httpSrv.Serve(s.listener)
	}()
	return s, nil
}

// Close stops the server: it closes the listener and every connection, makes hanging requests
// return, and waits for all handlers to finish. It is idempotent.
func (s *Server) Close() {
	s.closeMu.Lock()
	if s.closed {
		s.closeMu.Unlock()
		return
	}
	s.closed = true
	close(s.closing)
	s.closeMu.Unlock()

	_ = s.httpSrv.Close()
	<-s.serveDone
	s.handlers.Wait()
	s.transport.CloseIdleConnections()
}

// Handler returns the server's http.Handler, for serving it another way (for example with
// httptest.NewRecorder). The requests' Host header takes part in signatures like any other
// signed header. A Drop fault needs a connection that can be hijacked.
func (s *Server) Handler() http.Handler { return s.handler }

// Client returns an HTTP client that reaches the server: over loopback TCP, or over in-memory
// connections in in-process mode. It is shared; Close closes its idle connections.
func (s *Server) Client() *http.Client { return s.client }

// VirtualHost returns "localhost:PORT" (or "localhost" in in-process mode): the bucket b is
// addressed virtual-hosted as http://b.localhost:PORT/key. [Server.Client] resolves every name
// under localhost to 127.0.0.1, as RFC 6761 asks of resolvers; an SDK whose BaseEndpoint is
// "http://"+VirtualHost() and which does not use path-style addressing reaches it that way.
func (s *Server) VirtualHost() string {
	if s.inProcess {
		return "localhost"
	}
	return "localhost" + s.URL[strings.LastIndexByte(s.URL, ':'):]
}

// dialLocalhost dials addr, resolving localhost and every name under it to 127.0.0.1.
func dialLocalhost(ctx context.Context, network, addr string) (net.Conn, error) {
	if host, port, err := net.SplitHostPort(addr); err == nil && isLocalhost(host) {
		addr = net.JoinHostPort("127.0.0.1", port)
	}
	var d net.Dialer
	return d.DialContext(ctx, network, addr)
}

// isLocalhost reports whether host is localhost or a name under it.
func isLocalhost(host string) bool {
	host = strings.TrimSuffix(strings.ToLower(host), ".")
	return host == "localhost" || strings.HasSuffix(host, ".localhost")
}

// Region returns the server's region.
func (s *Server) Region() string { return s.region }

// BaseCredentials returns the static keys (AKIA…) of the server's base IAM user, which may do
// anything in S3 and may assume every role. They are random per Server.
func (s *Server) BaseCredentials() aws.Credentials { return s.base }

// AWSConfig returns an SDK configuration for the server: its region, the base user's credentials,
// BaseEndpoint set to URL, and in in-process mode HTTPClient set to [Server.Client]. S3 clients
// made from it need UsePathStyle (see Addressing in the package documentation for the
// virtual-hosted form).
func (s *Server) AWSConfig() aws.Config {
	cfg := aws.Config{
		Region:       s.region,
		Credentials:  aws.NewCredentialsCache(staticProvider{s.base}),
		BaseEndpoint: aws.String(s.URL),
	}
	if s.inProcess {
		cfg.HTTPClient = s.client
	}
	return cfg
}

type staticProvider struct{ c aws.Credentials }

func (p staticProvider) Retrieve(context.Context) (aws.Credentials, error) { return p.c, nil }

// Config returns a privates3.Config wired to the server for bucket: Endpoint and STSEndpoint set
// to URL, UsePathStyle, AWS set to [Server.AWSConfig], and RoleARN set to [Server.ReaderRole].
func (s *Server) Config(bucket string) privates3.Config {
	awsCfg := s.AWSConfig()
	return privates3.Config{
		Bucket:       bucket,
		RoleARN:      s.ReaderRole(bucket),
		AWS:          &awsCfg,
		Endpoint:     s.URL,
		STSEndpoint:  s.URL,
		UsePathStyle: true,
	}
}

// Now returns the server's clock: real time plus the offset set by Advance.
func (s *Server) Now() time.Time { return time.Now().Add(time.Duration(s.offset.Load())) }

// Advance moves the server's clock forward by d (backward if d is negative).
func (s *Server) Advance(d time.Duration) { s.offset.Add(int64(d)) }

// Count returns the number of requests received for op (one of the Op constants), whatever their
// outcome (faults and errors included), since the server started or ResetCounts.
func (s *Server) Count(op string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.counts[op]
}

// CountKey is Count for the S3 requests of op on one key (of any bucket).
func (s *Server) CountKey(op, key string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.keyCount[[2]string{op, key}]
}

// ResetCounts sets every counter to zero.
func (s *Server) ResetCounts() {
	s.mu.Lock()
	defer s.mu.Unlock()
	clear(s.counts)
	clear(s.keyCount)
}

func (s *Server) count(op, key string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.counts[op]++
	if key != "" {
		s.keyCount[[2]string{op, key}]++
	}
}

// nextRequestID returns a new request ID, unique within the server.
func (s *Server) nextRequestID() string {
	return fmt.Sprintf("PS3T%012X", s.requestSeq.Add(1))
}

const (
	upperAlnum     = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
	secretAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
)

// randomString returns n characters drawn uniformly from alphabet (whose length divides 256).
func randomString(n int, alphabet string) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	for i := range b {
		b[i] = alphabet[int(b[i])%len(alphabet)]
	}
	return string(b)
}

// pipeListener is a net.Listener whose connections are in-memory pipes created by dial.
type pipeListener struct {
	conns     chan net.Conn
	done      chan struct{}
	closeOnce sync.Once
}

func newPipeListener() *pipeListener {
	return &pipeListener{conns: make(chan net.Conn), done: make(chan struct{})}
}

func (l *pipeListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.done:
		return nil, net.ErrClosed
	}
}

func (l *pipeListener) Close() error {
	l.closeOnce.Do(func() { close(l.done) })
	return nil
}

func (l *pipeListener) Addr() net.Addr { return pipeAddr{} }

func (l *pipeListener) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	client, server := net.Pipe()
	select {
	case l.conns <- server:
		return client, nil
	case <-l.done:
		client.Close()
		server.Close()
		return nil, fmt.Errorf("privates3test: dial %s: %w", addr, errServerClosed)
	case <-ctx.Done():
		client.Close()
		server.Close()
		return nil, ctx.Err()
	}
}

var errServerClosed = errors.New("privates3test: server closed")

type pipeAddr struct{}

func (pipeAddr) Network() string { return "pipe" }
func (pipeAddr) String() string  { return "privates3test.invalid:80" }

// hasPrefixFold reports whether s starts with prefix, ignoring ASCII case.
func hasPrefixFold(s, prefix string) bool {
	return len(s) >= len(prefix) && strings.EqualFold(s[:len(prefix)], prefix)
}
