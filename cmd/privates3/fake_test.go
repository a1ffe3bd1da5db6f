package main

import (
	"bytes"
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestFakeWithAWSCLI runs `privates3 fake` and talks to it with the AWS CLI, a client that
// shares no code with privates3: with the printed exports it assumes the printed role, reads a
// seeded object with the temporary credentials and presigns a URL that curl fetches.
func TestFakeWithAWSCLI(t *testing.T) {
	aws, curl := lookTool(t, "/usr/bin/aws", "apt-get install awscli, as .ci/run does"), lookTool(t, "curl", "apt-get install curl")
	seed := t.TempDir()
	const hello = "hello from privates3 fake\n"
	if err := os.MkdirAll(filepath.Join(seed, "docs"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(seed, "docs", "hello.txt"), []byte(hello), 0o644); err != nil {
		t.Fatal(err)
	}
	ex := startFake(t, "-addr", "127.0.0.1:0", "-bucket", "cli-bucket", "-seed", seed)
	for _, k := range []string{"AWS_ENDPOINT_URL", "AWS_REGION", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "PRIVATES3_ROLE_ARN", "PRIVATES3_BUCKET"} {
		if ex[k] == "" {
			t.Fatalf("no export of %s", k)
		}
	}
	home := t.TempDir()
	// Path-style addressing, as for any S3-compatible endpoint; no pager, no user files.
	awsConfig := filepath.Join(home, "config")
	if err := os.WriteFile(awsConfig, []byte("[default]\ns3 =\n    addressing_style = path\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	baseEnv := []string{
		"PATH=" + os.Getenv("PATH"), "HOME=" + home, "AWS_CONFIG_FILE=" + awsConfig,
		"AWS_SHARED_CREDENTIALS_FILE=" + filepath.Join(home, "credentials"),
		"AWS_EC2_METADATA_DISABLED=true", "AWS_PAGER=",
		"AWS_ENDPOINT_URL=" + ex["AWS_ENDPOINT_URL"], "AWS_REGION=" + ex["AWS_REGION"], "AWS_DEFAULT_REGION=" + ex["AWS_DEFAULT_REGION"],
	}
	cli := func(env []string, args ...string) []byte {
		t.Helper()
		// Debian's AWS CLI (2.9) predates AWS_ENDPOINT_URL: the printed hint says to pass it.
		args = append(args, "--endpoint-url", ex["AWS_ENDPOINT_URL"])
		cmd := exec.Command(aws, args...)
		cmd.Env = env
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("aws %s: %v\n%s", strings.Join(args, " "), err, stderr.String())
		}
		return out
	}

	// The base user's keys assume the role.
	out := cli(append(baseEnv, "AWS_ACCESS_KEY_ID="+ex["AWS_ACCESS_KEY_ID"], "AWS_SECRET_ACCESS_KEY="+ex["AWS_SECRET_ACCESS_KEY"]),
		"sts", "assume-role", "--role-arn", ex["PRIVATES3_ROLE_ARN"], "--role-session-name", "cli-test", "--output", "json")
	var assumed struct {
		Credentials struct{ AccessKeyId, SecretAccessKey, SessionToken string }
	}
	if err := json.Unmarshal(out, &assumed); err != nil || assumed.Credentials.SessionToken == "" {
		t.Fatalf("assume-role answered %s (%v)", out, err)
	}
	roleEnv := append(baseEnv, "AWS_ACCESS_KEY_ID="+assumed.Credentials.AccessKeyId,
		"AWS_SECRET_ACCESS_KEY="+assumed.Credentials.SecretAccessKey, "AWS_SESSION_TOKEN="+assumed.Credentials.SessionToken)

	// The role reads the seeded object.
	dst := filepath.Join(home, "hello.txt")
	cli(roleEnv, "s3api", "get-object", "--bucket", ex["PRIVATES3_BUCKET"], "--key", "docs/hello.txt", dst)
	if got, err := os.ReadFile(dst); err != nil || string(got) != hello {
		t.Errorf("get-object wrote %q (%v), want %q", got, err, hello)
	}

	// A URL presigned by the CLI with the role's credentials works for curl.
	u := strings.TrimSpace(string(cli(roleEnv, "s3", "presign", "s3://"+ex["PRIVATES3_BUCKET"]+"/docs/hello.txt", "--expires-in", "300")))
	if !strings.HasPrefix(u, ex["AWS_ENDPOINT_URL"]+"/") {
		t.Errorf("presigned URL %s is not on the fake's endpoint %s", u, ex["AWS_ENDPOINT_URL"])
	}
	body, err := exec.Command(curl, "-sS", "--fail", "--max-time", "20", u).Output()
	if err != nil || string(body) != hello {
		t.Errorf("curl of the presigned URL: %q, %v", body, err)
	}
	// A tampered URL is refused.
	bad := strings.Replace(u, "hello.txt", "hello.txT", 1)
	if out, err := exec.Command(curl, "-sS", "--fail", "--max-time", "20", bad).CombinedOutput(); err == nil {
		t.Errorf("curl of a tampered presigned URL succeeded: %s", out)
	}
}

// TestFakeSeedAndTiles checks what `privates3 fake` uploads, reading it back with the server
// command against the fake (the README's second command).
func TestFakeSeedAndTiles(t *testing.T) {
	ex := startFake(t, "-addr", "127.0.0.1:0", "-bucket", "seeded", "-tiles", "1")
	awsEnv(t, ex["AWS_ACCESS_KEY_ID"], ex["AWS_SECRET_ACCESS_KEY"], ex["AWS_REGION"], ex["AWS_ENDPOINT_URL"])
	a, _ := startApp(t, "-bucket", ex["PRIVATES3_BUCKET"], "-role-arn", ex["PRIVATES3_ROLE_ARN"],
		"-endpoint", ex["AWS_ENDPOINT_URL"], "-prefix", demoPrefix, "-probe-key", "0/0/0.png", "-max-zoom", "1")
	resp, body := get(t, http.DefaultClient, a.url+"tiles/1/1/0.png")
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "image/png" || len(body) == 0 {
		t.Errorf("tile of the fake's bucket: %s %q, %d bytes", resp.Status, resp.Header.Get("Content-Type"), len(body))
	}
}
