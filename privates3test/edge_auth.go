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
	get := func(name string) string {
		c, err := r.Cookie("CloudFront-" + name)
		if err != nil {
			return ""
		}
		return c.Value
	}
	if _, ok := v.params["Key-Pair-Id"]; ok || v.params["Signature"] != "" || v.params["Policy"] != "" || v.params["Expires"] != "" {
		get = func(name string) string { return v.params[name] }
	}
	keyID := get("Key-Pair-Id")
	if keyID == "" {
		return errMissingKey
	}
	pub := (*e.keys.Load())[keyID]
	if pub == nil {
		return errUnknownKey
	}
	var policy []byte
	canned := false
	if p := get("Policy"); p != "" {
		b, err := decodeCloudFront64(p)
		if err != nil {
			return errMalformedPolicy
		}
		policy = b
	} else if x := get("Expires"); x != "" {
		sec, err := strconv.ParseInt(x, 10, 64)
		if err != nil {
			return errMalformedPolicy
		}
		// CloudFront's canned policy: the viewer URL as a JSON string, without HTML escaping.
		var res bytes.Buffer
		enc := json.NewEncoder(&res)
		enc.SetEscapeHTML(false)
		_ = enc.Encode(v.url)
		policy = []byte(`{"Statement":[{"Resource":` + strings.TrimSpace(res.String()) + `,"Condition":{"DateLessThan":{"AWS:EpochTime":` + strconv.FormatInt(sec, 10) + `}}}]}`)
		canned = true
	} else {
		return errMissingKey
	}
	sig, err := decodeCloudFront64(get("Signature"))
	if err != nil || len(sig) == 0 {
		return errAccessDenied
	}
	hash, sum := crypto.SHA1, []byte(nil)
	switch get("Hash-Algorithm") {
	case "", "SHA1":
		s := sha1.Sum(policy)
		sum = s[:]
	case "SHA256":
		s := sha256.Sum256(policy)
		hash, sum = crypto.SHA256, s[:]
	default:
		return errAccessDenied
	}
	if rsa.VerifyPKCS1v15(pub, hash, sum, sig) != nil {
		return errAccessDenied
	}
	var p edgePolicy
	if err := json.Unmarshal(policy, &p); err != nil || len(p.Statement) != 1 {
		return errMalformedPolicy
	}
	st := p.Statement[0]
	if st.Condition.DateLessThan == nil {
		return errMalformedPolicy
	}
	if !canned && st.Resource != "" && !edgeMatch(st.Resource, v.url) {
		return errAccessDenied
	}
	if now.Unix() >= st.Condition.DateLessThan.Sec {
		return errAccessDenied
	}
	if d := st.Condition.DateGreaterThan; d != nil && now.Unix() < d.Sec {
		return errAccessDenied
	}
	if ipc := st.Condition.IpAddress; ipc != nil {
		prefix, err := netip.ParsePrefix(ipc.SourceIP)
		if err != nil {
			return errMalformedPolicy
		}
		host, _, _ := net.SplitHostPort(r.RemoteAddr)
		addr, err := netip.ParseAddr(host)
		if err != nil || !prefix.Contains(addr.Unmap()) {
			return errAccessDenied
		}
	}
	return nil
}

// edgePolicy is a CloudFront policy statement as the edge reads it.
type edgePolicy struct {
	Statement []struct {
		Resource  string
		Condition struct {
			DateLessThan    *edgeEpoch
			DateGreaterThan *edgeEpoch
			IpAddress       *struct {
				SourceIP string `json:"AWS:SourceIp"`
			}
		}
	}
}

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
	cur := make([]bool, len(p)+1)
	cur[0] = true
	for i := 0; i < len(p) && p[i] == '*'; i++ {
		cur[i+1] = true
	}
	next := make([]bool, len(p)+1)
	for j := 0; j < len(s); j++ {
		clear(next)
		for i := 0; i < len(p); i++ {
			switch p[i] {
			case '*':
				next[i+1] = next[i+1] || cur[i] || cur[i+1] || next[i]
			case '?':
				next[i+1] = next[i+1] || cur[i]
			default:
				next[i+1] = next[i+1] || (cur[i] && p[i] == s[j])
			}
		}
		// A * can also match the empty run after this byte.
		for i := 0; i < len(p); i++ {
			if p[i] == '*' && next[i] {
				next[i+1] = true
			}
		}
		cur, next = next, cur
	}
	return cur[len(p)]
}
