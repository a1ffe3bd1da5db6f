package rediscache_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/privates3/privates3/rediscache"
)

// testPKI is a throw-away CA with one server and one client certificate, written as PEM files.
type testPKI struct {
	pool                  *x509.CertPool
	caFile                string
	serverCert, serverKey string
	client                tls.Certificate
}

func newTestPKI(t *testing.T, dir string) *testPKI {
	t.Helper()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "rediscache test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(caDER)
	p := &testPKI{pool: x509.NewCertPool()}
	p.pool.AddCert(ca)
	p.caFile = writePEM(t, dir, "ca.crt", "CERTIFICATE", caDER)

	leaf := func(serial int64, cn string, usage x509.ExtKeyUsage) ([]byte, *ecdsa.PrivateKey) {
		key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		tmpl := &x509.Certificate{
			SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: cn},
			NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
			KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{usage},
			IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, DNSNames: []string{"redis.test"},
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
		if err != nil {
			t.Fatal(err)
		}
		return der, key
	}
	der, key := leaf(2, "redis.test", x509.ExtKeyUsageServerAuth)
	p.serverCert = writePEM(t, dir, "server.crt", "CERTIFICATE", der)
	keyDER, _ := x509.MarshalECPrivateKey(key)
	p.serverKey = writePEM(t, dir, "server.key", "EC PRIVATE KEY", keyDER)

	der, key = leaf(3, "privates3", x509.ExtKeyUsageClientAuth)
	p.client = tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
	return p
}

func writePEM(t *testing.T, dir, name, typ string, der []byte) string {
	t.Helper()
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// startTLSRedis starts a redis-server with a plain port (for redis-cli) and a TLS port, and
// returns the TLS port.
func startTLSRedis(t *testing.T, pki *testPKI, clientCerts bool) (*redisServer, int) {
	t.Helper()
	tlsPort := freePort(t)
	auth := "no"
	if clientCerts {
		auth = "yes"
	}
	srv := startRedis(t, "--tls-port", strconv.Itoa(tlsPort),
		"--tls-cert-file", pki.serverCert, "--tls-key-file", pki.serverKey,
		"--tls-ca-cert-file", pki.caFile, "--tls-auth-clients", auth)
	return srv, tlsPort
}

func TestTLS(t *testing.T) {
	t.Parallel()
	redisBinary(t)
	pki := newTestPKI(t, t.TempDir())
	srv, tlsPort := startTLSRedis(t, pki, false)
	tlsURL := "rediss://127.0.0.1:" + strconv.Itoa(tlsPort) + "/0"
	ctx := t.Context()

	// rediss:// with the CA trusted: works, and the value is the one an independent client sees.
	c := newCache(t, rediscache.Options{URL: tlsURL, TLSConfig: &tls.Config{RootCAs: pki.pool}})
	val := randomValue(20 << 10)
	eventually(t, 5*time.Second, func() error { return c.Set(ctx, "k", val, time.Hour) })
	if got, err := c.Get(ctx, "k"); err != nil || string(got) != string(val) {
		t.Fatalf("Get over TLS = %d bytes, %v", len(got), err)
	}
	if s := srv.cli("STRLEN", "privates3:v1:e:k"); s != strconv.Itoa(len(val)) {
		t.Fatalf("STRLEN = %s", s)
	}
	// (The TLS port speaks nothing but TLS, so the connection is encrypted.)
	if ok, err := c.Lease(ctx, "k", time.Minute); !ok || err != nil {
		t.Fatalf("Lease over TLS = %v, %v", ok, err)
	}
	if err := c.Release(ctx, "k"); err != nil {
		t.Fatal(err)
	}

	// ServerName defaults to the URL's host; one set in TLSConfig wins.
	named := newCache(t, rediscache.Options{URL: tlsURL, TLSConfig: &tls.Config{RootCAs: pki.pool, ServerName: "redis.test"}})
	eventually(t, 5*time.Second, func() error { return named.Ping(ctx) })
	wrongName := newCache(t, rediscache.Options{URL: tlsURL, BreakerErrors: 1000, Timeout: time.Second,
		TLSConfig: &tls.Config{RootCAs: pki.pool, ServerName: "other.test"}})

	// The certificate is verified: without the CA (system roots), or with another name, no
	// connection is made.
	untrusted := newCache(t, rediscache.Options{URL: tlsURL, BreakerErrors: 1000, Timeout: time.Second})
	// A plain-TCP client on the TLS port gets nowhere either.
	plain := newCache(t, rediscache.Options{URL: "redis://127.0.0.1:" + strconv.Itoa(tlsPort), BreakerErrors: 1000, Timeout: 200 * time.Millisecond})
	for name, bad := range map[string]*rediscache.Cache{"untrusted": untrusted, "wrong name": wrongName, "plain": plain} {
		// Never a value; and (once a handshake completes in time on a loaded machine) the
		// reason is the certificate.
		certErr := name == "plain"
		for i := 0; i < 50 && (i < 2 || !certErr); i++ {
			v, err := bad.Get(ctx, "k")
			if v != nil || err == nil {
				t.Fatalf("%s: Get = %d bytes, %v; want an error", name, len(v), err)
			}
			certErr = certErr || strings.Contains(err.Error(), "certificate")
		}
		if !certErr {
			t.Fatalf("%s: no certificate error in 50 tries", name)
		}
	}
}

func TestTLSClientCertificate(t *testing.T) {
	t.Parallel()
	redisBinary(t)
	pki := newTestPKI(t, t.TempDir())
	_, tlsPort := startTLSRedis(t, pki, true)
	tlsURL := "rediss://127.0.0.1:" + strconv.Itoa(tlsPort)
	ctx := t.Context()

	withCert := newCache(t, rediscache.Options{URL: tlsURL,
		TLSConfig: &tls.Config{RootCAs: pki.pool, Certificates: []tls.Certificate{pki.client}}})
	eventually(t, 5*time.Second, func() error { return withCert.Set(ctx, "k", []byte("v"), time.Hour) })

	without := newCache(t, rediscache.Options{URL: tlsURL, BreakerErrors: 1000, Timeout: time.Second,
		TLSConfig: &tls.Config{RootCAs: pki.pool}})
	if _, err := without.Get(ctx, "k"); err == nil {
		t.Fatal("Get without a client certificate succeeded")
	} else if errors.Is(err, rediscache.ErrClosed) {
		t.Fatal(err)
	}
}
