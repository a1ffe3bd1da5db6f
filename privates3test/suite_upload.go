package privates3test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"hash/crc32"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"
)

// The behaviour suite's cases for uploads: aws-chunked bodies, checksums, copies, and
// virtual-hosted addressing.

// runUploads runs the cases for uploads.
func (tg *target) runUploads(t *testing.T) {
	payload := bytes.Repeat([]byte("chunked payload "), 1300) // 20800 bytes: three chunks of 8 KiB
	t.Run("ChunkedSigned", func(t *testing.T) { tg.checkChunkedSigned(t, payload) })
	t.Run("ChunkedTrailers", func(t *testing.T) { tg.checkChunkedTrailers(t, payload) })
	t.Run("Checksums", tg.checkChecksums)
	t.Run("CopyObject", tg.checkCopyObject)
	t.Run("VirtualHosted", tg.checkVirtualHosted)
}

// crcBase64 is a CRC as the x-amz-checksum-crc32 (and -crc32c) headers carry it: base64 of
// its four bytes, big-endian.
func crcBase64(v uint32) string {
	return base64.StdEncoding.EncodeToString([]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)})
}

// crc32Of is the x-amz-checksum-crc32 of b.
func crc32Of(b []byte) string { return crcBase64(crc32.ChecksumIEEE(b)) }

// crc32cOf is the x-amz-checksum-crc32c of b.
func crc32cOf(b []byte) string {
	return crcBase64(crc32.Checksum(b, crc32.MakeTable(crc32.Castagnoli)))
}

// putChunked PUTs payload as chunked/name (under the prefix), aws-chunked as c says.
func (tg *target) putChunked(t *testing.T, name string, payload []byte, c chunked) response {
	t.Helper()
	req, err := http.NewRequest(http.MethodPut, tg.objectURL(tg.prefix+"chunked/"+name), nil)
	if err != nil {
		t.Fatal(err)
	}
	tg.signer(tg.base).signChunked(req, payload, c)
	return tg.do(t, req)
}

// readBackChunked checks that chunked/name (under the prefix) holds payload, decoded.
func (tg *target) readBackChunked(t *testing.T, name string, payload []byte) {
	t.Helper()
	r := tg.s3Get(t, http.MethodGet, tg.prefix+"chunked/"+name, tg.base, nil)
	if r.status != 200 || !bytes.Equal(r.body, payload) || r.header.Get("Content-Encoding") != "" {
		t.Errorf("GET %s: %d, %d bytes (want %d), Content-Encoding %q", name, r.status, len(r.body), len(payload), r.header.Get("Content-Encoding"))
	}
}

// flipByte returns a tamper function that flips the lowest bit of the byte at(b) of a copy of b.
func flipByte(at func([]byte) int) func([]byte) []byte {
	return func(b []byte) []byte {
		b = bytes.Clone(b)
		b[at(b)] ^= 1
		return b
	}
}

// checkChunkedSigned checks aws-chunked bodies with chunk signatures, and their tampering.
func (tg *target) checkChunkedSigned(t *testing.T, payload []byte) {
	expect(t, "signed chunks", tg.putChunked(t, "signed", payload, chunked{chunkSize: 8 << 10, signed: true}), 200, "")
	tg.readBackChunked(t, "signed", payload)
	tampered := chunked{chunkSize: 8 << 10, signed: true, tamper: flipByte(func([]byte) int { return 9000 })}
	expect(t, "a byte of the second chunk changed", tg.putChunked(t, "tampered", payload, tampered), 403, "SignatureDoesNotMatch")
	badSig := chunked{chunkSize: 8 << 10, signed: true, tamper: flipByte(func(b []byte) int { return bytes.Index(b, []byte("chunk-signature=")) + 20 })}
	expect(t, "a chunk signature changed", tg.putChunked(t, "badsig", payload, badSig), 403, "SignatureDoesNotMatch")
	short := chunked{chunkSize: 8 << 10, signed: true, tamper: func(b []byte) []byte { return b[:len(b)-200] }}
	if r := tg.putChunked(t, "short", payload, short); r.status != 400 && r.status != 403 {
		t.Errorf("a truncated body: %d %s, want 400 or 403", r.status, r.code)
	}
	expect(t, "chunks smaller than 8 KiB", tg.putChunked(t, "small", payload, chunked{chunkSize: 1000, signed: true}), 403, "InvalidChunkSizeError")
	// x-amz-decoded-content-length is signed and enforced.
	req, _ := http.NewRequest(http.MethodPut, tg.objectURL(tg.prefix+"chunked/length"), nil)
	tg.signer(tg.base).signChunked(req, payload, chunked{chunkSize: 8 << 10, signed: true})
	req.Header.Set("X-Amz-Decoded-Content-Length", "20799")
	expect(t, "decoded length changed after signing", tg.do(t, req), 403, "SignatureDoesNotMatch")
}

