package privates3_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/privates3/privates3"
	"github.com/privates3/privates3/privates3test"
)

// getAtOnce gets key as get does and checks that it did not wait (on the bubble's clock), naming
// the time since start in its failures; it reports whether the get succeeded.
func getAtOnce(t *testing.T, c *privates3.Client, key string, start time.Time) bool {
	t.Helper()
	before := time.Now()
	err := get(c, key)
	if err != nil {
		t.Errorf("GetObject at %v: %v", time.Since(start), err)
	}
	if d := time.Since(before); d != 0 {
		t.Errorf("GetObject at %v waited %v for credentials", time.Since(start), d)
	}
	return err == nil
}

// get reads key whole and checks its body.
func get(c *privates3.Client, key string) error {
	obj, err := c.GetObject(context.Background(), key)
	if err != nil {
		return err
	}
	defer obj.Body.Close()
	b, err := io.ReadAll(obj.Body)
	if err != nil {
		return err
	}
	if want := "body " + strings.TrimPrefix(key, "k"); string(b) != want {
		return fmt.Errorf("%s: got %q, want %q", key, b, want)
	}
	return nil
}

// One AssumeRole serves 10,000 requests (500 of them GetObject calls signed and verified by the
// fake, the rest credential lookups as each S3 request makes), from 10 concurrent workers over
// 33 minutes of fake time.
func TestCredentialsOneAssumeRoleFor10000Requests(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		srv, c, done := newCredsFake(t, 10, nil)
		defer done()
		const workers, perWorker = 10, 1000
		var failures, gets atomic.Int64
		var wg sync.WaitGroup
		for w := range workers {
			wg.Go(func() {
				for i := range perWorker {
					time.Sleep(2 * time.Second)
					if i%20 == 0 {
						gets.Add(1)
						if err := get(c, fmt.Sprintf("k%d", w)); err != nil {
							failures.Add(1)
							t.Errorf("GetObject: %v", err)
						}
						continue
					}
					creds, err := c.CredsRetrieve(context.Background())
					if err != nil || !creds.Expires.After(time.Now()) {
						failures.Add(1)
						t.Errorf("Retrieve: %v (expires %v)", err, creds.Expires)
					}
				}
			})
		}
		wg.Wait()
		st := c.Stats()
		t.Logf("%d requests (%d GetObject) in %v: %d AssumeRole requests at the fake, STSCalls=%d, failures=%d",
			workers*perWorker, gets.Load(), 2*perWorker*time.Second, srv.Count(privates3test.OpAssumeRole), st.STSCalls, failures.Load())
		if n := srv.Count(privates3test.OpAssumeRole); n != 1 || st.STSCalls != 1 {
			t.Errorf("AssumeRole requests=%d STSCalls=%d, want 1, 1", n, st.STSCalls)
		}
		if n := srv.Count(privates3test.OpGetObject); n != int(gets.Load()) || st.UpstreamGets != gets.Load() {
			t.Errorf("GetObject requests=%d UpstreamGets=%d, want %d", n, st.UpstreamGets, gets.Load())
		}
		if st.Refreshes != 0 || st.ForcedRefreshes != 0 {
			t.Errorf("Refreshes=%d ForcedRefreshes=%d, want 0", st.Refreshes, st.ForcedRefreshes)
		}
	})
}

