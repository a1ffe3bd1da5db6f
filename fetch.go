package privates3

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// errRangeNotSatisfiable says that S3 answered 416 to a forwarded Range: the range starts at or
// beyond the end of the object.
var errRangeNotSatisfiable = errors.New("privates3: range not satisfiable")

// errFetchTimeout is the cancellation cause of an upstream call that exceeded
// Config.FetchTimeout.
var errFetchTimeout = errors.New("privates3: fetch timeout")

// GetObject returns the object key (under Config.Prefix). The caller must close its Body. The
// Body may be read and closed concurrently with other callers' bodies of the same key.
//
// Objects up to Config.MaxCacheableSize are read whole with one upstream GET however many
// callers ask at once, kept in the cache and served from memory (their Body is an
// [io.ReadSeeker]) until Config.TTL, after which the next call revalidates them with
// If-None-Match. Larger objects are streamed from S3 as the caller reads, with memory
// independent of their size. "Not found" is remembered for Config.NegativeTTL.
//
// ctx bounds the caller's wait and, for a streamed object, the reading of its Body. A cancelled
// caller does not fail other callers sharing its upstream fetch; that fetch is bounded by
// Config.FetchTimeout instead. If S3 rejects the credentials as expired or unknown
// (ExpiredToken, InvalidAccessKeyId), they are refreshed once and the request is retried once.
//
// Errors wrap [ErrInvalidKey] (nothing was sent), [ErrNotFound], [ErrAccessDenied] (naming the S3
// error code), [ErrThrottled], [ErrTimeout], [ErrCredentials], [ErrUpstream] or [ErrClosed]; a
// cancelled ctx gives an error wrapping ctx.Err().
func (c *Client) GetObject(ctx context.Context, key string) (*Object, error) {
	return c.get(ctx, key, getRequest{})
}

// getRequest is what the handler asks of get besides the key.
type getRequest struct {
	// Range is the client's "bytes=..." header. It is forwarded to S3 only for objects too large
	// to cache (cached objects are served whole from memory; the handler applies the range with
	// http.ServeContent).
	Range string

	// HeadOnly asks for metadata only: answered from a fresh cache entry, else with one
	// HeadObject (which also revalidates an expired entry). It never downloads a body.
	HeadOnly bool
}

// get returns key (the caller's key, validated and prefixed here) as GetObject does, with the
// handler's additions. On success:
//   - obj.data != nil: the whole object is in memory (Body reads it);
//   - obj.data == nil: the object is streamed from S3 (or, for HeadOnly, Body is empty);
//     obj.contentRange ("bytes a-b/size") is set when S3 answered 206 and Body holds only that
//     range.
//
// A range S3 cannot satisfy gives an error wrapping errRangeNotSatisfiable.
func (c *Client) get(ctx context.Context, key string, req getRequest) (*Object, error) {
	if err := c.checkOpen(); err != nil {
		return nil, err
	}
	full, err := c.objectKey(key)
	if err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, callerError(key, ctx)
	}
	e := c.cache.get(full)
	if e != nil && e.fresh(c.now()) {
		switch e.kind {
		case entryObject:
			c.stats.cacheHits.Add(1)
			return objectFromEntry(e), nil
		case entryNotFound:
			c.stats.cacheHits.Add(1)
			return nil, notFoundError(key)
		case entryLarge:
			c.stats.cacheMisses.Add(1)
			if req.HeadOnly {
				return c.head(ctx, key, full)
			}
			return c.stream(ctx, key, full, req.Range)
		}
	}
	c.stats.cacheMisses.Add(1)
	if req.HeadOnly {
		return c.head(ctx, key, full)
	}
	return c.fetch(ctx, key, full, req.Range)
}

// fetchResult is the outcome of a shared fetch, delivered to every caller of the flight.
type fetchResult struct {
	entry  *entry   // the object in memory (cached, or not if it did not fit the budget)
	large  *handoff // a streamed 200 response, for the first caller that claims it
	stream bool     // the key is known to be large: every caller streams its own response
	head   *Object  // HeadOnly: the metadata, Body unset
}

