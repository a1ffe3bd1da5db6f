package cloudfront

import (
	"crypto"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"fmt"
)

// KeyBits is the size of the RSA keys CloudFront accepts for signed URLs and cookies.
const KeyBits = 2048

// Key is one CloudFront key pair: the ID CloudFront gave its public key and the private key.
type Key struct {
	// ID is the CloudFront public key ID (the Key-Pair-Id of signed URLs), such as
	// "K2JCJMDEHXQW5F": 1 to 128 ASCII letters and digits. Required.
	ID string
	// Signer is the private key, an RSA-2048 key (such as an *rsa.PrivateKey from
	// [ParsePrivateKey], or a key held by an HSM or KMS that implements crypto.Signer with
	// PKCS#1 v1.5 signatures). Required.
	Signer crypto.Signer
}

// ParsePrivateKey parses a PEM-encoded RSA-2048 private key in PKCS#1 ("RSA PRIVATE KEY", what
// `openssl genrsa -traditional` and the CloudFront console's old key pairs give) or PKCS#8
// ("PRIVATE KEY", what `openssl genpkey` gives) form. Errors wrap [ErrInvalidKey] and never
// contain key material.
func ParsePrivateKey(pemBytes []byte) (*rsa.PrivateKey, error) {
	block, _ := pem.Decode(pemBytes)
	if block == nil {
		return nil, fmt.Errorf("%w: no PEM block found", ErrInvalidKey)
	}
	var key any
	var err error
	switch block.Type {
	case "RSA PRIVATE KEY":
		key, err = x509.ParsePKCS1PrivateKey(block.Bytes)
	case "PRIVATE KEY":
		key, err = x509.ParsePKCS8PrivateKey(block.Bytes)
	default:
		// The type is a header line, not key material.
		return nil, fmt.Errorf("%w: PEM block type %q is not RSA PRIVATE KEY or PRIVATE KEY", ErrInvalidKey, block.Type)
	}
	if err != nil {
		// The x509 errors describe the structure, never the key's bytes.
		return nil, fmt.Errorf("%w: malformed %s private key", ErrInvalidKey, formName(block.Type))
	}
	rk, ok := key.(*rsa.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("%w: %T is not an RSA key (this package signs with RSA-2048 only)", ErrInvalidKey, key)
	}
	if err := checkPublic(rk.Public()); err != nil {
		return nil, err
	}
	return rk, nil
}

func formName(typ string) string {
	if typ == "PRIVATE KEY" {
		return "PKCS#8"
	}
	return "PKCS#1"
}

// checkPublic reports whether pub is an RSA-2048 public key.
func checkPublic(pub crypto.PublicKey) error {
	rp, ok := pub.(*rsa.PublicKey)
	if !ok {
		return fmt.Errorf("%w: %T is not an RSA key (this package signs with RSA-2048 only)", ErrInvalidKey, pub)
	}
	if n := rp.N.BitLen(); n != KeyBits {
		return fmt.Errorf("%w: RSA key of %d bits, CloudFront takes %d", ErrInvalidKey, n, KeyBits)
	}
	return nil
}

// validKeyID reports whether id looks like a CloudFront public key ID.
func validKeyID(id string) bool {
	if id == "" || len(id) > 128 {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !('A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9') {
			return false
		}
	}
	return true
}
