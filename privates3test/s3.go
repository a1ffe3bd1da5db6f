package privates3test

import (
	"crypto/md5"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/xml"
	"io"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
)

const (
	// maxHeaderBytes is the size of the header section S3 accepts (8 KiB).
	maxHeaderBytes = 8 << 10
	// maxPutBytes is the largest object the fake accepts through PutObject over HTTP.
	maxPutBytes = 64 << 20
)

// serveHTTP routes a request to STS (POST /, or GET / with an Action) or S3.
func (s *Server) serveHTTP(w http.ResponseWriter, r *http.Request) {
	s.closeMu.Lock()
	if s.closed {
		s.closeMu.Unlock()
		dropConnection(w)
		return
	}
	s.handlers.Add(1)
	s.closeMu.Unlock()
	defer s.handlers.Done()

	reqID := s.nextRequestID()
	_, virtualHosted := virtualHostBucket(r.Host)
	isSTS := r.URL.Path == "/" && !virtualHosted && (r.Method == http.MethodPost || r.URL.Query().Has("Action"))
	if headerSize(r) > maxHeaderBytes {
		e := newError(http.StatusBadRequest, "RequestHeaderSectionTooLarge", "Your request header section exceeds the maximum allowed size.").
			with("MaxSizeAllowed", strconv.Itoa(maxHeaderBytes))
		if isSTS {
			writeSTSError(w, reqID, e)
		} else {
			writeS3Error(w, r, reqID, e)
		}
		return
	}
	if isSTS {
		s.serveSTS(w, r, reqID)
		return
	}
	s.serveS3(w, r, reqID)
}

// headerSize approximates the size of r's header section as sent.
func headerSize(r *http.Request) int {
	n := len(r.Host) + len("Host: \r\n")
	for k, vs := range r.Header {
		for _, v := range vs {
			n += len(k) + len(v) + 4
		}
	}
	return n
}

// s3Request is an S3 request as routed: its operation, bucket and key.
type s3Request struct {
	op, bucket, key string
	query           url.Values
}

// route finds the operation, bucket and key of r. Virtual-hosted requests (Host
// bucket.localhost[:port]) name the bucket in the host, path-style ones in the path. op is ""
// for what the fake does not serve.
func route(r *http.Request) s3Request {
	var sr s3Request
	if b, ok := virtualHostBucket(r.Host); ok {
		sr.bucket, sr.key = b, strings.TrimPrefix(r.URL.Path, "/")
	} else {
		sr.bucket, sr.key, _ = strings.Cut(strings.TrimPrefix(r.URL.Path, "/"), "/")
	}
	q := r.URL.Query()
	sr.query = q
	switch {
	case sr.bucket == "":
	case sr.key == "":
		sr.op = routeOp(bucketRoutes, r, q)
	default:
		sr.op = routeOp(objectRoutes, r, q)
	}
	return sr
}

// virtualHostBucket returns the bucket of a virtual-hosted Host header (bucket.localhost:port).
func virtualHostBucket(host string) (string, bool) {
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	host = strings.TrimSuffix(strings.ToLower(host), ".")
	b, ok := strings.CutSuffix(host, ".localhost")
	return b, ok && b != ""
}

// bucketSubresources are the query parameters that name a bucket configuration the fake does not
// serve (a GET with one of them is not a listing).
var bucketSubresources = []string{"accelerate", "acl", "analytics", "cors", "encryption", "intelligent-tiering",
	"inventory", "lifecycle", "logging", "metrics", "notification", "object-lock", "ownershipControls", "policy",
	"policyStatus", "publicAccessBlock", "replication", "requestPayment", "tagging", "versioning", "versions", "website"}

// opRoute is a rule of route: a request with method whose query has param (any query if "") and
// for which when holds (if not nil) is the operation op ("" for one the fake does not serve).
type opRoute struct {
	method string
	param  string
	when   func(r *http.Request, q url.Values) bool
	op     string
}

