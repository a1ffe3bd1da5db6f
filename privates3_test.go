package privates3

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/aws/aws-sdk-go-v2/aws"
)

func TestConfigValidate(t *testing.T) {
	valid := Config{Bucket: "tiles"}
	tests := []struct {
		name  string
		edit  func(*Config)
		field string // "" means valid
	}{
		{"minimal", func(*Config) {}, ""},
		{"full", func(c *Config) {
			c.Prefix = "maps/"
			c.RoleARN = "arn:aws:iam::123456789012:role/r"
			c.SessionDuration = 12 * time.Hour
			c.RefreshBefore = time.Hour
		}, ""},
		{"no bucket", func(c *Config) { c.Bucket = "" }, "Bucket"},
		{"bucket upper case", func(c *Config) { c.Bucket = "Tiles" }, "Bucket"},
		{"bucket short", func(c *Config) { c.Bucket = "ab" }, "Bucket"},
		{"prefix traversal", func(c *Config) { c.Prefix = "../" }, "Prefix"},
		{"prefix leading slash", func(c *Config) { c.Prefix = "/x/" }, "Prefix"},
		{"prefix too long", func(c *Config) { c.Prefix = strings.Repeat("a", 1024) }, "Prefix"},
		{"role not arn", func(c *Config) { c.RoleARN = "tiles-reader" }, "RoleARN"},
		{"session name short", func(c *Config) { c.RoleSessionName = "x" }, "RoleSessionName"},
		{"session name bad char", func(c *Config) { c.RoleSessionName = "a b" }, "RoleSessionName"},
		{"policy too big", func(c *Config) { c.SessionPolicy = strings.Repeat(" ", 2049) }, "SessionPolicy"},
		{"duration short", func(c *Config) { c.SessionDuration = 5 * time.Minute }, "SessionDuration"},
		{"duration long", func(c *Config) { c.SessionDuration = 13 * time.Hour }, "SessionDuration"},
		{"refresh too late", func(c *Config) { c.RefreshBefore = 30 * time.Minute }, "RefreshBefore"},
		{"refresh negative", func(c *Config) { c.RefreshBefore = -time.Second }, "RefreshBefore"},
		{"max cacheable negative", func(c *Config) { c.MaxCacheableSize = -1 }, "MaxCacheableSize"},
		{"ttl negative", func(c *Config) { c.TTL = -time.Second }, "TTL"},
		{"fetch timeout negative", func(c *Config) { c.FetchTimeout = -time.Second }, "FetchTimeout"},
		{"sts timeout negative", func(c *Config) { c.STSTimeout = -time.Second }, "STSTimeout"},
		{"conns negative", func(c *Config) { c.MaxConnsPerHost = -1 }, "MaxConnsPerHost"},
		{"endpoint no scheme", func(c *Config) { c.Endpoint = "127.0.0.1:9000" }, "Endpoint"},
		{"sts endpoint no scheme", func(c *Config) { c.STSEndpoint = "sts" }, "STSEndpoint"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := valid
			tt.edit(&cfg)
			err := cfg.withDefaults().validate()
			if tt.field == "" {
				if err != nil {
					t.Fatalf("validate() = %v, want nil", err)
				}
				return
			}
			if !errors.Is(err, ErrInvalidConfig) {
				t.Fatalf("validate() = %v, want ErrInvalidConfig", err)
			}
			if !strings.Contains(err.Error(), "Config."+tt.field) {
				t.Errorf("error %q does not name Config.%s", err, tt.field)
			}
		})
	}
}

func TestNewRejectsInvalidConfigWithoutCalls(t *testing.T) {
	// An invalid Config fails before anything is loaded or called: the AWS config below would
	// fail any call, since it has no credentials.
	_, err := New(context.Background(), Config{Bucket: "x"})
	if !errors.Is(err, ErrInvalidConfig) || !strings.Contains(err.Error(), "Config.Bucket") {
		t.Fatalf("New = %v, want ErrInvalidConfig naming Config.Bucket", err)
	}
	_, err = New(context.Background(), Config{Bucket: "tiles", AWS: &aws.Config{}})
	if !errors.Is(err, ErrInvalidConfig) || !strings.Contains(err.Error(), "Region") {
		t.Fatalf("New without region = %v, want ErrInvalidConfig naming Region", err)
	}
	_, err = New(context.Background(), Config{Bucket: "tiles", AWS: &aws.Config{Region: "us-east-1"}})
	if !errors.Is(err, ErrInvalidConfig) || !strings.Contains(err.Error(), "Credentials") {
		t.Fatalf("New without credentials = %v, want ErrInvalidConfig naming Credentials", err)
	}
}

