package privates3

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/smithy-go"
)

const credsTestSecret = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYSECRETKEY"

// stubSTS stands in for AssumeRole: every call is numbered, and fn decides the answer.
type stubSTS struct {
	calls atomic.Int64
	mu    sync.Mutex
	fn    func(ctx context.Context, n int64) (aws.Credentials, error)
	times []time.Time // when each call started
}

func (s *stubSTS) fetch(ctx context.Context) (aws.Credentials, error) {
	n := s.calls.Add(1)
	s.mu.Lock()
	fn := s.fn
	s.times = append(s.times, time.Now())
	s.mu.Unlock()
	return fn(ctx, n)
}

func (s *stubSTS) set(fn func(ctx context.Context, n int64) (aws.Credentials, error)) {
	s.mu.Lock()
	s.fn = fn
	s.mu.Unlock()
}

func (s *stubSTS) callTimes() []time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]time.Time(nil), s.times...)
}

// issue answers with fresh credentials valid for life, named after the call number.
func issue(life time.Duration) func(context.Context, int64) (aws.Credentials, error) {
	return func(_ context.Context, n int64) (aws.Credentials, error) {
		return aws.Credentials{
			AccessKeyID:     fmt.Sprintf("ASIA%d", n),
			SecretAccessKey: credsTestSecret,
			SessionToken:    "token-" + credsTestSecret,
			CanExpire:       life > 0,
			Expires:         time.Now().Add(life),
		}, nil
	}
}

// gated answers as issue(time.Hour) once gate is closed.
func gated(gate <-chan struct{}) func(context.Context, int64) (aws.Credentials, error) {
	return func(ctx context.Context, n int64) (aws.Credentials, error) {
		<-gate
		return issue(time.Hour)(ctx, n)
	}
}

// fail answers with err.
func fail(err error) func(context.Context, int64) (aws.Credentials, error) {
	return func(context.Context, int64) (aws.Credentials, error) { return aws.Credentials{}, err }
}

// hang blocks until ctx is done, like a hung STS connection under a deadline.
func hang(ctx context.Context, _ int64) (aws.Credentials, error) {
	<-ctx.Done()
	return aws.Credentials{}, fmt.Errorf("%w: AssumeRole: no answer", ErrTimeout)
}

var errThrottledSTS = fmt.Errorf("%w: AssumeRole arn:x: Throttling: Rate exceeded", ErrThrottled)

type testOpts struct {
	cfg  Config
	rand float64
	log  *bytes.Buffer
}

// newTestClient returns a stub STS answering with fn and a Client whose credentials come from it
// (first call made here), with the refresher running. Call inside a synctest bubble: the Client is
// closed by the bubble's cleanups (a test may Close it earlier).
func newTestClient(t *testing.T, fn func(context.Context, int64) (aws.Credentials, error), o testOpts) (*stubSTS, *Client, *credentials) {
	t.Helper()
	s := &stubSTS{fn: fn}
	cfg := o.cfg
	cfg.Bucket = "bkt"
	if o.log != nil {
		cfg.Logger = slog.New(slog.NewTextHandler(o.log, nil))
	}
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		t.Fatal(err)
	}
	c := &Client{cfg: cfg, log: cfg.Logger, life: newLifecycle()}
	r := o.rand
	cr := newCredentials(cfg, c.life, &c.stats, s.fetch, func() float64 { return r })
	if err := cr.start(context.Background()); err != nil {
		t.Fatalf("start: %v", err)
	}
	c.creds = cr
	t.Cleanup(func() { c.Close() })
	return s, c, cr
}

func mustRetrieve(t *testing.T, cr *credentials) aws.Credentials {
	t.Helper()
	creds, err := cr.Retrieve(context.Background())
	if err != nil {
		t.Fatalf("Retrieve: %v", err)
	}
	return creds
}

