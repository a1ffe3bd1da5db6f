package privates3

// Exports of internals for the tests of package privates3_test.

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
)

// CredsRetrieve returns the credentials the Client signs S3 requests with.
func (c *Client) CredsRetrieve(ctx context.Context) (aws.Credentials, error) {
	return c.creds.Retrieve(ctx)
}

// CredsForceRefresh forces a refresh of stale credentials, as after an S3 ExpiredToken.
func (c *Client) CredsForceRefresh(ctx context.Context, stale aws.Credentials) error {
	return c.creds.forceRefresh(ctx, stale)
}

// CredsValidFor returns credentials valid for d if possible.
func (c *Client) CredsValidFor(ctx context.Context, d time.Duration) (aws.Credentials, error) {
	return c.creds.validFor(ctx, d)
}

// GetHead returns key's metadata as the handler's HEAD does (Body reads nothing upstream).
func (c *Client) GetHead(ctx context.Context, key string) (*Object, error) {
	o, err := c.open(ctx, key, true)
	if err != nil {
		return nil, err
	}
	obj := o.public()
	obj.Body.Close()
	obj.Body = http.NoBody
	return obj, nil
}

// ObjectData returns the bytes of an object served from memory, or nil if it is streamed.
func ObjectData(o *Object) []byte {
	if r, ok := o.Body.(*object); ok {
		return r.data
	}
	return nil
}

// RangeSpecs counts the ranges of a valid Range header value (0 if invalid) and drops the
// unsatisfiable ones.
var RangeSpecs = rangeSpecs

// MinForcedInterval spaces forced credential renewals.
const MinForcedInterval = minForcedInterval

// GetRange reads n bytes at off of key as the handler does for a Range request: open the object,
// Seek, copy exactly n bytes. It returns the object's metadata and the bytes.
func (c *Client) GetRange(ctx context.Context, key string, off, n int64) (Object, []byte, error) {
	o, err := c.open(ctx, key, false)
	if err != nil {
		return Object{}, nil, err
	}
	defer o.Close()
	if _, err := o.Seek(off, io.SeekStart); err != nil {
		return Object{}, nil, err
	}
	var b bytes.Buffer
	_, err = o.writeTo(&b, n, make([]byte, 32<<10))
	obj := o.meta.public()
	obj.Size = o.len()
	return obj, b.Bytes(), err
}
