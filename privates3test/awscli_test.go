package privates3test_test

import (
	"bytes"
	"crypto/rand"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/privates3/privates3/privates3test"
)

// awsCLI is Debian's awscli (package awscli; .ci/run installs it), an S3 and STS client with its
// own SigV4 implementation (botocore), independent of the Go SDK.
const awsCLI = "/usr/bin/aws"

// cli runs awscli against srv with the given credentials and returns its standard output.
type cli struct {
	t   *testing.T
	srv *privates3test.Server
	dir string
}

func newCLI(t *testing.T, srv *privates3test.Server) *cli {
	program(t, "apt-get install -y awscli", awsCLI)
	dir := t.TempDir()
	config := "[default]\nregion = " + srv.Region() + "\noutput = json\ns3 =\n    addressing_style = path\n"
	if err := os.WriteFile(filepath.Join(dir, "config"), []byte(config), 0o600); err != nil {
		t.Fatal(err)
	}
	return &cli{t: t, srv: srv, dir: dir}
}

func (c *cli) run(akid, secret, token string, args ...string) (string, error) {
	c.t.Helper()
	cmd := exec.Command(awsCLI, append(args, "--endpoint-url", c.srv.URL)...)
	cmd.Env = []string{
		"HOME=" + c.dir,
		"PATH=/usr/bin:/bin",
		"AWS_CONFIG_FILE=" + filepath.Join(c.dir, "config"),
		"AWS_SHARED_CREDENTIALS_FILE=" + filepath.Join(c.dir, "credentials"),
		"AWS_ACCESS_KEY_ID=" + akid,
		"AWS_SECRET_ACCESS_KEY=" + secret,
		"AWS_EC2_METADATA_DISABLED=true",
		"AWS_PAGER=",
		"AWS_MAX_ATTEMPTS=1",
	}
	if token != "" {
		cmd.Env = append(cmd.Env, "AWS_SESSION_TOKEN="+token)
	}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	if err != nil {
		return stdout.String() + stderr.String(), err
	}
	return stdout.String(), nil
}

func TestAWSCLI(t *testing.T) {
	srv := privates3test.NewServer()
	defer srv.Close()
	c := newCLI(t, srv)
	base := srv.BaseCredentials()
	body := []byte("tile bytes from the fake\n")
	srv.PutObject("tiles", "3/4/2.png", body, privates3test.ContentType("image/png"))

	// assume-role with the base user's static keys.
	out, err := c.run(base.AccessKeyID, base.SecretAccessKey, "", "sts", "assume-role",
		"--role-arn", srv.ReaderRole("tiles"), "--role-session-name", "awscli", "--duration-seconds", "900")
	if err != nil {
		t.Fatalf("aws sts assume-role: %v\n%s", err, out)
	}
	var ar struct {
		Credentials struct {
			AccessKeyID     string `json:"AccessKeyId"`
			SecretAccessKey string
			SessionToken    string
			Expiration      string
		}
		AssumedRoleUser struct{ Arn string }
	}
	if err := json.Unmarshal([]byte(out), &ar); err != nil {
		t.Fatalf("assume-role output: %v\n%s", err, out)
	}
	cr := ar.Credentials
	if !strings.HasPrefix(cr.AccessKeyID, "ASIA") || cr.SessionToken == "" || !strings.HasSuffix(ar.AssumedRoleUser.Arn, "/awscli") {
		t.Fatalf("assume-role gave %+v", ar)
	}

	// get-caller-identity with the temporary credentials.
	out, err = c.run(cr.AccessKeyID, cr.SecretAccessKey, cr.SessionToken, "sts", "get-caller-identity")
	if err != nil || !strings.Contains(out, ":assumed-role/privates3test-reader-tiles/awscli") {
		t.Fatalf("aws sts get-caller-identity: %v\n%s", err, out)
	}

	// get-object and head-object with the temporary credentials.
	dst := filepath.Join(c.dir, "out.png")
	out, err = c.run(cr.AccessKeyID, cr.SecretAccessKey, cr.SessionToken, "s3api", "get-object", "--bucket", "tiles", "--key", "3/4/2.png", dst)
	if err != nil {
		t.Fatalf("aws s3api get-object: %v\n%s", err, out)
	}
	if got, _ := os.ReadFile(dst); !bytes.Equal(got, body) || !strings.Contains(out, `"ContentType": "image/png"`) {
		t.Errorf("get-object wrote %q, output %s", got, out)
	}
	// A missing key: the reader role may list, so 404.
	out, err = c.run(cr.AccessKeyID, cr.SecretAccessKey, cr.SessionToken, "s3api", "get-object", "--bucket", "tiles", "--key", "missing", dst)
	if err == nil || !strings.Contains(out, "NoSuchKey") {
		t.Errorf("get-object of a missing key: %v %s, want NoSuchKey", err, out)
	}
	// The base user may put-object over HTTP; the object reads back through the SDK.
	src := tempFile(t, "up.txt", []byte("uploaded by awscli"))
	out, err = c.run(base.AccessKeyID, base.SecretAccessKey, "", "s3api", "put-object", "--bucket", "tiles", "--key", "dir/up load+.txt", "--body", src, "--content-type", "text/plain", "--cache-control", "max-age=9")
	if err != nil {
		t.Fatalf("aws s3api put-object: %v\n%s", err, out)
	}
	s3c, _ := sdkClients(srv)
	if got := readObject(t, s3c, "tiles", "dir/up load+.txt"); got != "uploaded by awscli" {
		t.Errorf("object put by awscli reads %q", got)
	}
	// presign: a URL that works until it expires on the fake clock.
	out, err = c.run(cr.AccessKeyID, cr.SecretAccessKey, cr.SessionToken, "s3", "presign", "s3://tiles/3/4/2.png", "--expires-in", "300")
	if err != nil {
		t.Fatalf("aws s3 presign: %v\n%s", err, out)
	}
	u := strings.TrimSpace(out)
	if code, got := httpGet(t, srv, u); code != 200 || got != string(body) {
		t.Errorf("GET of the presigned URL: %d %q", code, got)
	}
	if code, got := httpGet(t, srv, strings.Replace(u, "/3/4/2.png", "/3/4/3.png", 1)); code != 403 || !strings.Contains(got, "SignatureDoesNotMatch") {
		t.Errorf("GET of the presigned URL with another key: %d %s", code, got)
	}
	srv.Advance(5 * time.Minute)
	if code, got := httpGet(t, srv, u); code != 403 || !strings.Contains(got, "Request has expired") {
		t.Errorf("GET of the presigned URL after 5 minutes: %d %s, want 403 Request has expired", code, got)
	}
	// The session (900 s) expires on the fake clock too.
	srv.Advance(10 * time.Minute)
	out, err = c.run(cr.AccessKeyID, cr.SecretAccessKey, cr.SessionToken, "s3api", "get-object", "--bucket", "tiles", "--key", "3/4/2.png", dst)
	if err == nil || !strings.Contains(out, "ExpiredToken") {
		t.Errorf("get-object with expired credentials: %v %s, want ExpiredToken", err, out)
	}
}