// The refresher renews at expiry - RefreshBefore - jitter, jitter in [0, RefreshBefore/10).
func TestCredentialsRefreshTime(t *testing.T) {
	for _, tc := range []struct {
		name          string
		session       time.Duration
		refreshBefore time.Duration
		rand          float64
		want          time.Duration // after the first fetch
	}{
		{"no jitter", time.Hour, 10 * time.Minute, 0, 50 * time.Minute},
		{"half jitter", time.Hour, 10 * time.Minute, 0.5, 49*time.Minute + 30*time.Second},
		{"max jitter", time.Hour, 10 * time.Minute, 0.999, 49*time.Minute + 60*time.Millisecond},
		{"12h session", 12 * time.Hour, 10 * time.Minute, 0, 11*time.Hour + 50*time.Minute},
		{"15m session, default RefreshBefore", 15 * time.Minute, 0, 0, 15*time.Minute - 15*time.Minute/4},
		{"short base credentials: half their life", 8 * time.Minute, 10 * time.Minute, 0, 4 * time.Minute},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				cfg := Config{RefreshBefore: tc.refreshBefore}
				if tc.session >= MinSessionDuration {
					cfg.SessionDuration = tc.session
				}
				s, c, _ := newTestClient(t, issue(tc.session), testOpts{cfg: cfg, rand: tc.rand})
				start := time.Now()
				time.Sleep(tc.want - time.Millisecond)
				synctest.Wait()
				if n := s.calls.Load(); n != 1 {
					t.Fatalf("%d fetches %v after start, want 1 (no refresh before %v)", n, time.Since(start), tc.want)
				}
				time.Sleep(time.Millisecond)
				synctest.Wait()
				if n := s.calls.Load(); n != 2 {
					t.Fatalf("%d fetches at %v, want 2", n, time.Since(start))
				}
				if got := s.callTimes()[1].Sub(start); got != tc.want {
					t.Errorf("refresh at %v, want %v", got, tc.want)
				}
				if st := c.Stats(); st.Refreshes != 1 || st.RefreshFailures != 0 {
					t.Errorf("Refreshes=%d RefreshFailures=%d, want 1, 0", st.Refreshes, st.RefreshFailures)
				}
			})
		})
	}
}

func TestCredentialsBackoff(t *testing.T) {
	cr := &credentials{}
	for _, tc := range []struct {
		n    int
		rand float64
		want time.Duration
	}{
		{1, 0, 500 * time.Millisecond},
		{1, 0.5, 750 * time.Millisecond},
		{2, 0, time.Second},
		{3, 0.999, 4*time.Second - 2*time.Millisecond},
		{6, 0, 16 * time.Second},
		{7, 0, 30 * time.Second}, // 64s capped at 60s
		{7, 0.999, 59970 * time.Millisecond},
		{40, 0.5, 45 * time.Second}, // no overflow
		{1000, 0, 30 * time.Second},
	} {
		r := tc.rand
		cr.rand = func() float64 { return r }
		if got := cr.backoff(tc.n); got != tc.want {
			t.Errorf("backoff(%d) with rand %v = %v, want %v", tc.n, tc.rand, got, tc.want)
		}
	}
}

