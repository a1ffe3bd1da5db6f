package cloudfront

import (
	"crypto"
	"fmt"
	"sync"
	"sync/atomic"
	"time"
)

// Config configures a [Signer].
type Config struct {
	// Keys are the key pairs the Signer knows: the current one signs, the others are kept so that
	// [Signer.SetCurrent] can switch between them during a key rotation and so that cookies signed
	// by them are recognised (and replaced) by the cookie handler. At least one is required; IDs
	// must be unique.
	Keys []Key
	// Current is the ID of the key that signs. If empty, Keys[0].ID.
	Current string
}

// maxCached bounds the Signer's cache of signed URLs and cookies; when it is full the cache is
// emptied (entries live one window at most anyway).
const maxCached = 4096

// Signer makes CloudFront signed URLs and cookies that are stable within a window. Create it
// with [New]; it is safe for concurrent use and should be reused, since it remembers what it
// signed in the current window. It starts no goroutines and needs no Close.
type Signer struct {
	keys    map[string]Key // immutable after New
	current atomic.Pointer[Key]
	now     func() time.Time // the clock; tests replace it

	mu    sync.Mutex        // guards cache
	cache map[string]signed // signed URLs and cookie values of recent windows, by request
}

// signed is what one signing produced: a URL, or a cookie policy and signature.
type signed struct {
	url, policy, signature string
	expires                time.Time
}

// New returns a Signer for cfg. It checks every key (an RSA-2048 public key and a valid ID) and
// that Current names one of them; errors wrap [ErrInvalidKey] or [ErrUnknownKey].
func New(cfg Config) (*Signer, error) {
	if len(cfg.Keys) == 0 {
		return nil, fmt.Errorf("%w: Config.Keys is empty", ErrInvalidKey)
	}
	s := &Signer{keys: make(map[string]Key, len(cfg.Keys)), now: time.Now}
	for i, k := range cfg.Keys {
		if !validKeyID(k.ID) {
			return nil, fmt.Errorf("%w: Config.Keys[%d].ID %q is not a CloudFront key ID (1 to 128 letters and digits)", ErrInvalidKey, i, k.ID)
		}
		if k.Signer == nil {
			return nil, fmt.Errorf("%w: Config.Keys[%d] (%s) has no Signer", ErrInvalidKey, i, k.ID)
		}
		if err := checkPublic(k.Signer.Public()); err != nil {
			return nil, fmt.Errorf("Config.Keys[%d] (%s): %w", i, k.ID, err)
		}
		if _, dup := s.keys[k.ID]; dup {
			return nil, fmt.Errorf("%w: Config.Keys has key ID %s twice", ErrInvalidKey, k.ID)
		}
		s.keys[k.ID] = k
	}
	cur := cfg.Current
	if cur == "" {
		cur = cfg.Keys[0].ID
	}
	if err := s.SetCurrent(cur); err != nil {
		return nil, err
	}
	return s, nil
}

// SetCurrent makes the key with this ID the one that signs from now on (see "Rolling a key
// group" in the package doc). URLs and cookies already handed out stay valid as long as the
// key group trusts their key. An ID the Signer does not know is an error wrapping
// [ErrUnknownKey], and the current key stays.
func (s *Signer) SetCurrent(id string) error {
	k, ok := s.keys[id]
	if !ok {
		return fmt.Errorf("%w: %q is not one of the Signer's keys", ErrUnknownKey, id)
	}
	s.current.Store(&k)
	return nil
}

// KeyID returns the ID of the key that signs.
func (s *Signer) KeyID() string { return s.current.Load().ID }

// PublicKeys returns the public key of every key of the Signer by ID: what the distribution's
// key group must hold (and what a privates3test.Edge is configured with).
func (s *Signer) PublicKeys() map[string]crypto.PublicKey {
	m := make(map[string]crypto.PublicKey, len(s.keys))
	for id, k := range s.keys {
		m[id] = k.Signer.Public()
	}
	return m
}

// lookup returns the cached result for id, if any.
func (s *Signer) lookup(id string) (signed, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	v, ok := s.cache[id]
	return v, ok
}

// remember caches v under id.
func (s *Signer) remember(id string, v signed) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cache == nil || len(s.cache) >= maxCached {
		s.cache = make(map[string]signed)
	}
	s.cache[id] = v
}
