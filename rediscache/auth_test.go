package rediscache_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/privates3/privates3/rediscache"
)

func TestAuthRequirepass(t *testing.T) {
	t.Parallel()
	const pass = "s3cret-pa55"
	srv := startRedis(t, "--requirepass", pass)
	ctx := t.Context()

	for name, opts := range map[string]rediscache.Options{
		"URL":                 {URL: "redis://:" + pass + "@" + srv.Addr() + "/0"},
		"field":               {URL: srv.URL(), Password: pass},
		"field overrides URL": {URL: "redis://:wrong@" + srv.Addr(), Password: pass},
	} {
		c := newCache(t, opts)
		eventually(t, 5*time.Second, func() error { return c.Set(ctx, name, []byte("v"), time.Hour) })
		if v, err := c.Get(ctx, name); err != nil || string(v) != "v" {
			t.Fatalf("%s: Get = %q, %v", name, v, err)
		}
	}

	for name, opts := range map[string]rediscache.Options{
		"none":  {URL: srv.URL()},
		"wrong": {URL: "redis://:wrong-" + pass + "@" + srv.Addr()},
	} {
		opts.BreakerErrors = 1000
		c := newCache(t, opts)
		for range 2 {
			_, err := c.Get(ctx, "URL")
			if err == nil {
				t.Fatalf("%s: Get succeeded", name)
			}
			if strings.Contains(err.Error(), pass) {
				t.Fatalf("%s: error shows the password: %v", name, err)
			}
			if !errors.Is(err, rediscache.ErrUnavailable) && !errors.Is(err, rediscache.ErrRedis) {
				t.Fatalf("%s: Get = %v; want ErrUnavailable or ErrRedis", name, err)
			}
		}
	}
}

func TestAuthACLUser(t *testing.T) {
	t.Parallel()
	// An ACL user confined to the tier's namespace and to the commands it sends, as a
	// least-privilege ElastiCache/Valkey user would be.
	srv := startRedis(t)
	srv.cli("ACL", "SETUSER", "tiles", "on", ">tiles-pw", "resetkeys", "~tiles:*", "resetchannels",
		"-@all", "+get", "+set", "+del", "+eval", "+evalsha", "+ping", "+hello", "+auth",
		"+client|setname", "+cluster|slots", "+cluster|shards") // (no CLIENT SETINFO in Redis 7.0)
	ctx := t.Context()

	c := newCache(t, rediscache.Options{URL: "redis://tiles:tiles-pw@" + srv.Addr(), Namespace: "tiles", BreakerErrors: 1000})
	eventually(t, 5*time.Second, func() error { return c.Set(ctx, "k", []byte("v"), time.Hour) })
	if v, err := c.Get(ctx, "k"); err != nil || string(v) != "v" {
		t.Fatalf("Get = %q, %v", v, err)
	}
	if ok, err := c.Lease(ctx, "k", time.Minute); !ok || err != nil {
		t.Fatalf("Lease = %v, %v", ok, err)
	}
	if err := c.Release(ctx, "k"); err != nil {
		t.Fatal(err)
	}
	if s := srv.cli("EXISTS", "tiles:v1:l:k"); s != "0" {
		t.Fatalf("lease left after Release: EXISTS = %s", s)
	}
	// Username and Password fields work as the URL does.
	f := newCache(t, rediscache.Options{URL: srv.URL(), Username: "tiles", Password: "tiles-pw", Namespace: "tiles"})
	eventually(t, 5*time.Second, func() error { return f.Ping(ctx) })
	if v, err := f.Get(ctx, "k"); err != nil || string(v) != "v" {
		t.Fatalf("fields: Get = %q, %v", v, err)
	}

	// The same user outside its key pattern is refused (NOPERM): an error, never a value.
	other := newCache(t, rediscache.Options{URL: "redis://tiles:tiles-pw@" + srv.Addr(), Namespace: "other", BreakerErrors: 1000})
	eventually(t, 5*time.Second, func() error { return other.Ping(ctx) })
	if _, err := other.Get(ctx, "k"); !errors.Is(err, rediscache.ErrRedis) || !strings.Contains(err.Error(), "NOPERM") {
		t.Fatalf("Get outside the user's keys = %v; want ErrRedis NOPERM", err)
	}
	if strings.Contains(srv.cli("ACL", "LOG"), "tiles-pw") {
		t.Fatal("the password shows in Redis's ACL LOG")
	}
}