// A failing refresh is retried with capped exponential backoff while Retrieve keeps returning the
// last good credentials, and the first successful retry replaces them.
func TestCredentialsRetryWithLastGood(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var logs bytes.Buffer
		s, c, cr := newTestClient(t, issue(time.Hour), testOpts{rand: 0.5, log: &logs})
		first := mustRetrieve(t, cr)
		start := time.Now()
		s.set(fail(errThrottledSTS))

		// Refresh at 50m (rand 0.5: 49m30s), then retries: 0.75s, 1.5s, 3s, ..., capped at 45s.
		time.Sleep(59*time.Minute + 59*time.Second)
		synctest.Wait()
		for i := range 1000 {
			got, err := cr.Retrieve(context.Background())
			if err != nil || got.AccessKeyID != first.AccessKeyID {
				t.Fatalf("Retrieve %d while the old credentials are valid: %v, %v", i, got.AccessKeyID, err)
			}
		}
		times := s.callTimes()
		if got, want := times[1].Sub(start), 49*time.Minute+30*time.Second; got != want {
			t.Errorf("first refresh at %v, want %v", got, want)
		}
		for i := 2; i < len(times); i++ {
			d := min(time.Second<<(i-2), time.Minute)
			if got, want := times[i].Sub(times[i-1]), d*3/4; got != want {
				t.Errorf("retry %d after %v, want %v", i-1, got, want)
			}
		}
		// 49m30s + 0.75+1.5+3+6+12+24 = 47.25s, then every 45s until 59m59s: 12 more.
		if n, want := len(times), 2+6+12; n != want {
			t.Errorf("%d fetches, want %d", n, want)
		}
		if st := c.Stats(); st.RefreshFailures != int64(len(times)-1) || st.Refreshes != 0 {
			t.Errorf("RefreshFailures=%d Refreshes=%d, want %d, 0", st.RefreshFailures, st.Refreshes, len(times)-1)
		}
		if !strings.Contains(logs.String(), "credentials refresh failed") || !strings.Contains(logs.String(), "Throttling") {
			t.Errorf("log lacks the failure: %s", logs.String())
		}
		if strings.Contains(logs.String(), credsTestSecret) {
			t.Errorf("log contains the secret")
		}

		// The next retry succeeds: new credentials at once, and the schedule starts over.
		s.set(issue(time.Hour))
		time.Sleep(45 * time.Second)
		synctest.Wait()
		got := mustRetrieve(t, cr)
		if got.AccessKeyID == first.AccessKeyID {
			t.Fatalf("still the old credentials after a successful retry")
		}
		if st := c.Stats(); st.Refreshes != 1 {
			t.Errorf("Refreshes=%d, want 1", st.Refreshes)
		}
		n := s.calls.Load()
		time.Sleep(48 * time.Minute) // next refresh at 1h00m02.25s + 49m30s
		synctest.Wait()
		if s.calls.Load() != n {
			t.Errorf("fetches after recovery before the next refresh time: %d (%v)", s.calls.Load()-n, s.callTimes()[n-2:])
		}
	})
}

// Once the credentials truly expired and STS keeps failing, callers get a clear error quickly;
// when STS hangs, they get ErrTimeout after STSTimeout at most.
func TestCredentialsExpiredErrors(t *testing.T) {
	for _, tc := range []struct {
		name     string
		fn       func(context.Context, int64) (aws.Credentials, error)
		want     []error
		maxDelay time.Duration
	}{
		{"throttled", fail(errThrottledSTS), []error{ErrCredentials, ErrThrottled}, 0},
		{"denied", fail(fmt.Errorf("%w: AssumeRole: AccessDenied", ErrAccessDenied)), []error{ErrCredentials, ErrAccessDenied}, 0},
		{"hung", hang, []error{ErrCredentials, ErrTimeout}, 5 * time.Second},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				s, _, cr := newTestClient(t, issue(time.Hour), testOpts{cfg: Config{STSTimeout: 5 * time.Second}})
				s.set(tc.fn)
				time.Sleep(time.Hour)
				for i := range 3 {
					start := time.Now()
					_, err := cr.Retrieve(context.Background())
					if err == nil {
						t.Fatalf("Retrieve %d after expiry: no error", i)
					}
					for _, w := range tc.want {
						if !errors.Is(err, w) {
							t.Errorf("Retrieve: %v, want it to wrap %v", err, w)
						}
					}
					if !strings.Contains(err.Error(), "expired at 2000-01-01T01:00:00Z") {
						t.Errorf("error does not say when the credentials expired: %v", err)
					}
					if strings.Contains(err.Error(), credsTestSecret) {
						t.Errorf("error contains the secret")
					}
					if d := time.Since(start); d > tc.maxDelay {
						t.Errorf("Retrieve took %v, want at most %v", d, tc.maxDelay)
					}
					time.Sleep(2 * time.Second) // past the failure memo
				}
			})
		})
	}
}

