package privates3test

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
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

// v4canonicalQuery sorts the encoded pairs of q by encoded name, then value (sorting the joined
// "name=value" strings would put "0=" after "00").
func v4canonicalQuery(q url.Values) string {
	var pairs [][2]string
	for k, vs := range q {
		for _, v := range vs {
			pairs = append(pairs, [2]string{v4uriEncode(k, false), v4uriEncode(v, false)})
		}
	}
	sort.Slice(pairs, func(i, j int) bool {
		if pairs[i][0] != pairs[j][0] {
			return pairs[i][0] < pairs[j][0]
		}
		return pairs[i][1] < pairs[j][1]
	})
	out := make([]string, len(pairs))
	for i, p := range pairs {
		out[i] = p[0] + "=" + p[1]
	}
	return strings.Join(out, "&")
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
	s.signWithHash(req, v4hash(body), extra...)
}

// signWithHash is signHeader with payloadHash as x-amz-content-sha256; it returns the signature.
func (s v4Signer) signWithHash(req *http.Request, payloadHash string, extra ...string) string {
	amzDate := s.now.UTC().Format("20060102T150405Z")
	date := amzDate[:8]
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
	sig := s.sign(sts, date)
	req.Header.Set("Authorization", "AWS4-HMAC-SHA256 Credential="+s.creds.AccessKeyID+"/"+scope+
		", SignedHeaders="+signedList+", Signature="+sig)
	return sig
}

// chunked describes an aws-chunked body for signChunked.
type chunked struct {
	chunkSize    int    // bytes per chunk, but the last
	signed       bool   // chunk signatures (STREAMING-AWS4-HMAC-SHA256-PAYLOAD…)
	trailerName  string // a trailing header, such as x-amz-checksum-crc32; "" for none
	trailerValue string
	// tamper, if set, changes the encoded body after signing (for negative tests).
	tamper func([]byte) []byte
}

// signChunked signs req with payload as an aws-chunked body encoded as c says (AWS's
// "Transferring payload in multiple chunks" and "trailing headers" pages).
func (s v4Signer) signChunked(req *http.Request, payload []byte, c chunked, extra ...string) {
	mode := "STREAMING-UNSIGNED-PAYLOAD-TRAILER"
	switch {
	case c.signed && c.trailerName != "":
		mode = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER"
	case c.signed:
		mode = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD"
	}
	req.Header.Set("Content-Encoding", "aws-chunked")
	req.Header.Set("X-Amz-Decoded-Content-Length", strconv.Itoa(len(payload)))
	if c.trailerName != "" {
		req.Header.Set("X-Amz-Trailer", c.trailerName)
	}
	prev := s.signWithHash(req, mode, append(extra, "content-encoding")...)
	amzDate := s.now.UTC().Format("20060102T150405Z")
	scope := amzDate[:8] + "/" + s.region + "/" + s.service + "/aws4_request"
	chunkSig := func(kind, hash string) string {
		prev = s.sign(kind+"\n"+amzDate+"\n"+scope+"\n"+prev+"\n"+hash, amzDate[:8])
		return prev
	}
	var b bytes.Buffer
	for off := 0; ; off += c.chunkSize {
		chunk := payload[min(off, len(payload)):min(off+c.chunkSize, len(payload))]
		fmt.Fprintf(&b, "%x", len(chunk))
		if c.signed {
			b.WriteString(";chunk-signature=" + chunkSig("AWS4-HMAC-SHA256-PAYLOAD", v4hash(nil)+"\n"+v4hash(chunk)))
		}
		b.WriteString("\r\n")
		if len(chunk) == 0 {
			break
		}
		b.Write(chunk)
		b.WriteString("\r\n")
	}
	if c.trailerName != "" {
		line := c.trailerName + ":" + c.trailerValue
		b.WriteString(line + "\r\n")
		if c.signed {
			b.WriteString("x-amz-trailer-signature:" + chunkSig("AWS4-HMAC-SHA256-TRAILER", v4hash([]byte(line+"\n"))) + "\r\n")
		}
	}
	b.WriteString("\r\n")
	body := b.Bytes()
	if c.tamper != nil {
		body = c.tamper(body)
	}
	req.Body, req.ContentLength = io.NopCloser(bytes.NewReader(body)), int64(len(body))
	req.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(body)), nil }
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
