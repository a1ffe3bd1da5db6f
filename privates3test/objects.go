package privates3test

import (
	"bytes"
	"crypto/md5"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"io"
	"strings"
	"time"
)

type bucket struct {
	objects map[string]*object
	uploads map[string]*upload // unfinished multipart uploads, by upload ID
}

// object is one stored object. Objects are immutable once stored: a put replaces the pointer.
type object struct {
	body            []byte   // nil for synthetic and multipart objects
	parts           [][]byte // the parts' bodies of an object made by a multipart upload
	synthetic       bool
	size            int64
	etag            string // quoted
	lastModified    time.Time
	contentType     string
	contentEncoding string
	cacheControl    string
	metadata        map[string]string // lower-case names without the x-amz-meta- prefix
	checksums       map[string]string // base64 values by canonical algorithm name; nil if none
	checksumType    string            // FULL_OBJECT or COMPOSITE
}

// timeXML formats t as S3's XML timestamps.
func timeXML(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000Z") }

// ObjectOption sets a property of an object stored with [Server.PutObject] or
// [Server.PutSyntheticObject].
type ObjectOption func(*object)

// ContentType sets the object's Content-Type. If not given, S3's default "binary/octet-stream".
func ContentType(v string) ObjectOption { return func(o *object) { o.contentType = v } }

// ContentEncoding sets the object's Content-Encoding (such as "gzip"). If not given, none.
func ContentEncoding(v string) ObjectOption { return func(o *object) { o.contentEncoding = v } }

// CacheControl sets the object's Cache-Control. If not given, none.
func CacheControl(v string) ObjectOption { return func(o *object) { o.cacheControl = v } }

// Metadata sets the user metadata k (sent as x-amz-meta-k; k is lower-cased) to v.
func Metadata(k, v string) ObjectOption {
	return func(o *object) {
		if o.metadata == nil {
			o.metadata = map[string]string{}
		}
		o.metadata[strings.ToLower(k)] = v
	}
}

// defaultContentType is what S3 stores for objects uploaded without a Content-Type.
const defaultContentType = "binary/octet-stream"

// PutObject stores a copy of body as bucket/key, replacing any object there; the bucket is created
// on first use. Last-Modified is the server's clock ([Server.Now]) and the ETag is the quoted hex
// MD5 of body, as S3 sets them. It does not count as a request and faults do not apply.
func (s *Server) PutObject(bucket, key string, body []byte, opts ...ObjectOption) {
	sum := md5.Sum(body)
	o := &object{
		body: append([]byte{}, body...),
		size: int64(len(body)),
		etag: `"` + hex.EncodeToString(sum[:]) + `"`,
		// S3 computes a CRC-64/NVME checksum of every object uploaded without one.
		checksums:    map[string]string{checksumAlgorithms[2].name: base64.StdEncoding.EncodeToString(checksumAlgorithms[2].sum(body))},
		checksumType: "FULL_OBJECT",
	}
	s.store(bucket, key, o, opts)
}

// PutSyntheticObject stores an object of size bytes as bucket/key whose content is generated when
// read, so that tests of large objects (256 MiB to several GiB) need no memory for it: byte i is
// [SyntheticByte](i). Its ETag has the form of a multipart upload's ("hex-1"), as computing an
// MD5 of the content would take time proportional to size; every put gives a new ETag.
func (s *Server) PutSyntheticObject(bucket, key string, size int64, opts ...ObjectOption) {
	if size < 0 {
		size = 0
	}
	// Each put gets a new ETag, as replacing an object on S3 would.
	var b [16]byte
	binary.BigEndian.PutUint64(b[:8], uint64(size))
	binary.BigEndian.PutUint64(b[8:], s.putSeq.Add(1))
	sum := md5.Sum(append([]byte("privates3test synthetic "+bucket+"/"+key), b[:]...))
	o := &object{
		synthetic: true,
		size:      size,
		etag:      `"` + hex.EncodeToString(sum[:]) + `-1"`,
	}
	s.store(bucket, key, o, opts)
}

// CreateBucket creates the bucket name if it does not exist yet ([Server.PutObject] also creates
// buckets on first use), so that it can be listed while empty. It does not count as a request.
func (s *Server) CreateBucket(name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.bucketLocked(name)
}

// bucketLocked returns the bucket name, creating it if needed.
func (s *Server) bucketLocked(name string) *bucket {
	b := s.buckets[name]
	if b == nil {
		b = &bucket{objects: map[string]*object{}, uploads: map[string]*upload{}}
		s.buckets[name] = b
	}
	return b
}

func (s *Server) store(bucketName, key string, o *object, opts []ObjectOption) {
	for _, opt := range opts {
		opt(o)
	}
	if o.contentType == "" {
		o.contentType = defaultContentType
	}
	// S3 keeps Last-Modified with a precision of seconds in HTTP headers.
	o.lastModified = s.Now().UTC().Truncate(time.Second)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.bucketLocked(bucketName).objects[key] = o
}

// deleteObject removes bucket/key if it exists.
func (s *Server) deleteObject(bucket, key string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if b := s.buckets[bucket]; b != nil {
		delete(b.objects, key)
	}
}

// bucketExists reports whether the bucket name exists.
func (s *Server) bucketExists(name string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.buckets[name] != nil
}

// lookup returns the object (nil if none) and whether the bucket exists.
func (s *Server) lookup(bucketName, key string) (*object, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	b := s.buckets[bucketName]
	if b == nil {
		return nil, false
	}
	return b.objects[key], true
}

// syntheticPeriod is the period of the synthetic content: a prime, so that reads misaligned by
// any power of two are detected.
const syntheticPeriod = 65521

// SyntheticByte returns byte i of every object stored with [Server.PutSyntheticObject]. The
// content repeats with a period of 65521 bytes (a prime).
func SyntheticByte(i int64) byte {
	x := uint32(i % syntheticPeriod)
	h := x*0x9E3779B1 + 0x7F4A7C15
	h ^= h >> 15
	h *= 0x85EBCA77
	h ^= h >> 13
	return byte(h >> 7)
}

// SyntheticReader returns a reader of the first size bytes of synthetic content, the bytes a
// GetObject of an object stored with [Server.PutSyntheticObject] returns. Its memory does not
// depend on size.
func SyntheticReader(size int64) io.Reader {
	return &syntheticReader{end: max(size, 0)}
}

// syntheticReader reads synthetic bytes pos..end-1.
type syntheticReader struct {
	pos, end int64
	period   []byte // one period, built on first Read
}

func (r *syntheticReader) Read(p []byte) (int, error) {
	if r.pos >= r.end {
		return 0, io.EOF
	}
	if r.period == nil {
		r.period = make([]byte, syntheticPeriod)
		for i := range r.period {
			r.period[i] = SyntheticByte(int64(i))
		}
	}
	if rem := r.end - r.pos; int64(len(p)) > rem {
		p = p[:rem]
	}
	n := 0
	for n < len(p) {
		off := int((r.pos + int64(n)) % syntheticPeriod)
		n += copy(p[n:], r.period[off:])
	}
	r.pos += int64(n)
	return n, nil
}

// wholeBody returns o's bytes in one slice: its body, or its parts joined (nil for a synthetic
// object).
func (o *object) wholeBody() []byte {
	if o.parts == nil {
		return o.body
	}
	b := make([]byte, 0, o.size)
	for _, p := range o.parts {
		b = append(b, p...)
	}
	return b
}

// reader returns a reader of bytes [start, start+n) of o.
func (o *object) reader(start, n int64) io.Reader {
	switch {
	case o.synthetic:
		return &syntheticReader{pos: start, end: start + n}
	case o.parts != nil:
		var rs []io.Reader
		for _, p := range o.parts {
			if start < int64(len(p)) && n > 0 {
				chunk := p[start:min(int64(len(p)), start+n)]
				rs = append(rs, bytes.NewReader(chunk))
				n -= int64(len(chunk))
			}
			start = max(0, start-int64(len(p)))
		}
		return io.MultiReader(rs...)
	}
	return bytes.NewReader(o.body[start : start+n])
}

func (o *object) String() string { return fmt.Sprintf("object(%d bytes)", o.size) }
