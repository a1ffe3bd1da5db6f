package privates3

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// GetObject returns the object key (under Config.Prefix). The caller must close its Body, which
// implements [io.ReadSeekCloser] and may be read and closed concurrently with other callers'
// bodies of the same key.
//
// Objects up to Config.MaxCacheableSize are read whole with one upstream GET however many
// callers ask at once, kept in the cache and served from memory until Config.TTL, after which
// the next call revalidates them with If-None-Match. Larger objects are streamed from S3 as the
// caller reads, with memory independent of their size (a Seek opens a ranged GET on the next
// Read). "Not found" is remembered for Config.NegativeTTL.
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
	o, err := c.open(ctx, key, false)
	if err != nil {
		return nil, err
	}
	return o.public(), nil
}

// ReadRange returns bytes [off, off+n) of key (fewer if the object ends sooner). The Body of the
// result reads just those bytes; Size, ETag and the other fields describe the whole object.
//
// If ifMatch is not empty the read succeeds only while the object's ETag is ifMatch; otherwise
// the error wraps [ErrPreconditionFailed]. Such reads of at most Config.MaxCacheableSize bytes
// are kept in the Client's cache, keyed by key, ETag, off and n (so a replaced object never meets
// its old bytes), and concurrent identical reads share one upstream GET. Other reads are one
// ranged GET each, streamed as the caller reads.
//
// off < 0 or n <= 0 gives an error wrapping [ErrInvalidOption]; off at or beyond the end of the
// object one wrapping [ErrRangeNotSatisfiable]. Other errors are those of [Client.GetObject].
func (c *Client) ReadRange(ctx context.Context, key string, off, n int64, ifMatch string) (*Object, error) {
	if off < 0 || n <= 0 {
		return nil, fmt.Errorf("%w: ReadRange needs off >= 0 and n > 0 (got %d, %d)", ErrInvalidOption, off, n)
	}
	full, err := c.checkCall(ctx, key)
	if err != nil {
		return nil, err
	}
	rng := fmt.Sprintf("bytes=%d-%d", off, off+n-1)
	if ifMatch == "" || n > c.cfg.MaxCacheableSize {
		o := &object{c: c, key: key, full: full}
		body, m, err := o.get(ctx, rng, ifMatch)
		if err != nil {
			return nil, err
		}
		obj := m.public()
		obj.Body = body
		return &obj, nil
	}
	ck := full + "\x00" + ifMatch + "\x00" + rng // cannot collide with a key: keys have no NUL
	if e := c.cache.get(ck); e != nil {
		c.stats.cacheHits.Add(1)
		return (&object{cachedObject: e.obj, c: c, ctx: ctx}).public(), nil
	}
	c.stats.cacheMisses.Add(1)
	res, release, err := c.share(ctx, &c.gets, ck, key, func(ctx context.Context) (*fetched, error) {
		if e := c.cache.get(ck); e != nil {
			return &fetched{obj: e.obj}, nil
		}
		o := &object{c: c, key: key, full: full}
		body, m, err := o.get(ctx, rng, ifMatch)
		if err != nil {
			return nil, err
		}
		defer body.Close()
		data, err := io.ReadAll(io.LimitReader(body, n))
		if err != nil {
			return nil, upstreamError(ctx, "GetObject", strconv.Quote(key), err, c.cfg.FetchTimeout)
		}
		obj := &cachedObject{meta: m, data: data}
		// The bytes of one ETag never change: the entry stays until evicted.
		c.cache.add(newEntry(ck, entryObject, obj, time.Now().Add(100*365*24*time.Hour)))
		return &fetched{obj: obj}, nil
	})
	if err != nil {
		return nil, err
	}
	release()
	return (&object{cachedObject: res.obj, c: c, ctx: ctx}).public(), nil
}

// checkCall is the prologue of every call on a key: the Client is open, key is valid (the S3 key
// Prefix+key is returned) and ctx is not done.
func (c *Client) checkCall(ctx context.Context, key string) (string, error) {
	if c.closed.Load() {
		return "", ErrClosed
	}
	full, err := c.objectKey(key)
	if err != nil {
		return "", err
	}
	if ctx.Err() != nil {
		return "", callerError(ctx, strconv.Quote(key))
	}
	return full, nil
}