// TestAWSCLIS3Commands runs the high-level commands a new user types first: ls, cp of a 20 MB
// file (a multipart upload, and ranged GETs down) and sync of a tree, each byte compared.
func TestAWSCLIS3Commands(t *testing.T) {
	srv := privates3test.NewServer()
	defer srv.Close()
	c := newCLI(t, srv)
	base := srv.BaseCredentials()
	srv.CreateBucket("demo")
	run := func(args ...string) string {
		t.Helper()
		out, err := c.run(base.AccessKeyID, base.SecretAccessKey, "", args...)
		if err != nil {
			t.Fatalf("aws %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return out
	}
	big := make([]byte, 20<<20)
	_, _ = rand.Read(big)
	src := tempFile(t, "big.bin", big)
	run("s3", "cp", src, "s3://demo/data/big.bin")
	if n := srv.Count(privates3test.OpCreateMultipartUpload); n != 1 || srv.Count(privates3test.OpUploadPart) < 3 || srv.Count(privates3test.OpCompleteMultipartUpload) != 1 {
		t.Errorf("aws s3 cp of 20 MB: %d CreateMultipartUpload, %d UploadPart, %d Complete; want a multipart upload",
			n, srv.Count(privates3test.OpUploadPart), srv.Count(privates3test.OpCompleteMultipartUpload))
	}
	dst := filepath.Join(c.dir, "big.out")
	run("s3", "cp", "s3://demo/data/big.bin", dst)
	if got, err := os.ReadFile(dst); err != nil || !bytes.Equal(got, big) {
		t.Errorf("the 20 MB file downloaded differs (%d bytes, %v)", len(got), err)
	}
	if out := run("s3", "ls", "s3://demo/data/"); !strings.Contains(out, strconv.Itoa(len(big))+" big.bin") {
		t.Errorf("aws s3 ls: %q, want big.bin with its size", out)
	}
	if out := run("s3", "ls", "s3://demo/"); !strings.Contains(out, "PRE data/") {
		t.Errorf("aws s3 ls of the bucket: %q, want PRE data/", out)
	}

	// sync a tree up, again (nothing to do), and down.
	tree := filepath.Join(c.dir, "tree")
	files := map[string]string{"a.txt": "A", "sub/b.txt": "BB", "sub/deeper/c d.txt": "CCC", "e+f.txt": "E"}
	for name, content := range files {
		p := filepath.Join(tree, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		// Files written a minute before the sync: S3 (and the fake) keep LastModified in whole
		// seconds, and aws s3 sync uploads again a file modified later than its object, which
		// a file written in the second of its upload would be.
		old := time.Now().Add(-time.Minute)
		if err := os.Chtimes(p, old, old); err != nil {
			t.Fatal(err)
		}
	}
	run("s3", "sync", tree, "s3://demo/tree/")
	puts := srv.Count(privates3test.OpPutObject)
	if out := run("s3", "sync", tree, "s3://demo/tree/"); strings.TrimSpace(out) != "" || srv.Count(privates3test.OpPutObject) != puts {
		t.Errorf("second sync uploaded again: %q", out)
	}
	down := filepath.Join(c.dir, "down")
	run("s3", "sync", "s3://demo/tree/", down)
	for name, content := range files {
		if got, err := os.ReadFile(filepath.Join(down, name)); err != nil || string(got) != content {
			t.Errorf("synced down %s: %q, %v; want %q", name, got, err, content)
		}
	}
	if out := run("s3", "ls", "--recursive", "s3://demo/tree/"); strings.Count(out, "\n") != len(files) {
		t.Errorf("aws s3 ls --recursive: %q, want %d lines", out, len(files))
	}

	// Listing needs s3:ListBucket.
	arn := srv.AddRole(privates3test.Role{Name: "get-only", Policy: `{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"s3:GetObject","Resource":"*"}}`})
	_, o := assume(t, srv, &sts.AssumeRoleInput{RoleArn: &arn})
	cr := o.Credentials
	if out, err := c.run(*cr.AccessKeyId, *cr.SecretAccessKey, *cr.SessionToken, "s3", "ls", "s3://demo/"); err == nil || !strings.Contains(out, "AccessDenied") {
		t.Errorf("aws s3 ls without s3:ListBucket: %v %s, want AccessDenied", err, out)
	}
}
