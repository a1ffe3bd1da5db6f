package privates3test

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
)

const (
	sigAlgorithm    = "AWS4-HMAC-SHA256"
	amzDateFormat   = "20060102T150405Z"
	unsignedPayload = "UNSIGNED-PAYLOAD"
	// maxSkew is how far a request's signing time may be from real time (AWS: 15 minutes).
	maxSkew = 15 * time.Minute
	// maxPresignExpires is the longest X-Amz-Expires (7 days).
	maxPresignExpires = 604800
	// emptySHA256 is the hex SHA-256 of no bytes.
	emptySHA256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
)

// identity is an authenticated caller.
type identity struct {
	accessKeyID string
	session     *session   // nil for the base user
	sig         *sigParams // the request's signature, for verifying aws-chunked bodies
	secret      string     // the caller's secret key
}

func (id *identity) arn() string {
	if id.session == nil {
		return baseUserARN()
	}
	return id.session.arn()
}

// sigParams are the parts of a SigV4 signature, from an Authorization header or a presigned query.
type sigParams struct {
	presigned     bool
	accessKeyID   string
	scopeDate     string // YYYYMMDD
	region        string
	service       string
	signedHeaders []string
	signature     string
	date          time.Time // signing time
	dateRaw       string    // as sent (X-Amz-Date format)
	expires       int       // presigned only, seconds
	token         string    // X-Amz-Security-Token, "" if none
}

// authErrors builds the errors of authentication in S3's or STS's codes.
type authErrors struct {
	sts bool
}

// malformed is the error for an Authorization header or presigned query that cannot be parsed.
func (a authErrors) malformed(presigned bool, detail string) *apiError {
	switch {
	case a.sts:
		return newError(http.StatusBadRequest, "IncompleteSignature", detail)
	case presigned:
		return newError(http.StatusBadRequest, "AuthorizationQueryParametersError", detail)
	default:
		return newError(http.StatusBadRequest, "AuthorizationHeaderMalformed", "The authorization header is malformed; "+detail)
	}
}

// parseAuthorization parses a SigV4 Authorization header (without checking it).
func parseAuthorization(h string, ae authErrors) (*sigParams, *apiError) {
	alg, rest, ok := strings.Cut(strings.TrimSpace(h), " ")
	if alg != sigAlgorithm {
		if ae.sts {
			return nil, newError(http.StatusBadRequest, "IncompleteSignature", "Unsupported AWS 'algorithm': '"+truncate(alg, 40)+"'")
		}
		if hasPrefixFold(h, "AWS ") {
			return nil, newError(http.StatusBadRequest, "InvalidRequest", "The authorization mechanism you have provided is not supported. Please use AWS4-HMAC-SHA256.")
		}
		return nil, newError(http.StatusBadRequest, "InvalidArgument", "Unsupported Authorization Type").
			with("ArgumentName", "Authorization")
	}
	if !ok {
		return nil, ae.malformed(false, "the Credential is mal-formed; expecting \"<YOUR-AKID>/YYYYMMDD/REGION/SERVICE/aws4_request\".")
	}
	p := &sigParams{}
	var cred, signed string
	var haveCred, haveSigned, haveSig bool
	for part := range strings.SplitSeq(rest, ",") {
		name, value, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok {
			return nil, ae.malformed(false, "the authorization component \""+truncate(part, 40)+"\" is malformed.")
		}
		switch name {
		case "Credential":
			cred, haveCred = value, true
		case "SignedHeaders":
			signed, haveSigned = value, true
		case "Signature":
			p.signature, haveSig = value, true
		default:
			return nil, ae.malformed(false, "the authorization component \""+truncate(part, 40)+"\" is malformed.")
		}
	}
	if !haveCred || !haveSigned || !haveSig {
		return nil, ae.malformed(false, "the authorization header requires the Credential, SignedHeaders and Signature components.")
	}
	if err := p.parseCredential(cred, ae, false); err != nil {
		return nil, err
	}
	if err := p.parseSignedHeaders(signed, ae, false); err != nil {
		return nil, err
	}
	return p, nil
}

