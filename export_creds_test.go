package privates3

import (
	"context"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
)

// CredsRetrieve returns the credentials the Client signs S3 requests with (tests only).
func (c *Client) CredsRetrieve(ctx context.Context) (aws.Credentials, error) {
	return c.creds.Retrieve(ctx)
}

// CredsForceRefresh forces a refresh of stale credentials, as after an S3 ExpiredToken (tests only).
func (c *Client) CredsForceRefresh(ctx context.Context, stale aws.Credentials) error {
	return c.creds.forceRefresh(ctx, stale)
}

// CredsValidFor returns credentials valid for d if possible (tests only).
func (c *Client) CredsValidFor(ctx context.Context, d time.Duration) (aws.Credentials, error) {
	return c.creds.validFor(ctx, d)
}
