package rediscache_test

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// redisServer is a real redis-server (Debian's package) run by a test on a free loopback port,
// without persistence, in a temporary directory. The test's Cleanup stops it. It can be stopped
// and started again on the same port to play a Redis restart.
type redisServer struct {
	t    testing.TB
	Port int      // the plain-TCP port (also with TLS: control commands go through it)
	dir  string   // the temporary directory (logs, certificates)
	args []string // extra arguments (TLS, AUTH)
	pass string   // the default user's password, for redis-cli; "" if none

	mu     sync.Mutex // guards cmd, done, starts
	cmd    *exec.Cmd
	done   chan struct{} // closed when cmd has exited
	starts int
}

// redisBinary skips the test when redis-server is not installed (.ci/run installs it).
func redisBinary(t testing.TB) {
	t.Helper()
	if _, err := exec.LookPath("redis-server"); err != nil {
		t.Skip("redis-server not installed (apt-get install redis-server)")
	}
}

// freePort returns a loopback port that was free a moment ago.
func freePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// startRedis starts a redis-server with the given extra arguments (appended to its command line)
// and waits until it accepts connections.
func startRedis(t testing.TB, args ...string) *redisServer {
	t.Helper()
	redisBinary(t)
	s := &redisServer{t: t, Port: freePort(t), dir: t.TempDir(), args: args}
	for i, a := range args {
		if a == "--requirepass" && i+1 < len(args) {
			s.pass = args[i+1]
		}
	}
	s.Start()
	t.Cleanup(s.Stop)
	return s
}

// Addr is the plain-TCP address.
func (s *redisServer) Addr() string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(s.Port)) }

// URL is the redis:// URL of the plain-TCP port, database 0, without credentials.
func (s *redisServer) URL() string { return "redis://" + s.Addr() + "/0" }

// Start starts the server (again) on its port and waits up to 10 s until it is ready.
func (s *redisServer) Start() {
	s.t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd != nil {
		s.t.Fatal("redis-server already running")
	}
	s.starts++
	logFile := filepath.Join(s.dir, fmt.Sprintf("redis-%d.log", s.starts))
	argv := append([]string{
		"--port", strconv.Itoa(s.Port), "--bind", "127.0.0.1",
		"--save", "", "--appendonly", "no", "--dir", s.dir, "--logfile", logFile,
		"--enable-debug-command", "local", "--daemonize", "no",
	}, s.args...)
	cmd := exec.Command("redis-server", argv...)
	if err := cmd.Start(); err != nil {
		s.t.Fatalf("starting redis-server: %v", err)
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	deadline := time.Now().Add(10 * time.Second)
	for {
		b, _ := os.ReadFile(logFile)
		if bytes.Contains(b, []byte("Ready to accept connections")) {
			break
		}
		select {
		case <-done:
			s.t.Fatalf("redis-server exited at start:\n%s", b)
		case <-time.After(10 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			<-done
			s.t.Fatalf("redis-server not ready after 10s:\n%s", b)
		}
	}
	s.cmd, s.done = cmd, done
}

// Stop kills the server (SIGKILL: a crash, nothing is saved) and waits for it to exit. Stopping
// a stopped server does nothing.
func (s *redisServer) Stop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil {
		return
	}
	s.cmd.Process.Kill()
	<-s.done
	s.cmd, s.done = nil, nil
}

// cli runs redis-cli (an independent client) against the plain port and returns its raw output
// (--no-raw off: values printed as is), failing the test on error.
func (s *redisServer) cli(args ...string) string {
	s.t.Helper()
	out, err := s.tryCLI(args...)
	if err == nil && strings.HasPrefix(out, "ERR ") {
		err = errors.New("error reply") // redis-cli exits 0 on error replies
	}
	if err != nil {
		s.t.Fatalf("redis-cli %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

// tryCLI is cli without failing the test.
func (s *redisServer) tryCLI(args ...string) (string, error) {
	argv := []string{"-h", "127.0.0.1", "-p", strconv.Itoa(s.Port)}
	if s.pass != "" {
		argv = append(argv, "--no-auth-warning", "-a", s.pass)
	}
	argv = append(argv, args...)
	out, err := exec.Command("redis-cli", argv...).CombinedOutput()
	return strings.TrimSuffix(string(out), "\n"), err
}

// cliValue sets key to value with redis-cli, reading the value from stdin (-x), so binary values
// are passed exactly.
func (s *redisServer) cliValue(value []byte, args ...string) {
	s.t.Helper()
	argv := []string{"-h", "127.0.0.1", "-p", strconv.Itoa(s.Port), "-x"}
	if s.pass != "" {
		argv = append(argv, "--no-auth-warning", "-a", s.pass)
	}
	cmd := exec.Command("redis-cli", append(argv, args...)...)
	cmd.Stdin = bytes.NewReader(value)
	if out, err := cmd.CombinedOutput(); err != nil {
		s.t.Fatalf("redis-cli -x %s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

// sleep runs DEBUG SLEEP for d in the background (redis-cli blocks until the server wakes) and
// returns once Redis has started sleeping. The test's Cleanup waits for the command.
func (s *redisServer) sleep(d time.Duration) {
	s.t.Helper()
	cmd := exec.Command("redis-cli", "-h", "127.0.0.1", "-p", strconv.Itoa(s.Port), "DEBUG", "SLEEP", strconv.FormatFloat(d.Seconds(), 'f', 3, 64))
	if s.pass != "" {
		cmd.Args = append(cmd.Args[:1], append([]string{"--no-auth-warning", "-a", s.pass}, cmd.Args[1:]...)...)
	}
	if err := cmd.Start(); err != nil {
		s.t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	s.t.Cleanup(func() { <-done })
	// Redis is asleep when a PING gets no answer for a while.
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		c, err := net.DialTimeout("tcp", s.Addr(), time.Second)
		if err != nil {
			s.t.Fatal(err)
		}
		c.SetDeadline(time.Now().Add(50 * time.Millisecond))
		fmt.Fprint(c, "PING\r\n")
		_, err = c.Read(make([]byte, 64))
		c.Close()
		if err != nil { // no answer within 50 ms (or NOAUTH, which still answers: err nil)
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
	s.t.Fatal("DEBUG SLEEP did not take effect")
}
