package privates3

import (
	"context"
	"errors"

	"github.com/aws/aws-sdk-go-v2/aws"
)

// credentials is replaced by the real implementation (issue 3).
type credentials struct{}

func newCredentials(ctx context.Context, c *Client) (*credentials, error) {
	return &credentials{}, nil
}

// Retrieve implements aws.CredentialsProvider.
func (cr *credentials) Retrieve(ctx context.Context) (aws.Credentials, error) {
	return aws.Credentials{}, errors.New("privates3: not implemented")
}