// fetch reads full through the shared flight and returns the caller's object.
func (c *Client) fetch(ctx context.Context, key, full, rng string) (*Object, error) {
	res, shared, err := c.flight(ctx, key, "get\x00"+full, func() (*fetchResult, error) {
		return c.fetchShared(ctx, key, full)
	})
	if err != nil {
		return nil, err
	}
	switch {
	case res.entry != nil:
		return objectFromEntry(res.entry), nil
	case res.large != nil:
		if obj := res.large.claim(ctx, rng, !shared); obj != nil {
			c.stats.streamed.Add(1)
			return obj, nil
		}
	}
	return c.stream(ctx, key, full, rng)
}

// flight runs fn once for all concurrent callers with the same flight key. The caller waits on
// its own ctx; fn goes on for the others when it gives up. It reports whether the result was
// shared with other callers.
func (c *Client) flight(ctx context.Context, key, fkey string, fn func() (*fetchResult, error)) (*fetchResult, bool, error) {
	var led atomic.Bool
	ch := c.flights.DoChan(fkey, func() (any, error) {
		led.Store(true)
		return fn()
	})
	select {
	case <-ctx.Done():
		return nil, false, callerError(key, ctx)
	case r := <-ch:
		if !led.Load() {
			c.stats.deduplicated.Add(1)
		}
		if r.Err != nil {
			return nil, false, r.Err
		}
		return r.Val.(*fetchResult), r.Shared, nil
	}
}

// fetchShared is the shared fetch of full: it revalidates a stale entry, reads a small object
// whole and caches it, or hands a large object's response to the callers. It runs on
// context.WithoutCancel(ctx), bounded by Config.FetchTimeout and by Close.
func (c *Client) fetchShared(ctx context.Context, key, full string) (*fetchResult, error) {
	res, stale, err := c.recheck(key, full, true)
	if res != nil || err != nil {
		return res, err
	}
	t := &c.cache.fetches
	cl, err := c.startCall(ctx)
	if err != nil {
		return nil, err
	}
	defer t.wg.Done()
	handedOff := false
	defer func() {
		if !handedOff {
			t.untrack(cl)
			cl.stop()
		}
	}()

	in := &s3.GetObjectInput{Bucket: aws.String(c.cfg.Bucket), Key: aws.String(full)}
	if stale != nil && stale.obj.etag != "" {
		in.IfNoneMatch = aws.String(stale.obj.etag)
		c.stats.revalidations.Add(1)
	}
	out, err := withCredentialRetry(c, cl.ctx, &c.stats.upstreamGets, func(ctx context.Context) (*s3.GetObjectOutput, error) {
		return c.s3.GetObject(ctx, in)
	})
	if err != nil {
		return c.failedFetch(cl.ctx, "GetObject", key, full, err, stale, in.IfNoneMatch != nil)
	}

	size := int64(-1)
	if out.ContentLength != nil {
		size = *out.ContentLength
	}
	obj := &cachedObject{
		contentType:     aws.ToString(out.ContentType),
		contentEncoding: aws.ToString(out.ContentEncoding),
		cacheControl:    aws.ToString(out.CacheControl),
		etag:            aws.ToString(out.ETag),
		lastModified:    aws.ToTime(out.LastModified),
	}
	if size >= 0 && size <= c.cfg.MaxCacheableSize && out.ContentRange == nil {
		data := make([]byte, size)
		_, err := io.ReadFull(out.Body, data)
		out.Body.Close()
		if err != nil {
			return nil, c.upstreamError("GetObject", key, err, cl.ctx)
		}
		obj.data = data
		e := newEntry(full, entryObject, obj, size, c.now().Add(c.cfg.TTL))
		c.cache.add(e) // also replaces a stale entry; a too large one is still served
		return &fetchResult{entry: e}, nil
	}

	// Too large to cache: remember that, so that later calls (and ranges) go straight to S3,
	// and give this response to a caller rather than downloading it again.
	c.cache.add(newEntry(full, entryLarge, nil, size, c.now().Add(c.cfg.TTL)))
	handedOff = true
	meta := objectFromMeta(obj, size)
	return &fetchResult{large: &handoff{c: c, call: cl, body: out.Body, obj: meta}}, nil
}

