package privates3

import (
	"context"
	"sync"
	"time"
)

// lifecycle is the Client's one mechanism for stopping: a root context that Close cancels with
// cause ErrClosed, and one WaitGroup for every goroutine the Client starts. Every upstream call
// is bound to the root context (see call), so Close cancels them all.
type lifecycle struct {
	root   context.Context
	cancel context.CancelCauseFunc

	mu     sync.Mutex // guards closed; orders wg.Add before close's wg.Wait
	closed bool
	wg     sync.WaitGroup
}

func newLifecycle() *lifecycle {
	l := &lifecycle{}
	l.root, l.cancel = context.WithCancelCause(context.Background())
	return l
}

// goDo runs f in a goroutine that close waits for. After close it runs nothing and reports false.
func (l *lifecycle) goDo(f func()) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return false
	}
	l.wg.Add(1)
	go func() {
		defer l.wg.Done()
		f()
	}()
	return true
}

// close cancels the root context with ErrClosed and waits for every goroutine started by goDo.
// It is idempotent.
func (l *lifecycle) close() {
	l.mu.Lock()
	l.closed = true
	l.mu.Unlock()
	l.cancel(ErrClosed)
	l.wg.Wait()
}

// call is the context of one upstream call: parent's values and cancellation, cancelled by Close
// (cause ErrClosed) and, until settle, by its own timeout (cause errFetchTimeout).
type call struct {
	ctx    context.Context
	cancel context.CancelCauseFunc
	timer  *time.Timer
	unlink func() bool
}

// call starts the context of an upstream call under parent, bounded by timeout.
func (l *lifecycle) call(parent context.Context, timeout time.Duration) *call {
	ctx, cancel := context.WithCancelCause(parent)
	c := &call{ctx: ctx, cancel: cancel}
	c.unlink = context.AfterFunc(l.root, func() { cancel(context.Cause(l.root)) })
	c.timer = time.AfterFunc(timeout, func() { cancel(errFetchTimeout) })
	return c
}

// settle stops the call's timeout: from now on only parent and Close end it. It reports false if
// the timeout had already fired.
func (c *call) settle() bool { return c.timer.Stop() }

// end releases the call and cancels its context.
func (c *call) end() {
	c.timer.Stop()
	c.unlink()
	c.cancel(context.Canceled)
}

// abandonAfter is how long past its timeout a flight is waited for. Work that ignores its
// context's cancellation is then left behind: waiters get ErrTimeout and the next caller starts
// another flight.
const abandonAfter = time.Second

// flight is one run of shared work and its result.
type flight[V any] struct {
	done     chan struct{} // closed when val and err are set
	val      V
	err      error
	deadline time.Time // waiters give up at deadline+abandonAfter
	memo     time.Time // a failed flight answers new callers until then (group.memo)
	refs     int       // callers holding the result, or waiting for it; guarded by group.mu
}

// group is the one flight primitive of the package: it runs work for a key once for every caller
// that asks while it runs (credentials renewals, scoped credentials, object fetches). The work
// runs in a goroutine of the lifecycle, on context.WithoutCancel of the first caller's ctx,
// bounded by timeout and by Close; each caller waits on its own ctx, so a caller that gives up
// never fails the others. Work should re-check, inside the flight, whatever made the caller ask
// (a cache, the current credentials): flights merge only calls that overlap.
type group[K comparable, V any] struct {
	life    *lifecycle
	timeout time.Duration // bound of one run of the work
	memo    time.Duration // a failed run answers new callers this long, if they accept it
	abandon bool          // the work may ignore its context: waiters give up past its timeout
	free    func(V)       // if set, called with a result once no caller holds it

	mu sync.Mutex // guards m, and refs of its flights
	m  map[K]*flight[V]
}

// do returns the result of fn for k: of the flight in progress, or of a new one. With useMemo a
// caller also accepts the error of a flight that failed less than memo ago. joined reports
// whether another caller started the flight. The caller must call release once it no longer uses
// the result. A caller whose ctx ends gets ctx's error; one that waited past the flight's
// timeout (work ignoring its context, in a group with abandon set) gets ErrTimeout; after Close,
// ErrClosed.
func (g *group[K, V]) do(ctx context.Context, k K, useMemo bool, fn func(context.Context) (V, error)) (val V, joined bool, release func(), err error) {
	f, joined := g.join(ctx, k, useMemo, fn)
	release = func() { g.release(f) }
	if f == nil {
		return val, false, func() {}, ErrClosed
	}
	select {
	case <-f.done:
		return f.val, joined, release, f.err
	default:
	}
	var abandon <-chan time.Time
	if g.abandon {
		t := time.NewTimer(time.Until(f.deadline) + abandonAfter)
		defer t.Stop()
		abandon = t.C
	}
	select {
	case <-f.done:
		return f.val, joined, release, f.err
	case <-ctx.Done():
		release()
		return val, joined, func() {}, ctx.Err()
	case <-abandon:
		release()
		return val, joined, func() {}, &opError{kind: ErrTimeout, op: "waiting", detail: "no answer within " + g.timeout.String()}
	}
}

// join returns the flight for k, holding a reference, or nil after Close.
func (g *group[K, V]) join(ctx context.Context, k K, useMemo bool, fn func(context.Context) (V, error)) (*flight[V], bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	now := time.Now()
	if f := g.m[k]; f != nil {
		select {
		case <-f.done:
			if useMemo && now.Before(f.memo) {
				f.refs++
				return f, true
			}
		default:
			if !g.abandon || now.Before(f.deadline.Add(abandonAfter)) {
				f.refs++
				return f, true
			}
		}
	}
	f := &flight[V]{done: make(chan struct{}), deadline: now.Add(g.timeout), refs: 1}
	parent := context.WithoutCancel(ctx)
	if !g.life.goDo(func() { g.run(k, f, parent, fn) }) {
		return nil, false
	}
	if g.m == nil {
		g.m = make(map[K]*flight[V])
	}
	g.m[k] = f
	return f, false
}

// run runs fn for flight f and publishes its result.
func (g *group[K, V]) run(k K, f *flight[V], parent context.Context, fn func(context.Context) (V, error)) {
	c := g.life.call(parent, g.timeout)
	f.val, f.err = fn(c.ctx)
	c.end()
	g.mu.Lock()
	if f.err != nil && g.memo > 0 {
		f.memo = time.Now().Add(g.memo) // stays in m to answer callers until then
	} else if g.m[k] == f {
		delete(g.m, k)
	}
	close(f.done)
	orphan := f.refs == 0
	g.mu.Unlock()
	if orphan && g.free != nil {
		g.free(f.val)
	}
}

// release drops a caller's reference to f; the last one after f finished hands its result to
// free.
func (g *group[K, V]) release(f *flight[V]) {
	g.mu.Lock()
	f.refs--
	orphan := f.refs == 0
	select {
	case <-f.done:
	default:
		orphan = false // run hands it to free when it finishes
	}
	g.mu.Unlock()
	if orphan && g.free != nil {
		g.free(f.val)
	}
}