// A fetch that ignores its context (as the SDK's CredentialsCache does) still bounds the callers.
func TestCredentialsIgnoredContextBounded(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s, c, cr := newTestClient(t, issue(time.Hour), testOpts{cfg: Config{STSTimeout: 5 * time.Second}})
		release := make(chan struct{})
		s.set(func(context.Context, int64) (aws.Credentials, error) {
			<-release
			return aws.Credentials{}, errors.New("late")
		})
		time.Sleep(time.Hour)
		start := time.Now()
		_, err := cr.Retrieve(context.Background())
		if !errors.Is(err, ErrTimeout) {
			t.Errorf("Retrieve: %v, want ErrTimeout", err)
		}
		if d := time.Since(start); d > 6*time.Second {
			t.Errorf("Retrieve took %v with STSTimeout 5s", d)
		}
		close(release)
		c.Close()
	})
}

// A caller's own context ends its wait without failing the shared fetch for the others.
func TestCredentialsCallerContext(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s, _, cr := newTestClient(t, issue(time.Hour), testOpts{})
		gate := make(chan struct{})
		s.set(gated(gate))
		time.Sleep(time.Hour)
		ctx, cancel := context.WithCancel(context.Background())
		errc := make(chan error, 2)
		go func() { _, err := cr.Retrieve(ctx); errc <- err }()
		go func() { _, err := cr.Retrieve(context.Background()); errc <- err }()
		synctest.Wait()
		cancel()
		if err := <-errc; !errors.Is(err, context.Canceled) {
			t.Errorf("cancelled caller: %v, want context.Canceled", err)
		}
		close(gate)
		if err := <-errc; err != nil {
			t.Errorf("other caller: %v", err)
		}
	})
}

// Many callers finding the credentials expired share one fetch.
func TestCredentialsDedupExpired(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s, _, cr := newTestClient(t, issue(time.Hour), testOpts{})
		gate := make(chan struct{})
		s.set(func(ctx context.Context, n int64) (aws.Credentials, error) {
			select {
			case <-gate:
				return issue(time.Hour)(ctx, n)
			case <-ctx.Done():
				return aws.Credentials{}, ctx.Err()
			}
		})
		time.Sleep(time.Hour) // the refresher's calls since 50m time out; the credentials expired
		synctest.Wait()
		n0 := s.calls.Load()
		const callers = 100
		var wg sync.WaitGroup
		keys := make([]string, callers)
		for i := range callers {
			wg.Go(func() {
				creds, err := cr.Retrieve(context.Background())
				if err != nil {
					t.Errorf("Retrieve: %v", err)
				}
				keys[i] = creds.AccessKeyID
			})
		}
		synctest.Wait()
		close(gate)
		wg.Wait()
		if n := s.calls.Load(); n != n0+1 {
			t.Fatalf("%d fetches for %d callers, want 1", n-n0, callers)
		}
		for i, k := range keys {
			if k != keys[0] || k == "ASIA1" {
				t.Fatalf("caller %d got %q, caller 0 %q", i, k, keys[0])
			}
		}
		n := s.calls.Load()
		for range 10 {
			mustRetrieve(t, cr)
		}
		if s.calls.Load() != n {
			t.Errorf("fetches after renewal")
		}
	})
}