func (p *sigParams) parseCredential(cred string, ae authErrors, presigned bool) *apiError {
	parts := strings.Split(cred, "/")
	if len(parts) != 5 || parts[0] == "" || parts[4] != "aws4_request" {
		return ae.malformed(presigned, "the Credential is mal-formed; expecting \"<YOUR-AKID>/YYYYMMDD/REGION/SERVICE/aws4_request\".")
	}
	if _, err := time.Parse("20060102", parts[1]); err != nil {
		return ae.malformed(presigned, "Invalid credential date \""+truncate(parts[1], 20)+"\". This date is not the same as X-Amz-Date: \"\".")
	}
	p.accessKeyID, p.scopeDate, p.region, p.service = parts[0], parts[1], parts[2], parts[3]
	return nil
}

func (p *sigParams) parseSignedHeaders(signed string, ae authErrors, presigned bool) *apiError {
	if signed == "" {
		return ae.malformed(presigned, "the SignedHeaders component is empty.")
	}
	p.signedHeaders = strings.Split(signed, ";")
	for _, h := range p.signedHeaders {
		if h == "" || h != strings.ToLower(h) {
			return ae.malformed(presigned, "the SignedHeaders component is malformed.")
		}
	}
	if !slices.Contains(p.signedHeaders, "host") {
		return ae.malformed(presigned, "the SignedHeaders component must include host.")
	}
	return nil
}

// presignRequired is the error detail for a presigned query that lacks a parameter.
const presignRequired = "Query-string authentication version 4 requires the X-Amz-Algorithm, X-Amz-Credential, X-Amz-Signature, X-Amz-Date, X-Amz-SignedHeaders, and X-Amz-Expires parameters."

// parsePresigned parses the SigV4 parameters of a presigned query (without checking them).
func parsePresigned(q url.Values, ae authErrors) (*sigParams, *apiError) {
	for _, name := range []string{"X-Amz-Algorithm", "X-Amz-Credential", "X-Amz-Signature", "X-Amz-Date", "X-Amz-SignedHeaders"} {
		if len(q[name]) != 1 || q.Get(name) == "" {
			return nil, ae.malformed(true, presignRequired)
		}
	}
	if alg := q.Get("X-Amz-Algorithm"); alg != sigAlgorithm {
		return nil, ae.malformed(true, "X-Amz-Algorithm only supports \"AWS4-HMAC-SHA256\"")
	}
	p := &sigParams{presigned: true, signature: q.Get("X-Amz-Signature"), token: q.Get("X-Amz-Security-Token")}
	if err := p.parseCredential(q.Get("X-Amz-Credential"), ae, true); err != nil {
		return nil, err
	}
	if err := p.parseSignedHeaders(q.Get("X-Amz-SignedHeaders"), ae, true); err != nil {
		return nil, err
	}
	p.dateRaw = q.Get("X-Amz-Date")
	d, err := time.Parse(amzDateFormat, p.dateRaw)
	if err != nil {
		return nil, ae.malformed(true, "X-Amz-Date must be in the ISO8601 Long Format \"yyyyMMdd'T'HHmmss'Z'\"")
	}
	p.date = d
	exp, e := presignExpires(q["X-Amz-Expires"], ae)
	if e != nil {
		return nil, e
	}
	p.expires = exp
	return p, nil
}

