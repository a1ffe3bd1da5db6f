package privates3

import (
	"errors"
	"io"
	"mime"
	"net/http"
	"net/textproto"
	"path"
	"strconv"
	"strings"
	"time"
)

// Mode selects how a handler returned by [Client.Handler] answers a request for an object.
type Mode int

const (
	// Proxy serves the object's bytes through the handler: small objects from the Client's
	// cache, large ones streamed from S3 with memory independent of their size.
	Proxy Mode = iota
	// Redirect answers with 307 Temporary Redirect to a presigned URL (see [Client.Presign]); the
	// client then downloads from S3 directly. The object is not looked up.
	Redirect
)

// String returns "proxy" or "redirect".
func (m Mode) String() string {
	switch m {
	case Proxy:
		return "proxy"
	case Redirect:
		return "redirect"
	}
	return "Mode(" + strconv.Itoa(int(m)) + ")"
}

// DefaultHandlerCacheControl is the Cache-Control header of proxied objects when neither
// [HandlerOptions].CacheControl nor the object's stored Cache-Control set one. It is private
// because the objects come from a private bucket.
const DefaultHandlerCacheControl = "private, max-age=60"

// HandlerOptions configures [Client.Handler]. A nil *HandlerOptions and the zero value mean a
// proxy that takes the key from the request path, lets every request through and uses the
// objects' Cache-Control (else [DefaultHandlerCacheControl]).
type HandlerOptions struct {
	// Mode is Proxy (the default, zero) or Redirect.
	Mode Mode

	// Key returns the object key of a request (without Config.Prefix, which is always added). If
	// nil, the request's (decoded) URL path, as is: mount the handler with http.StripPrefix and a
	// prefix ending in a slash, so that "/tiles/3/4/2.png" under "/tiles/" reads the key
	// "3/4/2.png" (a path still starting with a slash has an empty segment and is refused). An
	// error from Key, like a key that fails validation (see [ErrInvalidKey]), is answered 400
	// Bad Request and nothing is fetched.
	Key func(r *http.Request) (string, error)

	// Authorize, if not nil, is called with every request and its validated key before anything
	// is fetched or signed. An error refuses the request: 401 Unauthorized if the error wraps
	// [ErrUnauthorized] (with the Challenge header), else 403 Forbidden. The error's text is not
	// sent to the client. If nil, every request is allowed.
	Authorize func(r *http.Request, key string) error

	// Challenge is the WWW-Authenticate header sent with 401 answers. If empty, `Bearer`.
	Challenge string

	// CacheControl is the Cache-Control header of proxied objects. If empty, the object's stored
	// Cache-Control, else DefaultHandlerCacheControl. It does not apply to redirects, whose
	// Cache-Control is derived from the presigned URL's lifetime.
	CacheControl string

	// Presign configures the URLs of Redirect mode. If nil, the defaults of [PresignOptions].
	Presign *PresignOptions
}

// Handler returns an http.Handler that serves the Client's objects to HTTP clients, like a static
// file server in front of the private bucket. opts may be nil (see [HandlerOptions]); the handler
// keeps its own copy. It is safe for concurrent use and stays valid until the Client is closed
// (afterwards it answers 503).
//
// It answers GET and HEAD (anything else is 405 with Allow: GET, HEAD). Keys that fail
// validation (empty, ".." or empty segments, backslashes, control bytes, invalid UTF-8, longer
// than MaxKeyLength with Config.Prefix) are 400 and never reach S3.
//
// In Proxy mode the response carries Content-Type (stored in S3, else guessed from the key's
// extension, else application/octet-stream), Content-Encoding (as stored, e.g. gzip for
// pre-compressed tiles), Content-Length, ETag, Last-Modified, Accept-Ranges: bytes, Cache-Control
// and X-Content-Type-Options: nosniff, and no other header of S3 (no x-amz-*). A single
// satisfiable Range gives 206 with Content-Range (also bytes=0-); multiple ranges give a
// multipart/byteranges 206 for cached objects and 200 with the whole object for streamed ones.
// A Range that is not a valid byte-range set is ignored (200), as is Range on HEAD. If-None-Match
// and If-Modified-Since give 304, If-Match and If-Unmodified-Since 412, If-Range is honoured.
// One engine, http.ServeContent, answers all of this for cached and streamed objects alike;
// for a streamed object it decides conditionals from the metadata (kept in the cache once the
// object has been seen, so that a later 304 or 412 costs no GET) and then reads exactly the
// bytes it sends, with one ranged GET carrying If-Match, so a response never mixes two versions
// of an object. HEAD never
// downloads a body. A body that breaks off upstream aborts the response by panicking with
// http.ErrAbortHandler, which net/http's server turns into a broken connection: the client never
// sees a short body as a complete one.
//
// In Redirect mode the response is 307 to the URL returned by [Client.Presign], with
// Cache-Control "private, max-age=N" where N is below the URL's remaining lifetime, so that
// browsers reuse the redirect and the URL together.
//
// Errors map to statuses (one table for this handler and [Client.CredentialsHandler]): not found
// 404; access denied 403 (and one log line naming S3's code); throttled 503 with Retry-After;
// upstream timeout 504; Client closed 503; Presign options out of range 500; the Client's
// credentials unavailable 502 (504 if STS hung, 503 if it throttled); any other failure 502.
// Bodies are short fixed texts: never the key, S3's message or a credential. When the HTTP client
// has gone away, nothing is written and the event is logged at debug level.
func (c *Client) Handler(opts *HandlerOptions) http.Handler {
	h := &handler{c: c}
	if opts != nil {
		h.opts = *opts
	}
	return h
}