// failedFetch handles an error of op on full: a 304 answer to a revalidation of stale renews the
// entry; any other error is mapped to the sentinels, and a not-found is remembered.
func (c *Client) failedFetch(ctx context.Context, op, key, full string, err error, stale *entry, revalidating bool) (*fetchResult, error) {
	if revalidating && httpStatus(err) == http.StatusNotModified {
		c.stats.notModified.Add(1)
		renewed := newEntry(full, entryObject, stale.obj, stale.size, c.now().Add(c.cfg.TTL))
		c.cache.replace(stale, renewed)
		return &fetchResult{entry: renewed}, nil
	}
	err = c.upstreamError(op, key, err, ctx)
	if errors.Is(err, ErrNotFound) {
		c.rememberNotFound(full, stale)
	}
	return nil, err
}

// rememberNotFound caches a not-found answer for full, replacing stale (if any).
func (c *Client) rememberNotFound(full string, stale *entry) {
	if c.cfg.NegativeTTL > 0 {
		c.cache.add(newEntry(full, entryNotFound, nil, 0, c.now().Add(c.cfg.NegativeTTL)))
	} else if stale != nil {
		c.cache.remove(stale)
	}
}

// handoff is a large object's 200 response fetched by a shared flight, waiting for one caller to
// take its body. If no caller does within the fetch timeout (they all gave up, or asked for
// ranges it cannot serve), or Close comes first, the response is cancelled.
type handoff struct {
	c    *Client
	call *call
	body io.ReadCloser
	obj  Object // metadata; Body unset
}

// claim returns the response as the caller's object, or nil if another caller took it, it
// expired, or rng asks for a range it cannot serve (anything but "bytes=0-" and "bytes=0-N").
// sole says no other caller can claim it: if this one does not, the response is cancelled now.
func (h *handoff) claim(ctx context.Context, rng string, sole bool) *Object {
	var last int64 = -1
	if rng != "" {
		l, ok := prefixRange(rng, h.obj.Size)
		if !ok {
			if sole {
				h.abandon()
			}
			return nil
		}
		last = l
	}
	if !h.call.settle() {
		return nil
	}
	h.c.cache.fetches.untrack(h.call)
	obj := h.obj
	cl := h.call
	// From now on the caller's ctx bounds the reading, as for any streamed object.
	stopWatch := context.AfterFunc(ctx, func() { cl.cancel(context.Cause(ctx)) })
	var r io.Reader = h.body
	if last >= 0 {
		obj.contentRange = fmt.Sprintf("bytes 0-%d/%d", last, obj.Size)
		r = io.LimitReader(h.body, last+1)
	}
	obj.Body = &streamBody{r: r, c: h.body, done: func() { stopWatch(); cl.cancel(context.Canceled) }}
	return &obj
}

// abandon cancels the response unless a caller claimed it.
func (h *handoff) abandon() {
	if h.call.settle() {
		h.c.cache.fetches.untrack(h.call)
		h.body.Close()
		h.call.cancel(context.Canceled)
	}
}

// prefixRange reports whether rng is "bytes=0-" or "bytes=0-N" and returns the last byte it
// covers in an object of size bytes.
func prefixRange(rng string, size int64) (last int64, ok bool) {
	spec, ok := strings.CutPrefix(rng, "bytes=0-")
	if !ok || size <= 0 {
		return 0, false
	}
	if spec == "" {
		return size - 1, true
	}
	if strings.TrimLeft(spec, "0123456789") != "" {
		return 0, false
	}
	n, err := strconv.ParseInt(spec, 10, 64)
	if err != nil {
		if errors.Is(err, strconv.ErrRange) { // beyond any object: the whole object
			return size - 1, true
		}
		return 0, false
	}
	return min(n, size-1), true
}

