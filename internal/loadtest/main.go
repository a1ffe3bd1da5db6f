// Command loadtest is privates3's end-to-end benchmark (issue 10): it measures, alternating in
// rounds on one machine, a bare net/http handler writing the bytes from memory (the ceiling),
// presigned GETs straight at the backend (the backend's own rate), privates3's handler with its
// cache and without it, and one large download through the SDK directly and through privates3.
//
// Usage:
//
//	go run ./internal/loadtest [flags]
//
// By default the backend is privates3test's fake S3 and STS, in process on 127.0.0.1; -endpoint
// and -bucket select an external S3-compatible endpoint instead (base credentials from
// -access-key-id/-secret-access-key or the environment, an optional -role-arn to assume). It
// prints, per contestant, requests per second, p50 and p99 latency, new backend connections per
// 1,000 requests (counted by the dialer of the SDK's default HTTP client), the ratios the issue
// sets as targets, and the download rates with the peak resident set.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"runtime"
	"runtime/pprof"
	"strings"
	"time"
)

func main() {
	os.Exit(run(context.Background(), os.Args[1:], os.Stdout, os.Stderr))
}

// options are the command's flags.
type options struct {
	endpoint, stsEndpoint, bucket, region, roleARN string
	accessKeyID, secretAccessKey, sessionToken     string
	keyPrefix                                      string
	upload                                         bool

	duration       time.Duration // measured request time in total, over all rounds and contestants
	warmup         time.Duration // before each measured slot
	rounds         int
	conns          int
	keys           int
	objSize        int
	bigSize        int64
	backendLatency time.Duration
	maxConns       int // Config.MaxConnsPerHost of both Clients
	only           map[string]bool

	cpuProfile, mutexProfile string
}

// The contestants' names, as -only takes them.
var contestantNames = []string{"ceiling", "presigned", "relay", "hits", "misses", "download"}

func parseFlags(args []string, stderr io.Writer) (options, error) {
	var o options
	fs := flag.NewFlagSet("loadtest", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(stderr, "Usage: go run ./internal/loadtest [flags]\n\nprivates3's end-to-end benchmark (see BENCHMARKS.md). Flags:\n")
		fs.PrintDefaults()
	}
	fs.StringVar(&o.endpoint, "endpoint", "", "S3-compatible endpoint `URL` (path-style); if empty, an in-process privates3test fake on 127.0.0.1")
	fs.StringVar(&o.stsEndpoint, "sts-endpoint", "", "STS endpoint `URL` for -role-arn; if empty, AWS's regional endpoint")
	fs.StringVar(&o.bucket, "bucket", "", "`bucket` of -endpoint holding the objects (see -upload)")
	fs.StringVar(&o.region, "region", "", "AWS `region` of -endpoint; if empty, from the environment")
	fs.StringVar(&o.roleARN, "role-arn", "", "IAM `role` privates3 assumes to read -bucket; if empty, the base credentials")
	fs.StringVar(&o.accessKeyID, "access-key-id", "", "base access `key` for -endpoint; if empty, the environment and shared files (prefer those: flags show in ps)")
	fs.StringVar(&o.secretAccessKey, "secret-access-key", "", "base secret `key`, with -access-key-id")
	fs.StringVar(&o.sessionToken, "session-token", "", "base session `token`, with -access-key-id")
	fs.StringVar(&o.keyPrefix, "key-prefix", "loadtest/", "`prefix` of the objects' keys: obj-000.bin... and big.bin")
	fs.BoolVar(&o.upload, "upload", false, "put the objects into -bucket first (with the base credentials)")
	fs.DurationVar(&o.duration, "duration", 75*time.Second, "measured request `time` in total, split over rounds and contestants")
	fs.DurationVar(&o.warmup, "warmup", 500*time.Millisecond, "unmeasured `time` before each measured slot (connections, caches)")
	fs.IntVar(&o.rounds, "rounds", 5, "`rounds`; the contestants alternate in each, and the medians are reported")
	fs.IntVar(&o.conns, "conns", 64, "concurrent keep-alive `connections` of the load generator")
	fs.IntVar(&o.keys, "keys", 100, "number of hot `objects`")
	fs.IntVar(&o.objSize, "size", 20<<10, "`bytes` of each hot object")
	fs.Int64Var(&o.bigSize, "big-size", 256<<20, "`bytes` of the large object downloaded once per round each way")
	fs.DurationVar(&o.backendLatency, "backend-latency", 0, "`delay` the fake adds to every GetObject (a real S3's first-byte latency)")
	fs.IntVar(&o.maxConns, "max-conns-per-host", 0, "privates3's Config.MaxConnsPerHost (`n`); 0: its default; 10 shows the SDK's default pool")
	only := fs.String("only", strings.Join(contestantNames, ","), "comma-separated `contestants` to run")
	fs.StringVar(&o.cpuProfile, "cpuprofile", "", "write a CPU profile of the whole run to `file`")
	fs.StringVar(&o.mutexProfile, "mutexprofile", "", "write a mutex contention profile to `file`")
	if err := fs.Parse(args); err != nil {
		return options{}, err
	}
	fail := func(format string, a ...any) (options, error) {
		fmt.Fprintf(stderr, "loadtest: "+format+"\n", a...)
		fs.Usage()
		return options{}, errUsage
	}
	if fs.NArg() > 0 {
		return fail("unexpected argument %q", fs.Arg(0))
	}
	o.only = map[string]bool{}
	for _, n := range strings.Split(*only, ",") {
		if !contains(contestantNames, n) {
			return fail("-only: unknown contestant %q (want some of %s)", n, strings.Join(contestantNames, ","))
		}
		o.only[n] = true
	}
	if msg := o.check(); msg != "" {
		return fail("%s", msg)
	}
	return o, nil
}

