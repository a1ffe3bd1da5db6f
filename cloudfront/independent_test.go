package cloudfront

import (
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// writePublicKey writes the public key of key A as PEM and returns its path.
func writePublicKey(t *testing.T, dir string) string {
	t.Helper()
	der, err := x509.MarshalPKIXPublicKey(testKeys()[0].Public())
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, "pub.pem")
	if err := os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// opensslVerify reports whether openssl accepts sig as an RSA-SHA1 signature of msg by pub.
func opensslVerify(t *testing.T, openssl, dir, pub string, msg, sig []byte) bool {
	t.Helper()
	m, s := filepath.Join(dir, "msg"), filepath.Join(dir, "sig")
	if err := os.WriteFile(m, msg, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(s, sig, 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(openssl, "dgst", "-sha1", "-verify", pub, "-signature", s, m).CombinedOutput()
	ok := err == nil && strings.Contains(string(out), "Verified OK")
	if !ok && !strings.Contains(string(out), "Verification failure") && !strings.Contains(string(out), "Verification Failure") {
		t.Fatalf("openssl dgst: %v\n%s", err, out)
	}
	return ok
}

// TestURLsVerifiedByOpenSSL: canned and custom URLs signed here verify with openssl against the
// public key, and a one-byte change of the policy does not.
func TestURLsVerifiedByOpenSSL(t *testing.T) {
	openssl := needOpenSSL(t)
	dir := t.TempDir()
	pub := writePublicKey(t, dir)
	s, _ := newTestSigner(t, t0)
	const u = "https://d111111abcdef8.cloudfront.net/tiles/3/4/2.png?style=dark"

	canned, err := s.SignURL(u, nil)
	if err != nil {
		t.Fatal(err)
	}
	q := query(t, canned.URL)
	// CloudFront's canned policy, rebuilt from the URL as the edge does.
	policy := `{"Statement":[{"Resource":"` + u + `","Condition":{"DateLessThan":{"AWS:EpochTime":` + q.Get("Expires") + `}}}]}`
	sig, err := decodeAWS64(q.Get("Signature"))
	if err != nil {
		t.Fatal(err)
	}
	if !opensslVerify(t, openssl, dir, pub, []byte(policy), sig) {
		t.Fatal("openssl refuses the canned-policy signature")
	}
	if opensslVerify(t, openssl, dir, pub, []byte(strings.Replace(policy, "/3/4/2", "/3/4/3", 1)), sig) {
		t.Fatal("openssl accepts the signature for another resource")
	}

	custom, err := s.SignURL(u, &URLOptions{Resource: "https://d111111abcdef8.cloudfront.net/tiles/*", IPAddress: "192.0.2.0/24", NotBefore: t0.Add(-time.Minute)})
	if err != nil {
		t.Fatal(err)
	}
	q = query(t, custom.URL)
	pol, err := decodeAWS64(q.Get("Policy"))
	if err != nil {
		t.Fatal(err)
	}
	if sig, err = decodeAWS64(q.Get("Signature")); err != nil {
		t.Fatal(err)
	}
	if !opensslVerify(t, openssl, dir, pub, pol, sig) {
		t.Fatal("openssl refuses the custom-policy signature")
	}
	tampered := append([]byte(nil), pol...)
	tampered[len(tampered)/2] ^= 1
	if opensslVerify(t, openssl, dir, pub, tampered, sig) {
		t.Fatal("openssl accepts a tampered policy")
	}
	var p struct {
		Statement []struct {
			Resource  string
			Condition map[string]map[string]any
		}
	}
	if err := json.Unmarshal(pol, &p); err != nil || len(p.Statement) != 1 {
		t.Fatalf("policy %s: %v", pol, err)
	}
	c := p.Statement[0].Condition
	if p.Statement[0].Resource != "https://d111111abcdef8.cloudfront.net/tiles/*" ||
		c["IpAddress"]["AWS:SourceIp"] != "192.0.2.0/24" ||
		c["DateLessThan"]["AWS:EpochTime"] != float64(custom.Expires.Unix()) ||
		c["DateGreaterThan"]["AWS:EpochTime"] != float64(t0.Add(-time.Minute).Unix()) {
		t.Fatalf("policy %s does not say what was asked", pol)
	}
}

// pyVerify is a Python program using the cryptography package (independent of Go's crypto) to
// verify CloudFront cookie values: argv = public key file, policy cookie, signature cookie.
const pyVerify = `
import sys, base64, json
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding
from cryptography.exceptions import InvalidSignature
def unescape(v):
    return base64.b64decode(v.replace('-', '+').replace('_', '=').replace('~', '/'))
key = serialization.load_pem_public_key(open(sys.argv[1], 'rb').read())
policy, sig = unescape(sys.argv[2]), unescape(sys.argv[3])
try:
    key.verify(sig, policy, padding.PKCS1v15(), hashes.SHA1())
except InvalidSignature:
    print("BAD")
    sys.exit(0)
st = json.loads(policy)["Statement"][0]
print("OK", st["Resource"], st["Condition"]["DateLessThan"]["AWS:EpochTime"])
`

// TestCookiesVerifiedByPython: cookie values verify with Python's cryptography, stable within a
// window (1,000 calls, one value), and a one-byte change of the policy is refused.
func TestCookiesVerifiedByPython(t *testing.T) {
	py := needPython(t, "cryptography")
	dir := t.TempDir()
	pub := writePublicKey(t, dir)
	s, clk := newTestSigner(t, t0)
	opts := CookieOptions{Resource: "https://tiles.example.com/tiles/*", Expiry: time.Hour, Window: 10 * time.Minute, Domain: "example.com"}
	start := t0.Truncate(10 * time.Minute)
	values := map[string]bool{}
	var c Cookies
	for i := range 1000 {
		clk.set(start.Add(time.Duration(i) * (10*time.Minute - time.Nanosecond) / 999))
		var err error
		if c, err = s.SignCookies(opts); err != nil {
			t.Fatal(err)
		}
		values[c.Cookies[0].Value+" "+c.Cookies[1].Value+" "+c.Cookies[2].Value] = true
	}
	if len(values) != 1 {
		t.Fatalf("1000 calls in one window gave %d distinct cookie values", len(values))
	}
	if want := start.Add(time.Hour); !c.Expires.Equal(want) {
		t.Fatalf("Expires = %v, want %v", c.Expires, want)
	}
	run := func(policy, sig string) string {
		out, err := exec.Command(py, "-c", pyVerify, pub, policy, sig).CombinedOutput()
		if err != nil {
			t.Fatalf("python: %v\n%s", err, out)
		}
		return strings.TrimSpace(string(out))
	}
	want := "OK " + opts.Resource + " " + strconv.FormatInt(c.Expires.Unix(), 10)
	if got := run(c.Cookies[0].Value, c.Cookies[1].Value); got != want {
		t.Fatalf("python says %q, want %q", got, want)
	}
	pol, _ := decodeAWS64(c.Cookies[0].Value)
	pol[10] ^= 1
	if got := run(encodeAWS64(pol), c.Cookies[1].Value); got != "BAD" {
		t.Fatalf("python accepts a tampered policy: %q", got)
	}
	// Across the boundary: new values, valid for at least Expiry-Window from the call.
	clk.set(start.Add(10 * time.Minute))
	next, err := s.SignCookies(opts)
	if err != nil {
		t.Fatal(err)
	}
	if next.Cookies[0].Value == c.Cookies[0].Value || next.Expires.Sub(s.now()) < opts.Expiry-opts.Window {
		t.Fatalf("next window: same value %v, life %v", next.Cookies[0].Value == c.Cookies[0].Value, next.Expires.Sub(s.now()))
	}
}

func needPython(t *testing.T, modules ...string) string {
	t.Helper()
	const py = "/usr/bin/python3" // Debian's, where python3-cryptography and python3-botocore live
	args := []string{"-c", "import " + strings.Join(modules, ", ")}
	if out, err := exec.Command(py, args...).CombinedOutput(); err != nil {
		t.Skipf("%s cannot import %v (apt-get install -y python3-cryptography python3-botocore): %v %s", py, modules, err, out)
	}
	return py
}
