package privates3

import (
	"context"
	"errors"
)

// GetRange is get with a forwarded Range, for tests in package privates3_test.
func (c *Client) GetRange(ctx context.Context, key, rng string) (*Object, error) {
	return c.get(ctx, key, getRequest{Range: rng})
}

// GetHead is get with HeadOnly, for tests in package privates3_test.
func (c *Client) GetHead(ctx context.Context, key string) (*Object, error) {
	return c.get(ctx, key, getRequest{HeadOnly: true})
}

// ObjectData returns the bytes of an object served from memory, or nil if it is streamed.
func ObjectData(o *Object) []byte { return o.data }

// ObjectContentRange returns the Content-Range of a streamed partial object.
func ObjectContentRange(o *Object) string { return o.contentRange }

// IsRangeNotSatisfiable reports whether err wraps errRangeNotSatisfiable.
func IsRangeNotSatisfiable(err error) bool { return errors.Is(err, errRangeNotSatisfiable) }

// PrefixRange and RangeTotal export the parsers of fetch.go.
var (
	PrefixRange = prefixRange
	RangeTotal  = rangeTotal
)
