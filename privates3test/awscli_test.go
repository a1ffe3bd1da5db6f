package privates3test_test

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

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
	if _, err := os.Stat(awsCLI); err != nil {
		t.Skipf("%s not found (install Debian's awscli: apt-get install -y awscli); skipping the independent-client test", awsCLI)
	}
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
	src := filepath.Join(c.dir, "up.txt")
	if err := os.WriteFile(src, []byte("uploaded by awscli"), 0o600); err != nil {
		t.Fatal(err)
	}
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
