package privates3test_test

import (
	"crypto"
	"crypto/x509"
	"encoding/pem"
	"net/http"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/privates3/privates3/privates3test"
)

// botoSign signs URLs with botocore's CloudFrontSigner and python3-cryptography (independent of
// Go): argv = key file, key ID, expiry (Unix seconds), not-before (Unix seconds), edge URL.
// It prints a canned URL, a custom-policy URL with a wildcard resource, one with an IP
// condition and a not-before date, and one whose IP condition excludes 127.0.0.1.
const botoSign = `
import sys, datetime
from botocore.signers import CloudFrontSigner
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding

key = serialization.load_pem_private_key(open(sys.argv[1], 'rb').read(), password=None)
def rsa_signer(message):
    return key.sign(message, padding.PKCS1v15(), hashes.SHA1())
signer = CloudFrontSigner(sys.argv[2], rsa_signer)
expires = datetime.datetime.utcfromtimestamp(int(sys.argv[3]))
started = datetime.datetime.utcfromtimestamp(int(sys.argv[4]))
edge = sys.argv[5]
print(signer.generate_presigned_url(edge + '/tiles/3/4/2.png?style=dark', date_less_than=expires))
policy = signer.build_policy(edge + '/tiles/*', expires)
print(signer.generate_presigned_url(edge + '/tiles/7/8/9.png', policy=policy))
policy = signer.build_policy(edge + '/tiles/*', expires, date_greater_than=started, ip_address='127.0.0.1')
print(signer.generate_presigned_url(edge + '/tiles/1/1/1.png', policy=policy))
policy = signer.build_policy(edge + '/tiles/*', expires, ip_address='192.0.2.0/24')
print(signer.generate_presigned_url(edge + '/tiles/1/1/1.png', policy=policy))
`

// TestEdgeAcceptsBotocoreURLs: URLs signed by botocore are accepted by the fake edge; one byte
// changed in the policy, the signature or the resource is refused.
func TestEdgeAcceptsBotocoreURLs(t *testing.T) {
	py := program(t, "apt-get install -y python3-botocore python3-cryptography", "/usr/bin/python3", "-c", "import botocore.signers, cryptography")
	srv := privates3test.NewServer()
	defer srv.Close()
	for _, k := range []string{"tiles/3/4/2.png", "tiles/7/8/9.png", "tiles/1/1/1.png"} {
		srv.PutObject("tiles", k, []byte("tile "+k), privates3test.ContentType("image/png"))
	}
	e := privates3test.NewEdge(privates3test.EdgeConfig{
		PublicKeys: map[string]crypto.PublicKey{edgeKeyID: edgeKey().Public()},
		Origin:     privates3test.OACOrigin(srv, "tiles"),
		Clock:      srv.Now,
	})
	defer e.Close()

	der, err := x509.MarshalPKCS8PrivateKey(edgeKey())
	if err != nil {
		t.Fatal(err)
	}
	keyFile := tempFile(t, "key.pem", pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}))
	now := srv.Now()
	out, err := exec.Command(py, "-c", botoSign, keyFile, edgeKeyID,
		strconv.FormatInt(now.Unix()+3600, 10), strconv.FormatInt(now.Unix()-60, 10), e.URL).CombinedOutput()
	if err != nil {
		t.Fatalf("botocore: %v\n%s", err, out)
	}
	urls := strings.Fields(string(out))
	if len(urls) != 4 {
		t.Fatalf("botocore printed %q", out)
	}
	f := &edgeFixture{srv: srv, edge: e}
	for i, want := range []int{200, 200, 200, 403} {
		status, body, _ := f.get(t, urls[i])
		if status != want {
			t.Fatalf("botocore URL %d (%s): %d %s, want %d", i, urls[i], status, body, want)
		}
	}
	// One byte of the policy, the signature, the resource (path) or the expiry changed: refused.
	var tampered []string
	for _, at := range []int{3, 20, 60} {
		tampered = append(tampered, flipAfter(urls[1], "Policy=", at), flipAfter(urls[1], "Signature=", at), flipAfter(urls[0], "Signature=", at))
	}
	tampered = append(tampered,
		strings.Replace(urls[0], "/3/4/2.png", "/3/4/3.png", 1),
		strings.Replace(urls[0], "style=dark", "style=dari", 1),
		bumpExpires(urls[0]))
	for _, u := range tampered {
		if status, body, _ := f.get(t, u); status != http.StatusForbidden {
			t.Errorf("tampered %s: %d %s", u, status, body)
		}
	}
	// Expiry on the fake's clock.
	srv.Advance(3601 * time.Second)
	if status, _, _ := f.get(t, urls[1]); status != http.StatusForbidden {
		t.Fatalf("after expiry: %d", status)
	}
}