// handler is the http.Handler returned by Client.Handler.
type handler struct {
	c    *Client
	opts HandlerOptions
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if h.c.metrics.enabled {
		h.c.metrics.measure(h.opts.Mode, w, r, h.serve)
		return
	}
	h.serve(w, r)
}

// serve is ServeHTTP without metrics.
func (h *handler) serve(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		WriteError(w, http.StatusMethodNotAllowed)
		return
	}
	key, err := h.key(r)
	if err != nil {
		h.c.log.DebugContext(r.Context(), "privates3: handler: bad key", "err", err)
		WriteError(w, http.StatusBadRequest)
		return
	}
	if h.opts.Authorize != nil {
		if err := h.opts.Authorize(r, key); err != nil {
			WriteDenied(w, err, h.opts.Challenge)
			return
		}
	}
	if h.opts.Mode == Redirect {
		h.redirect(w, r, key)
		return
	}
	h.proxy(w, r, key)
}

// key returns the request's validated key (without Config.Prefix).
func (h *handler) key(r *http.Request) (string, error) {
	var key string
	if h.opts.Key != nil {
		k, err := h.opts.Key(r)
		if err != nil {
			return "", err
		}
		key = k
	} else {
		key = r.URL.Path
	}
	if _, err := h.c.objectKey(key); err != nil {
		return "", err
	}
	return key, nil
}

// redirect answers 307 to a presigned URL for key.
func (h *handler) redirect(w http.ResponseWriter, r *http.Request, key string) {
	u, err := h.c.Presign(r.Context(), key, h.opts.Presign)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	hdr := w.Header()
	hdr.Set("Location", u.URL)
	// The redirect may be reused while the URL still works when it is followed: keep a tenth of
	// the remaining life (at least a second) as margin for clock skew and latency.
	left := time.Until(u.Deadline)
	if maxAge := (left - left/10 - time.Second) / time.Second; maxAge > 0 {
		hdr.Set("Cache-Control", "private, max-age="+strconv.FormatInt(int64(maxAge), 10))
	} else {
		hdr.Set("Cache-Control", "no-store")
	}
	hdr.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(http.StatusTemporaryRedirect)
}

// proxy serves key's bytes. http.ServeContent answers conditionals and ranges for cached and
// streamed objects alike; in front of it, Range is cleaned of what RFC 9110 says to ignore
// (other units, invalid sets, Range on HEAD), and of multiple ranges of streamed objects, which
// would cost one S3 request each.
func (h *handler) proxy(w http.ResponseWriter, r *http.Request, key string) {
	o, err := h.c.open(r.Context(), key, r.Method == http.MethodHead)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	defer o.Close()
	size := o.len()
	r = cleanRange(r, o)
	h.setHeaders(w.Header(), o, key)
	if size < 0 { // S3 sent no length: relay what comes
		w.WriteHeader(http.StatusOK)
		if r.Method != http.MethodHead {
			_, err := io.CopyBuffer(w, onlyReader{o}, make([]byte, copyBufferSize))
			h.abortIf(r, err)
		}
		return
	}
	if o.data != nil && r.Method == http.MethodGet && !conditional(r.Header) && r.Header["Range"] == nil {
		writeCached(w, o)
		return
	}
	if o.data != nil && o.contentEncoding == "" { // nothing for contentWriter to do
		http.ServeContent(w, r, "", o.lastModified, o)
		return
	}
	cw := &contentWriter{ResponseWriter: w, size: size}
	http.ServeContent(cw, r, "", o.lastModified, o)
	h.abortIf(r, cw.err)
}

