package privates3test

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/hex"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"
)

// The behaviour suite's cases for multipart uploads.

// mpParts are the contents of the parts the multipart cases upload.
type mpParts struct {
	first []byte // exactly the 5 MiB minimum
	last  []byte // small, as only the last part may be
}

// runMultipart runs the cases for multipart uploads.
func (tg *target) runMultipart(t *testing.T) {
	p := mpParts{first: bytes.Repeat([]byte("0123456789abcdef"), (5<<20)/16), last: []byte("the last part may be small")}
	t.Run("MultipartUpload", func(t *testing.T) { tg.checkMultipartUpload(t, p) })
	t.Run("MultipartChecksums", func(t *testing.T) { tg.checkMultipartChecksums(t, p) })
	t.Run("MultipartErrors", func(t *testing.T) { tg.checkMultipartErrors(t, p) })
}

// createUpload starts an upload of key (under the prefix) and returns its ID.
func (tg *target) createUpload(t *testing.T, key string, alg s3types.ChecksumAlgorithm) string {
	t.Helper()
	out, err := tg.s3.CreateMultipartUpload(context.Background(), &s3.CreateMultipartUploadInput{Bucket: &tg.bucket, Key: aws.String(tg.prefix + key),
		ContentType: aws.String("application/x-parts"), ChecksumAlgorithm: alg})
	if err != nil {
		t.Fatalf("CreateMultipartUpload: %v", err)
	}
	return aws.ToString(out.UploadId)
}

// uploadPart uploads data as part n of the upload id of key (under the prefix).
func (tg *target) uploadPart(t *testing.T, key, id string, n int32, data []byte, alg s3types.ChecksumAlgorithm) s3types.CompletedPart {
	t.Helper()
	out, err := tg.s3.UploadPart(context.Background(), &s3.UploadPartInput{Bucket: &tg.bucket, Key: aws.String(tg.prefix + key), UploadId: &id,
		PartNumber: aws.Int32(n), Body: bytes.NewReader(data), ChecksumAlgorithm: alg})
	if err != nil {
		t.Fatalf("UploadPart %d: %v", n, err)
	}
	return s3types.CompletedPart{PartNumber: aws.Int32(n), ETag: out.ETag, ChecksumCRC32: out.ChecksumCRC32}
}

// completeUpload completes the upload id of key (under the prefix) with parts.
func (tg *target) completeUpload(key, id string, parts ...s3types.CompletedPart) (*s3.CompleteMultipartUploadOutput, error) {
	return tg.s3.CompleteMultipartUpload(context.Background(), &s3.CompleteMultipartUploadInput{Bucket: &tg.bucket, Key: aws.String(tg.prefix + key),
		UploadId: &id, MultipartUpload: &s3types.CompletedMultipartUpload{Parts: parts}})
}

// abortUpload aborts the upload id of key (under the prefix), ignoring errors.
func (tg *target) abortUpload(key, id string) {
	_, _ = tg.s3.AbortMultipartUpload(context.Background(), &s3.AbortMultipartUploadInput{Bucket: &tg.bucket, Key: aws.String(tg.prefix + key), UploadId: &id})
}

// checkMultipartUpload checks an upload of two parts: listed while in progress, completed with
// S3's multipart ETag, read back whole and across the parts, and gone from ListParts after.
func (tg *target) checkMultipartUpload(t *testing.T, p mpParts) {
	id := tg.createUpload(t, "mp/object", "")
	p1 := tg.uploadPart(t, "mp/object", id, 1, p.first, "")
	p2 := tg.uploadPart(t, "mp/object", id, 2, p.last, "")
	tg.checkUploadListed(t, id, p, p2)

	out, err := tg.completeUpload("mp/object", id, p1, p2)
	if err != nil {
		t.Fatalf("CompleteMultipartUpload: %v", err)
	}
	// S3's ETag of a multipart object: the MD5 of the parts' MD5s, "-" and the part count.
	m1, m2 := md5.Sum(p.first), md5.Sum(p.last)
	want := md5.Sum(append(m1[:], m2[:]...))
	if etag := aws.ToString(out.ETag); etag != `"`+hex.EncodeToString(want[:])+`-2"` {
		t.Errorf("ETag %s, want \"%x-2\"", etag, want)
	}
	tg.checkCompletedObject(t, p, aws.ToString(out.ETag))
	_, err = tg.s3.ListParts(context.Background(), &s3.ListPartsInput{Bucket: &tg.bucket, Key: aws.String(tg.prefix + "mp/object"), UploadId: &id})
	if apiErrorCode(err) != "NoSuchUpload" {
		t.Errorf("ListParts after completion: %v, want NoSuchUpload", err)
	}
}

