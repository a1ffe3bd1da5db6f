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
	src := c.r.Header.Get("X-Amz-Copy-Source")
	if i := strings.Index(src, "?"); i >= 0 {
		if v, err := url.ParseQuery(src[i+1:]); err != nil || len(v) != 1 || v.Get("versionId") != "null" {
			return newError(http.StatusBadRequest, "InvalidArgument", "Invalid version id specified").with("ArgumentName", "x-amz-copy-source")
		}
		src = src[:i]
	}
	decoded, err := url.PathUnescape(strings.TrimPrefix(src, "/"))
	srcBucket, srcKey, _ := strings.Cut(decoded, "/")
	if err != nil || srcBucket == "" || srcKey == "" {
		return newError(http.StatusBadRequest, "InvalidArgument", "Copy Source must mention the source bucket and key: sourcebucket/sourcekey").
			with("ArgumentName", "x-amz-copy-source")
	}
	directive := c.r.Header.Get("X-Amz-Metadata-Directive")
	if directive != "" && directive != "COPY" && directive != "REPLACE" {
		return newError(http.StatusBadRequest, "InvalidArgument", "Unknown metadata directive.").with("ArgumentName", "x-amz-metadata-directive")
	}
	so, e := c.readable(srcBucket, srcKey)
	if e != nil {
		return e
	}
	if e := c.writable(); e != nil {
		return e
	}
	if srcBucket == c.bucket && srcKey == c.key && directive != "REPLACE" {
		return newError(http.StatusBadRequest, "InvalidRequest", "This copy request is illegal because it is trying to copy an object to itself without changing the object's metadata, storage class, website redirect location or encryption attributes.")
	}
	if e := copySourceConditions(c.r, so); e != nil {
		return e
	}
	o := &object{}
	*o = *so
	if directive == "REPLACE" {
		headerAttributes(c.r, o)
	}
	// A copy is one object made in one request: its ETag is the MD5 of its bytes (a new one for
	// synthetic objects), and its checksum a full-object one.
	o.parts, o.body = nil, so.body
	if so.parts != nil {
		o.body = make([]byte, 0, so.size)
		for _, p := range so.parts {
			o.body = append(o.body, p...)
		}
	}
	if o.synthetic {
		sum := md5.Sum([]byte("privates3test copy " + c.reqID))
		o.etag = `"` + hex.EncodeToString(sum[:]) + `-1"`
	} else {
		sum := md5.Sum(o.body)
		o.etag = `"` + hex.EncodeToString(sum[:]) + `"`
		if so.checksumType == "COMPOSITE" || len(so.checksums) == 0 {
			if e := o.setChecksums(c.r, &body{data: o.body}); e != nil {
				return e
			}
		}
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
