package privates3

import (
	"errors"
	"net/http"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/ratelimit"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// httpClient returns the HTTP client of the Client's S3 (or STS) calls.
//
// The SDK's default client (what config.LoadDefaultConfig puts in aws.Config.HTTPClient, or
// nothing) keeps 10 idle connections per host, so a server answering many concurrent requests
// opens a new S3 connection every few requests. Unless the user configured a client of their own,
// the Client uses a transport of its own built on the SDK's (its timeouts, proxy and TLS settings,
// and any transport options the user applied to the BuildableClient), with a pool sized for
// Config.MaxConnsPerHost; Close releases its connections. A client of the user's own is used as
// is, and a pool smaller than MaxConnsPerHost is logged once at Debug level.
func (c *Client) httpClient(service string) aws.HTTPClient {
	n := c.cfg.MaxConnsPerHost
	bc, sdk := c.awsCfg.HTTPClient.(*awshttp.BuildableClient)
	if c.awsCfg.HTTPClient == nil {
		bc, sdk = awshttp.NewBuildableClient(), true
	}
	if !sdk {
		if hc, ok := c.awsCfg.HTTPClient.(*http.Client); ok {
			t, _ := hc.Transport.(*http.Transport)
			if hc.Transport == nil {
				t, _ = http.DefaultTransport.(*http.Transport)
			}
			if t != nil && idlePerHost(t) < n {
				c.log.Debug("privates3: the configured HTTP client keeps fewer idle connections than MaxConnsPerHost",
					"service", service, "max_idle_conns_per_host", idlePerHost(t), "max_conns_per_host", n)
			}
		}
		return c.awsCfg.HTTPClient
	}
	t := bc.GetTransport() // a copy: Close can release its connections
	t.MaxIdleConns = max(t.MaxIdleConns, n)
	t.MaxIdleConnsPerHost = max(t.MaxIdleConnsPerHost, n)
	c.transports = append(c.transports, t)
	return &http.Client{Transport: t, Timeout: bc.GetTimeout()}
}

func idlePerHost(t *http.Transport) int {
	if t.MaxIdleConnsPerHost == 0 {
		return http.DefaultMaxIdleConnsPerHost
	}
	return t.MaxIdleConnsPerHost
}

// newS3Client returns the S3 client of the Client.
//
// Retries: S3 answers SlowDown (503) when a prefix exceeds its request rate, and a shared fetch
// that fails fails every caller waiting for it, so the default retryer tries up to 8 times, with
// backoff capped at an eighth of Config.FetchTimeout (at most 2s) so that a persistent outage is
// still answered within FetchTimeout (which bounds every attempt and sleep). The retry quota is
// disabled: under load a drained token bucket would turn S3's transient errors into failures. A
// retryer set in Config.AWS is used as is.
func newS3Client(awsCfg aws.Config, cfg Config, hc aws.HTTPClient, creds aws.CredentialsProvider) *s3.Client {
	return s3.NewFromConfig(awsCfg, func(o *s3.Options) {
		o.HTTPClient = hc
		o.Credentials = creds
		o.UsePathStyle = cfg.UsePathStyle
		if cfg.Endpoint != "" {
			o.BaseEndpoint = aws.String(cfg.Endpoint)
		}
		if awsCfg.Retryer == nil {
			o.Retryer = retry.NewStandard(func(so *retry.StandardOptions) {
				so.MaxAttempts = 8
				so.MaxBackoff = min(2*time.Second, cfg.FetchTimeout/8)
				so.RateLimiter = ratelimit.None
				// A credentials failure has had its own retries and timeout (credentials.go).
				so.Retryables = append([]retry.IsErrorRetryable{retry.IsErrorRetryableFunc(func(err error) aws.Ternary {
					if errors.Is(err, ErrCredentials) || errors.Is(err, ErrClosed) {
						return aws.FalseTernary
					}
					return aws.UnknownTernary
				})}, so.Retryables...)
			})
		}
		// Whole-object checksums are not part of S3's contract for every object (multipart
		// uploads, S3-compatible stores); validate them only when S3 requires it.
		o.ResponseChecksumValidation = aws.ResponseChecksumValidationWhenRequired
		o.RequestChecksumCalculation = aws.RequestChecksumCalculationWhenRequired
	})
}