// object is what fetch hands GetObject and the handler: an object's metadata, and a reader of
// its bytes: from memory, from the response a shared fetch handed over, or from a ranged GET of
// its own. Seek never sends a request: the first Read after it opens the bytes at the new offset
// (http.ServeContent seeks to the end to learn the size). It is an io.ReadSeekCloser and not
// safe for concurrent use.
type object struct {
	*cachedObject
	c         *Client
	key, full string
	ctx       context.Context // bounds the upstream reads
	handoff   *handoff        // the shared fetch's 200 response, for the first read at offset 0
	release   func()          // if set, drops this caller's hold on the shared fetch (and handoff)

	pub  Object // the caller's Object (public)
	off  int64
	want int64         // bytes the next open must cover; 0: up to the end
	body io.ReadCloser // open upstream response, positioned at off
	err  error         // sticky error of opening
}

// fetched is the result of a shared fetch, delivered to every caller of the flight.
type fetched struct {
	obj     *cachedObject // data is nil for an object too large to cache
	handoff *handoff
}

// open returns key's object: from the cache, else through a shared fetch (a HeadObject for head,
// whose object has no bytes, else a GetObject). It does not read a streamed object's body.
func (c *Client) open(ctx context.Context, key string, head bool) (*object, error) {
	full, err := c.checkCall(ctx, key)
	if err != nil {
		return nil, err
	}
	if e := c.cache.get(full); e != nil && e.fresh(time.Now()) {
		switch e.kind {
		case entryObject:
			c.stats.cacheHits.Add(1)
			return &object{cachedObject: e.obj, c: c, key: key, full: full, ctx: ctx}, nil
		case entryNotFound:
			c.stats.cacheHits.Add(1)
			return nil, notFoundError(key)
		case entryLarge: // the metadata is known: the bytes come from S3 when they are read
			c.stats.cacheMisses.Add(1)
			return &object{cachedObject: e.obj, c: c, key: key, full: full, ctx: ctx}, nil
		}
	}
	c.stats.cacheMisses.Add(1)
	g, fn := &c.gets, c.fetchShared
	if head {
		g, fn = &c.heads, c.headShared
	}
	res, release, err := c.share(ctx, g, full, key, func(ctx context.Context) (*fetched, error) {
		return fn(ctx, key, full)
	})
	if err != nil {
		return nil, err
	}
	o := &object{cachedObject: res.obj, c: c, key: key, full: full, ctx: ctx, handoff: res.handoff, release: release}
	if res.handoff == nil {
		o.drop()
	}
	return o, nil
}

// share runs fn as flight k of g for a caller of key, counting a joined flight as deduplicated.
// On success the caller must call release once done with the result. A caller whose ctx ended
// gets its own ctx's error, else the flight's.
func (c *Client) share(ctx context.Context, g *group[string, *fetched], k, key string, fn func(context.Context) (*fetched, error)) (*fetched, func(), error) {
	res, joined, release, err := g.do(ctx, k, false, fn)
	if joined {
		c.stats.deduplicated.Add(1)
	}
	if err != nil {
		release()
	}
	switch {
	case err != nil && ctx.Err() != nil:
		return nil, nil, callerError(ctx, strconv.Quote(key))
	case err != nil:
		return nil, nil, err
	}
	return res, release, nil
}

// recheck looks at the cache again inside a flight, since another flight may have filled it after
// the caller looked. A fresh entry settles the flight (res or err set). Otherwise stale is the
// expired object entry to revalidate, or nil.
func (c *Client) recheck(key, full string) (res *fetched, stale *entry, err error) {
	e := c.cache.get(full)
	switch {
	case e == nil:
		return nil, nil, nil
	case !e.fresh(time.Now()):
		if e.kind == entryObject {
			return nil, e, nil
		}
		return nil, nil, nil
	case e.kind == entryNotFound:
		return nil, nil, notFoundError(key)
	}
	return &fetched{obj: e.obj}, nil, nil
}

// fetchShared is the shared GET of full: it revalidates a stale entry, reads a small object whole
// and caches it, or remembers a large object's metadata and hands its response to a reader.
func (c *Client) fetchShared(ctx context.Context, key, full string) (*fetched, error) {
	res, stale, err := c.recheck(key, full)
	if res != nil || err != nil {
		return res, err
	}
	if c.cfg.SharedCache != nil {
		return c.viaShared(ctx, key, full, stale) // sharedcache.go; it calls fetchS3
	}
	return c.fetchS3(ctx, key, full, stale)
}

