package rediscache

import (
	"testing"
	"time"
)

// TestBreaker walks the breaker through its states on a fake clock.
func TestBreaker(t *testing.T) {
	now := time.Unix(1e9, 0)
	b := &breaker{threshold: 3, cooldown: time.Second, now: func() time.Time { return now }}
	call := func(o outcome) transition {
		t.Helper()
		probe, ok := b.allow()
		if !ok {
			t.Fatal("call refused while closed")
		}
		if probe {
			t.Fatal("probe while closed")
		}
		return b.record(false, o)
	}

	// Failures that are not consecutive never open it; neutral outcomes do not count.
	for range 5 {
		call(failure)
		call(failure)
		call(neutral)
		call(success)
	}
	// Three in a row do.
	call(failure)
	call(failure)
	if tr := call(failure); tr != opened {
		t.Fatalf("third consecutive failure: %v; want opened", tr)
	}
	if _, ok := b.allow(); ok {
		t.Fatal("open breaker let a call through")
	}
	// A call in flight when it opened fails too: no second opening.
	if tr := b.record(false, failure); tr != unchanged {
		t.Fatalf("late failure: %v; want unchanged", tr)
	}

	now = now.Add(999 * time.Millisecond)
	if _, ok := b.allow(); ok {
		t.Fatal("call let through before the cooldown ended")
	}
	now = now.Add(time.Millisecond)
	probe, ok := b.allow()
	if !ok || !probe {
		t.Fatalf("after cooldown: probe %v ok %v; want a probe", probe, ok)
	}
	if _, ok := b.allow(); ok {
		t.Fatal("second call let through while the probe is in flight")
	}
	// A failed probe opens it for another cooldown.
	if tr := b.record(true, failure); tr != opened {
		t.Fatalf("failed probe: %v; want opened", tr)
	}
	if _, ok := b.allow(); ok {
		t.Fatal("call let through right after a failed probe")
	}
	now = now.Add(time.Second)
	// A neutral probe (caller gave up) decides nothing: the next call probes again.
	if probe, _ := b.allow(); !probe {
		t.Fatal("no probe after the second cooldown")
	}
	if tr := b.record(true, neutral); tr != unchanged {
		t.Fatalf("neutral probe: %v", tr)
	}
	if probe, _ := b.allow(); !probe {
		t.Fatal("no new probe after a neutral one")
	}
	// A successful probe closes it, with the failure count reset.
	if tr := b.record(true, success); tr != closed {
		t.Fatalf("successful probe: %v; want closed", tr)
	}
	call(failure)
	call(failure)
	if tr := call(success); tr != unchanged {
		t.Fatalf("success: %v", tr)
	}
}