// checkChunkedTrailers checks aws-chunked bodies with signed and unsigned checksum trailers.
func (tg *target) checkChunkedTrailers(t *testing.T, payload []byte) {
	expect(t, "signed trailer", tg.putChunked(t, "strailer", payload, chunked{chunkSize: 8 << 10, signed: true, trailerName: "x-amz-checksum-crc32", trailerValue: crc32Of(payload)}), 200, "")
	tg.readBackChunked(t, "strailer", payload)
	expect(t, "signed trailer, wrong checksum", tg.putChunked(t, "strailer-bad", payload, chunked{chunkSize: 8 << 10, signed: true, trailerName: "x-amz-checksum-crc32", trailerValue: crc32Of([]byte("other"))}), 400, "BadDigest")
	trailerSig := chunked{chunkSize: 8 << 10, signed: true, trailerName: "x-amz-checksum-crc32", trailerValue: crc32Of(payload),
		tamper: flipByte(func(b []byte) int { return bytes.Index(b, []byte("x-amz-trailer-signature:")) + 30 })}
	expect(t, "signed trailer, signature changed", tg.putChunked(t, "strailer-sig", payload, trailerSig), 403, "SignatureDoesNotMatch")
	expect(t, "unsigned trailer", tg.putChunked(t, "utrailer", payload, chunked{chunkSize: 8 << 10, trailerName: "x-amz-checksum-crc32c", trailerValue: crc32cOf(payload)}), 200, "")
	tg.readBackChunked(t, "utrailer", payload)
	expect(t, "unsigned trailer, wrong checksum", tg.putChunked(t, "utrailer-bad", payload, chunked{chunkSize: 8 << 10, trailerName: "x-amz-checksum-crc32c", trailerValue: crc32cOf([]byte("other"))}), 400, "BadDigest")
	r := tg.s3Get(t, http.MethodHead, tg.prefix+"chunked/utrailer", tg.base, map[string]string{"X-Amz-Checksum-Mode": "ENABLED"})
	if got := r.header.Get("X-Amz-Checksum-Crc32c"); got != crc32cOf(payload) {
		t.Errorf("HEAD with checksum mode: x-amz-checksum-crc32c %q, want %q", got, crc32cOf(payload))
	}
}

// checkChecksums checks PUTs with every x-amz-checksum-* header, right and wrong, and the SDK's
// own checksums.
func (tg *target) checkChecksums(t *testing.T) {
	abc := []byte("abc")
	for _, c := range []struct {
		header, right string
	}{
		{"X-Amz-Checksum-Crc32", "NSRBwg=="},
		{"X-Amz-Checksum-Crc32c", "Nks/tw=="},
		{"X-Amz-Checksum-Crc64nvme", "BeXKuz/B+us="},
		{"X-Amz-Checksum-Sha1", "qZk+NkcGgWq6PiVxeFDCbJzQ2J0="},
		{"X-Amz-Checksum-Sha256", "ungWv48Bz+pBQUDeXa4iI7ADYaOWF3qctBD/YfIAFa0="},
	} {
		u := tg.objectURL(tg.prefix + "sums/" + strings.ToLower(c.header))
		expect(t, c.header+" right", tg.s3Do(t, http.MethodPut, u, abc, tg.base, map[string]string{c.header: c.right}), 200, "")
		wrong := base64.StdEncoding.EncodeToString(make([]byte, len(mustBase64(c.right))))
		expect(t, c.header+" wrong", tg.s3Do(t, http.MethodPut, u, abc, tg.base, map[string]string{c.header: wrong}), 400, "BadDigest")
		r := tg.s3Get(t, http.MethodGet, strings.TrimPrefix(u, tg.endpoint+"/"+tg.bucket+"/"), tg.base, map[string]string{"X-Amz-Checksum-Mode": "ENABLED"})
		if r.header.Get(c.header) != c.right {
			t.Errorf("GET with checksum mode: %s %q, want %q", c.header, r.header.Get(c.header), c.right)
		}
	}
	tg.checkSDKChecksums(t)
}

