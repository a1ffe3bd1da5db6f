package privates3

import (
	"bytes"
	"context"
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

// ErrUnauthorized makes a handler answer 401 Unauthorized instead of 403 Forbidden when
// [HandlerOptions].Authorize returns it (or an error wrapping it): return it when the request
// carries no or invalid credentials, and any other error when the credentials are valid but not
// allowed to read the key.
var ErrUnauthorized = errors.New("privates3: unauthorized")

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
// HEAD never downloads a body.
//
// In Redirect mode the response is 307 to the URL returned by [Client.Presign], with
// Cache-Control "private, max-age=N" where N is below the URL's remaining lifetime, so that
// browsers reuse the redirect and the URL together.
//
// Errors map to statuses: not found 404; access denied 403 (and one log line naming S3's code);
// throttled 503 with Retry-After; upstream timeout 504; Client closed 503; Presign options out of
// range 500; any other failure 502.
// Bodies are short fixed texts: never the key, S3's message or a credential. When the HTTP client
// has gone away, nothing is written and the event is logged at debug level.
func (c *Client) Handler(opts *HandlerOptions) http.Handler {
	h := &handler{c: c}
	if opts != nil {
		h.opts = *opts
	}
	if h.opts.Challenge == "" {
		h.opts.Challenge = "Bearer"
	}
	return h
}

// handler is the http.Handler returned by Client.Handler.
type handler struct {
	c    *Client
	opts HandlerOptions
}

const (
	retryAfterSeconds = "1"
	textPlain         = "text/plain; charset=utf-8"
)

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		writeError(w, http.StatusMethodNotAllowed)
		return
	}
	key, err := h.key(r)
	if err != nil {
		h.c.log.DebugContext(r.Context(), "privates3: handler: bad key", "err", err)
		writeError(w, http.StatusBadRequest)
		return
	}
	if h.opts.Authorize != nil {
		if err := h.opts.Authorize(r, key); err != nil {
			if errors.Is(err, ErrUnauthorized) {
				w.Header().Set("WWW-Authenticate", h.opts.Challenge)
				writeError(w, http.StatusUnauthorized)
				return
			}
			writeError(w, http.StatusForbidden)
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
	left := u.Deadline.Sub(h.c.now())
	if maxAge := (left - left/10 - time.Second) / time.Second; maxAge > 0 {
		hdr.Set("Cache-Control", "private, max-age="+strconv.FormatInt(int64(maxAge), 10))
	} else {
		hdr.Set("Cache-Control", "no-store")
	}
	hdr.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(http.StatusTemporaryRedirect)
}

// proxy serves key's bytes.
func (h *handler) proxy(w http.ResponseWriter, r *http.Request, key string) {
	head := r.Method == http.MethodHead
	rng := ""
	rewrite, cachedRange := false, "" // the Range to give ServeContent instead of the client's
	if v := header(r.Header, "Range"); v != "" && !head {
		n, satisfiable := rangeSpecs(v)
		switch n {
		case 0:
			// Not a valid byte-range set: ignored, as RFC 9110 requires for unknown units and
			// allows for invalid sets (ServeContent would answer 416).
			r = withRange(r, "")
		case 1:
			// Only a single range is forwarded to S3 (for streamed objects); several are
			// answered with the whole object there, and by ServeContent for cached objects.
			rng = v
		}
		rewrite, cachedRange = n > 0 && satisfiable != v, satisfiable
	}
	obj, err := h.c.get(r.Context(), key, getRequest{Range: rng, HeadOnly: head})
	if err != nil {
		if errors.Is(err, errRangeNotSatisfiable) && r.Context().Err() == nil {
			h.unsatisfiable(w, r, key)
			return
		}
		h.fail(w, r, err)
		return
	}
	defer obj.Body.Close()

	if obj.data != nil {
		if rewrite {
			if cachedRange == "" {
				// Only unsatisfiable ranges: one past the end makes ServeContent answer 416
				// (after evaluating the preconditions, as it must).
				cachedRange = "bytes=" + strconv.Itoa(len(obj.data)) + "-"
			}
			r = withRange(r, cachedRange)
		}
		h.serveData(w, r, obj, key)
		return
	}

	if h.preconditions(w, r, obj) {
		return
	}
	if obj.contentRange != "" && !ifRangeMatches(r, obj) {
		// The client asked for the range only if its copy is current, which it is not: it
		// needs the whole object instead.
		obj.Body.Close()
		obj, err = h.c.get(r.Context(), key, getRequest{})
		if err != nil {
			h.fail(w, r, err)
			return
		}
		defer obj.Body.Close()
		if obj.data != nil {
			h.serveData(w, withRange(r, ""), obj, key)
			return
		}
	}
	h.stream(w, r, obj, key)
}

// serveData serves an object held in memory. Range requests go through http.ServeContent, which
// does single and multiple ranges, If-Range and the preconditions; everything else is answered
// directly, which saves ServeContent's copy buffer on the hot path of small cached objects.
func (h *handler) serveData(w http.ResponseWriter, r *http.Request, obj *Object, key string) {
	if r.Method == http.MethodGet && header(r.Header, "Range") != "" {
		h.setHeaders(w.Header(), obj, key, -1) // ServeContent sets Content-Length
		if obj.ContentEncoding != "" {
			// ServeContent omits Content-Length for encoded content without a range.
			w = &lengthWriter{ResponseWriter: w, n: len(obj.data)}
		}
		http.ServeContent(w, r, "", obj.LastModified, bytes.NewReader(obj.data))
		return
	}
	if h.preconditions(w, r, obj) {
		return
	}
	h.setHeaders(w.Header(), obj, key, int64(len(obj.data)))
	w.WriteHeader(http.StatusOK)
	if r.Method != http.MethodHead {
		w.Write(obj.data)
	}
}

// stream relays a streamed object's body (or the range S3 answered).
func (h *handler) stream(w http.ResponseWriter, r *http.Request, obj *Object, key string) {
	hdr := w.Header()
	status, length := http.StatusOK, obj.Size
	if obj.contentRange != "" {
		first, last, ok := parseContentRange(obj.contentRange)
		if !ok {
			h.c.log.WarnContext(r.Context(), "privates3: handler: malformed Content-Range from S3")
			writeError(w, http.StatusBadGateway)
			return
		}
		status, length = http.StatusPartialContent, last-first+1
		hdr.Set("Content-Range", obj.contentRange)
	}
	h.setHeaders(hdr, obj, key, length)
	w.WriteHeader(status)
	if r.Method == http.MethodHead {
		return
	}
	n, err := io.Copy(w, obj.Body)
	if err == nil && n != length {
		err = io.ErrUnexpectedEOF
	}
	if err != nil {
		// The status is sent: all that is left is to cut the response short, which net/http does
		// when fewer than Content-Length bytes were written.
		if r.Context().Err() != nil {
			h.c.log.DebugContext(r.Context(), "privates3: handler: client gone while streaming", "written", n)
		} else {
			h.c.log.WarnContext(r.Context(), "privates3: handler: streaming aborted", "written", n, "err", err)
		}
	}
}

// unsatisfiable answers a GET whose range S3 could not satisfy: 416 with the object's size, unless
// a precondition decides first (RFC 9110 evaluates them before Range).
func (h *handler) unsatisfiable(w http.ResponseWriter, r *http.Request, key string) {
	obj, err := h.c.get(r.Context(), key, getRequest{HeadOnly: true})
	if err != nil {
		h.fail(w, r, err)
		return
	}
	obj.Body.Close()
	if h.preconditions(w, r, obj) {
		return
	}
	if !ifRangeMatches(r, obj) {
		// The range would have been ignored: serve the whole object.
		h.proxy(w, withRange(r, ""), key)
		return
	}
	w.Header().Set("Content-Range", "bytes */"+strconv.FormatInt(obj.Size, 10))
	writeError(w, http.StatusRequestedRangeNotSatisfiable)
}

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

// setHeaders sets the representation headers of obj, and nothing else from S3, plus
// Content-Length if length >= 0.
func (h *handler) setHeaders(hdr http.Header, obj *Object, key string, length int64) {
	ct := obj.ContentType
	if ct == "" || ct == "binary/octet-stream" { // S3's default: no type was given on upload
		ct = mime.TypeByExtension(path.Ext(key))
	}
	if ct == "" {
		ct = "application/octet-stream"
	}
	cc := h.cacheControl(obj)
	// One backing array for the values, and canonical keys set directly: this is the hot path
	// of every cached response. Callers may add Content-Length and Content-Range to it.
	vals := make([]string, 0, 9)
	set := func(k, v string) {
		vals = append(vals, v)
		hdr[k] = vals[len(vals)-1 : len(vals) : len(vals)]
	}
	set("Content-Type", ct)
	if obj.ContentEncoding != "" {
		set("Content-Encoding", obj.ContentEncoding)
	}
	if obj.ETag != "" {
		set("Etag", obj.ETag)
	}
	if !obj.LastModified.IsZero() {
		set("Last-Modified", obj.LastModified.UTC().Format(http.TimeFormat))
	}
	set("Cache-Control", cc)
	set("Accept-Ranges", "bytes")
	set("X-Content-Type-Options", "nosniff")
	if length >= 0 {
		set("Content-Length", strconv.FormatInt(length, 10))
	}
}

// cacheControl returns the Cache-Control header of obj's answers.
func (h *handler) cacheControl(obj *Object) string {
	switch {
	case h.opts.CacheControl != "":
		return h.opts.CacheControl
	case obj.CacheControl != "":
		return obj.CacheControl
	}
	return DefaultHandlerCacheControl
}

// preconditions evaluates the conditional headers of r against obj in the order of RFC 9110
// section 13.2.2 and, when one decides the answer (304 or 412), writes it and reports true.
// Nothing is written otherwise.
func (h *handler) preconditions(w http.ResponseWriter, r *http.Request, obj *Object) bool {
	hdr := r.Header
	lastMod := obj.LastModified.Truncate(time.Second)
	if v := header(hdr, "If-Match"); v != "" {
		if !etagListMatches(v, obj.ETag, false) {
			writeError(w, http.StatusPreconditionFailed)
			return true
		}
	} else if v := header(hdr, "If-Unmodified-Since"); v != "" && !lastMod.IsZero() {
		if t, err := http.ParseTime(v); err == nil && lastMod.After(t) {
			writeError(w, http.StatusPreconditionFailed)
			return true
		}
	}
	if v := header(hdr, "If-None-Match"); v != "" {
		if etagListMatches(v, obj.ETag, true) {
			h.notModified(w, obj)
			return true
		}
	} else if v := header(hdr, "If-Modified-Since"); v != "" && !lastMod.IsZero() {
		if t, err := http.ParseTime(v); err == nil && !lastMod.After(t) {
			h.notModified(w, obj)
			return true
		}
	}
	return false
}

// notModified writes 304 with the headers RFC 9110 section 15.4.5 asks for: the validator the
// client compares (ETag, else Last-Modified) and Cache-Control; no representation metadata.
func (h *handler) notModified(w http.ResponseWriter, obj *Object) {
	hdr := w.Header()
	if obj.ETag != "" {
		hdr["Etag"] = []string{obj.ETag}
	} else if !obj.LastModified.IsZero() {
		hdr["Last-Modified"] = []string{obj.LastModified.UTC().Format(http.TimeFormat)}
	}
	hdr["Cache-Control"] = []string{h.cacheControl(obj)}
	w.WriteHeader(http.StatusNotModified)
}

// etagListMatches reports whether the If-Match or If-None-Match value list contains etag ("*"
// matches any existing object). weak selects weak comparison (If-None-Match), else strong (a
// weak tag matches nothing). A malformed list stops matching at the first malformed element.
func etagListMatches(list, etag string, weak bool) bool {
	for {
		list = textproto.TrimString(list)
		if list == "" {
			return false
		}
		if list[0] == ',' {
			list = list[1:]
			continue
		}
		if list[0] == '*' {
			return true
		}
		tag, rest, ok := cutETag(list)
		if !ok {
			return false
		}
		if weak {
			if etag != "" && strings.TrimPrefix(tag, "W/") == strings.TrimPrefix(etag, "W/") {
				return true
			}
		} else if strongETagEqual(tag, etag) {
			return true
		}
		list = rest
	}
}

func strongETagEqual(a, b string) bool {
	return a == b && strings.HasPrefix(a, `"`)
}

// cutETag splits the entity tag at the start of s (`"x"` or `W/"x"`) from the rest.
func cutETag(s string) (tag, rest string, ok bool) {
	i := 0
	if strings.HasPrefix(s, "W/") {
		i = 2
	}
	if len(s) < i+2 || s[i] != '"' {
		return "", "", false
	}
	end := strings.IndexByte(s[i+1:], '"')
	if end < 0 {
		return "", "", false
	}
	end += i + 2
	for j := i + 1; j < end-1; j++ {
		if ch := s[j]; ch < 0x21 || ch == 0x7f {
			return "", "", false
		}
	}
	return s[:end], s[end:], true
}

// ifRangeMatches reports whether a range request may be answered with the range: true without
// If-Range, else whether If-Range names obj's strong ETag or exactly its Last-Modified.
func ifRangeMatches(r *http.Request, obj *Object) bool {
	v := header(r.Header, "If-Range")
	if v == "" {
		return true
	}
	v = textproto.TrimString(v)
	if strings.HasPrefix(v, `"`) || strings.HasPrefix(v, "W/") {
		tag, rest, ok := cutETag(v)
		return ok && textproto.TrimString(rest) == "" && strongETagEqual(tag, obj.ETag)
	}
	t, err := http.ParseTime(v)
	return err == nil && !obj.LastModified.IsZero() && t.Unix() == obj.LastModified.Unix()
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
	zeros := 0
	for spec := range strings.SplitSeq(set, ",") {
		spec = textproto.TrimString(spec)
		if spec == "" {
			continue // empty list elements are allowed
		}
		if !validRangeSpec(spec) {
			return 0, ""
		}
		if isZeroSuffix(spec) {
			zeros++
		}
		n++
	}
	if n == 0 {
		return 0, ""
	}
	if zeros == 0 {
		return n, v
	}
	var kept []string
	for spec := range strings.SplitSeq(set, ",") {
		if spec = textproto.TrimString(spec); spec != "" && !isZeroSuffix(spec) {
			kept = append(kept, spec)
		}
	}
	if len(kept) == 0 {
		return n, ""
	}
	return n, "bytes=" + strings.Join(kept, ",")
}

// isZeroSuffix reports whether the valid range spec is a suffix of length zero.
func isZeroSuffix(spec string) bool {
	first, last, _ := strings.Cut(spec, "-")
	return textproto.TrimString(first) == "" && strings.Trim(last, " \t0") == ""
}

// validRangeSpec reports whether spec is "a-b" (a <= b), "a-" or "-n".
func validRangeSpec(spec string) bool {
	first, last, ok := strings.Cut(spec, "-")
	if !ok {
		return false
	}
	first, last = textproto.TrimString(first), textproto.TrimString(last)
	if first == "" {
		_, ok := parseDigits(last)
		return ok
	}
	a, ok := parseDigits(first)
	if !ok {
		return false
	}
	if last == "" {
		return true
	}
	b, ok := parseDigits(last)
	return ok && a <= b
}

// parseDigits parses a non-empty decimal number of at most 18 digits (no sign, no overflow).
func parseDigits(s string) (int64, bool) {
	if s == "" || len(s) > 18 {
		return 0, false
	}
	var n int64
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, false
		}
		n = n*10 + int64(s[i]-'0')
	}
	return n, true
}

