package privates3test

import (
	"io"
	"net/http"
	"time"

	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
)

// edgeEmptyPayload is the hex SHA-256 of an empty payload, the x-amz-content-sha256 of a GET.
const edgeEmptyPayload = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

// OACOrigin returns an origin for an [Edge] that reads bucket of s as a CloudFront Origin
// Access Control does: each request path /a/b.png becomes a GetObject of the key a/b.png
// (path-style, s.URL/bucket/a/b.png), signed with SigV4 by the Server's base credentials
// (standing in for the CloudFront service principal that the bucket policy admits). It passes
// If-None-Match and If-Modified-Since on and answers with S3's status, headers and body, so the
// requests show in s.Count(OpGetObject).
func OACOrigin(s *Server, bucket string) http.Handler {
	signer := v4.NewSigner(func(o *v4.SignerOptions) { o.DisableURIPathEscaping = true })
	region := s.AWSConfig().Region
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		method := r.Method
		if method != http.MethodHead {
			method = http.MethodGet
		}
		req, err := http.NewRequestWithContext(r.Context(), method, s.URL+"/"+bucket+r.URL.EscapedPath(), nil)
		if err != nil {
			http.Error(w, "502 Bad Gateway", http.StatusBadGateway)
			return
		}
		for _, h := range []string{"If-None-Match", "If-Modified-Since"} {
			if v := r.Header.Get(h); v != "" {
				req.Header.Set(h, v)
			}
		}
		req.Header.Set("X-Amz-Content-Sha256", edgeEmptyPayload)
		// Real time: the fake's skew check compares with real time (see "Time" in the package doc).
		if err := signer.SignHTTP(r.Context(), s.BaseCredentials(), req, edgeEmptyPayload, "s3", region, time.Now()); err != nil {
			http.Error(w, "502 Bad Gateway", http.StatusBadGateway)
			return
		}
		resp, err := s.Client().Do(req)
		if err != nil {
			http.Error(w, "502 Bad Gateway", http.StatusBadGateway)
			return
		}
		defer resp.Body.Close()
		for k, vals := range resp.Header {
			w.Header()[k] = vals
		}
		w.WriteHeader(resp.StatusCode)
		_, _ = io.Copy(w, resp.Body)
	})
}
