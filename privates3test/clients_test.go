package privates3test_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/privates3/privates3/privates3test"
)

// Independent clients (boto3 from Debian, the JavaScript SDK v3 from npm) against the fake: each
// has its own SigV4, aws-chunked and checksum code. .ci/run installs them; without them the
// tests are skipped.

// runClient runs a client program against srv with the base user's keys and decodes the JSON it
// prints into out.
func runClient(t *testing.T, srv *privates3test.Server, dir string, out any, name string, args ...string) {
	t.Helper()
	base := srv.BaseCredentials()
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	cmd.Env = []string{
		"HOME=" + t.TempDir(), "PATH=/usr/bin:/bin",
		"AWS_ACCESS_KEY_ID=" + base.AccessKeyID, "AWS_SECRET_ACCESS_KEY=" + base.SecretAccessKey,
		"AWS_REGION=" + srv.Region(), "AWS_EC2_METADATA_DISABLED=true",
		"AWS_CONFIG_FILE=/dev/null", "AWS_SHARED_CREDENTIALS_FILE=/dev/null",
		"PRIVATES3_ENDPOINT=" + srv.URL,
	}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("%s: %v\n%s\n%s", name, err, stdout.String(), stderr.String())
	}
	if err := json.Unmarshal(stdout.Bytes(), out); err != nil {
		t.Fatalf("%s printed %q: %v\n%s", name, stdout.String(), err, stderr.String())
	}
}

func TestBoto3(t *testing.T) {
	python := program(t, "apt-get install -y python3-boto3", "/usr/bin/python3", "-c", "import boto3") // Debian's python3
	srv := privates3test.NewServer()
	defer srv.Close()
	srv.CreateBucket("demo")
	work := t.TempDir()
	big := make([]byte, 12<<20)
	_, _ = rand.Read(big)
	if err := os.WriteFile(filepath.Join(work, "big.bin"), big, 0o600); err != nil {
		t.Fatal(err)
	}
	script, _ := filepath.Abs("testdata/boto3_client.py")
	var res struct {
		Keys   []string
		Pages  int
		ETag   string
		SHA256 string
	}
	runClient(t, srv, work, &res, python, script, "demo", work)
	sum := sha256.Sum256(big)
	if res.SHA256 != hex.EncodeToString(sum[:]) {
		t.Errorf("download_file gave other bytes (sha256 %s)", res.SHA256)
	}
	if !strings.HasSuffix(res.ETag, `-3"`) || srv.Count(privates3test.OpUploadPart) != 3 {
		t.Errorf("upload_file of 12 MiB in 5 MiB parts: ETag %s, %d UploadPart; want a 3-part upload", res.ETag, srv.Count(privates3test.OpUploadPart))
	}
	want := []string{"boto3/list/0", "boto3/list/1", "boto3/list/2", "boto3/list/3", "boto3/list/4"}
	if !slices.Equal(res.Keys, want) || res.Pages != 3 {
		t.Errorf("list_objects_v2 paginator: %q in %d pages, want %q in 3", res.Keys, res.Pages, want)
	}
}

func TestJavaScriptSDK(t *testing.T) {
	node := program(t, "apt-get install -y nodejs", "node")
	dir, _ := filepath.Abs("testdata/js")
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "@aws-sdk", "lib-storage")); err != nil {
		t.Skipf("run npm ci in %s to test the JavaScript SDK v3", dir)
	}
	srv := privates3test.NewServer()
	defer srv.Close()
	srv.CreateBucket("demo")
	var res struct {
		PutChecksumCRC32 string
		UploadETag       string
		Keys             []string
		BigEqual         bool
		SmallEqual       bool
	}
	runClient(t, srv, dir, &res, node, "client.mjs", "demo")
	if !res.BigEqual || !res.SmallEqual {
		t.Errorf("objects read back differ: big %v, streamed %v", res.BigEqual, res.SmallEqual)
	}
	if !strings.HasSuffix(res.UploadETag, `-3"`) || srv.Count(privates3test.OpCompleteMultipartUpload) != 1 {
		t.Errorf("Upload of 12 MiB in 5 MiB parts: ETag %s, %d CompleteMultipartUpload", res.UploadETag, srv.Count(privates3test.OpCompleteMultipartUpload))
	}
	if !slices.Equal(res.Keys, []string{"js/big.bin", "js/streamed.txt"}) {
		t.Errorf("ListObjectsV2: %q", res.Keys)
	}
	// The streamed PutObject sent its default checksum (CRC32, in a trailer), which the fake
	// verified and stored: without it the fake would store its own CRC-64/NVME.
	s3c, _ := sdkClients(srv)
	head, err := s3c.HeadObject(context.Background(), &s3.HeadObjectInput{Bucket: aws.String("demo"), Key: aws.String("js/streamed.txt"), ChecksumMode: s3types.ChecksumModeEnabled})
	if err != nil || aws.ToString(head.ChecksumCRC32) == "" || aws.ToString(head.ChecksumCRC32) != res.PutChecksumCRC32 {
		t.Errorf("streamed object: CRC32 %q (PutObject said %q), %v", aws.ToString(head.ChecksumCRC32), res.PutChecksumCRC32, err)
	}
}
