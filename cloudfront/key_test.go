package cloudfront

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

func TestParsePrivateKey(t *testing.T) {
	k := testKeys()[0]
	pkcs8, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		t.Fatal(err)
	}
	ec, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	ec8, err := x509.MarshalPKCS8PrivateKey(ec)
	if err != nil {
		t.Fatal(err)
	}
	small, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	pkcs1 := x509.MarshalPKCS1PrivateKey(k)
	enc := func(typ string, b []byte) []byte { return pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: b}) }
	tests := []struct {
		name string
		pem  []byte
		ok   bool
	}{
		{"pkcs1", enc("RSA PRIVATE KEY", pkcs1), true},
		{"pkcs8", enc("PRIVATE KEY", pkcs8), true},
		{"not pem", []byte("hello"), false},
		{"wrong type", enc("CERTIFICATE", pkcs1), false},
		{"pkcs8 bytes as pkcs1", enc("RSA PRIVATE KEY", pkcs8), false},
		{"ecdsa p256", enc("PRIVATE KEY", ec8), false},
		{"rsa 1024", enc("RSA PRIVATE KEY", x509.MarshalPKCS1PrivateKey(small)), false},
		{"truncated", enc("RSA PRIVATE KEY", pkcs1[:len(pkcs1)/2]), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParsePrivateKey(tt.pem)
			if tt.ok {
				if err != nil || !got.Equal(k) {
					t.Fatalf("ParsePrivateKey = %v, %v; want the key", got != nil, err)
				}
				return
			}
			if !errors.Is(err, ErrInvalidKey) {
				t.Fatalf("err = %v, want ErrInvalidKey", err)
			}
			// No part of the key material in the error.
			body := base64.StdEncoding.EncodeToString(pkcs1)
			for i := 0; i+16 <= len(body); i += 16 {
				if strings.Contains(err.Error(), body[i:i+16]) {
					t.Fatalf("error %q contains key material", err)
				}
			}
		})
	}
}

// TestParseOpenSSLKeys parses keys made by an independent tool, openssl, in both forms.
func TestParseOpenSSLKeys(t *testing.T) {
	openssl := needOpenSSL(t)
	dir := t.TempDir()
	for _, c := range []struct {
		name, out string
		args      []string
	}{
		{"pkcs1", "k1.pem", []string{"genrsa", "-traditional", "-out", "k1.pem", "2048"}},
		{"pkcs8", "k8.pem", []string{"genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048", "-out", "k8.pem"}},
	} {
		cmd := exec.Command(openssl, c.args...)
		cmd.Dir = dir
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("openssl %s: %v\n%s", c.name, err, out)
		}
		b, err := os.ReadFile(filepath.Join(dir, c.out))
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(b), map[string]string{"pkcs1": "RSA PRIVATE KEY", "pkcs8": "BEGIN PRIVATE KEY"}[c.name]) {
			t.Fatalf("%s: openssl wrote another form:\n%.40s", c.name, b)
		}
		if _, err := ParsePrivateKey(b); err != nil {
			t.Errorf("%s: %v", c.name, err)
		}
	}
}

func TestNewErrors(t *testing.T) {
	ks := testKeys()
	ec, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tests := []struct {
		name string
		cfg  Config
		want error
	}{
		{"no keys", Config{}, ErrInvalidKey},
		{"bad id", Config{Keys: []Key{{ID: "K 1", Signer: ks[0]}}}, ErrInvalidKey},
		{"no signer", Config{Keys: []Key{{ID: keyA}}}, ErrInvalidKey},
		{"ecdsa", Config{Keys: []Key{{ID: keyA, Signer: ec}}}, ErrInvalidKey},
		{"duplicate", Config{Keys: []Key{{ID: keyA, Signer: ks[0]}, {ID: keyA, Signer: ks[1]}}}, ErrInvalidKey},
		{"unknown current", Config{Keys: []Key{{ID: keyA, Signer: ks[0]}}, Current: keyB}, ErrUnknownKey},
	}
	for _, tt := range tests {
		if _, err := New(tt.cfg); !errors.Is(err, tt.want) {
			t.Errorf("%s: err = %v, want %v", tt.name, err, tt.want)
		}
	}
	s, err := New(Config{Keys: []Key{{ID: keyA, Signer: ks[0]}, {ID: keyB, Signer: ks[1]}}, Current: keyB})
	if err != nil || s.KeyID() != keyB {
		t.Fatalf("New with Current B: %v, key %s", err, s.KeyID())
	}
	if err := s.SetCurrent("KNOPE"); !errors.Is(err, ErrUnknownKey) || s.KeyID() != keyB {
		t.Fatalf("SetCurrent(unknown) = %v, current %s", err, s.KeyID())
	}
	if len(s.PublicKeys()) != 2 {
		t.Fatalf("PublicKeys has %d keys", len(s.PublicKeys()))
	}
}

func needOpenSSL(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("openssl")
	if err != nil {
		t.Skip("openssl not found (apt-get install -y openssl); skipping the independent verification")
	}
	return p
}