// bucketRoutes and objectRoutes route requests to a bucket and to an object: the first rule that
// matches names the operation, and a request no rule matches is not served.
var (
	bucketRoutes = []opRoute{
		{http.MethodHead, "", nil, OpHeadBucket},
		{http.MethodGet, "location", nil, OpGetBucketLocation},
		{http.MethodGet, "uploads", nil, OpListMultipartUploads},
		{http.MethodGet, "", isBucketSubresource, ""}, // a configuration the fake does not serve
		{http.MethodGet, "", isListV2, OpListObjectsV2},
		{http.MethodGet, "", isListV1, OpListObjects},
	}
	objectRoutes = []opRoute{
		{http.MethodGet, "uploadId", nil, OpListParts},
		{http.MethodGet, "", nil, OpGetObject},
		{http.MethodHead, "", nil, OpHeadObject},
		{http.MethodPut, "uploadId", hasCopySource, ""}, // UploadPartCopy
		{http.MethodPut, "uploadId", nil, OpUploadPart},
		{http.MethodPut, "partNumber", nil, OpUploadPart},
		{http.MethodPut, "", hasCopySource, OpCopyObject},
		{http.MethodPut, "", nil, OpPutObject},
		{http.MethodPost, "uploads", nil, OpCreateMultipartUpload},
		{http.MethodPost, "uploadId", nil, OpCompleteMultipartUpload},
		{http.MethodDelete, "uploadId", nil, OpAbortMultipartUpload},
		{http.MethodDelete, "", nil, OpDeleteObject},
	}
)

// routeOp returns the operation of the first of routes that r (whose query is q) matches, ""
// if none does.
func routeOp(routes []opRoute, r *http.Request, q url.Values) string {
	for _, rt := range routes {
		if rt.method == r.Method && (rt.param == "" || q.Has(rt.param)) && (rt.when == nil || rt.when(r, q)) {
			return rt.op
		}
	}
	return ""
}

// isBucketSubresource reports whether q names a bucket configuration (a GET of one is not a
// listing).
func isBucketSubresource(_ *http.Request, q url.Values) bool {
	return slices.ContainsFunc(bucketSubresources, q.Has)
}

// isListV2 reports whether q asks for ListObjectsV2.
func isListV2(_ *http.Request, q url.Values) bool { return q.Get("list-type") == "2" }

// isListV1 reports whether q asks for ListObjects (version 1, without list-type).
func isListV1(_ *http.Request, q url.Values) bool { return !q.Has("list-type") }

// hasCopySource reports whether r copies from another object.
func hasCopySource(r *http.Request, _ url.Values) bool {
	return r.Header.Get("X-Amz-Copy-Source") != ""
}

// Values of x-amz-content-sha256 for aws-chunked bodies.
const (
	streamingSigned          = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD"
	streamingSignedTrailer   = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER"
	streamingUnsignedTrailer = "STREAMING-UNSIGNED-PAYLOAD-TRAILER"
)

// acceptedPayloadHashes are the values of x-amz-content-sha256 the fake accepts besides a hex
// SHA-256.
var acceptedPayloadHashes = []string{unsignedPayload, streamingSigned, streamingSignedTrailer, streamingUnsignedTrailer}

// serveS3 answers an S3 request, counted and subject to faults by operation.
func (s *Server) serveS3(w http.ResponseWriter, r *http.Request, reqID string) {
	sr := route(r)
	if sr.op != "" {
		s.count(sr.op, sr.key)
		if f := s.takeFault(sr.op, sr.key, true); f != nil && s.applyFault(w, r, f, reqID, true) {
			return
		}
	}
	if e := s.answerS3(w, r, reqID, sr); e != nil {
		writeS3Error(w, r, reqID, e)
	}
}

// answerS3 checks, authenticates and reads the request sr and answers it; an error is written by
// the caller.
func (s *Server) answerS3(w http.ResponseWriter, r *http.Request, reqID string, sr s3Request) *apiError {
	payloadHash := r.Header.Get("X-Amz-Content-Sha256")
	if e := checkPayloadHash(r, sr.query, payloadHash); e != nil {
		return e
	}
	id, e := s.authenticate(r, "s3", payloadHash)
	if e != nil {
		return e
	}
	if sr.op == "" {
		return unservedRequest(r, sr)
	}
	// The body of every request is read and checked against the signed payload hash (or the
	// signatures and checksums of its aws-chunked encoding).
	in, e := readBody(r, payloadHash, id, bodyLimit(sr.op))
	if e != nil {
		return e
	}
	c := &s3Call{s: s, w: w, r: r, reqID: reqID, id: id, s3Request: sr, in: in}
	return c.serve()
}

