package cloudfront

import "errors"

// Sentinel errors, used with errors.Is.
var (
	// ErrInvalidOption is wrapped by the errors of calls with options CloudFront would not accept
	// (or that would make a URL or cookie that never works): the option and the value are named.
	ErrInvalidOption = errors.New("cloudfront: invalid option")
	// ErrInvalidKey is wrapped by the errors for private keys this package cannot sign with: not
	// PEM, not PKCS#1 or PKCS#8, not RSA-2048, or a key pair ID CloudFront would not issue.
	ErrInvalidKey = errors.New("cloudfront: invalid key")
	// ErrUnknownKey is wrapped by the errors of New and SetCurrent when the current key ID is
	// not one of the Signer's keys.
	ErrUnknownKey = errors.New("cloudfront: unknown key pair ID")
)