// presignExpires parses the X-Amz-Expires values exp of a presigned query. STS lets it be
// left out (then a week); S3 requires it.
func presignExpires(exp []string, ae authErrors) (int, *apiError) {
	if len(exp) != 1 {
		if ae.sts {
			return maxPresignExpires, nil
		}
		return 0, ae.malformed(true, presignRequired)
	}
	n, err := strconv.Atoi(exp[0])
	switch {
	case err != nil && strings.TrimLeft(exp[0], "-0123456789") != "":
		return 0, ae.malformed(true, "X-Amz-Expires should be a number")
	case err != nil || n > maxPresignExpires:
		return 0, ae.malformed(true, "X-Amz-Expires must be less than a week (in seconds) that is 7 days")
	case n < 0:
		return 0, ae.malformed(true, "X-Amz-Expires must be non-negative")
	case n == 0:
		return 0, ae.malformed(true, "X-Amz-Expires must be greater than 0")
	}
	return n, nil
}

// authenticate verifies the SigV4 signature of r for service ("s3" or "sts") with payloadHash as
// the hex SHA-256 of the body (or UNSIGNED-PAYLOAD), and returns the caller.
func (s *Server) authenticate(r *http.Request, service, payloadHash string) (*identity, *apiError) {
	ae := authErrors{sts: service == "sts"}
	p, e := authParams(r, ae)
	if e != nil {
		return nil, e
	}
	if e := s.checkScope(p, service, ae); e != nil {
		return nil, e
	}
	if e := checkTime(p, ae); e != nil {
		return nil, e
	}
	id, e := s.lookupCaller(p.accessKeyID, p.token, ae)
	if e != nil {
		return nil, e
	}
	if e := checkSignedHeaders(r, p, ae); e != nil {
		return nil, e
	}
	secret := s.base.SecretAccessKey
	if id.session != nil {
		secret = id.session.secret
	}
	if p.presigned {
		payloadHash = unsignedPayload
		if h := r.Header.Get("X-Amz-Content-Sha256"); h != "" && slices.Contains(p.signedHeaders, "x-amz-content-sha256") {
			payloadHash = h
		}
	}
	if e := verifySignature(r, p, service, payloadHash, secret, ae); e != nil {
		return nil, e
	}
	if e := s.checkExpiry(p, ae); e != nil {
		return nil, e
	}
	id.sig, id.secret = p, secret
	return id, nil
}

// authParams parses the request's signature parameters, from its Authorization header or its
// presigned query.
func authParams(r *http.Request, ae authErrors) (*sigParams, *apiError) {
	q, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		if ae.sts {
			return nil, newError(http.StatusBadRequest, "MalformedQueryString", "The query string is malformed.")
		}
		return nil, newError(http.StatusBadRequest, "InvalidArgument", "The query string is malformed.")
	}
	authz, hasHeader := r.Header["Authorization"]
	_, hasQuery := q["X-Amz-Algorithm"]
	var p *sigParams
	var e *apiError
	switch {
	case hasHeader && hasQuery:
		return nil, newError(http.StatusBadRequest, "InvalidArgument", "Only one auth mechanism allowed; only the X-Amz-Algorithm query parameter, Signature query string parameter or the Authorization header should be specified").
			with("ArgumentName", "Authorization")
	case hasHeader:
		if len(authz) != 1 {
			return nil, ae.malformed(false, "only one Authorization header is allowed.")
		}
		p, e = parseAuthorization(authz[0], ae)
		if e != nil {
			return nil, e
		}
		p.token = r.Header.Get("X-Amz-Security-Token")
		if e := p.headerDate(r, ae); e != nil {
			return nil, e
		}
	case hasQuery:
		if p, e = parsePresigned(q, ae); e != nil {
			return nil, e
		}
	default:
		if ae.sts {
			return nil, newError(http.StatusForbidden, "MissingAuthenticationToken", "Request is missing Authentication Token")
		}
		return nil, newError(http.StatusForbidden, "AccessDenied", "Access Denied")
	}
	return p, nil
}

