package privates3test

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
)

// This file is an independent SigV4 signer, written from AWS's specification ("Create a signed
// AWS API request", "Authenticating requests: using query parameters") for the tests, so that
// the fake's verification does not rest on the SDK's signer alone. It shares no code with the
// fake or the SDK.

// v4Signer signs requests with SigV4.
type v4Signer struct {
	creds   aws.Credentials
	region  string
	service string
	now     time.Time
}

func v4hmac(key []byte, msg string) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(msg))
	return m.Sum(nil)
}

func v4hash(b []byte) string {
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}

// v4uriEncode encodes s per the SigV4 rules: unreserved characters as is, everything else %XX.
func v4uriEncode(s string, keepSlash bool) string {
	var out strings.Builder
	for _, b := range []byte(s) {
		unreserved := 'a' <= b && b <= 'z' || 'A' <= b && b <= 'Z' || '0' <= b && b <= '9' || strings.IndexByte("-._~", b) >= 0
		if unreserved || keepSlash && b == '/' {
			out.WriteByte(b)
		} else {
			fmt.Fprintf(&out, "%%%02X", b)
		}
	}
	return out.String()
}

// v4canonicalQuery sorts the encoded pairs of q.
func v4canonicalQuery(q url.Values) string {
	var pairs []string
	for k, vs := range q {
		for _, v := range vs {
			pairs = append(pairs, v4uriEncode(k, false)+"="+v4uriEncode(v, false))
		}
	}
	sort.Strings(pairs)
	return strings.Join(pairs, "&")
}

// canonical returns the canonical request and the signed-headers list for req with the headers
// named in signed (lower-case).
func (s v4Signer) canonical(req *http.Request, signed []string, payloadHash string) (string, string) {
	sort.Strings(signed)
	var hdrs strings.Builder
	for _, name := range signed {
		var v string
		if name == "host" {
			v = req.URL.Host
			if req.Host != "" {
				v = req.Host
			}
		} else {
			v = strings.Join(req.Header.Values(name), ",")
		}
		hdrs.WriteString(name + ":" + strings.TrimSpace(v) + "\n")
	}
	path := req.URL.Path
	if path == "" {
		path = "/"
	}
	uri := v4uriEncode(path, true)
	if s.service != "s3" {
		uri = v4uriEncode(uri, true)
	}
	signedList := strings.Join(signed, ";")
	cr := strings.Join([]string{req.Method, uri, v4canonicalQuery(req.URL.Query()), hdrs.String(), signedList, payloadHash}, "\n")
	return cr, signedList
}

func (s v4Signer) sign(stringToSign, date string) string {
	k := v4hmac([]byte("AWS4"+s.creds.SecretAccessKey), date)
	k = v4hmac(k, s.region)
	k = v4hmac(k, s.service)
	k = v4hmac(k, "aws4_request")
	return hex.EncodeToString(v4hmac(k, stringToSign))
}

// signHeader adds X-Amz-Date, X-Amz-Content-Sha256 (for S3), X-Amz-Security-Token and the
// Authorization header to req, whose body is body, signing host and every X-Amz-* header plus
// the headers named in extra.
func (s v4Signer) signHeader(req *http.Request, body []byte, extra ...string) {
	amzDate := s.now.UTC().Format("20060102T150405Z")
	date := amzDate[:8]
	payloadHash := v4hash(body)
	req.Header.Set("X-Amz-Date", amzDate)
	if s.service == "s3" {
		req.Header.Set("X-Amz-Content-Sha256", payloadHash)
	}
	if s.creds.SessionToken != "" {
		req.Header.Set("X-Amz-Security-Token", s.creds.SessionToken)
	}
	signed := []string{"host"}
	for name := range req.Header {
		if l := strings.ToLower(name); strings.HasPrefix(l, "x-amz-") {
			signed = append(signed, l)
		}
	}
	for _, e := range extra {
		signed = append(signed, strings.ToLower(e))
	}
	cr, signedList := s.canonical(req, signed, payloadHash)
	scope := date + "/" + s.region + "/" + s.service + "/aws4_request"
	sts := "AWS4-HMAC-SHA256\n" + amzDate + "\n" + scope + "\n" + v4hash([]byte(cr))
	req.Header.Set("Authorization", "AWS4-HMAC-SHA256 Credential="+s.creds.AccessKeyID+"/"+scope+
		", SignedHeaders="+signedList+", Signature="+s.sign(sts, date))
}

// presign returns rawURL (a GET of an S3 object) presigned for expires.
func (s v4Signer) presign(rawURL string, expires time.Duration) string {
	u, err := url.Parse(rawURL)
	if err != nil {
		panic(err)
	}
	amzDate := s.now.UTC().Format("20060102T150405Z")
	date := amzDate[:8]
	scope := date + "/" + s.region + "/" + s.service + "/aws4_request"
	q := u.Query()
	q.Set("X-Amz-Algorithm", "AWS4-HMAC-SHA256")
	q.Set("X-Amz-Credential", s.creds.AccessKeyID+"/"+scope)
	q.Set("X-Amz-Date", amzDate)
	q.Set("X-Amz-Expires", strconv.Itoa(int(expires/time.Second)))
	q.Set("X-Amz-SignedHeaders", "host")
	if s.creds.SessionToken != "" {
		q.Set("X-Amz-Security-Token", s.creds.SessionToken)
	}
	u.RawQuery = v4canonicalQuery(q)
	req := &http.Request{Method: http.MethodGet, URL: u, Header: http.Header{}}
	cr, _ := s.canonical(req, []string{"host"}, "UNSIGNED-PAYLOAD")
	sts := "AWS4-HMAC-SHA256\n" + amzDate + "\n" + scope + "\n" + v4hash([]byte(cr))
	return u.String() + "&X-Amz-Signature=" + s.sign(sts, date)
}