// checkPayloadHash checks the x-amz-content-sha256 header of a request signed in its
// Authorization header (presigned and anonymous requests need none).
func checkPayloadHash(r *http.Request, q url.Values, payloadHash string) *apiError {
	if _, presigned := q["X-Amz-Algorithm"]; presigned || r.Header.Get("Authorization") == "" {
		return nil
	}
	switch {
	case payloadHash == "":
		return newError(http.StatusBadRequest, "InvalidRequest", "Missing required header for this request: x-amz-content-sha256")
	case slices.Contains(acceptedPayloadHashes, payloadHash) || isHexSHA256(payloadHash):
		return nil
	case strings.HasPrefix(payloadHash, "STREAMING-AWS4-ECDSA-P256-SHA256-PAYLOAD"):
		return newError(http.StatusNotImplemented, "NotImplemented", "A header you provided implies functionality that is not implemented").
			with("Header", "x-amz-content-sha256")
	}
	return newError(http.StatusBadRequest, "InvalidArgument", "x-amz-content-sha256 must be UNSIGNED-PAYLOAD, STREAMING-UNSIGNED-PAYLOAD-TRAILER, STREAMING-AWS4-HMAC-SHA256-PAYLOAD, STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER, STREAMING-AWS4-ECDSA-P256-SHA256-PAYLOAD, STREAMING-AWS4-ECDSA-P256-SHA256-PAYLOAD-TRAILER or a valid sha256 value.").
		with("ArgumentName", "x-amz-content-sha256")
}

// unservedRequest is the error for a request route found no operation for.
func unservedRequest(r *http.Request, sr s3Request) *apiError {
	if sr.bucket != "" && (r.Method == http.MethodGet || r.Method == http.MethodPut) {
		return newError(http.StatusNotImplemented, "NotImplemented", "A header you provided implies functionality that is not implemented")
	}
	resourceType := "BUCKET"
	if sr.key != "" {
		resourceType = "OBJECT"
	}
	return newError(http.StatusMethodNotAllowed, "MethodNotAllowed", "The specified method is not allowed against this resource.").
		with("Method", r.Method).with("ResourceType", resourceType)
}

// bodyLimit is the most bytes the decoded body of op may have: object data for PutObject and
// UploadPart, an XML document otherwise.
func bodyLimit(op string) int64 {
	if op == OpPutObject || op == OpUploadPart {
		return maxPutBytes
	}
	return maxXMLBody
}

// s3Call is one S3 request being answered.
type s3Call struct {
	s3Request
	s     *Server
	w     http.ResponseWriter
	r     *http.Request
	reqID string
	id    *identity
	in    *body
}

// s3Handlers answer the operations the fake serves, by operation.
var s3Handlers = map[string]func(*s3Call) *apiError{
	OpGetObject: (*s3Call).getObject, OpHeadObject: (*s3Call).getObject, OpPutObject: (*s3Call).putObject,
	OpDeleteObject: (*s3Call).deleteObject, OpCopyObject: (*s3Call).copyObject,
	OpListObjectsV2: (*s3Call).listObjects, OpListObjects: (*s3Call).listObjects,
	OpHeadBucket: (*s3Call).bucketInfo, OpGetBucketLocation: (*s3Call).bucketInfo,
	OpCreateMultipartUpload: (*s3Call).createMultipartUpload, OpUploadPart: (*s3Call).uploadPart,
	OpCompleteMultipartUpload: (*s3Call).completeMultipartUpload, OpAbortMultipartUpload: (*s3Call).abortMultipartUpload,
	OpListParts: (*s3Call).listParts, OpListMultipartUploads: (*s3Call).listMultipartUploads,
}

// serve answers c with its operation; an error is written by the caller.
func (c *s3Call) serve() *apiError {
	if h := s3Handlers[c.op]; h != nil {
		return h(c)
	}
	return newError(http.StatusNotImplemented, "NotImplemented", "A header you provided implies functionality that is not implemented")
}