// Over 3 hours of requests every 30 seconds, the credentials are renewed in the background
// 10 to 11 minutes before they expire: no request ever signs with expired credentials or waits
// for STS, and STS sees one call per renewal.
func TestCredentialsRefreshAheadOfExpiry(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		srv, c, done := newCredsFake(t, 2, nil)
		defer done()
		start := time.Now()
		minLeft := time.Duration(1<<63 - 1)
		keys := map[string]time.Duration{} // access key -> first seen, since start
		var failures int
		for i := 0; time.Since(start) < 3*time.Hour; i++ {
			creds, err := c.CredsRetrieve(context.Background())
			if err != nil {
				t.Fatalf("Retrieve: %v", err)
			}
			minLeft = min(minLeft, time.Until(creds.Expires))
			if _, ok := keys[creds.AccessKeyID]; !ok {
				keys[creds.AccessKeyID] = time.Since(start)
			}
			if !getAtOnce(t, c, fmt.Sprintf("k%d", i%2), start) {
				failures++
			}
			time.Sleep(30 * time.Second)
		}
		st := c.Stats()
		t.Logf("3h: %d sessions first used at %v; least validity left at a request: %v; AssumeRole requests=%d Refreshes=%d failures=%d",
			len(keys), keys, minLeft, srv.Count(privates3test.OpAssumeRole), st.Refreshes, failures)
		// Sessions start at 0, ~49.5m, ~1h39m, ~2h28m.
		if n := srv.Count(privates3test.OpAssumeRole); n != 4 || st.Refreshes != 3 || len(keys) != 4 {
			t.Errorf("AssumeRole requests=%d Refreshes=%d sessions=%d, want 4, 3, 4", n, st.Refreshes, len(keys))
		}
		if minLeft < 10*time.Minute-time.Second { // Expiration has whole seconds
			t.Errorf("a request used credentials with only %v left, want at least RefreshBefore (10m)", minLeft)
		}
		if st.ForcedRefreshes != 0 || st.RefreshFailures != 0 {
			t.Errorf("ForcedRefreshes=%d RefreshFailures=%d, want 0", st.ForcedRefreshes, st.RefreshFailures)
		}
	})
}

