package privates3test

import (
	"crypto/md5"
	"encoding/hex"
	"encoding/xml"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// copyObject answers CopyObject: the caller needs s3:GetObject on the source and s3:PutObject on
// the destination. The copy shares the source's (immutable) bytes.
func (c *s3Call) copyObject() *apiError {
	srcBucket, srcKey, e := parseCopySource(c.r.Header.Get("X-Amz-Copy-Source"))
	if e != nil {
		return e
	}
	directive := c.r.Header.Get("X-Amz-Metadata-Directive")
	if directive != "" && directive != "COPY" && directive != "REPLACE" {
		return newError(http.StatusBadRequest, "InvalidArgument", "Unknown metadata directive.").with("ArgumentName", "x-amz-metadata-directive")
	}
	so, e := c.copySource(srcBucket, srcKey, directive)
	if e != nil {
		return e
	}
	o, e := c.copyOf(so, directive)
	if e != nil {
		return e
	}
	c.s.store(c.bucket, c.key, o, nil)
	h := c.header()
	if so.synthetic {
		h.Set("X-Amz-Copy-Source-Version-Id", "null")
	}
	return c.writeXML(struct {
		XMLName      xml.Name `xml:"CopyObjectResult"`
		Xmlns        string   `xml:"xmlns,attr"`
		LastModified string   `xml:"LastModified"`
		ETag         string   `xml:"ETag"`
	}{Xmlns: s3Namespace, LastModified: timeXML(o.lastModified), ETag: o.etag})
}

// parseCopySource returns the bucket and key an x-amz-copy-source header names:
// "[/]bucket/key", escaped, with at most "?versionId=null" (the only version the fake has).
func parseCopySource(src string) (bucket, key string, e *apiError) {
	if i := strings.Index(src, "?"); i >= 0 {
		if v, err := url.ParseQuery(src[i+1:]); err != nil || len(v) != 1 || v.Get("versionId") != "null" {
			return "", "", newError(http.StatusBadRequest, "InvalidArgument", "Invalid version id specified").with("ArgumentName", "x-amz-copy-source")
		}
		src = src[:i]
	}
	decoded, err := url.PathUnescape(strings.TrimPrefix(src, "/"))
	bucket, key, _ = strings.Cut(decoded, "/")
	if err != nil || bucket == "" || key == "" {
		return "", "", newError(http.StatusBadRequest, "InvalidArgument", "Copy Source must mention the source bucket and key: sourcebucket/sourcekey").
			with("ArgumentName", "x-amz-copy-source")
	}
	return bucket, key, nil
}

// copySource returns the source object of c once the copy may go ahead: the caller may read it
// and write the destination, the copy changes something if made onto itself, and the
// x-amz-copy-source-if-* conditions hold.
func (c *s3Call) copySource(srcBucket, srcKey, directive string) (*object, *apiError) {
	so, e := c.readable(srcBucket, srcKey)
	if e != nil {
		return nil, e
	}
	if e := c.writable(); e != nil {
		return nil, e
	}
	if srcBucket == c.bucket && srcKey == c.key && directive != "REPLACE" {
		return nil, newError(http.StatusBadRequest, "InvalidRequest", "This copy request is illegal because it is trying to copy an object to itself without changing the object's metadata, storage class, website redirect location or encryption attributes.")
	}
	if e := copySourceConditions(c.r, so); e != nil {
		return nil, e
	}
	return so, nil
}

// copyOf makes the copy of so that c stores, with the attributes of c's headers if directive is
// REPLACE.
func (c *s3Call) copyOf(so *object, directive string) (*object, *apiError) {
	o := &object{}
	*o = *so
	if directive == "REPLACE" {
		headerAttributes(c.r, o)
	}
	// A copy is one object made in one request: its ETag is the MD5 of its bytes (a new one for
	// synthetic objects), and its checksum a full-object one.
	o.parts, o.body = nil, so.wholeBody()
	if o.synthetic {
		sum := md5.Sum([]byte("privates3test copy " + c.reqID))
		o.etag = `"` + hex.EncodeToString(sum[:]) + `-1"`
		return o, nil
	}
	sum := md5.Sum(o.body)
	o.etag = `"` + hex.EncodeToString(sum[:]) + `"`
	if so.checksumType == "COMPOSITE" || len(so.checksums) == 0 {
		if e := o.setChecksums(c.r, &body{data: o.body}); e != nil {
			return nil, e
		}
	}
	return o, nil
}

// copySourceConditions applies x-amz-copy-source-if-* to the source: 412 PreconditionFailed
// when one fails.
func copySourceConditions(r *http.Request, o *object) *apiError {
	failed := func(h string) *apiError {
		return newError(http.StatusPreconditionFailed, "PreconditionFailed", "At least one of the pre-conditions you specified did not hold").
			with("Condition", h)
	}
	if v := r.Header.Get("X-Amz-Copy-Source-If-Match"); v != "" && !etagMatches(v, o.etag) {
		return failed("x-amz-copy-source-If-Match")
	}
	if v := r.Header.Get("X-Amz-Copy-Source-If-None-Match"); v != "" && etagMatches(v, o.etag) {
		return failed("x-amz-copy-source-If-None-Match")
	}
	if t, err := time.Parse(http.TimeFormat, r.Header.Get("X-Amz-Copy-Source-If-Unmodified-Since")); err == nil && o.lastModified.After(t) {
		return failed("x-amz-copy-source-If-Unmodified-Since")
	}
	if t, err := time.Parse(http.TimeFormat, r.Header.Get("X-Amz-Copy-Source-If-Modified-Since")); err == nil && !o.lastModified.After(t) {
		return failed("x-amz-copy-source-If-Modified-Since")
	}
	return nil
}