func TestDefaults(t *testing.T) {
	cfg := Config{Bucket: "tiles"}.withDefaults()
	if cfg.SessionDuration != time.Hour || cfg.RefreshBefore != 10*time.Minute ||
		cfg.CacheBytes != 64<<20 || cfg.MaxCacheableSize != 1<<20 || cfg.RoleSessionName != "privates3" {
		t.Fatalf("defaults = %+v", cfg)
	}
	short := Config{Bucket: "tiles", SessionDuration: 20 * time.Minute}.withDefaults()
	if short.RefreshBefore != 5*time.Minute {
		t.Fatalf("RefreshBefore for 20m sessions = %v, want 5m", short.RefreshBefore)
	}
}

func TestValidateKey(t *testing.T) {
	tests := []struct {
		key string
		ok  bool
	}{
		{"a", true},
		{"3/4/2.png", true},
		{"dir/file.with.dots", true},
		{"ünïcode/ключ.txt", true},
		{"..a/b..", true},
		{"", false},
		{"/abs", false},
		{"a//b", false},
		{"a/", false},
		{"../x", false},
		{"a/../b", false},
		{"a/./b", false},
		{".", false},
		{"a\\b", false},
		{"a\x00b", false},
		{"a\nb", false},
		{"a\x7fb", false},
		{"a\xffb", false},
		{strings.Repeat("a", 1024), true},
		{strings.Repeat("a", 1025), false},
	}
	for _, tt := range tests {
		err := validateKey(tt.key)
		if (err == nil) != tt.ok {
			t.Errorf("validateKey(%q) = %v, want ok=%v", tt.key, err, tt.ok)
		}
		if err != nil && !errors.Is(err, ErrInvalidKey) {
			t.Errorf("validateKey(%q) = %v, not ErrInvalidKey", tt.key, err)
		}
	}
}

func TestObjectKeyConfinedUnderPrefix(t *testing.T) {
	c := &Client{cfg: Config{Prefix: "maps/"}}
	for key, want := range map[string]string{"a.png": "maps/a.png", "3/4/2.png": "maps/3/4/2.png"} {
		got, err := c.objectKey(key)
		if err != nil || got != want {
			t.Errorf("objectKey(%q) = %q, %v; want %q", key, got, err, want)
		}
	}
	for _, key := range []string{"", "../secret", "/etc/passwd", "a/../../b", strings.Repeat("x", 1020)} {
		if got, err := c.objectKey(key); !errors.Is(err, ErrInvalidKey) {
			t.Errorf("objectKey(%q) = %q, %v; want ErrInvalidKey", key, got, err)
		}
	}
}

func FuzzValidateKey(f *testing.F) {
	for _, s := range []string{"a", "3/4/2.png", "../x", "a//b", "a\x00", "\xff", "a/./b", "a\\b"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, key string) {
		if validateKey(key) != nil {
			return
		}
		// Whatever passes is a safe S3 key.
		if len(key) == 0 || len(key) > MaxKeyLength || !utf8.ValidString(key) ||
			strings.ContainsAny(key, "\\\x00") || strings.HasPrefix(key, "/") || strings.HasSuffix(key, "/") {
			t.Fatalf("validateKey accepted %q", key)
		}
		for _, seg := range strings.Split(key, "/") {
			if seg == "" || seg == "." || seg == ".." {
				t.Fatalf("validateKey accepted %q with segment %q", key, seg)
			}
		}
		for _, r := range key {
			if r < 0x20 || r == 0x7f {
				t.Fatalf("validateKey accepted control rune in %q", key)
			}
		}
	})
}