// stream GETs full for this caller alone (with rng, if any) and returns its body unread.
func (c *Client) stream(ctx context.Context, key, full, rng string) (*Object, error) {
	cl := newCall(ctx, c.cfg.FetchTimeout)
	in := &s3.GetObjectInput{Bucket: aws.String(c.cfg.Bucket), Key: aws.String(full)}
	if rng != "" {
		in.Range = aws.String(rng)
	}
	out, err := withCredentialRetry(c, cl.ctx, &c.stats.upstreamGets, func(ctx context.Context) (*s3.GetObjectOutput, error) {
		return c.s3.GetObject(ctx, in)
	})
	if err == nil && !cl.settle() { // the headers came too late
		out.Body.Close()
		err = context.Cause(cl.ctx)
	}
	if err != nil {
		err = c.upstreamError("GetObject", key, err, cl.ctx)
		cl.stop()
		if errors.Is(err, ErrNotFound) {
			c.rememberNotFound(full, nil)
		}
		return nil, err
	}
	size := aws.ToInt64(out.ContentLength)
	cr := aws.ToString(out.ContentRange)
	if total, ok := rangeTotal(cr); ok {
		size = total
	}
	obj := objectFromMeta(&cachedObject{
		contentType:     aws.ToString(out.ContentType),
		contentEncoding: aws.ToString(out.ContentEncoding),
		cacheControl:    aws.ToString(out.CacheControl),
		etag:            aws.ToString(out.ETag),
		lastModified:    aws.ToTime(out.LastModified),
	}, size)
	obj.contentRange = cr
	obj.Body = &streamBody{r: out.Body, c: out.Body, done: func() { cl.cancel(context.Canceled) }}
	c.stats.streamed.Add(1)
	return &obj, nil
}

// rangeTotal returns the complete length from a Content-Range "bytes a-b/total".
func rangeTotal(cr string) (int64, bool) {
	_, total, ok := strings.Cut(cr, "/")
	if !ok {
		return 0, false
	}
	n, err := strconv.ParseInt(total, 10, 64)
	return n, err == nil && n >= 0
}

// head answers a HeadOnly request through a shared flight: from the cache if another flight
// filled it, else with one HeadObject that also revalidates an expired entry.
func (c *Client) head(ctx context.Context, key, full string) (*Object, error) {
	res, _, err := c.flight(ctx, key, "head\x00"+full, func() (*fetchResult, error) {
		return c.headShared(ctx, key, full)
	})
	if err != nil {
		return nil, err
	}
	if res.entry != nil {
		return objectFromEntry(res.entry), nil
	}
	obj := *res.head
	obj.Body = http.NoBody
	return &obj, nil
}

// recheck looks at the cache again inside a flight, since another flight may have filled it after
// the caller looked (singleflight merges only overlapping calls). A fresh entry settles the call:
// res or err is set (a fresh "too large" mark only when large, for GETs). Otherwise stale is the
// expired object entry to revalidate, or nil.
func (c *Client) recheck(key, full string, large bool) (res *fetchResult, stale *entry, err error) {
	e := c.cache.get(full)
	if e != nil && e.fresh(c.now()) {
		switch {
		case e.kind == entryObject:
			return &fetchResult{entry: e}, nil, nil
		case e.kind == entryNotFound:
			return nil, nil, notFoundError(key)
		case e.kind == entryLarge && large:
			return &fetchResult{stream: true}, nil, nil
		}
	}
	if e != nil && e.kind != entryObject {
		e = nil
	}
	return nil, e, nil
}