// fetchS3 is the GET of fetchShared, revalidating stale if not nil.
func (c *Client) fetchS3(ctx context.Context, key, full string, stale *entry) (*fetched, error) {
	// Its own call: a handed-off response outlives the flight.
	cl := c.life.call(context.WithoutCancel(ctx), c.cfg.FetchTimeout)
	in := &s3.GetObjectInput{Bucket: aws.String(c.cfg.Bucket), Key: aws.String(full)}
	if stale != nil && stale.obj.etag != "" {
		in.IfNoneMatch = aws.String(stale.obj.etag)
		c.stats.revalidations.Add(1)
	}
	out, err := withRetry(c, cl.ctx, &c.stats.upstreamGets, func(ctx context.Context) (*s3.GetObjectOutput, error) {
		return c.s3.GetObject(ctx, in)
	})
	if err != nil {
		defer cl.end()
		return c.failed(cl.ctx, "GetObject", key, full, err, stale)
	}
	m := metaOf(out.ContentLength, out.ContentType, out.ContentEncoding, out.CacheControl, out.ETag, out.LastModified)
	if m.size >= 0 && m.size <= c.cfg.MaxCacheableSize {
		defer cl.end()
		data := make([]byte, m.size)
		_, err := io.ReadFull(out.Body, data)
		out.Body.Close()
		if err != nil {
			return nil, upstreamError(cl.ctx, "GetObject", strconv.Quote(key), err, c.cfg.FetchTimeout)
		}
		obj := &cachedObject{meta: m, data: data}
		c.cache.add(newEntry(full, entryObject, obj, time.Now().Add(c.cfg.TTL))) // a too large one is still served
		return &fetched{obj: obj}, nil
	}
	// Too large to cache (or of unknown length): remember its metadata, so that later requests
	// (ranges, conditionals, HEAD) need no GET to learn it, and give this response to a reader
	// rather than downloading it again.
	obj := &cachedObject{meta: m}
	if m.size >= 0 {
		c.cache.add(newEntry(full, entryLarge, obj, time.Now().Add(c.cfg.TTL)))
	}
	if !cl.settle() {
		out.Body.Close()
		cl.end()
		return nil, upstreamError(cl.ctx, "GetObject", strconv.Quote(key), context.DeadlineExceeded, c.cfg.FetchTimeout)
	}
	return &fetched{obj: obj, handoff: &handoff{body: out.Body, call: cl}}, nil
}

// headShared is the shared HeadObject of full. It revalidates a stale entry (304 renews it) and
// remembers a large object's metadata; it never downloads a body.
func (c *Client) headShared(ctx context.Context, key, full string) (*fetched, error) {
	res, stale, err := c.recheck(key, full)
	if res != nil || err != nil {
		return res, err
	}
	in := &s3.HeadObjectInput{Bucket: aws.String(c.cfg.Bucket), Key: aws.String(full)}
	if stale != nil && stale.obj.etag != "" {
		in.IfNoneMatch = aws.String(stale.obj.etag)
		c.stats.revalidations.Add(1)
	}
	out, err := withRetry(c, ctx, &c.stats.upstreamHeads, func(ctx context.Context) (*s3.HeadObjectOutput, error) {
		return c.s3.HeadObject(ctx, in)
	})
	if err != nil {
		return c.failed(ctx, "HeadObject", key, full, err, stale)
	}
	if stale != nil {
		c.cache.remove(stale) // the object changed; the next GET fetches the new one
	}
	obj := &cachedObject{meta: metaOf(out.ContentLength, out.ContentType, out.ContentEncoding, out.CacheControl, out.ETag, out.LastModified)}
	if obj.size > c.cfg.MaxCacheableSize {
		c.cache.add(newEntry(full, entryLarge, obj, time.Now().Add(c.cfg.TTL)))
	}
	return &fetched{obj: obj}, nil
}

// failed handles an error of op on full: a 304 answer to a revalidation of stale renews the
// entry; any other error is mapped to the sentinels, and a not-found is remembered.
func (c *Client) failed(ctx context.Context, op, key, full string, err error, stale *entry) (*fetched, error) {
	if _, status := code(err); stale != nil && status == http.StatusNotModified {
		c.stats.notModified.Add(1)
		c.cache.replace(stale, newEntry(full, entryObject, stale.obj, time.Now().Add(c.cfg.TTL)))
		return &fetched{obj: stale.obj}, nil
	}
	err = upstreamError(ctx, op, strconv.Quote(key), err, c.cfg.FetchTimeout)
	if errors.Is(err, ErrNotFound) {
		if c.cfg.NegativeTTL > 0 {
			c.cache.add(newEntry(full, entryNotFound, nil, time.Now().Add(c.cfg.NegativeTTL)))
		} else if stale != nil {
			c.cache.remove(stale)
		}
	}
	return nil, err
}

