// Package cloudfront signs Amazon CloudFront URLs and cookies that stay the same within a time
// window, and serves the cookies from an http.Handler, for a private S3 bucket reachable only
// through a CloudFront distribution (Origin Access Control) whose cache behaviours trust a key
// group.
//
// CloudFront checks every request for a signed URL (query parameters Expires or Policy, and
// Signature, Key-Pair-Id) or signed cookies (CloudFront-Policy or CloudFront-Expires, and
// CloudFront-Signature, CloudFront-Key-Pair-Id) made with a private key whose public key is in
// the distribution's key group. The signature itself is made by the AWS SDK's
// github.com/aws/aws-sdk-go-v2/feature/cloudfront/sign; this package adds what the SDK leaves to
// each caller:
//
//   - Stability: the deadline of a URL or cookie is the start of the current window plus the
//     expiry, so identical calls within one window return byte-identical URLs and cookie values
//     that browsers and CloudFront can cache (the SDK makes a new URL on every call). What a call
//     returns stays valid for at least Expiry-Window, and its exact deadline is returned with it.
//   - Key rotation: a [Signer] holds several key pairs and signs with the current one
//     (see "Rolling a key group" below).
//   - Cookies for a resource pattern (https://tiles.example.com/tiles/*) with Domain, Path,
//     Secure, HttpOnly and SameSite, and a cookie-issuing handler ([Signer.CookieHandler]) that
//     reissues them before they run out, so a long-lived map page never meets an expired cookie.
//
// # Keys
//
// CloudFront accepts RSA-2048 and ECDSA P-256 public keys. This package signs with RSA-2048 keys
// only: the pinned SDK (feature/cloudfront/sign v1.9.16) hashes every policy with SHA-1 and
// hands the digest to any crypto.Signer, so an ECDSA key would give an ECDSA-with-SHA-1
// signature and no Hash-Algorithm parameter; its CookieSigner takes only *rsa.PrivateKey; and
// ECDSA signatures are randomized, so they could not be stable without a cache of every URL.
// [ParsePrivateKey] reads PKCS#1 ("RSA PRIVATE KEY") and PKCS#8 ("PRIVATE KEY") PEM; [New]
// refuses other key types and sizes with [ErrInvalidKey]. RSA PKCS#1 v1.5 signatures are
// deterministic, so stability does not depend on the Signer's cache, which only saves the
// signing work.
//
// # Rolling a key group
//
// A key group holds up to five public keys and CloudFront accepts a signature by any of them.
// To replace key A by key B without a failed request:
//
//  1. Create key pair B, upload its public key to CloudFront and add it to the key group (the
//     group now trusts A and B). Give the Signer both keys, A still current
//     (Config{Keys: []Key{a, b}, Current: a.ID}).
//  2. Once the key group change is deployed, make B current ([Signer.SetCurrent], or a new
//     Config). New URLs and cookies are signed with B; those signed with A keep working until
//     they expire, and the cookie handler replaces cookies signed with A at their next refresh.
//  3. After the longest expiry you hand out has passed, remove A from the key group and from
//     the Signer's keys.
//
// # Errors
//
// Invalid options are errors wrapping [ErrInvalidOption], unusable keys [ErrInvalidKey], and a
// current key ID that is not among the Signer's keys [ErrUnknownKey]; test them with errors.Is.
// Errors and log lines never contain private keys, signatures or cookie values.
package cloudfront
