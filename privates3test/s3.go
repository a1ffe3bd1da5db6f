package privates3test

import (
	"crypto/md5"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"io"
	"net/http"
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
	isSTS := r.URL.Path == "/" && (r.Method == http.MethodPost || r.URL.Query().Has("Action"))
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

func (s *Server) serveS3(w http.ResponseWriter, r *http.Request, reqID string) {
	bucketName, key, _ := strings.Cut(strings.TrimPrefix(r.URL.Path, "/"), "/")
	var op string
	switch r.Method {
	case http.MethodGet:
		op = OpGetObject
	case http.MethodHead:
		op = OpHeadObject
	case http.MethodPut:
		op = OpPutObject
	case http.MethodDelete:
		op = OpDeleteObject
	}
	if op != "" && bucketName != "" && key != "" {
		s.count(op, key)
		if f := s.takeFault(op, key, true); f != nil && s.applyFault(w, r, f, reqID, true) {
			return
		}
	}

	payloadHash := r.Header.Get("X-Amz-Content-Sha256")
	if _, presigned := r.URL.Query()["X-Amz-Algorithm"]; !presigned && r.Header.Get("Authorization") != "" {
		switch {
		case payloadHash == "":
			writeS3Error(w, r, reqID, newError(http.StatusBadRequest, "InvalidRequest", "Missing required header for this request: x-amz-content-sha256"))
			return
		case payloadHash == unsignedPayload || isHexSHA256(payloadHash):
		case strings.HasPrefix(payloadHash, "STREAMING-"):
			writeS3Error(w, r, reqID, newError(http.StatusNotImplemented, "NotImplemented", "A header you provided implies functionality that is not implemented").
				with("Header", "x-amz-content-sha256"))
			return
		default:
			writeS3Error(w, r, reqID, newError(http.StatusBadRequest, "InvalidArgument", "x-amz-content-sha256 must be UNSIGNED-PAYLOAD, STREAMING-UNSIGNED-PAYLOAD-TRAILER, STREAMING-AWS4-HMAC-SHA256-PAYLOAD, STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER, STREAMING-AWS4-ECDSA-P256-SHA256-PAYLOAD, STREAMING-AWS4-ECDSA-P256-SHA256-PAYLOAD-TRAILER or a valid sha256 value.").
				with("ArgumentName", "x-amz-content-sha256"))
			return
		}
	}
	id, e := s.authenticate(r, "s3", payloadHash)
	if e != nil {
		writeS3Error(w, r, reqID, e)
		return
	}
	if op == "" {
		writeS3Error(w, r, reqID, newError(http.StatusMethodNotAllowed, "MethodNotAllowed", "The specified method is not allowed against this resource.").
			with("Method", r.Method).with("ResourceType", "OBJECT"))
		return
	}
	if bucketName == "" || key == "" {
		writeS3Error(w, r, reqID, newError(http.StatusNotImplemented, "NotImplemented", "A header you provided implies functionality that is not implemented"))
		return
	}
	// The body of every request is read and checked against the signed payload hash.
	body, e := readBody(r, payloadHash)
	if e != nil {
		writeS3Error(w, r, reqID, e)
		return
	}
	switch op {
	case OpGetObject, OpHeadObject:
		s.getObject(w, r, reqID, id, bucketName, key)
	case OpPutObject:
		s.putObjectHTTP(w, r, reqID, id, bucketName, key, body)
	case OpDeleteObject:
		s.deleteObjectHTTP(w, r, reqID, id, bucketName, key)
	}
}

func isHexSHA256(s string) bool {
	if len(s) != 64 {
		return false
	}
	_, err := hex.DecodeString(s)
	return err == nil
}

// readBody reads r's body (at most maxPutBytes) and checks it against payloadHash when that is
// a SHA-256.
func readBody(r *http.Request, payloadHash string) ([]byte, *apiError) {
	body, err := io.ReadAll(io.LimitReader(r.Body, maxPutBytes+1))
	if err != nil {
		return nil, newError(http.StatusBadRequest, "IncompleteBody", "You did not provide the number of bytes specified by the Content-Length HTTP header.")
	}
	if len(body) > maxPutBytes {
		return nil, newError(http.StatusBadRequest, "EntityTooLarge", "Your proposed upload exceeds the maximum allowed size (privates3test accepts 64 MiB).").
			with("MaxSizeAllowed", strconv.Itoa(maxPutBytes))
	}
	if isHexSHA256(payloadHash) {
		sum := sha256.Sum256(body)
		if got := hex.EncodeToString(sum[:]); !strings.EqualFold(got, payloadHash) {
			return nil, newError(http.StatusBadRequest, "XAmzContentSHA256Mismatch", "The provided 'x-amz-content-sha256' header does not match what was computed.").
				with("ClientComputedContentSHA256", payloadHash).
				with("S3ComputedContentSHA256", got)
		}
	}
	return body, nil
}

// objectARN is the resource of an object in policies.
func objectARN(bucket, key string) string { return "arn:aws:s3:::" + bucket + "/" + key }

func (s *Server) accessDenied(id *identity, action, resource string) *apiError {
	_ = id
	_ = action
	_ = resource
	return newError(http.StatusForbidden, "AccessDenied", "Access Denied")
}

func (s *Server) getObject(w http.ResponseWriter, r *http.Request, reqID string, id *identity, bucketName, key string) {
	if !authorize(id, "s3:GetObject", objectARN(bucketName, key)) {
		writeS3Error(w, r, reqID, s.accessDenied(id, "s3:GetObject", objectARN(bucketName, key)))
		return
	}
	o, bucketExists := s.lookup(bucketName, key)
	if !bucketExists {
		writeS3Error(w, r, reqID, newError(http.StatusNotFound, "NoSuchBucket", "The specified bucket does not exist").with("BucketName", bucketName))
		return
	}
	if o == nil {
		// As on S3: without s3:ListBucket, a missing key is indistinguishable from a forbidden one.
		if !authorize(id, "s3:ListBucket", "arn:aws:s3:::"+bucketName) {
			writeS3Error(w, r, reqID, s.accessDenied(id, "s3:GetObject", objectARN(bucketName, key)))
			return
		}
		writeS3Error(w, r, reqID, newError(http.StatusNotFound, "NoSuchKey", messageFor("NoSuchKey")).with("Key", key))
		return
	}
	s.serveObject(w, r, reqID, o)
}

func (s *Server) putObjectHTTP(w http.ResponseWriter, r *http.Request, reqID string, id *identity, bucketName, key string, body []byte) {
	if !authorize(id, "s3:PutObject", objectARN(bucketName, key)) {
		writeS3Error(w, r, reqID, s.accessDenied(id, "s3:PutObject", objectARN(bucketName, key)))
		return
	}
	sum := md5.Sum(body)
	if v := r.Header.Get("Content-Md5"); v != "" {
		want, err := base64.StdEncoding.DecodeString(v)
		if err != nil || len(want) != md5.Size {
			writeS3Error(w, r, reqID, newError(http.StatusBadRequest, "InvalidDigest", "The Content-MD5 you specified was invalid."))
			return
		}
		if string(want) != string(sum[:]) {
			writeS3Error(w, r, reqID, newError(http.StatusBadRequest, "BadDigest", "The Content-MD5 you specified did not match what we received."))
			return
		}
	}
	if e := checkChecksumHeaders(r, body); e != nil {
		writeS3Error(w, r, reqID, e)
		return
	}
	opts := []ObjectOption{
		ContentType(r.Header.Get("Content-Type")),
		ContentEncoding(r.Header.Get("Content-Encoding")),
		CacheControl(r.Header.Get("Cache-Control")),
	}
	for name, vs := range r.Header {
		if lname := strings.ToLower(name); strings.HasPrefix(lname, "x-amz-meta-") && len(vs) > 0 {
			opts = append(opts, Metadata(strings.TrimPrefix(lname, "x-amz-meta-"), strings.Join(vs, ",")))
		}
	}
	s.PutObject(bucketName, key, body, opts...)
	w.Header().Set("x-amz-request-id", reqID)
	w.Header().Set("x-amz-id-2", hostID(reqID))
	w.Header().Set("Server", "AmazonS3")
	w.Header().Set("ETag", `"`+hex.EncodeToString(sum[:])+`"`)
	w.Header().Set("Content-Length", "0")
	w.WriteHeader(http.StatusOK)
}

func (s *Server) deleteObjectHTTP(w http.ResponseWriter, r *http.Request, reqID string, id *identity, bucketName, key string) {
	if !authorize(id, "s3:DeleteObject", objectARN(bucketName, key)) {
		writeS3Error(w, r, reqID, s.accessDenied(id, "s3:DeleteObject", objectARN(bucketName, key)))
		return
	}
	if _, ok := s.lookup(bucketName, key); !ok {
		writeS3Error(w, r, reqID, newError(http.StatusNotFound, "NoSuchBucket", "The specified bucket does not exist").with("BucketName", bucketName))
		return
	}
	s.deleteObject(bucketName, key)
	w.Header().Set("x-amz-request-id", reqID)
	w.Header().Set("x-amz-id-2", hostID(reqID))
	w.Header().Set("Server", "AmazonS3")
	w.WriteHeader(http.StatusNoContent)
}

// serveObject answers a GET or HEAD of o as S3 does: conditionals, then Range, then the body.
func (s *Server) serveObject(w http.ResponseWriter, r *http.Request, reqID string, o *object) {
	h := w.Header()
	h.Set("x-amz-request-id", reqID)
	h.Set("x-amz-id-2", hostID(reqID))
	h.Set("Server", "AmazonS3")
	h.Set("ETag", o.etag)
	h.Set("Last-Modified", o.lastModified.Format(http.TimeFormat))

	if status := evalConditions(r, o); status != 0 {
		if status == http.StatusPreconditionFailed {
			h.Del("ETag")
			h.Del("Last-Modified")
			writeS3Error(w, r, reqID, newError(status, "PreconditionFailed", "At least one of the pre-conditions you specified did not hold").
				with("Condition", conditionName(r, o)))
			return
		}
		w.WriteHeader(http.StatusNotModified)
		return
	}

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
	q := r.URL.Query()
	for _, ov := range [...]struct{ param, header string }{
		{"response-content-type", "Content-Type"},
		{"response-content-language", "Content-Language"},
		{"response-expires", "Expires"},
		{"response-cache-control", "Cache-Control"},
		{"response-content-disposition", "Content-Disposition"},
		{"response-content-encoding", "Content-Encoding"},
	} {
		if v, ok := q[ov.param]; ok && len(v) > 0 {
			h.Set(ov.header, v[0])
		}
	}

	start, n := int64(0), o.size
	status := http.StatusOK
	if rng := r.Header.Get("Range"); rng != "" {
		a, b, ok, satisfiable := parseRange(rng, o.size)
		switch {
		case ok && !satisfiable:
			h.Del("ETag")
			h.Del("Last-Modified")
			h.Del("Accept-Ranges")
			h.Del("Content-Type")
			h.Del("Content-Encoding")
			h.Del("Cache-Control")
			for k := range o.metadata {
				h.Del("X-Amz-Meta-" + k)
			}
			writeS3Error(w, r, reqID, newError(http.StatusRequestedRangeNotSatisfiable, "InvalidRange", "The requested range is not satisfiable").
				with("RangeRequested", truncate(rng, 100)).
				with("ActualObjectSize", strconv.FormatInt(o.size, 10)))
			return
		case ok:
			start, n = a, b-a+1
			status = http.StatusPartialContent
			h.Set("Content-Range", "bytes "+strconv.FormatInt(a, 10)+"-"+strconv.FormatInt(b, 10)+"/"+strconv.FormatInt(o.size, 10))
		}
	}
	h.Set("Content-Length", strconv.FormatInt(n, 10))
	w.WriteHeader(status)
	if r.Method == http.MethodHead {
		return
	}
	o.writeBody(w, start, n)
}

// parseRange parses a Range header for an object of size bytes. ok is false if the header is not
// a single byte range (S3 then ignores it); satisfiable is false if the range lies outside the
// object. The range is [a, b], inclusive.
func parseRange(v string, size int64) (a, b int64, ok, satisfiable bool) {
	spec, found := strings.CutPrefix(v, "bytes=")
	if !found || strings.Contains(spec, ",") {
		return 0, 0, false, false
	}
	first, last, found := strings.Cut(strings.TrimSpace(spec), "-")
	if !found {
		return 0, 0, false, false
	}
	first, last = strings.TrimSpace(first), strings.TrimSpace(last)
	switch {
	case first == "" && last == "":
		return 0, 0, false, false
	case first == "": // suffix: the last n bytes
		n, err := strconv.ParseInt(last, 10, 64)
		if err != nil || n < 0 || !allDigits(last) {
			return 0, 0, false, false
		}
		if n == 0 || size == 0 {
			return 0, 0, true, false
		}
		return max(size-n, 0), size - 1, true, true
	default:
		a, err := strconv.ParseInt(first, 10, 64)
		if err != nil || !allDigits(first) {
			return 0, 0, false, false
		}
		b := size - 1
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

// checkChecksumHeaders verifies the x-amz-checksum-* headers the fake knows (CRC32, CRC32C,
// SHA1, SHA256) against body; others are ignored.
func checkChecksumHeaders(r *http.Request, body []byte) *apiError {
	for _, alg := range checksumAlgorithms() {
		v := r.Header.Get("X-Amz-Checksum-" + alg.name)
		if v == "" {
			continue
		}
		if got := base64.StdEncoding.EncodeToString(alg.sum(body)); got != v {
			return newError(http.StatusBadRequest, "BadDigest", "The "+strings.ToUpper(alg.name)+" you specified did not match the calculated checksum.")
		}
	}
	return nil
}
