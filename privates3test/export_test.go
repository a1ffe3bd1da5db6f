package privates3test

import (
	"net/http"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
)

// SignHeader signs req (whose body is body) for S3 or STS with the suite's independent signer,
// for the external tests.
func SignHeader(req *http.Request, creds aws.Credentials, region, service string, now time.Time, body []byte, extra ...string) {
	v4Signer{creds: creds, region: region, service: service, now: now}.signHeader(req, body, extra...)
}

// Presign presigns a GET of rawURL for S3 with the suite's independent signer, for the
// external tests.
func Presign(rawURL string, creds aws.Credentials, region string, now time.Time, expires time.Duration) string {
	return v4Signer{creds: creds, region: region, service: "s3", now: now}.presign(rawURL, expires)
}