// get sends a GET of o's key for this caller alone, with rng ("" for the whole object) and
// ifMatch (if not empty), and returns the body (bound to ctx; closing it releases the call) and
// the whole object's metadata. A failed If-Match forgets the cached metadata of the key.
func (o *object) get(ctx context.Context, rng, ifMatch string) (io.ReadCloser, meta, error) {
	c := o.c
	cl := c.life.call(ctx, c.cfg.FetchTimeout)
	in := &s3.GetObjectInput{Bucket: aws.String(c.cfg.Bucket), Key: aws.String(o.full)}
	if rng != "" {
		in.Range = aws.String(rng)
	}
	if ifMatch != "" {
		in.IfMatch = aws.String(ifMatch)
	}
	out, err := withRetry(c, cl.ctx, &c.stats.upstreamGets, func(ctx context.Context) (*s3.GetObjectOutput, error) {
		return c.s3.GetObject(ctx, in)
	})
	if err == nil && !cl.settle() { // the headers came too late
		out.Body.Close()
		err = context.DeadlineExceeded
	}
	if err != nil {
		err = upstreamError(cl.ctx, "GetObject", strconv.Quote(o.key), err, c.cfg.FetchTimeout)
		cl.end()
		if errors.Is(err, ErrPreconditionFailed) {
			if e := c.cache.get(o.full); e != nil && e.kind == entryLarge {
				c.cache.remove(e)
			}
		}
		return nil, meta{}, err
	}
	m := metaOf(out.ContentLength, out.ContentType, out.ContentEncoding, out.CacheControl, out.ETag, out.LastModified)
	if cr := aws.ToString(out.ContentRange); cr != "" {
		_, total, _ := strings.Cut(cr, "/")
		if m.size, err = strconv.ParseInt(total, 10, 64); err != nil {
			m.size = -1
		}
	}
	c.stats.streamed.Add(1)
	return &callBody{ReadCloser: out.Body, call: cl}, m, nil
}