// checkUploadListed checks ListMultipartUploads and ListParts (whole and in pages of one) of the
// upload id of mp/object, whose second part is p2.
func (tg *target) checkUploadListed(t *testing.T, id string, p mpParts, p2 s3types.CompletedPart) {
	ctx := context.Background()
	ups, err := tg.s3.ListMultipartUploads(ctx, &s3.ListMultipartUploadsInput{Bucket: &tg.bucket, Prefix: aws.String(tg.prefix + "mp/")})
	if err != nil || len(ups.Uploads) != 1 || aws.ToString(ups.Uploads[0].UploadId) != id || aws.ToString(ups.Uploads[0].Key) != tg.prefix+"mp/object" {
		t.Errorf("ListMultipartUploads: %+v, %v", ups, err)
	}
	parts, err := tg.s3.ListParts(ctx, &s3.ListPartsInput{Bucket: &tg.bucket, Key: aws.String(tg.prefix + "mp/object"), UploadId: &id})
	if err != nil || len(parts.Parts) != 2 || aws.ToInt64(parts.Parts[0].Size) != int64(len(p.first)) ||
		aws.ToString(parts.Parts[1].ETag) != aws.ToString(p2.ETag) || aws.ToInt32(parts.Parts[1].PartNumber) != 2 {
		t.Errorf("ListParts: %+v, %v", parts, err)
	}
	parts, err = tg.s3.ListParts(ctx, &s3.ListPartsInput{Bucket: &tg.bucket, Key: aws.String(tg.prefix + "mp/object"), UploadId: &id, MaxParts: aws.Int32(1)})
	if err != nil || len(parts.Parts) != 1 || !aws.ToBool(parts.IsTruncated) || aws.ToString(parts.NextPartNumberMarker) != "1" {
		t.Errorf("ListParts with max-parts 1: %+v, %v", parts, err)
	}
}

// checkCompletedObject checks GETs of the completed mp/object, whose ETag is etag: whole, and a
// range across its two parts.
func (tg *target) checkCompletedObject(t *testing.T, p mpParts, etag string) {
	r := tg.s3Get(t, http.MethodGet, tg.prefix+"mp/object", tg.reader, nil)
	if r.status != 200 || !bytes.Equal(r.body, append(append([]byte{}, p.first...), p.last...)) || r.header.Get("ETag") != etag ||
		r.header.Get("Content-Type") != "application/x-parts" {
		t.Errorf("GET of the completed object: %d, %d bytes, ETag %s, type %s", r.status, len(r.body), r.header.Get("ETag"), r.header.Get("Content-Type"))
	}
	r = tg.s3Get(t, http.MethodGet, tg.prefix+"mp/object", tg.reader, map[string]string{"Range": "bytes=5242870-5242885"})
	if want := string(p.first[len(p.first)-10:]) + string(p.last[:6]); r.status != 206 || string(r.body) != want {
		t.Errorf("range across the parts: %d %q, want 206 %q", r.status, r.body, want)
	}
}

// checkMultipartChecksums checks an upload with CRC32 part checksums: a wrong one refused, and
// the composite checksum of the completed object.
func (tg *target) checkMultipartChecksums(t *testing.T, p mpParts) {
	id := tg.createUpload(t, "mp/crc", s3types.ChecksumAlgorithmCrc32)
	p1 := tg.uploadPart(t, "mp/crc", id, 1, p.first, s3types.ChecksumAlgorithmCrc32)
	p2 := tg.uploadPart(t, "mp/crc", id, 2, p.last, s3types.ChecksumAlgorithmCrc32)
	if p1.ChecksumCRC32 == nil {
		t.Fatal("UploadPart returned no CRC32")
	}
	bad := p2
	bad.ChecksumCRC32 = aws.String("AAAAAA==")
	if _, err := tg.completeUpload("mp/crc", id, p1, bad); apiErrorCode(err) != "InvalidPart" {
		t.Errorf("complete with a wrong part checksum: %v, want InvalidPart", err)
	}
	out, err := tg.completeUpload("mp/crc", id, p1, p2)
	if err != nil {
		t.Fatalf("CompleteMultipartUpload: %v", err)
	}
	if v := aws.ToString(out.ChecksumCRC32); !strings.HasSuffix(v, "-2") || out.ChecksumType != s3types.ChecksumTypeComposite {
		t.Errorf("checksum of the completed upload %q (%s), want a composite ending in -2", v, out.ChecksumType)
	}
	head, err := tg.s3.HeadObject(context.Background(), &s3.HeadObjectInput{Bucket: &tg.bucket, Key: aws.String(tg.prefix + "mp/crc"), ChecksumMode: s3types.ChecksumModeEnabled})
	if err != nil || aws.ToString(head.ChecksumCRC32) != aws.ToString(out.ChecksumCRC32) {
		t.Errorf("HeadObject with checksum mode: %v, CRC32 %q, want %q", err, aws.ToString(head.ChecksumCRC32), aws.ToString(out.ChecksumCRC32))
	}
}