// checkScope checks the credential scope of p against the server and service.
func (s *Server) checkScope(p *sigParams, service string, ae authErrors) *apiError {
	if p.scopeDate != p.date.Format("20060102") {
		return ae.malformed(p.presigned, "Invalid credential date \""+p.scopeDate+"\". This date is not the same as X-Amz-Date: \""+p.date.Format("20060102")+"\".")
	}
	if p.region != s.region {
		e := ae.malformed(p.presigned, "the region '"+truncate(p.region, 40)+"' is wrong; expecting '"+s.region+"'")
		if !ae.sts {
			e.with("Region", s.region)
		}
		if ae.sts {
			e = newError(http.StatusForbidden, "SignatureDoesNotMatch", "Credential should be scoped to a valid region.")
		}
		return e
	}
	if p.service != service {
		if ae.sts {
			return newError(http.StatusForbidden, "SignatureDoesNotMatch", "Credential should be scoped to correct service: '"+service+"'.")
		}
		return ae.malformed(p.presigned, "the service '"+truncate(p.service, 40)+"' is wrong; expecting '"+service+"'")
	}

	return nil
}

// checkTime checks p's signing time: skew against real time (see the package documentation).
func checkTime(p *sigParams, ae authErrors) *apiError {
	realNow := time.Now()
	if !p.presigned {
		if d := p.date.Sub(realNow); d > maxSkew || d < -maxSkew {
			if ae.sts {
				return newError(http.StatusForbidden, "SignatureDoesNotMatch", fmt.Sprintf(
					"Signature expired: %s is now earlier than %s (%s - 15 min.)", p.dateRaw,
					realNow.Add(-maxSkew).UTC().Format(amzDateFormat), realNow.UTC().Format(amzDateFormat)))
			}
			return newError(http.StatusForbidden, "RequestTimeTooSkewed", "The difference between the request time and the current time is too large.").
				with("RequestTime", p.dateRaw).
				with("ServerTime", realNow.UTC().Format(time.RFC3339)).
				with("MaxAllowedSkewMilliseconds", "900000")
		}
	} else if p.date.Sub(realNow) > maxSkew {
		return newError(http.StatusForbidden, "AccessDenied", "Request is not yet valid").
			with("X-Amz-Date", p.dateRaw).
			with("ServerTime", realNow.UTC().Format(time.RFC3339))
	}

	return nil
}

// checkSignedHeaders refuses S3 requests with x-amz- headers that p does not sign.
func checkSignedHeaders(r *http.Request, p *sigParams, ae authErrors) *apiError {
	if !ae.sts {
		for name := range r.Header {
			lname := strings.ToLower(name)
			if strings.HasPrefix(lname, "x-amz-") && !slices.Contains(p.signedHeaders, lname) {
				return newError(http.StatusForbidden, "AccessDenied", "There were headers present in the request which were not signed").
					with("HeadersNotSigned", lname)
			}
		}
	}

	return nil
}

// verifySignature checks p's signature of r with secret.
func verifySignature(r *http.Request, p *sigParams, service, payloadHash, secret string, ae authErrors) *apiError {
	creq, ok := canonicalRequest(r, p, service, payloadHash)
	if !ok {
		if ae.sts {
			return newError(http.StatusBadRequest, "MalformedQueryString", "The query string is malformed.")
		}
		return newError(http.StatusBadRequest, "InvalidArgument", "The query string is malformed.")
	}
	scope := p.scopeDate + "/" + p.region + "/" + p.service + "/aws4_request"
	sts := sigAlgorithm + "\n" + p.dateRaw + "\n" + scope + "\n" + hexSHA256([]byte(creq))
	want := signature(secret, p.scopeDate, p.region, p.service, sts)
	if !hmac.Equal([]byte(want), []byte(p.signature)) {
		if ae.sts {
			return newError(http.StatusForbidden, "SignatureDoesNotMatch", "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details.")
		}
		return newError(http.StatusForbidden, "SignatureDoesNotMatch", "The request signature we calculated does not match the signature you provided. Check your key and signing method.").
			with("AWSAccessKeyId", p.accessKeyID).
			with("StringToSign", sts).
			with("SignatureProvided", truncate(p.signature, 64))
	}

	return nil
}