// checkSDKChecksums checks a PUT and a GET with the checksums the SDK computes and validates
// itself, and that a ranged GET carries no checksum of the whole.
func (tg *target) checkSDKChecksums(t *testing.T) {
	ctx := context.Background()
	body := tg.objectBody
	sum := sha256.Sum256(body)
	_, err := tg.s3.PutObject(ctx, &s3.PutObjectInput{Bucket: &tg.bucket, Key: aws.String(tg.prefix + "sums/sdk"), Body: bytes.NewReader(body),
		ChecksumAlgorithm: s3types.ChecksumAlgorithmSha256})
	if err != nil {
		t.Fatalf("PutObject with SHA256: %v", err)
	}
	out, err := tg.s3.GetObject(ctx, &s3.GetObjectInput{Bucket: &tg.bucket, Key: aws.String(tg.prefix + "sums/sdk"), ChecksumMode: s3types.ChecksumModeEnabled})
	if err != nil {
		t.Fatalf("GetObject with checksum mode: %v", err)
	}
	out.Body.Close()
	if aws.ToString(out.ChecksumSHA256) != base64.StdEncoding.EncodeToString(sum[:]) {
		t.Errorf("ChecksumSHA256 %q", aws.ToString(out.ChecksumSHA256))
	}
	r := tg.s3Get(t, http.MethodGet, tg.prefix+"sums/sdk", tg.base, map[string]string{"X-Amz-Checksum-Mode": "ENABLED", "Range": "bytes=0-3"})
	if r.status != 206 || r.header.Get("X-Amz-Checksum-Sha256") != "" {
		t.Errorf("ranged GET with checksum mode: %d, x-amz-checksum-sha256 %q, want 206 without", r.status, r.header.Get("X-Amz-Checksum-Sha256"))
	}
}