// Many callers reporting the same stale credentials cause one fetch; reports of credentials
// already replaced cause none.
func TestCredentialsForceRefreshDedup(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s, c, cr := newTestClient(t, issue(time.Hour), testOpts{})
		stale := mustRetrieve(t, cr)
		time.Sleep(20 * time.Minute)
		gate := make(chan struct{})
		s.set(gated(gate))
		var wg sync.WaitGroup
		for range 100 {
			wg.Go(func() {
				if err := cr.forceRefresh(context.Background(), stale); err != nil {
					t.Errorf("forceRefresh: %v", err)
				}
			})
		}
		synctest.Wait()
		close(gate)
		wg.Wait()
		for range 100 {
			if err := cr.forceRefresh(context.Background(), stale); err != nil {
				t.Errorf("forceRefresh of replaced credentials: %v", err)
			}
		}
		if n := s.calls.Load(); n != 2 {
			t.Errorf("%d fetches, want 2 (initial, one forced)", n)
		}
		if got := mustRetrieve(t, cr); got.AccessKeyID != "ASIA2" {
			t.Errorf("after forceRefresh: %s, want ASIA2", got.AccessKeyID)
		}
		if st := c.Stats(); st.ForcedRefreshes != 1 || st.Refreshes != 1 {
			t.Errorf("ForcedRefreshes=%d Refreshes=%d, want 1, 1", st.ForcedRefreshes, st.Refreshes)
		}
		// The refresher follows the forced credentials: next refresh 50m after them (at 70m),
		// not at the old ones' refresh time (50m).
		time.Sleep(50*time.Minute - time.Millisecond)
		synctest.Wait()
		if n := s.calls.Load(); n != 2 {
			t.Errorf("%d fetches before the forced credentials' refresh time, want 2", n)
		}
		time.Sleep(time.Millisecond)
		synctest.Wait()
		if n := s.calls.Load(); n != 3 {
			t.Errorf("%d fetches at the forced credentials' refresh time, want 3", n)
		}
	})
}

// After a failed fetch, callers within failureMemo get its error without another STS call.
func TestCredentialsFailureMemo(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s, _, cr := newTestClient(t, issue(time.Hour), testOpts{})
		stale := mustRetrieve(t, cr)
		s.set(fail(errThrottledSTS))
		for i := range 50 {
			if err := cr.forceRefresh(context.Background(), stale); !errors.Is(err, ErrThrottled) {
				t.Fatalf("forceRefresh %d: %v, want ErrThrottled", i, err)
			}
		}
		if n := s.calls.Load(); n != 2 {
			t.Errorf("%d fetches, want 2 (initial, one forced)", n)
		}
		time.Sleep(time.Second)
		if err := cr.forceRefresh(context.Background(), stale); !errors.Is(err, ErrThrottled) {
			t.Fatalf("forceRefresh: %v", err)
		}
		if n := s.calls.Load(); n != 3 {
			t.Errorf("%d fetches, want 3 after the memo expired", n)
		}
		if got := mustRetrieve(t, cr); got.AccessKeyID != stale.AccessKeyID {
			t.Errorf("failed forced refreshes replaced the credentials")
		}
	})
}

func TestCredentialsValidFor(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s, _, cr := newTestClient(t, issue(time.Hour), testOpts{})
		ctx := context.Background()
		got, err := cr.validFor(ctx, 30*time.Minute)
		if err != nil || got.AccessKeyID != "ASIA1" || s.calls.Load() != 1 {
			t.Fatalf("validFor(30m) on fresh credentials: %s, %v, %d fetches", got.AccessKeyID, err, s.calls.Load())
		}
		// Asking for more than a session never gives more: no fetch while they are young.
		for range 10 {
			if got, _ := cr.validFor(ctx, 7*24*time.Hour); got.AccessKeyID != "ASIA1" {
				t.Fatalf("young credentials renewed for a long validFor")
			}
		}
		if n := s.calls.Load(); n != 1 {
			t.Errorf("%d fetches, want 1", n)
		}
		time.Sleep(40 * time.Minute) // 20m left, a quarter of the session passed
		got, err = cr.validFor(ctx, 30*time.Minute)
		if err != nil || got.AccessKeyID != "ASIA2" || !got.Expires.Equal(time.Now().Add(time.Hour)) {
			t.Fatalf("validFor(30m) with 20m left: %s expiring %v, %v", got.AccessKeyID, got.Expires, err)
		}
		// A failing renewal still yields the current credentials while they are valid.
		s.set(fail(errThrottledSTS))
		time.Sleep(40 * time.Minute)
		got, err = cr.validFor(ctx, 30*time.Minute)
		if err != nil || got.AccessKeyID != "ASIA2" {
			t.Fatalf("validFor with failing STS: %s, %v", got.AccessKeyID, err)
		}
	})
}

