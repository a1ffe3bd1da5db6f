package privates3test

import (
	"bytes"
	"context"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/sts"
)

// The behaviour suite's cases for STS and authentication: the reader role's identity, presigned
// URLs, header signatures, clock skew, malformed S3 and STS requests, and the shapes of error
// documents.

// stsCall sends an STS query-API call signed with the independent signer.
func (tg *target) stsCall(t *testing.T, creds aws.Credentials, form url.Values) response {
	t.Helper()
	body := []byte(form.Encode())
	req, err := http.NewRequest(http.MethodPost, tg.stsEndpoint+"/", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded; charset=utf-8")
	v4Signer{creds: creds, region: tg.region, service: "sts", now: time.Now()}.signHeader(req, body, "content-type")
	return tg.do(t, req)
}

// checkAssumeRole checks the reader role's temporary credentials.
func (tg *target) checkAssumeRole(t *testing.T) {
	reader := tg.reader
	if !strings.HasPrefix(reader.AccessKeyID, "ASIA") || reader.SessionToken == "" {
		t.Errorf("AssumeRole gave key %q with token length %d, want ASIA… and a token", reader.AccessKeyID, len(reader.SessionToken))
	}
	if d := time.Until(reader.Expires); d < 14*time.Minute || d > 16*time.Minute {
		t.Errorf("credentials for 900s expire in %v", d)
	}
}

// checkGetCallerIdentity checks that the reader role's session is the assumed role, in the base
// keys' account.
func (tg *target) checkGetCallerIdentity(t *testing.T) {
	base, err := tg.sts.GetCallerIdentity(context.Background(), &sts.GetCallerIdentityInput{})
	if err != nil {
		t.Fatalf("GetCallerIdentity (base): %v", err)
	}
	r := tg.stsCall(t, tg.reader, url.Values{"Action": {"GetCallerIdentity"}, "Version": {"2011-06-15"}})
	var out struct {
		Arn     string `xml:"GetCallerIdentityResult>Arn"`
		Account string `xml:"GetCallerIdentityResult>Account"`
	}
	if err := xml.Unmarshal(r.body, &out); r.status != 200 || err != nil {
		t.Fatalf("GetCallerIdentity (role): %d %s %v", r.status, r.code, err)
	}
	roleName := tg.roleARN[strings.LastIndex(tg.roleARN, "/")+1:]
	if !strings.Contains(out.Arn, ":assumed-role/"+roleName+"/suite") || out.Account != aws.ToString(base.Account) {
		t.Errorf("GetCallerIdentity (role) = %s in %s, want assumed-role/%s/suite in %s", out.Arn, out.Account, roleName, aws.ToString(base.Account))
	}
}

// sdkPresign returns a GET of key with query q presigned by the SDK's signer for expires, as
// signed at signingTime.
func (tg *target) sdkPresign(t *testing.T, creds aws.Credentials, key string, expires time.Duration, signingTime time.Time, q url.Values) string {
	t.Helper()
	u := tg.objectURL(key)
	if len(q) > 0 {
		u += "?" + q.Encode()
	}
	u += map[bool]string{true: "&", false: "?"}[len(q) > 0] + "X-Amz-Expires=" + fmt.Sprint(int(expires/time.Second))
	req, _ := http.NewRequest(http.MethodGet, u, nil)
	signed, _, err := v4.NewSigner().PresignHTTP(context.Background(), creds, req, "UNSIGNED-PAYLOAD", "s3", tg.region, signingTime)
	if err != nil {
		t.Fatal(err)
	}
	return signed
}

// getURL sends an unsigned GET of u (a presigned URL).
func (tg *target) getURL(t *testing.T, u string) response {
	req, err := http.NewRequest(http.MethodGet, u, nil)
	if err != nil {
		t.Fatal(err)
	}
	return tg.do(t, req)
}

// checkPresigned checks URLs presigned by either signer with response overrides.
func (tg *target) checkPresigned(t *testing.T) {
	for _, signer := range []string{"sdk", "independent"} {
		t.Run(signer, func(t *testing.T) { tg.checkPresignedURL(t, tg.presignOverrides(t, signer)) })
	}
}

// presignOverrides returns a GET of the object with three response overrides, presigned for an
// hour by signer ("sdk" or "independent").
func (tg *target) presignOverrides(t *testing.T, signer string) string {
	if signer == "sdk" {
		return tg.sdkPresign(t, tg.reader, tg.objectKey, time.Hour, time.Now(), url.Values{
			"response-content-type": {"application/x-test"}, "response-content-disposition": {`attachment; filename="a.txt"`},
			"response-cache-control": {"no-store"},
		})
	}
	return tg.signer(tg.reader).presign(
		tg.objectURL(tg.objectKey)+"?response-content-type=application%2Fx-test&response-content-disposition=attachment%3B%20filename%3D%22a.txt%22&response-cache-control=no-store", time.Hour)
}

// checkPresignedURL checks that u, from presignOverrides, serves the object with the overrides,
// and that tampering with any part of it breaks it.
func (tg *target) checkPresignedURL(t *testing.T, u string) {
	r := tg.getURL(t, u)
	if r.status != 200 || !bytes.Equal(r.body, tg.objectBody) {
		t.Fatalf("presigned GET: %d %s %q", r.status, r.code, r.msg)
	}
	for name, want := range map[string]string{"Content-Type": "application/x-test", "Content-Disposition": `attachment; filename="a.txt"`, "Cache-Control": "no-store"} {
		if got := r.header.Get(name); got != want {
			t.Errorf("override %s = %q, want %q", name, got, want)
		}
	}
	pu, _ := url.Parse(u)
	sig := pu.Query().Get("X-Amz-Signature")
	flipped := sig[:10] + string("0123456789abcdef"[(strings.IndexByte("0123456789abcdef", sig[10])+1)%16]) + sig[11:]
	for _, tc := range []struct{ name, url string }{
		{"signature byte", strings.Replace(u, sig, flipped, 1)},
		{"path", strings.Replace(u, "/object.txt?", "/object.txu?", 1)},
		{"added query parameter", u + "&response-content-language=fr"},
		{"changed override", strings.Replace(u, "no-store", "no-cache", 1)},
	} {
		expect(t, "presigned "+tc.name, tg.getURL(t, tc.url), 403, "SignatureDoesNotMatch")
	}
	expiresFlip := strings.Replace(u, "X-Amz-Expires=3600", "X-Amz-Expires=3601", 1)
	expect(t, "presigned with changed X-Amz-Expires", tg.getURL(t, expiresFlip), 403, "SignatureDoesNotMatch")
}

// checkPresignedExpired checks the expiry of presigned URLs and the 7-day limit.
func (tg *target) checkPresignedExpired(t *testing.T) {
	reader, key := tg.reader, tg.objectKey
	u := tg.sdkPresign(t, reader, key, time.Hour, time.Now().Add(-61*time.Minute), nil)
	r := tg.getURL(t, u)
	expect(t, "URL expired a minute ago", r, 403, "AccessDenied")
	if r.msg != "Request has expired" {
		t.Errorf("message %q, want %q", r.msg, "Request has expired")
	}
	u = tg.sdkPresign(t, reader, key, time.Hour, time.Now().Add(-59*time.Minute), nil)
	expect(t, "URL with a minute left", tg.getURL(t, u), 200, "")
	u = v4Signer{creds: reader, region: tg.region, service: "s3", now: time.Now().Add(-2 * time.Hour)}.presign(tg.objectURL(key), time.Hour)
	expect(t, "URL expired an hour ago (independent signer)", tg.getURL(t, u), 403, "AccessDenied")
	u = tg.sdkPresign(t, reader, key, 604801*time.Second, time.Now(), nil)
	expect(t, "X-Amz-Expires above 7 days", tg.getURL(t, u), 400, "AuthorizationQueryParametersError")
	u = tg.sdkPresign(t, reader, key, 604800*time.Second, time.Now(), nil)
	expect(t, "X-Amz-Expires of 7 days", tg.getURL(t, u), 200, "")
}

// checkSignerHeader checks a ranged GET signed in headers by the independent signer, and that
// tampering with any signed part of it breaks it.
func (tg *target) checkSignerHeader(t *testing.T) {
	newReq := func() *http.Request {
		req, _ := http.NewRequest(http.MethodGet, tg.objectURL(tg.objectKey), nil)
		req.Header.Set("Range", "bytes=0-3")
		tg.signer(tg.reader).signHeader(req, nil, "range")
		return req
	}
	r := tg.do(t, newReq())
	if r.status != 206 || string(r.body) != "0123" {
		t.Fatalf("signed GET: %d %s %q, want 206 %q", r.status, r.code, r.body, "0123")
	}
	for _, tc := range []struct {
		name   string
		tamper func(*http.Request)
		status int
		code   string
	}{
		{"signature byte", func(req *http.Request) {
			a := req.Header.Get("Authorization")
			last := a[len(a)-1]
			req.Header.Set("Authorization", a[:len(a)-1]+map[bool]string{true: "1", false: "0"}[last == '0'])
		}, 403, "SignatureDoesNotMatch"},
		{"path", func(req *http.Request) { req.URL.Path = strings.Replace(req.URL.Path, "object.txt", "object.txu", 1) }, 403, "SignatureDoesNotMatch"},
		{"signed header", func(req *http.Request) { req.Header.Set("Range", "bytes=0-4") }, 403, "SignatureDoesNotMatch"},
		{"added query parameter", func(req *http.Request) { req.URL.RawQuery = "response-content-type=text%2Fhtml" }, 403, "SignatureDoesNotMatch"},
		{"method", func(req *http.Request) { req.Method = http.MethodHead }, 403, ""}, // HEAD errors have no body
		{"unsigned x-amz header added", func(req *http.Request) { req.Header.Set("X-Amz-Meta-Extra", "1") }, 403, "AccessDenied"},
	} {
		req := newReq()
		tc.tamper(req)
		expect(t, "tampered "+tc.name, tg.do(t, req), tc.status, tc.code)
	}
}

// checkSignerSTS checks STS calls signed by the independent signer: a good one, a tampered
// body, a wrong secret and an unknown key.
func (tg *target) checkSignerSTS(t *testing.T) {
	form := url.Values{"Action": {"GetCallerIdentity"}, "Version": {"2011-06-15"}}
	r := tg.stsCall(t, tg.base, form)
	if r.status != 200 || !bytes.Contains(r.body, []byte("<GetCallerIdentityResult>")) {
		t.Fatalf("GetCallerIdentity: %d %s %s", r.status, r.code, r.msg)
	}
	body := []byte(form.Encode())
	req, _ := http.NewRequest(http.MethodPost, tg.stsEndpoint+"/", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded; charset=utf-8")
	v4Signer{creds: tg.base, region: tg.region, service: "sts", now: time.Now()}.signHeader(req, body, "content-type")
	tampered := []byte(strings.Replace(string(body), "GetCallerIdentity", "GetCallerIdentitx", 1))
	req.Body, req.ContentLength = io.NopCloser(bytes.NewReader(tampered)), int64(len(tampered))
	expect(t, "tampered STS body", tg.do(t, req), 403, "SignatureDoesNotMatch")

	wrong := tg.base
	wrong.SecretAccessKey += "x"
	expect(t, "STS with a wrong secret", tg.stsCall(t, wrong, form), 403, "SignatureDoesNotMatch")
	expect(t, "STS with an unknown key", tg.stsCall(t, aws.Credentials{AccessKeyID: "AKIAIOSFODNN7EXAMPLE", SecretAccessKey: "x"}, form), 403, "InvalidClientTokenId")
}

// checkSkew checks the 15-minute limit on the signing clock, for S3 and STS.
func (tg *target) checkSkew(t *testing.T) {
	for _, d := range []time.Duration{-20 * time.Minute, 20 * time.Minute} {
		req, _ := http.NewRequest(http.MethodGet, tg.objectURL(tg.objectKey), nil)
		v4Signer{creds: tg.reader, region: tg.region, service: "s3", now: time.Now().Add(d)}.signHeader(req, nil)
		expect(t, fmt.Sprintf("signed %v off", d), tg.do(t, req), 403, "RequestTimeTooSkewed")
	}
	req, _ := http.NewRequest(http.MethodGet, tg.objectURL(tg.objectKey), nil)
	v4Signer{creds: tg.reader, region: tg.region, service: "s3", now: time.Now().Add(-10 * time.Minute)}.signHeader(req, nil)
	expect(t, "signed 10m ago", tg.do(t, req), 200, "")
	body := []byte("Action=GetCallerIdentity&Version=2011-06-15")
	req, _ = http.NewRequest(http.MethodPost, tg.stsEndpoint+"/", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	v4Signer{creds: tg.base, region: tg.region, service: "sts", now: time.Now().Add(-20 * time.Minute)}.signHeader(req, body, "content-type")
	expect(t, "STS call signed 20m ago", tg.do(t, req), 403, "SignatureDoesNotMatch")
}

// checkBadS3Input checks the answers to malformed or unauthenticated S3 requests.
func (tg *target) checkBadS3Input(t *testing.T) {
	valid := func() *http.Request {
		req, _ := http.NewRequest(http.MethodGet, tg.objectURL(tg.objectKey), nil)
		tg.signer(tg.reader).signHeader(req, nil)
		return req
	}
	for _, tc := range []struct {
		name   string
		mod    func(*http.Request)
		status int
		code   string
	}{
		{"anonymous", func(r *http.Request) { r.Header = http.Header{} }, 403, "AccessDenied"},
		{"unknown scheme", func(r *http.Request) { r.Header.Set("Authorization", "Bearer abc") }, 400, "InvalidArgument"},
		{"garbage after algorithm", func(r *http.Request) { r.Header.Set("Authorization", "AWS4-HMAC-SHA256 garbage") }, 400, "AuthorizationHeaderMalformed"},
		{"truncated", func(r *http.Request) {
			a := r.Header.Get("Authorization")
			r.Header.Set("Authorization", a[:strings.Index(a, "SignedHeaders")])
		}, 400, "AuthorizationHeaderMalformed"},
		{"wrong region", func(r *http.Request) {
			r.Header.Set("Authorization", strings.Replace(r.Header.Get("Authorization"), "/"+tg.region+"/", "/xx-north-9/", 1))
		}, 400, "AuthorizationHeaderMalformed"},
		{"invalid x-amz-date", func(r *http.Request) { r.Header.Set("X-Amz-Date", "yesterday") }, 403, "AccessDenied"},
		{"missing x-amz-content-sha256", func(r *http.Request) { r.Header.Del("X-Amz-Content-Sha256") }, 400, "InvalidRequest"},
		{"invalid x-amz-content-sha256", func(r *http.Request) { r.Header.Set("X-Amz-Content-Sha256", "abc") }, 400, "InvalidArgument"},
		{"unknown access key", func(r *http.Request) {
			r.Header.Set("Authorization", strings.Replace(r.Header.Get("Authorization"), tg.reader.AccessKeyID, "AKIAIOSFODNN7EXAMPLE", 1))
			r.Header.Del("X-Amz-Security-Token")
		}, 403, "InvalidAccessKeyId"},
		{"oversized headers", func(r *http.Request) { r.Header.Set("X-Padding", strings.Repeat("p", 16<<10)) }, 400, "RequestHeaderSectionTooLarge"},
	} {
		req := valid()
		tc.mod(req)
		expect(t, tc.name, tg.do(t, req), tc.status, tc.code)
	}
	// A body that does not match the signed hash.
	req, _ := http.NewRequest(http.MethodPut, tg.objectURL(tg.prefix+"mismatch"), bytes.NewReader([]byte("abc")))
	tg.signer(tg.base).signHeader(req, []byte("abd"))
	expect(t, "payload hash mismatch", tg.do(t, req), 400, "XAmzContentSHA256Mismatch")
}

// assumeForm is a valid AssumeRole form for the reader role, with the fields in extra set
// (or removed, where nil).
func (tg *target) assumeForm(extra url.Values) url.Values {
	v := url.Values{"Action": {"AssumeRole"}, "Version": {"2011-06-15"}, "RoleArn": {tg.roleARN}, "RoleSessionName": {"suite"}}
	for k, vs := range extra {
		if vs == nil {
			delete(v, k)
		} else {
			v[k] = vs
		}
	}
	return v
}

// checkBadSTSInput checks the answers to invalid STS calls.
func (tg *target) checkBadSTSInput(t *testing.T) {
	assume := tg.assumeForm
	for _, tc := range []struct {
		name   string
		form   url.Values
		status int
		code   string
	}{
		{"valid", assume(nil), 200, ""},
		{"missing RoleSessionName", assume(url.Values{"RoleSessionName": nil}), 400, "ValidationError"},
		{"missing RoleArn", assume(url.Values{"RoleArn": nil}), 400, "ValidationError"},
		{"RoleSessionName with a space", assume(url.Values{"RoleSessionName": {"a b"}}), 400, "ValidationError"},
		{"RoleSessionName of 1 character", assume(url.Values{"RoleSessionName": {"a"}}), 400, "ValidationError"},
		{"RoleSessionName of 65 characters", assume(url.Values{"RoleSessionName": {strings.Repeat("a", 65)}}), 400, "ValidationError"},
		{"DurationSeconds 899", assume(url.Values{"DurationSeconds": {"899"}}), 400, "ValidationError"},
		{"DurationSeconds 43201", assume(url.Values{"DurationSeconds": {"43201"}}), 400, "ValidationError"},
		{"Policy over 2048 bytes", assume(url.Values{"Policy": {`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:GetObject","Resource":"` + strings.Repeat("a", 2048) + `"}]}`}}), 400, "ValidationError"},
		{"Policy not JSON", assume(url.Values{"Policy": {"{not json"}}), 400, "MalformedPolicyDocument"},
		{"unknown role", assume(url.Values{"RoleArn": {"arn:aws:iam::123456789012:role/privates3test-no-such-role"}}), 403, "AccessDenied"},
		{"missing Action", url.Values{"Version": {"2011-06-15"}}, 400, "MissingAction"},
		{"unknown Action", url.Values{"Action": {"NoSuchAction"}, "Version": {"2011-06-15"}}, 400, "InvalidAction"},
	} {
		expect(t, tc.name, tg.stsCall(t, tg.base, tc.form), tc.status, tc.code)
	}
	// An unsigned call, and a malformed form.
	req, _ := http.NewRequest(http.MethodPost, tg.stsEndpoint+"/", strings.NewReader("Action=GetCallerIdentity&Version=2011-06-15"))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	expect(t, "unsigned STS call", tg.do(t, req), 403, "MissingAuthenticationToken")
	bad := []byte("Action=GetCallerIdentity&Version=2011-06-15&%zz")
	req, _ = http.NewRequest(http.MethodPost, tg.stsEndpoint+"/", bytes.NewReader(bad))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	v4Signer{creds: tg.base, region: tg.region, service: "sts", now: time.Now()}.signHeader(req, bad, "content-type")
	if r := tg.do(t, req); r.status != 400 && r.status != 404 {
		t.Errorf("malformed form: %d %s, want 400 (or 404 MalformedQueryString)", r.status, r.code)
	}
}

// checkErrorShapes checks the error documents of S3 and of STS.
func (tg *target) checkErrorShapes(t *testing.T) {
	tg.checkS3ErrorShape(t)
	tg.checkSTSErrorShape(t)
}

// checkS3ErrorShape checks S3's error document for a missing key: an Error element with Code,
// Message and the request ID of the x-amz-request-id header, as application/xml.
func (tg *target) checkS3ErrorShape(t *testing.T) {
	r := tg.s3Get(t, http.MethodGet, tg.prefix+"missing", tg.reader, nil)
	var s3doc struct {
		XMLName   xml.Name
		Code      string `xml:"Code"`
		Message   string `xml:"Message"`
		RequestID string `xml:"RequestId"`
	}
	if err := xml.Unmarshal(r.body, &s3doc); err != nil || s3doc.XMLName.Local != "Error" || s3doc.Code != "NoSuchKey" ||
		s3doc.Message == "" || s3doc.RequestID == "" || s3doc.RequestID != r.header.Get("X-Amz-Request-Id") {
		t.Errorf("S3 error document %+v (%v), x-amz-request-id %q", s3doc, err, r.header.Get("X-Amz-Request-Id"))
	}
	if ct := r.header.Get("Content-Type"); ct != "application/xml" {
		t.Errorf("S3 error Content-Type %q", ct)
	}
}

// checkSTSErrorShape checks STS's error document for an invalid call: an ErrorResponse with
// Error's Type, Code and Message, and the request ID of the x-amzn-RequestId header.
func (tg *target) checkSTSErrorShape(t *testing.T) {
	r := tg.stsCall(t, tg.base, url.Values{"Action": {"AssumeRole"}, "Version": {"2011-06-15"}, "RoleArn": {tg.roleARN}})
	var stsdoc struct {
		XMLName   xml.Name
		Type      string `xml:"Error>Type"`
		Code      string `xml:"Error>Code"`
		Message   string `xml:"Error>Message"`
		RequestID string `xml:"RequestId"`
	}
	if err := xml.Unmarshal(r.body, &stsdoc); err != nil || stsdoc.XMLName.Local != "ErrorResponse" || stsdoc.Type != "Sender" ||
		stsdoc.Code != "ValidationError" || stsdoc.Message == "" || stsdoc.RequestID == "" ||
		stsdoc.RequestID != r.header.Get("X-Amzn-Requestid") {
		t.Errorf("STS error document %+v (%v), x-amzn-RequestId %q", stsdoc, err, r.header.Get("X-Amzn-Requestid"))
	}
}

// checkSTSQueryGET checks an STS call sent as a signed GET with the query in the URL.
func (tg *target) checkSTSQueryGET(t *testing.T) {
	req, _ := http.NewRequest(http.MethodGet, tg.stsEndpoint+"/?Action=GetCallerIdentity&Version=2011-06-15", nil)
	v4Signer{creds: tg.base, region: tg.region, service: "sts", now: time.Now()}.signHeader(req, nil)
	if r := tg.do(t, req); r.status != 200 || !bytes.Contains(r.body, []byte("<GetCallerIdentityResult>")) {
		t.Errorf("GET GetCallerIdentity: %d %s %s", r.status, r.code, r.msg)
	}
}

// checkPutDigests checks PUTs with a right, a wrong and an invalid Content-MD5.
func (tg *target) checkPutDigests(t *testing.T) {
	for _, c := range []struct {
		name, header, value string
		status              int
		code                string
	}{
		{"Content-MD5 right", "Content-MD5", "kAFQmDzST7DWlj99KOF/cg==", 200, ""}, // MD5("abc")
		{"Content-MD5 wrong", "Content-MD5", "AAAAAAAAAAAAAAAAAAAAAA==", 400, "BadDigest"},
		{"Content-MD5 invalid", "Content-MD5", "not base64", 400, "InvalidDigest"},
	} {
		req, _ := http.NewRequest(http.MethodPut, tg.objectURL(tg.prefix+"digest"), bytes.NewReader([]byte("abc")))
		req.Header.Set(c.header, c.value)
		tg.signer(tg.base).signHeader(req, []byte("abc"), strings.ToLower(c.header))
		expect(t, c.name, tg.do(t, req), c.status, c.code)
	}
}

// checkSDKErrorsMapped checks that the SDK parses the endpoint's error documents into typed
// errors.
func (tg *target) checkSDKErrorsMapped(t *testing.T) {
	_, err := tg.s3.GetObject(context.Background(), &s3.GetObjectInput{Bucket: &tg.bucket, Key: aws.String(tg.prefix + "missing")})
	var nsk interface{ ErrorCode() string }
	if !errors.As(err, &nsk) || nsk.ErrorCode() != "NoSuchKey" {
		t.Errorf("SDK GetObject of a missing key: %v, want NoSuchKey", err)
	}
}
