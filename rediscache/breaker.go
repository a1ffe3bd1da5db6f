package rediscache

import (
	"sync"
	"sync/atomic"
	"time"
)

// outcome is what a call tells the breaker about Redis.
type outcome uint8

const (
	success outcome = iota // Redis answered (a miss and a busy lease are answers)
	failure                // no answer in time, no connection, or an error reply about the server
	neutral                // nothing learnt: the caller gave up, or the error concerns one key
)

// transition is a change of the breaker's state that record reports, for counting and logging.
type transition uint8

const (
	unchanged transition = iota
	opened
	closed
)

// breaker is a circuit breaker: closed, it lets every call through and counts consecutive
// failures; at threshold it opens and refuses calls for cooldown; then it lets one probe through
// (half-open), whose success closes it and whose failure opens it for another cooldown. The
// closed state's path is two atomic loads; the mutex is taken only while open or when opening.
type breaker struct {
	threshold int64
	cooldown  time.Duration
	now       func() time.Time // time.Now; tests set a fake clock

	failures atomic.Int64 // consecutive failures while closed
	open     atomic.Bool  // false: closed

	mu      sync.Mutex // guards until, probing (and open's transitions)
	until   time.Time  // while open: no probe before this
	probing bool       // a probe is in flight
}

// allow reports whether a call may go to Redis now, and whether it is the breaker's probe (which
// must be followed by record with probe set).
func (b *breaker) allow() (probe, ok bool) {
	if !b.open.Load() {
		return false, true
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if !b.open.Load() {
		return false, true
	}
	if b.probing || b.now().Before(b.until) {
		return false, false
	}
	b.probing = true
	return true, true
}

// record takes the outcome of a call that allow let through.
func (b *breaker) record(probe bool, o outcome) transition {
	if probe {
		b.mu.Lock()
		defer b.mu.Unlock()
		b.probing = false
		switch o {
		case success:
			b.failures.Store(0)
			b.open.Store(false)
			return closed
		case failure:
			b.until = b.now().Add(b.cooldown)
			return opened
		}
		return unchanged // a neutral probe: the next call probes again
	}
	switch o {
	case success:
		if b.failures.Load() != 0 {
			b.failures.Store(0)
		}
	case failure:
		if b.failures.Add(1) >= b.threshold {
			b.mu.Lock()
			defer b.mu.Unlock()
			if b.open.Load() {
				return unchanged // calls that were in flight when it opened
			}
			b.open.Store(true)
			b.until = b.now().Add(b.cooldown)
			return opened
		}
	}
	return unchanged
}