// cleanRange returns r without what RFC 9110 says to ignore of its Range (other units, invalid
// sets, Range on HEAD), without several ranges of a streamed object, and with a Range of only
// empty suffixes ("-0") made one that ServeContent answers 416 (after the preconditions).
func cleanRange(r *http.Request, o *object) *http.Request {
	v := header(r.Header, "Range")
	if v == "" {
		return r
	}
	n, satisfiable := rangeSpecs(v)
	switch {
	case n == 0 || r.Method == http.MethodHead || n > 1 && o.data == nil:
		return withRange(r, "")
	case satisfiable == "":
		return withRange(r, "bytes="+strconv.FormatInt(o.len(), 10)+"-")
	case satisfiable != v:
		return withRange(r, satisfiable)
	}
	return r
}

// writeCached answers a cached object asked without conditions or ranges, the hot path: what
// ServeContent would send, without its work.
func writeCached(w http.ResponseWriter, o *object) {
	hdr := w.Header()
	vals := []string{"bytes", strconv.Itoa(len(o.data)), ""} // one allocation for the three
	hdr["Accept-Ranges"], hdr["Content-Length"] = vals[0:1:1], vals[1:2:2]
	if !o.lastModified.IsZero() {
		vals[2] = o.lastModified.UTC().Format(http.TimeFormat)
		hdr["Last-Modified"] = vals[2:3:3]
	}
	w.WriteHeader(http.StatusOK)
	n, _ := w.Write(o.data)
	o.served(n, true)
}

// conditional reports whether h has a precondition (RFC 9110 section 13.1).
func conditional(h http.Header) bool {
	return h["If-None-Match"] != nil || h["If-Modified-Since"] != nil || h["If-Match"] != nil || h["If-Unmodified-Since"] != nil
}

// abortIf aborts the response if copying its body failed: the status is sent, so the client
// must see a broken response (http.ErrAbortHandler closes the connection or resets the
// stream), never a short one that looks complete.
func (h *handler) abortIf(r *http.Request, err error) {
	if err == nil {
		return
	}
	if r.Context().Err() != nil {
		h.c.log.DebugContext(r.Context(), "privates3: handler: client gone while streaming", "err", err)
	} else {
		h.c.log.WarnContext(r.Context(), "privates3: handler: streaming aborted", "err", err)
	}
	panic(http.ErrAbortHandler)
}

// contentWriter is the ResponseWriter http.ServeContent writes to. It adds Content-Length to a
// 200 whose Content-Encoding made ServeContent leave it out; it hands the body's copy to the
// object's reader, telling it how many bytes ServeContent will read (so a ranged GET asks S3 for
// exactly those), and remembers a failed copy, which ServeContent would ignore.
type contentWriter struct {
	http.ResponseWriter
	size int64
	err  error
}

func (cw *contentWriter) WriteHeader(status int) {
	if h := cw.Header(); status == http.StatusOK && h["Content-Length"] == nil {
		h["Content-Length"] = []string{strconv.FormatInt(cw.size, 10)}
	}
	cw.ResponseWriter.WriteHeader(status)
}