// STS fails from before the refresh point (errors from 45m, hanging from 52m): requests keep
// working with the old credentials while they are valid. Then either STS recovers before they
// expire (the first retry after that succeeds), or it stays down past their expiry (requests then
// fail with clear errors after at most STSTimeout, and recover once STS answers again).
func TestCredentialsSTSOutage(t *testing.T) {
	for _, recoverAt := range []time.Duration{57 * time.Minute, 0} {
		name := "recovers at 57m"
		if recoverAt == 0 {
			name = "down past expiry"
		}
		t.Run(name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				srv, c, done := newCredsFake(t, 4, nil)
				defer done()
				start := time.Now()
				first, _ := c.CredsRetrieve(context.Background())
				sleepUntil := func(d time.Duration) { time.Sleep(time.Until(start.Add(d))) }

				sleepUntil(45 * time.Minute)
				removeErrors := srv.InjectFault(privates3test.Fault{Op: privates3test.OpAssumeRole, Status: 500, Code: "InternalFailure"})
				until := 60*time.Minute - time.Second
				if recoverAt != 0 {
					until = recoverAt
				}
				var removeHang func()
				requests, failures := 0, 0
				for i := 0; time.Since(start) < until; i++ {
					if removeHang == nil && time.Since(start) >= 52*time.Minute {
						removeErrors()
						removeHang = srv.InjectFault(privates3test.Fault{Op: privates3test.OpAssumeRole, Hang: true})
					}
					requests++
					if !getAtOnce(t, c, fmt.Sprintf("k%d", i%4), start) {
						failures++
					}
					time.Sleep(5 * time.Second)
				}
				st := c.Stats()
				t.Logf("outage 45m..%v: %d GetObject, %d failed; %d refresh attempts failed, %d AssumeRole requests at the fake",
					time.Since(start).Round(time.Second), requests, failures, st.RefreshFailures, srv.Count(privates3test.OpAssumeRole))
				if st.RefreshFailures < 10 || st.Refreshes != 0 {
					t.Errorf("RefreshFailures=%d Refreshes=%d, want >= 10 and 0", st.RefreshFailures, st.Refreshes)
				}

				if recoverAt != 0 {
					removeHang()
					n0, removed := srv.Count(privates3test.OpAssumeRole), time.Now()
					for c.Stats().Refreshes == 0 && time.Since(removed) < 5*time.Minute {
						time.Sleep(100 * time.Millisecond)
					}
					t.Logf("recovered %v after STS came back, with %d AssumeRole request(s)",
						time.Since(removed).Round(100*time.Millisecond), srv.Count(privates3test.OpAssumeRole)-n0)
					if st := c.Stats(); st.Refreshes != 1 {
						t.Fatalf("no recovery within 5m of STS coming back")
					}
					// A hung attempt may be in flight when STS recovers: it ends at STSTimeout
					// (10s), then the retry waits at most the backoff cap (1m).
					if d := time.Since(removed); d > 70*time.Second {
						t.Errorf("recovery took %v, want at most 1m10s", d)
					}
					if n := srv.Count(privates3test.OpAssumeRole) - n0; n != 1 {
						t.Errorf("%d AssumeRole requests until recovery, want 1", n)
					}
					now, _ := c.CredsRetrieve(context.Background())
					if now.AccessKeyID == first.AccessKeyID {
						t.Errorf("still the old credentials after recovery")
					}
					sleepUntil(2 * time.Hour)
					if err := get(c, "k0"); err != nil {
						t.Errorf("GetObject at 2h: %v", err)
					}
					return
				}

				// Past expiry, STS hanging: errors, each within STSTimeout.
				sleepUntil(time.Hour + time.Second)
				for range 3 {
					before := time.Now()
					err := get(c, "k1")
					d := time.Since(before)
					t.Logf("after expiry, STS hanging: GetObject failed after %v: %v", d, err)
					checkCredsError(t, err, first.SecretAccessKey, privates3.ErrTimeout)
					if d > 10*time.Second {
						t.Errorf("GetObject took %v, want at most STSTimeout (10s)", d)
					}
					time.Sleep(3 * time.Second)
				}
				// STS answering with errors: quick errors.
				removeHang()
				removeErrors = srv.InjectFault(privates3test.Fault{Op: privates3test.OpAssumeRole, Status: 403, Code: "AccessDenied"})
				// A renewal that started while STS hung still hangs until its STSTimeout (10s);
				// the refresher's jittered retries may have started one just now.
				time.Sleep(11 * time.Second)
				before := time.Now()
				err := get(c, "k2")
				t.Logf("after expiry, STS denying: GetObject failed after %v: %v", time.Since(before), err)
				checkCredsError(t, err, first.SecretAccessKey, privates3.ErrAccessDenied)
				if d := time.Since(before); d != 0 {
					t.Errorf("GetObject took %v with STS answering errors at once", d)
				}
				// STS back: the next request (or the refresher) renews the credentials.
				removeErrors()
				time.Sleep(2 * time.Second)
				if err := get(c, "k3"); err != nil {
					t.Errorf("GetObject after STS came back: %v", err)
				}
			})
		})
	}
}

func checkCredsError(t *testing.T, err error, secret string, cause error) {
	t.Helper()
	if err == nil {
		t.Errorf("GetObject with expired credentials: no error")
		return
	}
	if !errors.Is(err, privates3.ErrCredentials) || !errors.Is(err, cause) {
		t.Errorf("error %q does not wrap ErrCredentials and %v", err, cause)
	}
	if !strings.Contains(err.Error(), "expired at") {
		t.Errorf("error %q does not say that the credentials expired", err)
	}
	if strings.Contains(err.Error(), secret) {
		t.Errorf("error contains the secret key")
	}
}

