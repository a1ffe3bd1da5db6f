package privates3test

import (
	"crypto/sha1"
	"crypto/sha256"
	"hash"
	"hash/crc32"
	"hash/crc64"
)

// checksumAlgorithm is one of S3's additional checksums (x-amz-checksum-NAME).
type checksumAlgorithm struct {
	name string // as in the header name, canonical case
	new  func() hash.Hash
}

func (a checksumAlgorithm) sum(b []byte) []byte {
	h := a.new()
	h.Write(b)
	return h.Sum(nil)
}

// crc64NVME is the reversed CRC-64/NVME polynomial, in the form crc64.MakeTable takes.
const crc64NVME = 0x9a6c9329ac4bc9b5

func checksumAlgorithms() []checksumAlgorithm {
	return []checksumAlgorithm{
		{"Crc32", func() hash.Hash { return crc32.NewIEEE() }},
		{"Crc32c", func() hash.Hash { return crc32.New(crc32.MakeTable(crc32.Castagnoli)) }},
		{"Crc64nvme", func() hash.Hash { return crc64.New(crc64.MakeTable(crc64NVME)) }},
		{"Sha1", sha1.New},
		{"Sha256", sha256.New},
	}
}