// parseContentRange parses "bytes a-b/size" (size may be "*").
func parseContentRange(v string) (first, last int64, ok bool) {
	spec, ok := strings.CutPrefix(v, "bytes ")
	if !ok {
		return 0, 0, false
	}
	spec, _, ok = strings.Cut(spec, "/")
	if !ok {
		return 0, 0, false
	}
	a, b, ok := strings.Cut(spec, "-")
	if !ok {
		return 0, 0, false
	}
	first, ok1 := parseDigits(a)
	last, ok2 := parseDigits(b)
	if !ok1 || !ok2 || first > last {
		return 0, 0, false
	}
	return first, last, true
}

// fail answers err with a fixed status and text, or nothing if the client has gone away.
func (h *handler) fail(w http.ResponseWriter, r *http.Request, err error) {
	ctx := r.Context()
	if ctx.Err() != nil {
		h.c.log.DebugContext(ctx, "privates3: handler: client gone", "err", err)
		return
	}
	var status int
	switch {
	case errors.Is(err, ErrInvalidKey):
		status = http.StatusBadRequest
	case errors.Is(err, ErrNotFound):
		status = http.StatusNotFound
	case errors.Is(err, ErrCredentials):
		// The Client has no valid credentials (STS refused, failed or hung): an upstream failure,
		// not the client's fault, whatever STS's own code was. Logged below, with the cause.
		status = http.StatusBadGateway
		if errors.Is(err, ErrTimeout) {
			status = http.StatusGatewayTimeout
		}
	case errors.Is(err, ErrAccessDenied):
		// Usually a policy mistake: worth one line naming S3's code (in err's text).
		h.c.log.WarnContext(ctx, "privates3: handler: access denied by AWS", "err", err)
		status = http.StatusForbidden
	case errors.Is(err, ErrThrottled):
		w.Header().Set("Retry-After", retryAfterSeconds)
		status = http.StatusServiceUnavailable
	case errors.Is(err, ErrClosed):
		status = http.StatusServiceUnavailable
	case errors.Is(err, ErrInvalidOption):
		// HandlerOptions.Presign is out of range: the server's mistake, not the client's.
		h.c.log.ErrorContext(ctx, "privates3: handler: invalid HandlerOptions", "err", err)
		status = http.StatusInternalServerError
	case errors.Is(err, ErrTimeout), errors.Is(err, context.DeadlineExceeded):
		status = http.StatusGatewayTimeout
	default:
		status = http.StatusBadGateway
	}
	if status == http.StatusBadGateway || status == http.StatusGatewayTimeout || errors.Is(err, ErrThrottled) {
		h.c.log.WarnContext(ctx, "privates3: handler: upstream failure", "status", status, "err", err)
	}
	writeError(w, status)
}

// header returns the first value of h's canonical key k. Request headers arrive with canonical
// keys, so this skips http.Header.Get's canonicalization on the hot path.
func header(h http.Header, k string) string {
	if v := h[k]; len(v) > 0 {
		return v[0]
	}
	return ""
}

// writeError writes status with its standard text as a plain-text body.
func writeError(w http.ResponseWriter, status int) {
	hdr := w.Header()
	hdr.Set("Content-Type", textPlain)
	hdr.Set("X-Content-Type-Options", "nosniff")
	hdr.Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	io.WriteString(w, http.StatusText(status)+"\n")
}

// lengthWriter sets Content-Length on a 200 answer without one (ServeContent leaves it out when
// Content-Encoding is set), so that encoded objects are not sent chunked.
type lengthWriter struct {
	http.ResponseWriter
	n int
}

func (lw *lengthWriter) WriteHeader(status int) {
	if status == http.StatusOK && lw.Header().Get("Content-Length") == "" {
		lw.Header().Set("Content-Length", strconv.Itoa(lw.n))
	}
	lw.ResponseWriter.WriteHeader(status)
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (lw *lengthWriter) Unwrap() http.ResponseWriter { return lw.ResponseWriter }
