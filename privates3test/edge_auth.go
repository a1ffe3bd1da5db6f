package privates3test

import (
	"bytes"
	"crypto"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// edgeSigningParams are the query parameters CloudFront consumes (and does not forward).
var edgeSigningParams = map[string]bool{"Expires": true, "Policy": true, "Signature": true, "Key-Pair-Id": true, "Hash-Algorithm": true}

// viewer is a viewer request as the edge's signature check and cache see it.
type viewer struct {
	url    string            // scheme://host/path?query, the signing parameters removed
	path   string            // the raw (escaped) path
	query  string            // the raw query without the signing parameters
	params map[string]string // the signing parameters of the query (first of each)
}

// viewerRequest splits r's URL into the parts the edge needs.
func (e *Edge) viewerRequest(r *http.Request) (viewer, *edgeError) {
	rawPath, rawQuery, _ := strings.Cut(r.RequestURI, "?")
	if !strings.HasPrefix(rawPath, "/") {
		// Absolute-form request targets (proxies) carry the scheme and host.
		rawPath, rawQuery = r.URL.EscapedPath(), r.URL.RawQuery
	}
	v := viewer{path: rawPath, params: map[string]string{}}
	var kept []string
	if rawQuery != "" {
		for _, kv := range strings.Split(rawQuery, "&") {
			name, val, _ := strings.Cut(kv, "=")
			if !edgeSigningParams[name] {
				kept = append(kept, kv)
				continue
			}
			if _, dup := v.params[name]; dup {
				continue
			}
			uv, err := url.QueryUnescape(val)
			if err != nil {
				return v, errAccessDenied
			}
			v.params[name] = uv
		}
	}
	v.query = strings.Join(kept, "&")
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	v.url = scheme + "://" + r.Host + v.path
	if v.query != "" {
		v.url += "?" + v.query
	}
	return v, nil
}

// authorize checks the signed URL or signed cookies of r as CloudFront does, at now.
func (e *Edge) authorize(r *http.Request, v viewer, now time.Time) *edgeError {
	get := signingValues(r, v)
	pub, ferr := e.publicKey(get("Key-Pair-Id"))
	if ferr != nil {
		return ferr
	}
	policy, canned, ferr := signedPolicy(get, v.url)
	if ferr != nil {
		return ferr
	}
	if ferr := verifyEdgeSignature(pub, policy, get("Signature"), get("Hash-Algorithm")); ferr != nil {
		return ferr
	}
	st, ferr := parseEdgeStatement(policy)
	if ferr != nil {
		return ferr
	}
	return st.permits(r.RemoteAddr, v.url, now, canned)
}

// signingValues returns a lookup of the signing values of r: from its query when the query
// carries any of them, else from its CloudFront-* cookies.
func signingValues(r *http.Request, v viewer) func(name string) string {
	if _, ok := v.params["Key-Pair-Id"]; ok || v.params["Signature"] != "" || v.params["Policy"] != "" || v.params["Expires"] != "" {
		return func(name string) string { return v.params[name] }
	}
	return func(name string) string {
		c, err := r.Cookie("CloudFront-" + name)
		if err != nil {
			return ""
		}
		return c.Value
	}
}

// publicKey returns the public key of the key pair keyID.
func (e *Edge) publicKey(keyID string) (*rsa.PublicKey, *edgeError) {
	if keyID == "" {
		return nil, errMissingKey
	}
	pub := (*e.keys.Load())[keyID]
	if pub == nil {
		return nil, errUnknownKey
	}
	return pub, nil
}

// signedPolicy returns the policy the signature covers: the custom Policy value, or the canned
// policy that Expires stands for (canned is then true).
func signedPolicy(get func(string) string, viewerURL string) (policy []byte, canned bool, ferr *edgeError) {
	if p := get("Policy"); p != "" {
		b, err := decodeCloudFront64(p)
		if err != nil {
			return nil, false, errMalformedPolicy
		}
		return b, false, nil
	}
	x := get("Expires")
	if x == "" {
		return nil, false, errMissingKey
	}
	sec, err := strconv.ParseInt(x, 10, 64)
	if err != nil {
		return nil, false, errMalformedPolicy
	}
	return cannedPolicy(viewerURL, sec), true, nil
}

// cannedPolicy is CloudFront's canned policy for viewerURL until the epoch second sec: the URL as
// a JSON string, without HTML escaping.
func cannedPolicy(viewerURL string, sec int64) []byte {
	var res bytes.Buffer
	enc := json.NewEncoder(&res)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(viewerURL)
	return []byte(`{"Statement":[{"Resource":` + strings.TrimSpace(res.String()) + `,"Condition":{"DateLessThan":{"AWS:EpochTime":` + strconv.FormatInt(sec, 10) + `}}}]}`)
}

// verifyEdgeSignature checks the CloudFront-base64 signature of policy under pub with the
// hash that alg names.
func verifyEdgeSignature(pub *rsa.PublicKey, policy []byte, signature, alg string) *edgeError {
	sig, err := decodeCloudFront64(signature)
	if err != nil || len(sig) == 0 {
		return errAccessDenied
	}
	hash, sum, ok := edgeDigest(alg, policy)
	if !ok || rsa.VerifyPKCS1v15(pub, hash, sum, sig) != nil {
		return errAccessDenied
	}
	return nil
}

// edgeDigest hashes policy with the Hash-Algorithm alg ("" is SHA1); ok is false for an
// algorithm CloudFront does not know.
func edgeDigest(alg string, policy []byte) (hash crypto.Hash, sum []byte, ok bool) {
	switch alg {
	case "", "SHA1":
		s := sha1.Sum(policy)
		return crypto.SHA1, s[:], true
	case "SHA256":
		s := sha256.Sum256(policy)
		return crypto.SHA256, s[:], true
	}
	return 0, nil, false
}

// parseEdgeStatement returns the one statement of a policy, which must have a DateLessThan.
func parseEdgeStatement(policy []byte) (*edgeStatement, *edgeError) {
	var p edgePolicy
	if err := json.Unmarshal(policy, &p); err != nil || len(p.Statement) != 1 {
		return nil, errMalformedPolicy
	}
	st := &p.Statement[0]
	if st.Condition.DateLessThan == nil {
		return nil, errMalformedPolicy
	}
	return st, nil
}

// permits checks the statement's resource and conditions for a viewer at remoteAddr asking for
// viewerURL at now. A canned policy's resource is the URL itself, so it is not matched again.
func (st *edgeStatement) permits(remoteAddr, viewerURL string, now time.Time, canned bool) *edgeError {
	c := &st.Condition
	if !canned && st.Resource != "" && !edgeMatch(st.Resource, viewerURL) {
		return errAccessDenied
	}
	if now.Unix() >= c.DateLessThan.Sec {
		return errAccessDenied
	}
	if d := c.DateGreaterThan; d != nil && now.Unix() < d.Sec {
		return errAccessDenied
	}
	if ipc := c.IpAddress; ipc != nil {
		return checkSourceIP(ipc.SourceIP, remoteAddr)
	}
	return nil
}

// checkSourceIP checks that the host of remoteAddr lies in the policy's AWS:SourceIp prefix.
func checkSourceIP(sourceIP, remoteAddr string) *edgeError {
	prefix, err := netip.ParsePrefix(sourceIP)
	if err != nil {
		return errMalformedPolicy
	}
	host, _, _ := net.SplitHostPort(remoteAddr)
	addr, err := netip.ParseAddr(host)
	if err != nil || !prefix.Contains(addr.Unmap()) {
		return errAccessDenied
	}
	return nil
}

// edgePolicy is a CloudFront policy document as the edge reads it.
type edgePolicy struct {
	Statement []edgeStatement
}

// edgeStatement is a statement of a CloudFront policy.
type edgeStatement struct {
	Resource  string
	Condition struct {
		DateLessThan    *edgeEpoch
		DateGreaterThan *edgeEpoch
		IpAddress       *struct {
			SourceIP string `json:"AWS:SourceIp"`
		}
	}
}

// edgeEpoch is a policy's date condition, in seconds since the epoch.
type edgeEpoch struct {
	Sec int64 `json:"AWS:EpochTime"`
}

// decodeCloudFront64 decodes CloudFront's base64 variant (- _ ~ for + = /).
func decodeCloudFront64(s string) ([]byte, error) {
	return base64.StdEncoding.DecodeString(strings.NewReplacer("-", "+", "_", "=", "~", "/").Replace(s))
}

// edgeMatch reports whether s matches the policy resource p (* any run, ? one byte).
func edgeMatch(p, s string) bool {
	// Dynamic programming over positions of p: linear memory, no backtracking blow-up.
	// cur[i] reports whether p[:i] matches the bytes of s read so far.
	cur := make([]bool, len(p)+1)
	cur[0] = true
	for i := 0; i < len(p) && p[i] == '*'; i++ {
		cur[i+1] = true
	}
	next := make([]bool, len(p)+1)
	for j := 0; j < len(s); j++ {
		edgeMatchStep(p, s[j], cur, next)
		cur, next = next, cur
	}
	return cur[len(p)]
}

// edgeMatchStep sets next to the prefixes of p that match one more byte c, given cur for the
// bytes before it.
func edgeMatchStep(p string, c byte, cur, next []bool) {
	clear(next)
	for i := 0; i < len(p); i++ {
		switch p[i] {
		case '*':
			next[i+1] = next[i+1] || cur[i] || cur[i+1] || next[i]
		case '?':
			next[i+1] = next[i+1] || cur[i]
		default:
			next[i+1] = next[i+1] || (cur[i] && p[i] == c)
		}
	}
	// A * can also match the empty run after this byte.
	for i := 0; i < len(p); i++ {
		if p[i] == '*' && next[i] {
			next[i+1] = true
		}
	}
}