// An S3 answer saying the credentials are invalid makes the Client renew them once and retry
// once; many requests rejected for the same credentials share that one renewal.
func TestCredentialsForcedRefresh(t *testing.T) {
	for _, code := range []string{"ExpiredToken", "InvalidAccessKeyId", "InvalidToken"} {
		t.Run(code, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				const n = 50
				srv, c, done := newCredsFake(t, n, nil)
				defer done()
				old, _ := c.CredsRetrieve(context.Background())
				for i := range n {
					srv.InjectFault(privates3test.Fault{Op: privates3test.OpGetObject, Key: fmt.Sprintf("k%d", i), Times: 1, Status: 400, Code: code})
				}
				// The renewal takes a second, so that every request is first signed with the old
				// credentials (the fault would reject new ones too, which would rightly force
				// another renewal).
				srv.InjectFault(privates3test.Fault{Op: privates3test.OpAssumeRole, Times: 1, Latency: time.Second})
				var wg sync.WaitGroup
				for i := range n {
					wg.Go(func() {
						if err := get(c, fmt.Sprintf("k%d", i)); err != nil {
							t.Errorf("GetObject k%d: %v", i, err)
						}
					})
				}
				wg.Wait()
				st := c.Stats()
				t.Logf("%d concurrent GetObject answered %s once each: ForcedRefreshes=%d, AssumeRole requests=%d, S3 GETs=%d",
					n, code, st.ForcedRefreshes, srv.Count(privates3test.OpAssumeRole), srv.Count(privates3test.OpGetObject))
				if st.ForcedRefreshes != 1 || srv.Count(privates3test.OpAssumeRole) != 2 {
					t.Errorf("ForcedRefreshes=%d AssumeRole requests=%d, want 1, 2", st.ForcedRefreshes, srv.Count(privates3test.OpAssumeRole))
				}
				if got := srv.Count(privates3test.OpGetObject); got != 2*n {
					t.Errorf("%d S3 GETs, want %d (one retry each)", got, 2*n)
				}
				if now, _ := c.CredsRetrieve(context.Background()); now.AccessKeyID == old.AccessKeyID {
					t.Errorf("credentials not replaced")
				}

				// S3 keeps rejecting, fresh credentials too: within MinForcedInterval of the last
				// forced renewal, the error at once, without an STS call; after it, one more
				// forced renewal, one retry, then the error.
				srv.InjectFault(privates3test.Fault{Op: privates3test.OpGetObject, Key: "k0", Status: 400, Code: code})
				for _, tc := range []struct{ gets, roles int }{{1, 0}, {2, 1}} {
					srv.ResetCounts()
					err := get(c, "k0")
					if !errors.Is(err, privates3.ErrCredentials) {
						t.Errorf("GetObject rejected again: %v, want ErrCredentials", err)
					}
					if got := srv.CountKey(privates3test.OpGetObject, "k0"); got != tc.gets {
						t.Errorf("%d S3 GETs, want %d", got, tc.gets)
					}
					if got := srv.Count(privates3test.OpAssumeRole); got != tc.roles {
						t.Errorf("%d AssumeRole requests, want %d", got, tc.roles)
					}
					time.Sleep(privates3.MinForcedInterval)
				}
			})
		})
	}
}