// withRetry runs f, counting each attempt in n. If S3 rejects the credentials (ExpiredToken,
// InvalidToken, InvalidAccessKeyId) it forces one refresh of the credentials f signed with and
// retries once.
func withRetry[T any](c *Client, ctx context.Context, n *atomic.Int64, f func(context.Context) (T, error)) (T, error) {
	used, _ := c.creds.Retrieve(ctx) // what f signs with, unless a refresh lands in between
	n.Add(1)
	out, err := s3Call(c, ctx, n, f)
	if code, _ := code(err); err == nil || !credentialCode(code) {
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
	return s3Call(c, ctx, n, f)
}

// handoff is a large object's 200 response fetched by a shared flight, waiting for one reader to
// take its body. When no caller holds the flight's result any more and none took it, the
// response is closed (group.free).
type handoff struct {
	claimed atomic.Bool
	body    io.ReadCloser
	call    *call
}

// claim returns the response's body for a reader whose reading ctx bounds, or false if another
// reader took it or it was abandoned.
func (h *handoff) claim(ctx context.Context) (io.ReadCloser, bool) {
	if !h.claimed.CompareAndSwap(false, true) {
		return nil, false
	}
	stop := context.AfterFunc(ctx, func() { h.call.cancel(context.Cause(ctx)) })
	return &callBody{ReadCloser: h.body, call: h.call, stop: stop}, true
}

// abandon closes the response unless a reader claimed it.
func (h *handoff) abandon() {
	if h.claimed.CompareAndSwap(false, true) {
		h.body.Close()
		h.call.end()
	}
}

// callBody is an upstream response body; closing it releases its call.
type callBody struct {
	io.ReadCloser
	call *call
	stop func() bool // stops the watch of the reader's ctx, if any
	done atomic.Bool
}

func (b *callBody) Close() error {
	if !b.done.CompareAndSwap(false, true) {
		return nil
	}
	err := b.ReadCloser.Close()
	if b.stop != nil {
		b.stop()
	}
	b.call.end()
	return err
}

// public returns the caller's Object for o, o being its Body.
func (o *object) public() *Object {
	o.pub = o.meta.public() // in o: one allocation per GetObject
	o.pub.Body = o
	return &o.pub
}

// len is the size of the whole object, -1 if unknown.
func (o *object) len() int64 {
	if o.data != nil {
		return int64(len(o.data))
	}
	return o.size
}

// drop releases the caller's hold on the shared fetch, if any.
func (o *object) drop() {
	if o.release != nil {
		o.release()
		o.release = nil
	}
}

func (o *object) Read(p []byte) (int, error) {
	if d := o.data; d != nil {
		if o.off >= int64(len(d)) {
			return 0, io.EOF
		}
		n := copy(p, d[o.off:])
		o.off += int64(n)
		o.served(n, true)
		return n, nil
	}
	if o.body == nil {
		if err := o.open(); err != nil {
			return 0, err
		}
	}
	n, err := o.body.Read(p)
	o.off += int64(n)
	o.served(n, false)
	return n, err
}

// open opens the upstream bytes at o.off: the handed-over response when at the start, else a
// ranged GET (of o.want bytes if set) with If-Match, so every byte comes from the same object.
func (o *object) open() error {
	if o.err != nil {
		return o.err
	}
	if o.off == 0 && o.handoff != nil {
		if b, ok := o.handoff.claim(o.ctx); ok {
			o.c.stats.streamed.Add(1)
			if o.want > 0 {
				o.body = &limitBody{Reader: io.LimitReader(b, o.want), Closer: b}
			} else {
				o.body = b
			}
			return nil
		}
	}
	o.drop()
	rng := ""
	if o.want > 0 {
		rng = fmt.Sprintf("bytes=%d-%d", o.off, o.off+o.want-1)
	} else if o.off > 0 {
		rng = fmt.Sprintf("bytes=%d-", o.off)
	}
	body, _, err := o.get(o.ctx, rng, o.etag)
	if err != nil {
		o.err = err
		return err
	}
	o.body = body
	return nil
}

// limitBody reads at most a limit of a body and closes the body.
type limitBody struct {
	io.Reader
	io.Closer
}

// Seek implements io.Seeker. It sends no request.
func (o *object) Seek(offset int64, whence int) (int64, error) {
	switch whence {
	case io.SeekCurrent:
		offset += o.off
	case io.SeekEnd:
		offset += o.len()
	}
	if offset < 0 {
		return 0, fmt.Errorf("privates3: seek to negative offset %d", offset)
	}
	if offset != o.off && o.body != nil {
		o.body.Close()
		o.body = nil
	}
	o.off, o.want = offset, 0
	return offset, nil
}

// writeTo writes the next n bytes to w (the handler's copy): from memory directly, else with one
// upstream request for exactly those bytes, copied with buf.
func (o *object) writeTo(w io.Writer, n int64, buf []byte) (int64, error) {
	if d := o.data; d != nil {
		end := min(o.off+n, int64(len(d)))
		m, err := w.Write(d[o.off:end])
		o.off += int64(m)
		o.served(m, true)
		if err == nil && int64(m) < n {
			err = io.ErrUnexpectedEOF
		}
		return int64(m), err
	}
	if o.body == nil {
		o.want = n
	}
	m, err := io.CopyBuffer(w, io.LimitReader(onlyReader{o}, n), buf)
	if err == nil && m < n {
		err = io.ErrUnexpectedEOF
	}
	return m, err
}

// WriteTo implements io.WriterTo, which io.Copy uses: a cached object is written in one Write, a
// streamed one with a buffer sized for large objects.
func (o *object) WriteTo(w io.Writer) (int64, error) {
	if d := o.data; d != nil {
		if o.off >= int64(len(d)) {
			return 0, nil
		}
		n, err := w.Write(d[o.off:])
		o.off += int64(n)
		o.served(n, true)
		return int64(n), err
	}
	buf := copyBuffers.Get().(*[copyBufferSize]byte)
	defer copyBuffers.Put(buf)
	return io.CopyBuffer(w, onlyReader{o}, buf[:])
}

// copyBufferSize is the buffer of a streamed object's copy: large enough that a fast S3
// connection is not throttled by small reads and writes.
const copyBufferSize = 256 << 10

var copyBuffers = sync.Pool{New: func() any { return new([copyBufferSize]byte) }}

// onlyReader hides every method of a reader but Read (so that io.CopyBuffer uses the buffer).
type onlyReader struct{ io.Reader }

// Close implements io.Closer: it releases the upstream response and the hold on a shared fetch.
// It is safe to call more than once.
func (o *object) Close() error {
	if o.body != nil {
		o.body.Close()
		o.body = nil
	}
	o.drop()
	o.err = ErrClosed
	return nil
}