// authorize checks that c's caller may do action on resource.
func (c *s3Call) authorize(action, resource string) *apiError {
	if !authorize(c.id, action, resource) {
		return newError(http.StatusForbidden, "AccessDenied", "Access Denied")
	}
	return nil
}

// header sets the headers every S3 answer has.
func (c *s3Call) header() http.Header {
	h := c.w.Header()
	setS3Headers(h, c.reqID)
	return h
}

// setS3Headers sets in h the headers every S3 answer to request reqID has.
func setS3Headers(h http.Header, reqID string) {
	h.Set("x-amz-request-id", reqID)
	h.Set("x-amz-id-2", hostID(reqID))
	h.Set("Server", "AmazonS3")
}

// writeXML answers 200 with doc as S3's XML.
func (c *s3Call) writeXML(doc any) *apiError {
	b, err := xml.Marshal(doc)
	if err != nil {
		return newError(http.StatusInternalServerError, "InternalError", messageFor("InternalError"))
	}
	b = append([]byte(xml.Header), b...)
	h := c.header()
	h.Set("Content-Type", "application/xml")
	h.Set("Content-Length", strconv.Itoa(len(b)))
	c.w.WriteHeader(http.StatusOK)
	_, _ = c.w.Write(b)
	return nil
}

// noSuchBucket is S3's answer for a bucket that does not exist.
func noSuchBucket(name string) *apiError {
	return newError(http.StatusNotFound, "NoSuchBucket", "The specified bucket does not exist").with("BucketName", name)
}

func isHexSHA256(s string) bool {
	if len(s) != 64 {
		return false
	}
	_, err := hex.DecodeString(s)
	return err == nil
}

// body is a request body read whole, with the checksums it came with.
type body struct {
	data      []byte
	checksums map[string]string // x-amz-checksum-* from headers or trailers, by canonical algorithm name
}

// readBody reads r's body (at most limit bytes once decoded) and checks it against payloadHash:
// a SHA-256, or an aws-chunked encoding whose signatures (made with id's key) and trailing
// checksums it verifies. The x-amz-checksum-* values sent are verified too.
func readBody(r *http.Request, payloadHash string, id *identity, limit int64) (*body, *apiError) {
	tooLarge := func() *apiError {
		return newError(http.StatusBadRequest, "EntityTooLarge", "Your proposed upload exceeds the maximum allowed size (privates3test accepts "+strconv.FormatInt(limit>>20, 10)+" MiB).").
			with("MaxSizeAllowed", strconv.FormatInt(limit, 10))
	}
	in := &body{}
	if strings.HasPrefix(payloadHash, "STREAMING-") {
		data, trailers, e := readChunked(r, payloadHash, id, limit)
		if e != nil {
			return nil, e
		}
		in.data, in.checksums = data, trailers
	} else {
		data, err := io.ReadAll(io.LimitReader(r.Body, limit+1))
		if err != nil {
			return nil, newError(http.StatusBadRequest, "IncompleteBody", "You did not provide the number of bytes specified by the Content-Length HTTP header.")
		}
		if int64(len(data)) > limit {
			return nil, tooLarge()
		}
		if isHexSHA256(payloadHash) {
			sum := sha256.Sum256(data)
			if got := hex.EncodeToString(sum[:]); !strings.EqualFold(got, payloadHash) {
				return nil, newError(http.StatusBadRequest, "XAmzContentSHA256Mismatch", "The provided 'x-amz-content-sha256' header does not match what was computed.").
					with("ClientComputedContentSHA256", payloadHash).
					with("S3ComputedContentSHA256", got)
			}
		}
		in.data = data
	}
	for _, alg := range checksumAlgorithms {
		if v := r.Header.Get("X-Amz-Checksum-" + alg.name); v != "" {
			if in.checksums == nil {
				in.checksums = map[string]string{}
			}
			in.checksums[alg.name] = v
		}
	}
	if e := verifyChecksums(in.checksums, in.data); e != nil {
		return nil, e
	}
	return in, nil
}

// objectARN is the resource of an object in policies.
func objectARN(bucket, key string) string { return "arn:aws:s3:::" + bucket + "/" + key }

// bucketARN is the resource of a bucket in policies.
func bucketARN(bucket string) string { return "arn:aws:s3:::" + bucket }