// Credentials that never expire (static base keys) are fetched once and never renewed.
func TestCredentialsStatic(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s, _, cr := newTestClient(t, issue(0), testOpts{})
		time.Sleep(48 * time.Hour)
		if got := mustRetrieve(t, cr); got.AccessKeyID != "ASIA1" {
			t.Errorf("got %s", got.AccessKeyID)
		}
		if n := s.calls.Load(); n != 1 {
			t.Errorf("%d fetches in 48h, want 1", n)
		}
	})
}

// Close stops the refresher and a fetch in flight, and waits for both; Retrieve needing a fetch
// afterwards fails with ErrClosed. synctest.Test fails if a goroutine is left.
func TestCredentialsClose(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s, c, cr := newTestClient(t, issue(time.Hour), testOpts{cfg: Config{STSTimeout: time.Minute}})
		s.set(hang)
		time.Sleep(50*time.Minute + time.Second) // the refresher's fetch hangs now
		synctest.Wait()
		start := time.Now()
		c.Close()
		if d := time.Since(start); d != 0 {
			t.Errorf("Close waited %v for a hung fetch", d)
		}
		time.Sleep(time.Hour)
		if _, err := cr.Retrieve(context.Background()); !errors.Is(err, ErrClosed) {
			t.Errorf("Retrieve after Close with expired credentials: %v, want ErrClosed", err)
		}
		if n := s.calls.Load(); n != 2 {
			t.Errorf("%d fetches, want 2", n)
		}
	})
}

// A first fetch that fails makes start fail, leaving no goroutine behind.
func TestCredentialsStartFails(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := &Client{cfg: Config{Bucket: "bkt"}.withDefaults(), life: newLifecycle()}
		s := &stubSTS{fn: fail(fmt.Errorf("%w: AssumeRole: AccessDenied", ErrAccessDenied))}
		cr := newCredentials(c.cfg, c.life, &c.stats, s.fetch, rand.Float64)
		if err := cr.start(context.Background()); !errors.Is(err, ErrAccessDenied) {
			t.Errorf("start: %v, want ErrAccessDenied", err)
		}
		s.set(hang)
		cr = newCredentials(c.cfg, c.life, &c.stats, s.fetch, rand.Float64)
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		if err := cr.start(ctx); !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("start with a short ctx: %v, want DeadlineExceeded", err)
		}
		c.Close()
	})
}

func TestSTSErrorMapping(t *testing.T) {
	const role = "arn:aws:iam::123456789012:role/r"
	live := context.Background()
	expired, cancel := context.WithDeadlineCause(context.Background(), time.Unix(0, 0), errFetchTimeout)
	defer cancel()
	api := func(code string) error {
		return fmt.Errorf("operation error STS: AssumeRole: %w", &smithy.GenericAPIError{Code: code, Message: "msg of " + code})
	}
	for _, tc := range []struct {
		name string
		ctx  context.Context
		err  error
		want error
		text string
	}{
		{"access denied", live, api("AccessDenied"), ErrAccessDenied, "AccessDenied: msg of AccessDenied"},
		{"throttling", live, api("Throttling"), ErrThrottled, "Throttling"},
		{"throttling exception", live, api("ThrottlingException"), ErrThrottled, "ThrottlingException"},
		{"expired base token", live, api("ExpiredToken"), ErrCredentials, "ExpiredToken"},
		{"invalid client token", live, api("InvalidClientTokenId"), ErrCredentials, "InvalidClientTokenId"},
		{"malformed policy", live, api("MalformedPolicyDocument"), ErrCredentials, "MalformedPolicyDocument"},
		{"deadline", expired, fmt.Errorf("op: %w", context.DeadlineExceeded), ErrTimeout, "no answer within 10s"},
		{"canceled while retrying", expired, &aws.RequestCanceledError{Err: context.DeadlineExceeded}, ErrTimeout, "no answer within 10s"},
		{"caller canceled", live, fmt.Errorf("op: %w", context.Canceled), ErrCredentials, "context canceled"},
		{"connection refused", live, errors.New("dial tcp 127.0.0.1:1: connect: connection refused"), ErrCredentials, "connection refused"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := stsError(tc.ctx, role, tc.err, 10*time.Second)
			if !errors.Is(err, tc.want) {
				t.Errorf("stsError = %v, want it to wrap %v", err, tc.want)
			}
			if !strings.Contains(err.Error(), tc.text) || !strings.Contains(err.Error(), role) {
				t.Errorf("stsError = %q, want it to name the role and %q", err, tc.text)
			}
		})
	}
}