// The Config's ExternalID, SessionDuration and SessionPolicy reach AssumeRole.
func TestCredentialsAssumeRoleParameters(t *testing.T) {
	const readPublic = `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:GetObject","Resource":"arn:aws:s3:::tiles/k1"}]}`
	synctest.Test(t, func(t *testing.T) {
		srv, c, done := newCredsFake(t, 2, func(srv *privates3test.Server, cfg *privates3.Config) {
			cfg.RoleARN = srv.AddRole(privates3test.Role{
				Name:               "external",
				Policy:             `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:GetObject","Resource":"arn:aws:s3:::tiles/*"}]}`,
				MaxSessionDuration: 12 * time.Hour,
				ExternalID:         "ext-4711",
			})
			cfg.ExternalID = "ext-4711"
			cfg.SessionDuration = 12 * time.Hour
			cfg.SessionPolicy = readPublic
		})
		defer done()
		creds, err := c.CredsRetrieve(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if got := time.Until(creds.Expires); got != 12*time.Hour {
			t.Errorf("session lasts %v, want 12h", got)
		}
		if err := get(c, "k1"); err != nil {
			t.Errorf("GetObject allowed by the session policy: %v", err)
		}
		if err := get(c, "k0"); !errors.Is(err, privates3.ErrAccessDenied) {
			t.Errorf("GetObject outside the session policy: %v, want ErrAccessDenied", err)
		}
		_ = srv
	})
}

// New fails with a clear, bounded error when the first AssumeRole fails.
func TestCredentialsNewErrors(t *testing.T) {
	for _, tc := range []struct {
		name   string
		mutate func(*privates3test.Server, *privates3.Config)
		fault  *privates3test.Fault
		want   error
		maxDur time.Duration
	}{
		{"unknown role", func(_ *privates3test.Server, cfg *privates3.Config) {
			cfg.RoleARN = "arn:aws:iam::123456789012:role/nope"
		}, nil, privates3.ErrAccessDenied, 0},
		{"missing external ID", func(srv *privates3test.Server, cfg *privates3.Config) {
			cfg.RoleARN = srv.AddRole(privates3test.Role{Name: "ext", ExternalID: "ext-1"})
		}, nil, privates3.ErrAccessDenied, 0},
		{"duration above the role's maximum", func(_ *privates3test.Server, cfg *privates3.Config) {
			cfg.SessionDuration = 13 * time.Hour / 2
			cfg.RoleARN = "" // replaced below
		}, nil, privates3.ErrCredentials, 0},
		{"throttled", nil, &privates3test.Fault{Op: privates3test.OpAssumeRole, Status: 400, Code: "Throttling"}, privates3.ErrThrottled, 3 * time.Second},
		{"hung", nil, &privates3test.Fault{Op: privates3test.OpAssumeRole, Hang: true}, privates3.ErrTimeout, 5 * time.Second},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				srv := privates3test.NewServer(privates3test.InProcess())
				defer srv.Close()
				cfg := srv.Config("tiles")
				cfg.STSTimeout = 5 * time.Second
				if tc.mutate != nil {
					tc.mutate(srv, &cfg)
				}
				if cfg.RoleARN == "" {
					cfg.RoleARN = srv.AddRole(privates3test.Role{Name: "short"}) // 1h maximum
				}
				if tc.fault != nil {
					srv.InjectFault(*tc.fault)
				}
				start := time.Now()
				c, err := privates3.New(context.Background(), cfg)
				if err == nil {
					c.Close()
					t.Fatalf("New succeeded")
				}
				t.Logf("New failed after %v: %v", time.Since(start), err)
				if !errors.Is(err, tc.want) {
					t.Errorf("New: %v, want it to wrap %v", err, tc.want)
				}
				if d := time.Since(start); d > tc.maxDur {
					t.Errorf("New took %v, want at most %v", d, tc.maxDur)
				}
				if strings.Contains(err.Error(), srv.BaseCredentials().SecretAccessKey) {
					t.Errorf("error contains the base secret key")
				}
			})
		})
	}
}

// Without RoleARN the base credentials sign S3 requests directly; STS is never called.
func TestCredentialsBase(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		srv, c, done := newCredsFake(t, 1, func(_ *privates3test.Server, cfg *privates3.Config) { cfg.RoleARN = "" })
		defer done()
		creds, err := c.CredsRetrieve(context.Background())
		if err != nil || creds.AccessKeyID != srv.BaseCredentials().AccessKeyID {
			t.Fatalf("Retrieve: %s, %v; want the base key", creds.AccessKeyID, err)
		}
		time.Sleep(25 * time.Hour)
		if err := get(c, "k0"); err != nil {
			t.Errorf("GetObject: %v", err)
		}
		if st := c.Stats(); st.STSCalls != 0 || srv.Count(privates3test.OpAssumeRole) != 0 {
			t.Errorf("STSCalls=%d AssumeRole requests=%d, want 0", st.STSCalls, srv.Count(privates3test.OpAssumeRole))
		}
	})
}