// readable returns the object c names if the caller may read it: AccessDenied, NoSuchBucket or
// NoSuchKey otherwise (as on S3, without s3:ListBucket a missing key is indistinguishable from a
// forbidden one).
func (c *s3Call) readable(bucketName, key string) (*object, *apiError) {
	if e := c.authorize("s3:GetObject", objectARN(bucketName, key)); e != nil {
		return nil, e
	}
	o, bucketExists := c.s.lookup(bucketName, key)
	switch {
	case !bucketExists:
		return nil, noSuchBucket(bucketName)
	case o == nil && !authorize(c.id, "s3:ListBucket", bucketARN(bucketName)):
		return nil, newError(http.StatusForbidden, "AccessDenied", "Access Denied")
	case o == nil:
		return nil, newError(http.StatusNotFound, "NoSuchKey", messageFor("NoSuchKey")).with("Key", key)
	}
	return o, nil
}

func (c *s3Call) getObject() *apiError {
	o, e := c.readable(c.bucket, c.key)
	if e != nil {
		return e
	}
	c.s.serveObject(c.w, c.r, c.reqID, o)
	return nil
}

// writable checks that the caller may put c's object, in an existing bucket.
func (c *s3Call) writable() *apiError {
	if e := c.authorize("s3:PutObject", objectARN(c.bucket, c.key)); e != nil {
		return e
	}
	if !c.s.bucketExists(c.bucket) {
		return noSuchBucket(c.bucket)
	}
	return nil
}

func (c *s3Call) putObject() *apiError {
	if e := c.writable(); e != nil {
		return e
	}
	sum := md5.Sum(c.in.data)
	if e := checkContentMD5(c.r, sum[:]); e != nil {
		return e
	}
	o := &object{body: c.in.data, size: int64(len(c.in.data)), etag: `"` + hex.EncodeToString(sum[:]) + `"`}
	headerAttributes(c.r, o)
	if e := o.setChecksums(c.r, c.in); e != nil {
		return e
	}
	c.s.store(c.bucket, c.key, o, nil)
	h := c.header()
	h.Set("ETag", o.etag)
	o.writeChecksumHeaders(h)
	h.Set("Content-Length", "0")
	c.w.WriteHeader(http.StatusOK)
	return nil
}

// checkContentMD5 verifies the Content-MD5 header, if any, against sum.
func checkContentMD5(r *http.Request, sum []byte) *apiError {
	v := r.Header.Get("Content-Md5")
	if v == "" {
		return nil
	}
	want, err := base64.StdEncoding.DecodeString(v)
	if err != nil || len(want) != md5.Size {
		return newError(http.StatusBadRequest, "InvalidDigest", "The Content-MD5 you specified was invalid.")
	}
	if string(want) != string(sum) {
		return newError(http.StatusBadRequest, "BadDigest", "The Content-MD5 you specified did not match what we received.")
	}
	return nil
}

// headerAttributes sets o's content type, encoding, cache control and user metadata from r's
// headers (aws-chunked, the transfer encoding of the body, is not kept).
func headerAttributes(r *http.Request, o *object) {
	o.contentType = r.Header.Get("Content-Type")
	var enc []string
	for e := range strings.SplitSeq(r.Header.Get("Content-Encoding"), ",") {
		if e = strings.TrimSpace(e); e != "" && !strings.EqualFold(e, "aws-chunked") {
			enc = append(enc, e)
		}
	}
	o.contentEncoding = strings.Join(enc, ",")
	o.cacheControl = r.Header.Get("Cache-Control")
	o.metadata = nil
	for name, vs := range r.Header {
		if lname := strings.ToLower(name); strings.HasPrefix(lname, "x-amz-meta-") && len(vs) > 0 {
			Metadata(strings.TrimPrefix(lname, "x-amz-meta-"), strings.Join(vs, ","))(o)
		}
	}
}

func (c *s3Call) deleteObject() *apiError {
	if e := c.authorize("s3:DeleteObject", objectARN(c.bucket, c.key)); e != nil {
		return e
	}
	if !c.s.bucketExists(c.bucket) {
		return noSuchBucket(c.bucket)
	}
	c.s.deleteObject(c.bucket, c.key)
	c.header()
	c.w.WriteHeader(http.StatusNoContent)
	return nil
}

