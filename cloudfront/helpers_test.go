package cloudfront

import (
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// testKeys are two RSA-2048 keys, generated once per test binary (key generation is slow).
var testKeys = sync.OnceValue(func() [2]*rsa.PrivateKey {
	var ks [2]*rsa.PrivateKey
	for i := range ks {
		k, err := rsa.GenerateKey(rand.Reader, KeyBits)
		if err != nil {
			panic(err)
		}
		ks[i] = k
	}
	return ks
})

const (
	keyA = "K2JCJMDEHXQW5F"
	keyB = "K3NEWKEYROTATED"
)

// clock is a settable clock for a Signer.
type clock struct{ ns atomic.Int64 }

func newClock(t time.Time) *clock { c := &clock{}; c.set(t); return c }

func (c *clock) now() time.Time          { return time.Unix(0, c.ns.Load()).UTC() }
func (c *clock) set(t time.Time)         { c.ns.Store(t.UnixNano()) }
func (c *clock) advance(d time.Duration) { c.ns.Add(int64(d)) }

// newTestSigner returns a Signer with keys A (current) and B on a clock starting at start.
func newTestSigner(t testing.TB, start time.Time) (*Signer, *clock) {
	t.Helper()
	ks := testKeys()
	s, err := New(Config{Keys: []Key{{ID: keyA, Signer: ks[0]}, {ID: keyB, Signer: ks[1]}}})
	if err != nil {
		t.Fatal(err)
	}
	c := newClock(start)
	s.now = c.now
	return s, c
}

// encodeAWS64 is CloudFront's base64 (- _ ~ for + = /).
func encodeAWS64(b []byte) string {
	return strings.NewReplacer("+", "-", "=", "_", "/", "~").Replace(base64.StdEncoding.EncodeToString(b))
}
