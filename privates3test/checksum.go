package privates3test

import (
	"crypto/sha1"
	"crypto/sha256"
	"encoding/base64"
	"hash"
	"hash/crc32"
	"hash/crc64"
	"net/http"
	"strings"
)

// checksumAlgorithm is one of S3's additional checksums (x-amz-checksum-NAME).
type checksumAlgorithm struct {
	name string // as in the header name, canonical case: Crc32
	id   string // as in x-amz-checksum-algorithm and in XML element names: CRC32
	new  func() hash.Hash
}

func (a checksumAlgorithm) sum(b ...[]byte) []byte {
	h := a.new()
	for _, p := range b {
		h.Write(p)
	}
	return h.Sum(nil)
}

// crc64NVME is the CRC-64/NVME polynomial (0xad93d23594c93659) bit-reversed, the form
// crc64.MakeTable takes; crc64's initial value and final xor (all ones) are NVME's.
const crc64NVME = 0x9a6c9329ac4bc9b5

// checksumAlgorithms are the checksums the fake verifies and stores.
var checksumAlgorithms = [...]checksumAlgorithm{
	{"Crc32", "CRC32", func() hash.Hash { return crc32.NewIEEE() }},
	{"Crc32c", "CRC32C", func() hash.Hash { return crc32.New(crc32.MakeTable(crc32.Castagnoli)) }},
	{"Crc64nvme", "CRC64NVME", func() hash.Hash { return crc64.New(crc64.MakeTable(crc64NVME)) }},
	{"Sha1", "SHA1", sha1.New},
	{"Sha256", "SHA256", sha256.New},
}

// checksumByName returns the algorithm whose header name or ID is name (any case).
func checksumByName(name string) (checksumAlgorithm, bool) {
	for _, a := range checksumAlgorithms {
		if strings.EqualFold(a.name, name) || strings.EqualFold("x-amz-checksum-"+a.name, name) {
			return a, true
		}
	}
	return checksumAlgorithm{}, false
}

// verifyChecksums checks every checksum in sums (base64 values by algorithm name) against data.
func verifyChecksums(sums map[string]string, data []byte) *apiError {
	for name, v := range sums {
		a, _ := checksumByName(name)
		raw, err := base64.StdEncoding.DecodeString(v)
		if err != nil || len(raw) != a.new().Size() {
			return newError(http.StatusBadRequest, "InvalidRequest", "Value for x-amz-checksum-"+strings.ToLower(a.name)+" header is invalid.")
		}
		if got := base64.StdEncoding.EncodeToString(a.sum(data)); got != v {
			return newError(http.StatusBadRequest, "BadDigest", "The "+a.id+" you specified did not match the calculated checksum.")
		}
	}
	return nil
}

// requestedChecksum returns the algorithm r asks for (x-amz-checksum-algorithm, or the SDKs'
// x-amz-sdk-checksum-algorithm), or ok false if none; an unknown one is an error.
func requestedChecksum(r *http.Request) (a checksumAlgorithm, ok bool, e *apiError) {
	v := r.Header.Get("X-Amz-Checksum-Algorithm")
	if v == "" {
		v = r.Header.Get("X-Amz-Sdk-Checksum-Algorithm")
	}
	if v == "" {
		return a, false, nil
	}
	if a, ok = checksumByName(v); !ok {
		return a, false, newError(http.StatusBadRequest, "InvalidRequest", "Checksum algorithm provided is unsupported. Please try again with any of the valid types: [CRC32, CRC32C, CRC64NVME, SHA1, SHA256]")
	}
	return a, true, nil
}

// bodyChecksum returns the one checksum of in (sent, or else computed with the algorithm r
// asks for, or else CRC-64/NVME, which S3 computes for every upload since 2025) as algorithm
// and base64 value.
func bodyChecksum(r *http.Request, in *body) (checksumAlgorithm, string, *apiError) {
	if len(in.checksums) > 1 {
		return checksumAlgorithm{}, "", newError(http.StatusBadRequest, "InvalidRequest", "Expecting a single x-amz-checksum- header. Multiple checksum Types are not allowed.")
	}
	want, asked, e := requestedChecksum(r)
	if e != nil {
		return want, "", e
	}
	for name, v := range in.checksums {
		a, _ := checksumByName(name)
		if asked && a.id != want.id {
			return a, "", newError(http.StatusBadRequest, "InvalidRequest", "Value for x-amz-checksum-"+strings.ToLower(want.name)+" header is invalid.")
		}
		return a, v, nil
	}
	if !asked {
		want = checksumAlgorithms[2] // CRC64NVME
	}
	return want, base64.StdEncoding.EncodeToString(want.sum(in.data)), nil
}

// setChecksums stores the checksum of a single-request upload on o.
func (o *object) setChecksums(r *http.Request, in *body) *apiError {
	a, v, e := bodyChecksum(r, in)
	if e != nil {
		return e
	}
	o.checksums, o.checksumType = map[string]string{a.name: v}, "FULL_OBJECT"
	return nil
}

// writeChecksumHeaders sets x-amz-checksum-* and x-amz-checksum-type for o's checksums.
func (o *object) writeChecksumHeaders(h http.Header) {
	for name, v := range o.checksums {
		h.Set("X-Amz-Checksum-"+name, v)
	}
	if len(o.checksums) > 0 {
		h.Set("X-Amz-Checksum-Type", o.checksumType)
	}
}