// startCall begins a shared upstream call on context.WithoutCancel(ctx), bounded by
// Config.FetchTimeout and cancelled by Close. The caller must call c.cache.fetches.wg.Done when it
// is finished. After Close it returns ErrClosed.
func (c *Client) startCall(ctx context.Context) (*call, error) {
	cl := newCall(context.WithoutCancel(ctx), c.cfg.FetchTimeout)
	if !c.cache.fetches.start(cl) {
		cl.stop()
		return nil, ErrClosed
	}
	return cl, nil
}

// headShared is the shared HeadObject of full.
func (c *Client) headShared(ctx context.Context, key, full string) (*fetchResult, error) {
	res, stale, err := c.recheck(key, full, false)
	if res != nil || err != nil {
		return res, err
	}
	t := &c.cache.fetches
	cl, err := c.startCall(ctx)
	if err != nil {
		return nil, err
	}
	defer t.wg.Done()
	defer t.untrack(cl)
	defer cl.stop()

	in := &s3.HeadObjectInput{Bucket: aws.String(c.cfg.Bucket), Key: aws.String(full)}
	if stale != nil && stale.obj.etag != "" {
		in.IfNoneMatch = aws.String(stale.obj.etag)
		c.stats.revalidations.Add(1)
	}
	out, err := withCredentialRetry(c, cl.ctx, &c.stats.upstreamHeads, func(ctx context.Context) (*s3.HeadObjectOutput, error) {
		return c.s3.HeadObject(ctx, in)
	})
	if err != nil {
		return c.failedFetch(cl.ctx, "HeadObject", key, full, err, stale, in.IfNoneMatch != nil)
	}
	if stale != nil {
		c.cache.remove(stale) // the object changed; the next GET fetches the new one
	}
	size := aws.ToInt64(out.ContentLength)
	if size > c.cfg.MaxCacheableSize {
		c.cache.add(newEntry(full, entryLarge, nil, size, c.now().Add(c.cfg.TTL)))
	}
	obj := objectFromMeta(&cachedObject{
		contentType:     aws.ToString(out.ContentType),
		contentEncoding: aws.ToString(out.ContentEncoding),
		cacheControl:    aws.ToString(out.CacheControl),
		etag:            aws.ToString(out.ETag),
		lastModified:    aws.ToTime(out.LastModified),
	}, size)
	return &fetchResult{head: &obj}, nil
}

// withCredentialRetry runs f, counting each attempt in n. If S3 rejects the credentials
// (ExpiredToken, InvalidToken, InvalidAccessKeyId) it forces one refresh of the credentials f
// signed with and retries once.
func withCredentialRetry[T any](c *Client, ctx context.Context, n *atomic.Int64, f func(context.Context) (T, error)) (T, error) {
	used, _ := c.creds.Retrieve(ctx) // what f signs with, unless a refresh lands in between
	n.Add(1)
	out, err := f(ctx)
	if err == nil || !isCredentialError(err) {
		return out, err
	}
	if rerr := c.creds.forceRefresh(ctx, used); rerr != nil {
		// The refresh's error says why no valid credentials exist (STS refused, hung, ...); it
		// is a credentials failure even where STS's answer was AccessDenied.
		if !errors.Is(rerr, ErrCredentials) {
			rerr = fmt.Errorf("%w: S3 rejected the credentials and renewing them failed: %w", ErrCredentials, rerr)
		}
		return out, rerr
	}
	n.Add(1)
	return f(ctx)
}

// memObject is a cached object's Object and Body in one allocation.
type memObject struct {
	obj  Object
	body memBody
}

// memBody reads an object held in memory. Close is a no-op; each caller has its own.
type memBody struct{ bytes.Reader }

// Close implements io.Closer.
func (*memBody) Close() error { return nil }

// objectFromEntry returns a new Object reading e's bytes.
func objectFromEntry(e *entry) *Object {
	o := e.obj
	m := new(memObject)
	m.body.Reset(o.data)
	// Field by field rather than a struct copy: this is the hit path.
	m.obj.Body = &m.body
	m.obj.Size = int64(len(o.data))
	m.obj.ContentType = o.contentType
	m.obj.ContentEncoding = o.contentEncoding
	m.obj.CacheControl = o.cacheControl
	m.obj.ETag = o.etag
	m.obj.LastModified = o.lastModified
	m.obj.data = o.data
	return &m.obj
}