// checkExpiry refuses a presigned request past its X-Amz-Expires, on the fake clock.
func (s *Server) checkExpiry(p *sigParams, ae authErrors) *apiError {
	if p.presigned {
		if deadline := p.date.Add(time.Duration(p.expires) * time.Second); !s.Now().Before(deadline) {
			if ae.sts {
				return newError(http.StatusForbidden, "ExpiredToken", "The security token included in the request is expired")
			}
			return newError(http.StatusForbidden, "AccessDenied", "Request has expired").
				with("X-Amz-Expires", strconv.Itoa(p.expires)).
				with("Expires", deadline.UTC().Format(time.RFC3339)).
				with("ServerTime", s.Now().UTC().Format(time.RFC3339))
		}
	}
	return nil
}

// headerDate sets p.date from the X-Amz-Date header, or else the Date header.
func (p *sigParams) headerDate(r *http.Request, ae authErrors) *apiError {
	bad := func() *apiError {
		if ae.sts {
			return newError(http.StatusBadRequest, "IncompleteSignature", "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header.")
		}
		return newError(http.StatusForbidden, "AccessDenied", "AWS authentication requires a valid Date or x-amz-date header")
	}
	if v := r.Header.Get("X-Amz-Date"); v != "" {
		d, err := time.Parse(amzDateFormat, v)
		if err != nil {
			return bad()
		}
		p.date, p.dateRaw = d, v
		return nil
	}
	if v := r.Header.Get("Date"); v != "" {
		d, err := http.ParseTime(v)
		if err != nil {
			return bad()
		}
		p.date, p.dateRaw = d.UTC(), d.UTC().Format(amzDateFormat)
		return nil
	}
	return bad()
}

// lookupCaller finds the identity of an access key and its session token.
func (s *Server) lookupCaller(akid, token string, ae authErrors) (*identity, *apiError) {
	invalidKey := func() *apiError {
		if ae.sts {
			return newError(http.StatusForbidden, "InvalidClientTokenId", "The security token included in the request is invalid.")
		}
		return newError(http.StatusForbidden, "InvalidAccessKeyId", messageFor("InvalidAccessKeyId")).
			with("AWSAccessKeyId", truncate(akid, 40))
	}
	invalidToken := func() *apiError {
		if ae.sts {
			return newError(http.StatusForbidden, "InvalidClientTokenId", "The security token included in the request is invalid.")
		}
		return newError(http.StatusBadRequest, "InvalidToken", messageFor("InvalidToken"))
	}
	if akid == s.base.AccessKeyID {
		if token != "" {
			return nil, invalidToken()
		}
		return &identity{accessKeyID: akid}, nil
	}
	s.mu.Lock()
	sess := s.sessions[akid]
	byToken := s.tokens[token]
	s.mu.Unlock()
	switch {
	case sess == nil && token != "" && byToken == nil:
		return nil, invalidToken()
	case sess == nil:
		return nil, invalidKey()
	case token == "":
		return nil, invalidKey()
	case byToken != sess:
		return nil, invalidToken()
	}
	if !s.Now().Before(sess.expires) {
		if ae.sts {
			return nil, newError(http.StatusForbidden, "ExpiredToken", "The security token included in the request is expired")
		}
		return nil, newError(http.StatusBadRequest, "ExpiredToken", messageFor("ExpiredToken"))
	}
	return &identity{accessKeyID: akid, session: sess}, nil
}