// checkCopyObject checks copies of the object: with its metadata, with replaced metadata, and
// the refusals of bad copies.
func (tg *target) checkCopyObject(t *testing.T) {
	ctx := context.Background()
	key, body, reader := tg.objectKey, tg.objectBody, tg.reader
	src := url.PathEscape(tg.bucket) + "/" + v4uriEncode(key, true)
	dst := tg.prefix + "copies/a"
	out, err := tg.s3.CopyObject(ctx, &s3.CopyObjectInput{Bucket: &tg.bucket, Key: &dst, CopySource: &src})
	if err != nil {
		t.Fatalf("CopyObject: %v", err)
	}
	r := tg.s3Get(t, http.MethodGet, dst, reader, nil)
	if r.status != 200 || !bytes.Equal(r.body, body) || r.header.Get("Content-Type") != "text/plain" || r.header.Get("X-Amz-Meta-Origin") != "suite" ||
		r.header.Get("ETag") != aws.ToString(out.CopyObjectResult.ETag) {
		t.Errorf("the copy: %d %q, type %q, metadata %q, ETag %s (copy said %s)", r.status, r.body, r.header.Get("Content-Type"),
			r.header.Get("X-Amz-Meta-Origin"), r.header.Get("ETag"), aws.ToString(out.CopyObjectResult.ETag))
	}
	_, err = tg.s3.CopyObject(ctx, &s3.CopyObjectInput{Bucket: &tg.bucket, Key: &dst, CopySource: &src,
		MetadataDirective: s3types.MetadataDirectiveReplace, ContentType: aws.String("application/x-replaced")})
	if err != nil {
		t.Fatalf("CopyObject REPLACE: %v", err)
	}
	if r := tg.s3Get(t, http.MethodHead, dst, reader, nil); r.header.Get("Content-Type") != "application/x-replaced" || r.header.Get("X-Amz-Meta-Origin") != "" {
		t.Errorf("after REPLACE: type %q, metadata %q", r.header.Get("Content-Type"), r.header.Get("X-Amz-Meta-Origin"))
	}
	copyReq := func(creds aws.Credentials, to string, hdr map[string]string) response {
		h := map[string]string{"X-Amz-Copy-Source": src}
		for k, v := range hdr {
			h[k] = v
		}
		return tg.s3Do(t, http.MethodPut, tg.objectURL(to), nil, creds, h)
	}
	expect(t, "copy by the reader role (no s3:PutObject)", copyReq(reader, tg.prefix+"copies/r", nil), 403, "AccessDenied")
	expect(t, "copy onto itself", copyReq(tg.base, key, nil), 400, "InvalidRequest")
	expect(t, "copy if the source matches another ETag", copyReq(tg.base, tg.prefix+"copies/c", map[string]string{"X-Amz-Copy-Source-If-Match": `"00000000000000000000000000000000"`}), 412, "PreconditionFailed")
	missing := url.PathEscape(tg.bucket) + "/" + v4uriEncode(tg.prefix+"missing", true)
	expect(t, "copy of a missing key", tg.s3Do(t, http.MethodPut, tg.objectURL(tg.prefix+"copies/m"), nil, tg.base, map[string]string{"X-Amz-Copy-Source": missing}), 404, "NoSuchKey")
}

// checkVirtualHosted checks a GET, a listing and an SDK GetObject addressed virtual-hosted; it is
// skipped without Endpoint.VirtualHost.
func (tg *target) checkVirtualHosted(t *testing.T) {
	if tg.vhost == "" {
		t.Skip("Endpoint.VirtualHost is empty")
	}
	key, body, reader := tg.objectKey, tg.objectBody, tg.reader
	u, _ := url.Parse(tg.endpoint)
	base := u.Scheme + "://" + tg.bucket + "." + tg.vhost
	r := tg.s3Do(t, http.MethodGet, base+"/"+v4uriEncode(key, true), nil, reader, nil)
	if r.status != 200 || !bytes.Equal(r.body, body) {
		t.Errorf("virtual-hosted GET: %d %s %q", r.status, r.code, r.body)
	}
	r = tg.s3Do(t, http.MethodGet, base+"/?list-type=2&prefix="+url.QueryEscape(tg.prefix+"dir/"), nil, reader, nil)
	if r.status != 200 || !bytes.Contains(r.body, []byte("<Key>"+tg.prefix+"dir/object.txt</Key>")) {
		t.Errorf("virtual-hosted listing: %d %s %s", r.status, r.code, r.body)
	}
	vs := s3.New(s3.Options{Region: tg.region, Credentials: aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) { return tg.base, nil }),
		HTTPClient: tg.http, BaseEndpoint: aws.String(u.Scheme + "://" + tg.vhost), RetryMaxAttempts: 1})
	out, err := vs.GetObject(context.Background(), &s3.GetObjectInput{Bucket: &tg.bucket, Key: &key})
	if err != nil {
		t.Fatalf("SDK GetObject, virtual-hosted: %v", err)
	}
	out.Body.Close()
	if aws.ToInt64(out.ContentLength) != int64(len(body)) {
		t.Errorf("SDK GetObject, virtual-hosted: %d bytes", aws.ToInt64(out.ContentLength))
	}
}

// mustBase64 decodes s, standard base64 known to be valid.
func mustBase64(s string) []byte {
	b, _ := base64.StdEncoding.DecodeString(s)
	return b
}