// serveObject answers a GET or HEAD of o as S3 does: conditionals, then Range, then the body.
func (s *Server) serveObject(w http.ResponseWriter, r *http.Request, reqID string, o *object) {
	h := w.Header()
	setS3Headers(h, reqID)
	h.Set("ETag", o.etag)
	h.Set("Last-Modified", o.lastModified.Format(http.TimeFormat))
	if answerConditions(w, r, reqID, o) {
		return
	}
	setObjectHeaders(h, r.URL.Query(), o)

	start, n := int64(0), o.size
	status := http.StatusOK
	rng := r.Header.Get("Range")
	switch a, b, ok, satisfiable := parseRange(rng, o.size); {
	case ok && !satisfiable:
		writeRangeError(w, r, reqID, rng, o.size)
		return
	case ok:
		start, n = a, b-a+1
		status = http.StatusPartialContent
		h.Set("Content-Range", "bytes "+strconv.FormatInt(a, 10)+"-"+strconv.FormatInt(b, 10)+"/"+strconv.FormatInt(o.size, 10))
	}
	// Checksums describe the whole object: S3 sends them for whole-object reads only.
	if strings.EqualFold(r.Header.Get("X-Amz-Checksum-Mode"), "ENABLED") && status == http.StatusOK {
		o.writeChecksumHeaders(h)
	}
	h.Set("Content-Length", strconv.FormatInt(n, 10))
	w.WriteHeader(status)
	if r.Method == http.MethodHead {
		return
	}
	_, _ = io.Copy(w, o.reader(start, n))
}

// answerConditions answers r with 412 or 304 if its conditional headers decide against serving
// o, and reports whether it did.
func answerConditions(w http.ResponseWriter, r *http.Request, reqID string, o *object) bool {
	switch status := evalConditions(r, o); status {
	case 0:
		return false
	case http.StatusPreconditionFailed:
		w.Header().Del("ETag")
		w.Header().Del("Last-Modified")
		writeS3Error(w, r, reqID, newError(status, "PreconditionFailed", "At least one of the pre-conditions you specified did not hold").
			with("Condition", conditionName(r, o)))
	default:
		w.WriteHeader(http.StatusNotModified)
	}
	return true
}

// responseOverrides are the query parameters of a GET that override a header of the answer.
var responseOverrides = [...]struct{ param, header string }{
	{"response-content-type", "Content-Type"},
	{"response-content-language", "Content-Language"},
	{"response-expires", "Expires"},
	{"response-cache-control", "Cache-Control"},
	{"response-content-disposition", "Content-Disposition"},
	{"response-content-encoding", "Content-Encoding"},
}

// setObjectHeaders sets the headers that describe o's content, then those the response-*
// parameters of q override.
func setObjectHeaders(h http.Header, q url.Values, o *object) {
	h.Set("Accept-Ranges", "bytes")
	h.Set("Content-Type", o.contentType)
	if o.contentEncoding != "" {
		h.Set("Content-Encoding", o.contentEncoding)
	}
	if o.cacheControl != "" {
		h.Set("Cache-Control", o.cacheControl)
	}
	for k, v := range o.metadata {
		h["X-Amz-Meta-"+k] = []string{v}
	}
	for _, ov := range responseOverrides {
		if v, ok := q[ov.param]; ok && len(v) > 0 {
			h.Set(ov.header, v[0])
		}
	}
}

// writeRangeError answers 416 InvalidRange for the Range header rng, without the headers of the
// object (of size bytes).
func writeRangeError(w http.ResponseWriter, r *http.Request, reqID, rng string, size int64) {
	h := w.Header()
	for k := range h {
		if k != "X-Amz-Request-Id" && k != "X-Amz-Id-2" && k != "Server" {
			h.Del(k)
		}
	}
	writeS3Error(w, r, reqID, newError(http.StatusRequestedRangeNotSatisfiable, "InvalidRange", "The requested range is not satisfiable").
		with("RangeRequested", truncate(rng, 100)).
		with("ActualObjectSize", strconv.FormatInt(size, 10)))
}

