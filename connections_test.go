package privates3_test

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/privates3/privates3"
	"github.com/privates3/privates3/privates3test"
)

// countingProxy forwards loopback TCP connections to target and counts them.
type countingProxy struct {
	ln    net.Listener
	conns atomic.Int64
	wg    sync.WaitGroup
}

func newCountingProxy(t *testing.T, target string) *countingProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &countingProxy{ln: ln}
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		for {
			in, err := ln.Accept()
			if err != nil {
				return
			}
			p.conns.Add(1)
			p.wg.Add(1)
			go func() {
				defer p.wg.Done()
				defer in.Close()
				out, err := net.Dial("tcp", target)
				if err != nil {
					return
				}
				defer out.Close()
				go func() {
					io.Copy(out, in)
					out.(*net.TCPConn).CloseWrite()
				}()
				io.Copy(in, out)
			}()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		p.wg.Wait()
	})
	return p
}

// The S3 transport keeps enough idle connections for the concurrency it serves: 64 concurrent
// callers streaming objects reuse about 64 connections, where a pool of the SDK's default size
// (10 idle per host) or smaller opens new connections all the time (DESIGN, Connections).
//
// The Client built as the README shows (Config.AWS nil: config.LoadDefaultConfig, whose
// HTTPClient is the SDK's BuildableClient) gets the sized pool too.
func TestConnectionsReusedUnderConcurrency(t *testing.T) {
	const callers, rounds = 64, 10
	run := func(t *testing.T, maxConns int, loadDefault bool) int64 {
		srv := privates3test.NewServer()
		defer srv.Close()
		for i := range callers {
			srv.PutObject("tiles", fmt.Sprintf("obj-%d.bin", i), make([]byte, 8<<10))
		}
		// Slow answers, so that all callers have a request in flight at once.
		srv.InjectFault(privates3test.Fault{Op: privates3test.OpGetObject, Latency: 20 * time.Millisecond})
		proxy := newCountingProxy(t, strings.TrimPrefix(srv.URL, "http://"))
		cfg := srv.Config("tiles")
		cfg.Endpoint = "http://" + proxy.ln.Addr().String()
		cfg.MaxCacheableSize = 1 // every call goes to S3
		cfg.MaxConnsPerHost = maxConns
		if loadDefault {
			base := srv.BaseCredentials()
			for k, v := range map[string]string{
				"AWS_ACCESS_KEY_ID": base.AccessKeyID, "AWS_SECRET_ACCESS_KEY": base.SecretAccessKey,
				"AWS_SESSION_TOKEN": "", "AWS_REGION": srv.Region(), "AWS_PROFILE": "",
				"AWS_CONFIG_FILE": os.DevNull, "AWS_SHARED_CREDENTIALS_FILE": os.DevNull,
				"AWS_EC2_METADATA_DISABLED": "true",
			} {
				t.Setenv(k, v)
			}
			cfg.AWS = nil
		}
		c, err := privates3.New(context.Background(), cfg)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		// Bursts: all callers ask at once, then all wait for the slowest, as page loads do.
		for range rounds {
			var wg sync.WaitGroup
			errs := make(chan error, callers)
			for i := range callers {
				wg.Add(1)
				go func() {
					defer wg.Done()
					key := fmt.Sprintf("obj-%d.bin", i) // one key each: no call merges with another
					obj, err := c.GetObject(context.Background(), key)
					if err != nil {
						errs <- err
						return
					}
					io.Copy(io.Discard, obj.Body)
					obj.Body.Close()
				}()
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				t.Fatal(err)
			}
		}
		if got := c.Stats().Streamed; got != callers*rounds {
			t.Fatalf("Streamed = %d, want %d (every call to S3)", got, callers*rounds)
		}
		return proxy.conns.Load()
	}
	sized := run(t, 0, false) // the default, DefaultMaxConnsPerHost
	loaded := run(t, 0, true)
	small := run(t, 10, false)
	t.Logf("%d rounds of %d concurrent streamed GETs: %d S3 connections with the default pool, %d from LoadDefaultConfig, %d with 10 idle per host",
		rounds, callers, sized, loaded, small)
	for name, n := range map[string]int64{"default pool": sized, "LoadDefaultConfig": loaded} {
		// One connection per caller (64 here); a few more may be dialled when the loaded machine
		// delays a connection's return to the pool past the next burst.
		if n > callers+4 {
			t.Errorf("%s opened %d connections for %d concurrent callers, want about %d", name, n, callers, callers)
		}
	}
	if small <= sized {
		t.Errorf("a 10-connection pool opened %d connections, no more than the default's %d: the test cannot tell them apart", small, sized)
	}
}