func TestIsCredentialError(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want bool
	}{
		{&smithy.GenericAPIError{Code: "ExpiredToken"}, true},
		{fmt.Errorf("op: %w", &smithy.GenericAPIError{Code: "InvalidAccessKeyId"}), true},
		{&smithy.GenericAPIError{Code: "InvalidToken"}, true},
		{&smithy.GenericAPIError{Code: "AccessDenied"}, false},
		{&smithy.GenericAPIError{Code: "SignatureDoesNotMatch"}, false},
		{errors.New("ExpiredToken"), false},
		{nil, false},
	} {
		if c, _ := code(tc.err); credentialCode(c) != tc.want {
			t.Errorf("credentialCode(code(%v)) = %v, want %v", tc.err, !tc.want, tc.want)
		}
	}
}

func TestAssumeRoleArguments(t *testing.T) {
	c := &Client{cfg: Config{Bucket: "bkt"}.withDefaults()}
	if _, err := c.assumeRole(context.Background(), "", 0); !errors.Is(err, ErrCredentials) || !strings.Contains(err.Error(), "RoleARN") {
		t.Errorf("assumeRole without RoleARN: %v", err)
	}
	c.cfg.RoleARN = "arn:aws:iam::123456789012:role/r"
	c.sts = newSTSClient(aws.Config{Region: "us-east-1"}, c.cfg, http.DefaultClient)
	for _, d := range []time.Duration{time.Minute, 13 * time.Hour, -time.Second} {
		if _, err := c.assumeRole(context.Background(), "", d); !errors.Is(err, ErrInvalidOption) {
			t.Errorf("assumeRole(%v): %v, want ErrInvalidOption", d, err)
		}
	}
	if _, err := c.assumeRole(context.Background(), strings.Repeat("x", 2049), time.Hour); !errors.Is(err, ErrInvalidOption) {
		t.Errorf("assumeRole with a 2049-byte policy: %v, want ErrInvalidOption", err)
	}
	if n := c.stats.stsCalls.Load(); n != 0 {
		t.Errorf("%d STS calls for invalid arguments", n)
	}
}

// BenchmarkCredentialsRetrieve compares the hot path of Retrieve with the SDK's CredentialsCache,
// as every S3 request calls it: run both and compare ns/op
// (go test -run NONE -bench CredentialsRetrieve -cpu 1,2 .).
func BenchmarkCredentialsRetrieve(b *testing.B) {
	ctx := context.Background()
	valid := aws.Credentials{AccessKeyID: "ASIA1", SecretAccessKey: credsTestSecret, SessionToken: "t", CanExpire: true, Expires: time.Now().Add(time.Hour)}
	b.Run("privates3", func(b *testing.B) {
		c := &Client{cfg: Config{Bucket: "bkt"}.withDefaults(), life: newLifecycle()}
		cr := newCredentials(c.cfg, c.life, &c.stats, func(context.Context) (aws.Credentials, error) { return valid, nil }, rand.Float64)
		if err := cr.start(ctx); err != nil {
			b.Fatal(err)
		}
		defer c.Close()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if _, err := cr.Retrieve(ctx); err != nil {
					b.Fatal(err)
				}
			}
		})
	})
	b.Run("aws.CredentialsCache", func(b *testing.B) {
		cc := aws.NewCredentialsCache(aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) { return valid, nil }),
			func(o *aws.CredentialsCacheOptions) { o.ExpiryWindow = 10 * time.Minute })
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if _, err := cc.Retrieve(ctx); err != nil {
					b.Fatal(err)
				}
			}
		})
	})
}