// parseRange parses a Range header for an object of size bytes. ok is false if the header is not
// a single byte range (S3 then ignores it); satisfiable is false if the range lies outside the
// object. The range is [a, b], inclusive.
func parseRange(v string, size int64) (a, b int64, ok, satisfiable bool) {
	first, last, found := rangeBounds(v)
	switch {
	case !found:
		return 0, 0, false, false
	case first == "": // suffix: the last n bytes
		return suffixRange(last, size)
	default:
		return boundedRange(first, last, size)
	}
}

// rangeBounds splits the Range header "bytes=first-last" into its bounds, spaces trimmed. found
// is false if v is not a single byte range with at least one bound.
func rangeBounds(v string) (first, last string, found bool) {
	spec, found := strings.CutPrefix(v, "bytes=")
	if !found || strings.Contains(spec, ",") {
		return "", "", false
	}
	first, last, found = strings.Cut(strings.TrimSpace(spec), "-")
	first, last = strings.TrimSpace(first), strings.TrimSpace(last)
	return first, last, found && (first != "" || last != "")
}

// suffixRange is parseRange of "bytes=-last": the last bytes of the object.
func suffixRange(last string, size int64) (a, b int64, ok, satisfiable bool) {
	n, err := strconv.ParseInt(last, 10, 64)
	if err != nil || n < 0 || !allDigits(last) {
		return 0, 0, false, false
	}
	if n == 0 || size == 0 {
		return 0, 0, true, false
	}
	return max(size-n, 0), size - 1, true, true
}

// boundedRange is parseRange of "bytes=first-last", or of "bytes=first-" (to the end).
func boundedRange(first, last string, size int64) (a, b int64, ok, satisfiable bool) {
	a, err := strconv.ParseInt(first, 10, 64)
	if err != nil || !allDigits(first) {
		return 0, 0, false, false
	}
	b = size - 1
	if last != "" {
		if b, err = strconv.ParseInt(last, 10, 64); err != nil || !allDigits(last) || b < a {
			return 0, 0, false, false
		}
		b = min(b, size-1)
	}
	if a >= size {
		return 0, 0, true, false
	}
	return a, b, true, true
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}

// evalConditions applies the conditional headers with S3's precedence and returns 412, 304 or 0
// (serve normally). If-Match decides over If-Unmodified-Since and If-None-Match over
// If-Modified-Since; a failed If-Match or If-Unmodified-Since (412) wins over 304.
func evalConditions(r *http.Request, o *object) int {
	im, hasIM := headerPresent(r, "If-Match")
	if hasIM {
		if !etagMatches(im, o.etag) {
			return http.StatusPreconditionFailed
		}
	} else if v, ok := headerPresent(r, "If-Unmodified-Since"); ok {
		if t, err := http.ParseTime(v); err == nil && o.lastModified.After(t) {
			return http.StatusPreconditionFailed
		}
	}
	inm, hasINM := headerPresent(r, "If-None-Match")
	if hasINM {
		if etagMatches(inm, o.etag) {
			return http.StatusNotModified
		}
	} else if v, ok := headerPresent(r, "If-Modified-Since"); ok {
		if t, err := http.ParseTime(v); err == nil && !o.lastModified.After(t) {
			return http.StatusNotModified
		}
	}
	return 0
}

// conditionName names the header that caused a 412, as S3's Condition element does.
func conditionName(r *http.Request, o *object) string {
	if v, ok := headerPresent(r, "If-Match"); ok && !etagMatches(v, o.etag) {
		return "If-Match"
	}
	return "If-Unmodified-Since"
}

func headerPresent(r *http.Request, name string) (string, bool) {
	vs := r.Header.Values(name)
	if len(vs) == 0 {
		return "", false
	}
	return strings.Join(vs, ","), true
}

// etagMatches reports whether the list of entity tags in v (or "*") contains etag, compared
// strongly (a W/ prefix is ignored, as S3 does) with or without quotes.
func etagMatches(v, etag string) bool {
	bare := strings.Trim(etag, `"`)
	for t := range strings.SplitSeq(v, ",") {
		t = strings.TrimSpace(t)
		t = strings.TrimPrefix(t, "W/")
		if t == "*" || strings.Trim(t, `"`) == bare {
			return true
		}
	}
	return false
}