// ReadFrom implements io.ReaderFrom, which io.CopyN (ServeContent's copy) uses.
func (cw *contentWriter) ReadFrom(src io.Reader) (int64, error) {
	lr, ok := src.(*io.LimitedReader)
	o, isObject := (*object)(nil), false
	if ok {
		o, isObject = lr.R.(*object)
	}
	buf := copyBuffers.Get().(*[copyBufferSize]byte)
	defer copyBuffers.Put(buf)
	var n int64
	var err error
	if isObject {
		n, err = o.writeTo(cw.ResponseWriter, lr.N, buf[:])
		lr.N -= n
	} else { // the parts of a multipart/byteranges answer
		n, err = io.CopyBuffer(cw.ResponseWriter, onlyReader{src}, buf[:])
	}
	if err != nil && cw.err == nil {
		cw.err = err
	}
	return n, err
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (cw *contentWriter) Unwrap() http.ResponseWriter { return cw.ResponseWriter }

// withRange returns a shallow copy of r with its Range header set to v, or without Range and
// If-Range if v is empty.
func withRange(r *http.Request, v string) *http.Request {
	r2 := new(http.Request)
	*r2 = *r
	r2.Header = r.Header.Clone()
	if v == "" {
		r2.Header.Del("Range")
		r2.Header.Del("If-Range")
	} else {
		r2.Header.Set("Range", v)
	}
	return r2
}

// setHeaders sets the representation headers of o, and nothing else from S3.
// http.ServeContent adds Last-Modified, Content-Length, Content-Range and Accept-Ranges.
func (h *handler) setHeaders(hdr http.Header, o *object, key string) {
	ct := o.contentType
	if ct == "" || ct == "binary/octet-stream" { // S3's default: no type was given on upload
		ct = mime.TypeByExtension(path.Ext(key))
	}
	if ct == "" {
		ct = "application/octet-stream"
	}
	// One backing array for the values, and canonical keys set directly: this is the hot path
	// of every cached response.
	vals := make([]string, 0, 5)
	set := func(k, v string) {
		vals = append(vals, v)
		hdr[k] = vals[len(vals)-1 : len(vals) : len(vals)]
	}
	set("Content-Type", ct)
	if o.contentEncoding != "" {
		set("Content-Encoding", o.contentEncoding)
	}
	if o.etag != "" {
		set("Etag", o.etag)
	}
	set("Cache-Control", h.cacheControl(o))
	set("X-Content-Type-Options", "nosniff")
}

// cacheControl returns the Cache-Control header of o's answers.
func (h *handler) cacheControl(o *object) string {
	switch {
	case h.opts.CacheControl != "":
		return h.opts.CacheControl
	case o.cacheControl != "":
		return o.cacheControl
	}
	return DefaultHandlerCacheControl
}

// rangeSpecs checks a Range header value: n is the number of byte ranges in it, 0 if it is not a
// syntactically valid "bytes=" range set (RFC 9110 section 14.1.1), which is then ignored.
// satisfiable is v without the ranges no representation can satisfy (suffixes of length zero,
// "-0"; http.ServeContent would answer them with an empty 206): v itself if it has none, and
// "" if nothing is left.
func rangeSpecs(v string) (n int, satisfiable string) {
	set, ok := strings.CutPrefix(v, "bytes=")
	if !ok {
		return 0, ""
	}
	var kept []string
	for spec := range strings.SplitSeq(set, ",") {
		if spec = textproto.TrimString(spec); spec == "" {
			continue // empty list elements are allowed
		}
		empty, ok := rangeSpec(spec)
		if !ok {
			return 0, ""
		}
		n++
		if !empty {
			kept = append(kept, spec)
		}
	}
	switch {
	case len(kept) == 0:
		return n, ""
	case len(kept) == n:
		return n, v
	}
	return n, "bytes=" + strings.Join(kept, ",")
}

// rangeSpec reports whether spec is "a-b" (a <= b), "a-" or "-n", and whether it is an empty
// suffix ("-0").
func rangeSpec(spec string) (empty, ok bool) {
	first, last, ok := strings.Cut(spec, "-")
	first, last = textproto.TrimString(first), textproto.TrimString(last)
	a, okA := digits(first)
	b, okB := digits(last)
	if first == "" {
		return b == 0, ok && okB
	}
	return false, ok && okA && (last == "" || okB && a <= b)
}

// digits parses a non-empty decimal number of at most 18 digits (no sign, no overflow).
func digits(s string) (int64, bool) {
	if s == "" || len(s) > 18 || strings.Trim(s, "0123456789") != "" {
		return 0, false
	}
	n, _ := strconv.ParseInt(s, 10, 64)
	return n, true
}

// fail answers err with a fixed status and text (statusOf), or nothing if the client has gone
// away.
func (h *handler) fail(w http.ResponseWriter, r *http.Request, err error) {
	ctx := r.Context()
	if ctx.Err() != nil {
		h.c.log.DebugContext(ctx, "privates3: handler: client gone", "err", err)
		return
	}
	status := HTTPStatus(err)
	switch {
	case status == http.StatusForbidden:
		// Usually a policy mistake: worth one line naming S3's code (in err's text).
		h.c.log.WarnContext(ctx, "privates3: handler: access denied by AWS", "err", err)
	case status == http.StatusInternalServerError:
		h.c.log.ErrorContext(ctx, "privates3: handler: invalid HandlerOptions", "err", err)
	case status == http.StatusBadGateway, status == http.StatusGatewayTimeout, errors.Is(err, ErrThrottled):
		h.c.log.WarnContext(ctx, "privates3: handler: upstream failure", "status", status, "err", err)
	}
	WriteError(w, status)
}

// header returns the first value of h's canonical key k. Request headers arrive with canonical
// keys, so this skips http.Header.Get's canonicalization on the hot path.
func header(h http.Header, k string) string {
	if v := h[k]; len(v) > 0 {
		return v[0]
	}
	return ""
}