// checkMultipartErrors checks the refusals of invalid completions, part numbers and upload IDs,
// of the reader role, and an abort.
func (tg *target) checkMultipartErrors(t *testing.T, p mpParts) {
	id := tg.createUpload(t, "mp/bad", "")
	defer tg.abortUpload("mp/bad", id)
	small1 := tg.uploadPart(t, "mp/bad", id, 1, p.last, "")
	small2 := tg.uploadPart(t, "mp/bad", id, 2, p.last, "")
	if _, err := tg.completeUpload("mp/bad", id, small1, small2); apiErrorCode(err) != "EntityTooSmall" {
		t.Errorf("complete with a small first part: %v, want EntityTooSmall", err)
	}
	if _, err := tg.completeUpload("mp/bad", id, small2, small1); apiErrorCode(err) != "InvalidPartOrder" {
		t.Errorf("complete with parts out of order: %v, want InvalidPartOrder", err)
	}
	wrong := small1
	wrong.ETag = aws.String(`"00000000000000000000000000000000"`)
	if _, err := tg.completeUpload("mp/bad", id, wrong); apiErrorCode(err) != "InvalidPart" {
		t.Errorf("complete with a wrong ETag: %v, want InvalidPart", err)
	}
	missing := s3types.CompletedPart{PartNumber: aws.Int32(7), ETag: small1.ETag}
	if _, err := tg.completeUpload("mp/bad", id, missing); apiErrorCode(err) != "InvalidPart" {
		t.Errorf("complete with a part never uploaded: %v, want InvalidPart", err)
	}
	u := tg.objectURL(tg.prefix+"mp/bad") + "?uploadId=" + url.QueryEscape(id)
	reader := tg.reader
	expect(t, "complete with no parts", tg.s3Do(t, http.MethodPost, u, []byte("<CompleteMultipartUpload></CompleteMultipartUpload>"), tg.base, nil), 400, "MalformedXML")
	expect(t, "part number 0", tg.s3Do(t, http.MethodPut, u+"&partNumber=0", []byte("x"), tg.base, nil), 400, "InvalidArgument")
	expect(t, "part number 10001", tg.s3Do(t, http.MethodPut, u+"&partNumber=10001", []byte("x"), tg.base, nil), 400, "InvalidArgument")
	expect(t, "unknown upload ID", tg.s3Do(t, http.MethodPut, tg.objectURL(tg.prefix+"mp/bad")+"?partNumber=1&uploadId=nosuchupload", []byte("x"), tg.base, nil), 404, "NoSuchUpload")
	expect(t, "the reader role creates an upload", tg.s3Do(t, http.MethodPost, tg.objectURL(tg.prefix+"mp/r")+"?uploads", nil, reader, nil), 403, "AccessDenied")
	expect(t, "the reader role lists parts", tg.s3Do(t, http.MethodGet, u, nil, reader, nil), 403, "AccessDenied")
	expect(t, "the reader role aborts", tg.s3Do(t, http.MethodDelete, u, nil, reader, nil), 403, "AccessDenied")
	expect(t, "the reader role lists uploads", tg.s3Do(t, http.MethodGet, tg.endpoint+"/"+tg.bucket+"?uploads", nil, reader, nil), 403, "AccessDenied")

	if r := tg.s3Do(t, http.MethodDelete, u, nil, tg.base, nil); r.status != 204 {
		t.Errorf("AbortMultipartUpload: %d %s", r.status, r.code)
	}
	expect(t, "ListParts after abort", tg.s3Do(t, http.MethodGet, u, nil, tg.base, nil), 404, "NoSuchUpload")
	r := tg.s3Get(t, http.MethodGet, tg.prefix+"mp/bad", tg.base, nil)
	if r.status != 404 {
		t.Errorf("GET of an aborted upload's key: %d, want 404", r.status)
	}
}

// apiErrorCode returns the AWS error code of err, or "" if it has none.
func apiErrorCode(err error) string {
	var ae interface{ ErrorCode() string }
	if errors.As(err, &ae) {
		return ae.ErrorCode()
	}
	return ""
}