// check returns what is wrong with the combination of o's flags, or "".
func (o *options) check() string {
	switch {
	case (o.endpoint == "") != (o.bucket == ""):
		return "-endpoint and -bucket go together"
	case o.endpoint == "" && (o.roleARN != "" || o.accessKeyID != "" || o.upload || o.stsEndpoint != ""):
		return "-role-arn, -access-key-id, -sts-endpoint and -upload need -endpoint"
	case o.endpoint != "" && o.backendLatency != 0:
		return "-backend-latency applies only to the fake"
	case !o.inRange():
		return "-duration, -rounds, -conns, -keys, -size and -big-size must be positive, -warmup and -max-conns-per-host not negative"
	case int64(o.objSize) > 1<<20:
		return "-size must be at most 1 MiB (privates3's default largest cacheable object)"
	case o.bigSize <= 1<<20:
		return "-big-size must be over 1 MiB (so that privates3 streams it)"
	}
	return ""
}

// inRange reports whether the counts and sizes of o are in range.
func (o *options) inRange() bool {
	return o.duration > 0 && o.warmup >= 0 && o.maxConns >= 0 && o.rounds >= 1 && o.conns >= 1 && o.keys >= 1 && o.objSize >= 1 && o.bigSize >= 1
}

var errUsage = errors.New("usage")

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// run is the command: it returns the exit code.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	o, err := parseFlags(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	} else if err != nil {
		return 2
	}
	stopProfiles, err := startProfiles(o)
	if err != nil {
		fmt.Fprintln(stderr, "loadtest:", err)
		return 1
	}
	err = bench(ctx, o, stdout)
	if perr := stopProfiles(); err == nil {
		err = perr
	}
	if err != nil {
		fmt.Fprintln(stderr, "loadtest:", err)
		return 1
	}
	return 0
}

func startProfiles(o options) (stop func() error, err error) {
	var cpu *os.File
	if o.cpuProfile != "" {
		if cpu, err = os.Create(o.cpuProfile); err != nil {
			return nil, err
		}
		if err := pprof.StartCPUProfile(cpu); err != nil {
			cpu.Close()
			return nil, err
		}
	}
	if o.mutexProfile != "" {
		runtime.SetMutexProfileFraction(5)
	}
	return func() error {
		var errs []error
		if cpu != nil {
			pprof.StopCPUProfile()
			errs = append(errs, cpu.Close())
		}
		if o.mutexProfile != "" {
			f, err := os.Create(o.mutexProfile)
			if err != nil {
				return err
			}
			errs = append(errs, pprof.Lookup("mutex").WriteTo(f, 0), f.Close())
		}
		return errors.Join(errs...)
	}, nil
}