// canonicalRequest builds the SigV4 canonical request of r over p's signed headers. It reports
// false if the query string cannot be decoded.
func canonicalRequest(r *http.Request, p *sigParams, service, payloadHash string) (string, bool) {
	var b strings.Builder
	b.WriteString(r.Method)
	b.WriteByte('\n')
	path := r.URL.Path
	if path == "" {
		path = "/"
	}
	uri := awsEscape(path, false)
	if service != "s3" {
		uri = awsEscape(uri, false)
	}
	b.WriteString(uri)
	b.WriteByte('\n')
	cq, ok := canonicalQuery(r.URL.RawQuery, p.presigned)
	if !ok {
		return "", false
	}
	b.WriteString(cq)
	b.WriteByte('\n')
	for _, h := range p.signedHeaders {
		b.WriteString(h)
		b.WriteByte(':')
		b.WriteString(headerValue(r, h))
		b.WriteByte('\n')
	}
	b.WriteByte('\n')
	b.WriteString(strings.Join(p.signedHeaders, ";"))
	b.WriteByte('\n')
	b.WriteString(payloadHash)
	return b.String(), true
}

// headerValue returns the canonical value of header h (lower-case) of r.
func headerValue(r *http.Request, h string) string {
	var vals []string
	switch h {
	case "host":
		vals = []string{r.Host}
	case "content-length":
		vals = r.Header.Values(h)
		if len(vals) == 0 && r.ContentLength > 0 {
			vals = []string{strconv.FormatInt(r.ContentLength, 10)}
		}
	case "transfer-encoding":
		vals = r.TransferEncoding
	default:
		vals = r.Header.Values(h)
	}
	out := make([]string, len(vals))
	for i, v := range vals {
		out[i] = strings.Join(strings.Fields(v), " ")
	}
	return strings.Join(out, ",")
}

// canonicalQuery returns the canonical query string of raw (without X-Amz-Signature when
// presigned): names and values decoded and re-encoded, sorted by name, then value.
func canonicalQuery(raw string, presigned bool) (string, bool) {
	type kv struct{ k, v string }
	var pairs []kv
	for part := range strings.SplitSeq(raw, "&") {
		if part == "" {
			continue
		}
		k, v, _ := strings.Cut(part, "=")
		dk, err1 := url.PathUnescape(k)
		dv, err2 := url.PathUnescape(v)
		if err1 != nil || err2 != nil {
			return "", false
		}
		if presigned && dk == "X-Amz-Signature" {
			continue
		}
		pairs = append(pairs, kv{awsEscape(dk, true), awsEscape(dv, true)})
	}
	slices.SortFunc(pairs, func(a, b kv) int {
		if c := strings.Compare(a.k, b.k); c != 0 {
			return c
		}
		return strings.Compare(a.v, b.v)
	})
	var b strings.Builder
	for i, p := range pairs {
		if i > 0 {
			b.WriteByte('&')
		}
		b.WriteString(p.k)
		b.WriteByte('=')
		b.WriteString(p.v)
	}
	return b.String(), true
}

// awsEscape percent-encodes s as SigV4 requires: every byte except A-Z a-z 0-9 - _ . ~ (and '/'
// unless encodeSlash) as %XX with upper-case hex.
func awsEscape(s string, encodeSlash bool) string {
	const hexDigits = "0123456789ABCDEF"
	var b strings.Builder
	b.Grow(len(s))
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.' || c == '~' || c == '/' && !encodeSlash {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('%')
		b.WriteByte(hexDigits[c>>4])
		b.WriteByte(hexDigits[c&15])
	}
	return b.String()
}

// signature returns the hex SigV4 signature of stringToSign.
func signature(secret, date, region, service, stringToSign string) string {
	return hex.EncodeToString(hmacSHA256(signingKey(secret, date, region, service), stringToSign))
}

// signingKey derives the SigV4 signing key of secret for a date, region and service.
func signingKey(secret, date, region, service string) []byte {
	k := hmacSHA256([]byte("AWS4"+secret), date)
	k = hmacSHA256(k, region)
	k = hmacSHA256(k, service)
	return hmacSHA256(k, "aws4_request")
}

func hmacSHA256(key []byte, data string) []byte {
	h := hmac.New(sha256.New, key)
	h.Write([]byte(data))
	return h.Sum(nil)
}

func hexSHA256(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// truncate shortens client-supplied text echoed in error messages.
func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n] + "..."
	}
	return s
}