// objectFromMeta returns an Object with o's metadata and size, without Body.
func objectFromMeta(o *cachedObject, size int64) Object {
	return Object{
		Size:            size,
		ContentType:     o.contentType,
		ContentEncoding: o.contentEncoding,
		CacheControl:    o.cacheControl,
		ETag:            o.etag,
		LastModified:    o.lastModified,
	}
}

// streamBody is a streamed object's Body: closing it releases the S3 response and its context.
type streamBody struct {
	r    io.Reader
	c    io.Closer
	once sync.Once
	done func()
}

func (b *streamBody) Read(p []byte) (int, error) { return b.r.Read(p) }

// Close implements io.Closer. It is safe to call more than once.
func (b *streamBody) Close() error {
	var err error
	b.once.Do(func() {
		err = b.c.Close()
		b.done()
	})
	return err
}

// call is the context of one upstream request. Its timer cancels it (cause errFetchTimeout)
// unless settle is called first; Close cancels it (cause ErrClosed) while it is tracked.
type call struct {
	ctx     context.Context
	cancel  context.CancelCauseFunc
	timer   *time.Timer
	settled atomic.Bool // the timer no longer applies: settled, expired or closed
}

func newCall(parent context.Context, timeout time.Duration) *call {
	ctx, cancel := context.WithCancelCause(parent)
	cl := &call{ctx: ctx, cancel: cancel}
	cl.timer = time.AfterFunc(timeout, func() { cl.expire(errFetchTimeout) })
	return cl
}

// settle disarms the timer. It reports false if the call was already cancelled by it (or by
// Close, or already settled).
func (cl *call) settle() bool {
	if !cl.settled.CompareAndSwap(false, true) {
		return false
	}
	cl.timer.Stop()
	return true
}

// expire cancels the call with cause unless it was settled.
func (cl *call) expire(cause error) {
	if cl.settled.CompareAndSwap(false, true) {
		cl.cancel(cause)
	}
}

// close cancels the call for Close (cause ErrClosed) and stops its timer.
func (cl *call) close() {
	if cl.settled.CompareAndSwap(false, true) {
		cl.timer.Stop()
		cl.cancel(ErrClosed)
	}
}

// stop releases the call once its response has been consumed.
func (cl *call) stop() {
	cl.settle()
	cl.cancel(context.Canceled)
}

// fetchTracker tracks the shared fetches, which run in singleflight's goroutines, so that Close
// can cancel them and wait for them.
type fetchTracker struct {
	mu     sync.Mutex // guards closed, active
	closed bool
	active map[*call]struct{} // calls Close cancels: running fetches and unclaimed responses
	wg     sync.WaitGroup     // running shared fetch functions
}

// start registers a shared fetch and its call; it reports false after close. On true the caller
// must call wg.Done when its function returns, and untrack the call when it is settled.
func (t *fetchTracker) start(cl *call) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return false
	}
	if t.active == nil {
		t.active = make(map[*call]struct{})
	}
	t.active[cl] = struct{}{}
	t.wg.Add(1)
	return true
}

func (t *fetchTracker) untrack(cl *call) {
	t.mu.Lock()
	delete(t.active, cl)
	t.mu.Unlock()
}

// close cancels every tracked call and waits for the running fetch functions to return.
func (t *fetchTracker) close() {
	t.mu.Lock()
	t.closed = true
	active := t.active
	t.active = nil
	t.mu.Unlock()
	for cl := range active {
		cl.close()
	}
	t.wg.Wait()
}

// close cancels the shared fetches in progress and waits for them. Called by Client.Close.
func (c *cache) close() { c.fetches.close() }

