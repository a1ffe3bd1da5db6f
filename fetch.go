package privates3

import (
	"context"
	"errors"
)

// GetObject is replaced by the real implementation (issue 3).
func (c *Client) GetObject(ctx context.Context, key string) (*Object, error) {
	return nil, errors.New("privates3: not implemented")
}