// fetchError is an error of an upstream call: its text is ours (the operation, the key, the S3
// error code and HTTP status, never S3's message, which may quote signed headers), and it wraps
// a sentinel and the SDK's error.
type fetchError struct {
	kind  error
	msg   string
	cause error
}

func (e *fetchError) Error() string { return e.kind.Error() + ": " + e.msg }

func (e *fetchError) Unwrap() []error {
	if e.cause == nil {
		return []error{e.kind}
	}
	return []error{e.kind, e.cause}
}

func notFoundError(key string) error {
	return &fetchError{kind: ErrNotFound, msg: strconv.Quote(key)}
}

// callerError is the error of a caller whose ctx is done.
func callerError(key string, ctx context.Context) error {
	err := ctx.Err()
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(context.Cause(ctx), context.DeadlineExceeded) {
		return &fetchError{kind: ErrTimeout, msg: fmt.Sprintf("%q: caller's deadline exceeded", key), cause: err}
	}
	return fmt.Errorf("privates3: %q: %w", key, err)
}

// httpStatus returns the HTTP status of an S3 error answer, or 0.
func httpStatus(err error) int {
	var re interface{ HTTPStatusCode() int }
	if errors.As(err, &re) {
		return re.HTTPStatusCode()
	}
	return 0
}

// upstreamError maps an error of the S3 operation op on key, made with ctx, to the sentinels.
func (c *Client) upstreamError(op, key string, err error, ctx context.Context) error {
	where := fmt.Sprintf("%s %q", op, key)
	switch cause := context.Cause(ctx); {
	case cause == nil:
	case errors.Is(cause, errFetchTimeout):
		return &fetchError{kind: ErrTimeout, msg: fmt.Sprintf("%s: no answer within %v", where, c.cfg.FetchTimeout), cause: context.DeadlineExceeded}
	case errors.Is(cause, ErrClosed):
		return &fetchError{kind: ErrClosed, msg: where}
	default: // the caller's own context (streamed objects)
		return callerError(key, ctx)
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return &fetchError{kind: ErrTimeout, msg: where, cause: err}
	}
	var api interface{ ErrorCode() string }
	if !errors.As(err, &api) {
		// The credentials provider's errors (credentials.go) carry their own sentinel.
		for _, kind := range []error{ErrCredentials, ErrAccessDenied, ErrThrottled, ErrTimeout, ErrClosed} {
			if errors.Is(err, kind) {
				return &fetchError{kind: kind, msg: fmt.Sprintf("%s: %v", where, err), cause: err}
			}
		}
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			return &fetchError{kind: ErrTimeout, msg: where + ": network timeout", cause: err}
		}
		return &fetchError{kind: ErrUpstream, msg: fmt.Sprintf("%s: %v", where, err), cause: err}
	}
	code, status := api.ErrorCode(), httpStatus(err)
	detail := fmt.Sprintf("%s: S3 %s (HTTP %d)", where, code, status)
	kind := ErrUpstream
	switch {
	case code == "NoSuchKey" || code == "NotFound" || status == http.StatusNotFound:
		return &fetchError{kind: ErrNotFound, msg: strconv.Quote(key), cause: err}
	case code == "ExpiredToken" || code == "InvalidToken" || code == "InvalidAccessKeyId" || code == "TokenRefreshRequired":
		kind = ErrCredentials
	case code == "AccessDenied" || status == http.StatusForbidden:
		kind = ErrAccessDenied
	case code == "SlowDown" || code == "Throttling" || code == "ThrottlingException" ||
		code == "RequestLimitExceeded" || code == "TooManyRequests" ||
		status == http.StatusServiceUnavailable || status == http.StatusTooManyRequests:
		kind = ErrThrottled
	case code == "InvalidRange" || status == http.StatusRequestedRangeNotSatisfiable:
		kind = errRangeNotSatisfiable
	case code == "RequestTimeout" || status == http.StatusGatewayTimeout:
		kind = ErrTimeout
	}
	return &fetchError{kind: kind, msg: detail, cause: err}
}
