package privates3test

import (
	"bytes"
	"encoding/xml"
	"net/http"
	"net/http/httptest"
	"net/url"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
)

// chunkedFixture is a valid aws-chunked request for the fuzzers' seeds and decoders.
type chunkedFixture struct {
	creds   aws.Credentials
	payload []byte
	date    time.Time
}

func newChunkedFixture() chunkedFixture {
	return chunkedFixture{
		creds:   aws.Credentials{AccessKeyID: "AKIAFUZZ", SecretAccessKey: "fuzz-secret"},
		payload: bytes.Repeat([]byte("0123456789"), 2000), // 20000 bytes: chunks of 8192, 8192, 3616
		date:    time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC),
	}
}

// encode returns the body of c signed (or not) with a trailer (or not), and the seed signature.
func (f chunkedFixture) encode(signed bool, trailer string) ([]byte, string) {
	req, _ := http.NewRequest(http.MethodPut, "http://localhost/b/k", nil)
	c := chunked{chunkSize: 8 << 10, signed: signed}
	if trailer != "" {
		c.trailerName, c.trailerValue = "x-amz-checksum-crc32", trailer
	}
	v4Signer{creds: f.creds, region: "us-east-1", service: "s3", now: f.date}.signChunked(req, f.payload, c)
	var b bytes.Buffer
	_, _ = b.ReadFrom(req.Body)
	a := req.Header.Get("Authorization")
	return b.Bytes(), a[strings.LastIndex(a, "=")+1:]
}

// decoder returns a decoder for f's requests with the given seed signature.
func (f chunkedFixture) decoder(signed, trailer bool, seed string, length int64) *chunkDecoder {
	d := &chunkDecoder{signed: signed, trailer: trailer, length: length}
	if trailer {
		d.trailerNames = []string{"x-amz-checksum-crc32"}
	}
	if signed {
		date := f.date.Format(amzDateFormat)
		d.key = signingKey(f.creds.SecretAccessKey, date[:8], "us-east-1", "s3")
		d.date, d.scope, d.prevSig = date, date[:8]+"/us-east-1/s3/aws4_request", seed
	}
	return d
}

// FuzzChunkedDecoder decodes arbitrary bodies in every aws-chunked mode: no panic, memory
// bounded by the decoded length (not by what the body claims), a success returns exactly the
// declared number of bytes, and in the signed modes a success returns exactly the payload that
// was signed (any change to data, sizes or signatures is refused).
func FuzzChunkedDecoder(f *testing.F) {
	fx := newChunkedFixture()
	crc := "sdDBNQ==" // not checked by the decoder itself
	for mode := range 3 {
		signed, trailer := mode != 2, mode != 0
		tr := ""
		if trailer {
			tr = crc
		}
		body, seed := fx.encode(signed, tr)
		f.Add(body, uint8(mode), seed, uint32(len(fx.payload)))
		f.Add(body[:len(body)/2], uint8(mode), seed, uint32(len(fx.payload)))
		f.Add(body, uint8(mode), seed, uint32(64<<20))
	}
	f.Add([]byte("ffffffffffffffff;chunk-signature=00\r\n"), uint8(0), "", uint32(100))
	f.Add([]byte("0\r\nx-amz-checksum-crc32:AAAAAA==\r\n\r\n"), uint8(2), "", uint32(0))
	f.Fuzz(func(t *testing.T, body []byte, mode uint8, seed string, declared uint32) {
		signed, trailer := mode%3 != 2, mode%3 != 0
		length := int64(declared % (64<<20 + 1))
		d := fx.decoder(signed, trailer, seed, length)
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		data, sums, e := d.decode(bytes.NewReader(body))
		runtime.ReadMemStats(&after)
		if alloc := after.TotalAlloc - before.TotalAlloc; alloc > uint64(2*len(body))+4<<20 {
			t.Fatalf("decoding %d bytes allocated %d bytes", len(body), alloc)
		}
		if e != nil {
			if e.status < 400 || e.status > 499 || e.code == "" {
				t.Fatalf("error %d %q", e.status, e.code)
			}
			return
		}
		if int64(len(data)) != length {
			t.Fatalf("decoded %d bytes, declared %d", len(data), length)
		}
		if signed && !bytes.Equal(data, fx.payload) {
			t.Fatalf("a signed body decoded to %d bytes other than the payload signed", len(data))
		}
		if trailer && len(sums) != 1 {
			t.Fatalf("trailing checksums %v", sums)
		}
	})
}

// FuzzListParams sends listings with arbitrary query strings through the handler (no panic, a
// 200 listing or a 400 error) and checks list's paging on the parameters parsed: sorted,
// within max-keys, after the marker, under the prefix, and paging through every key once.
func FuzzListParams(f *testing.F) {
	srv := NewServer(InProcess())
	defer srv.Close()
	keys := []string{"a", "a/b", "a/b/c", "a/c", "b", "b/", "b//x", "c d", "é/1", "z"}
	for _, k := range keys {
		srv.PutObject("bucket", k, []byte(k))
	}
	for _, q := range []string{
		"list-type=2", "list-type=2&delimiter=/&prefix=a/", "list-type=2&max-keys=1&start-after=a",
		"list-type=2&continuation-token=YS9i&max-keys=2", "list-type=2&encoding-type=url&delimiter=%2F",
		"prefix=a&marker=a/b&max-keys=2&delimiter=b", "max-keys=-1", "max-keys=99999999999999999999",
		"list-type=2&continuation-token=%21", "list-type=2&delimiter=//&fetch-owner=true", "encoding-type=URL",
	} {
		f.Add(q)
	}
	f.Fuzz(func(t *testing.T, query string) {
		q, err := url.ParseQuery(query)
		if err != nil {
			return
		}
		req := httptest.NewRequest(http.MethodGet, "http://privates3test.invalid/bucket", nil)
		req.URL.RawQuery = strings.ReplaceAll(q.Encode(), "+", "%20") // as SDKs encode queries
		v4Signer{creds: srv.BaseCredentials(), region: srv.Region(), service: "s3", now: time.Now()}.signHeader(req, nil)
		rec := httptest.NewRecorder()
		srv.Handler().ServeHTTP(rec, req)
		switch rec.Code {
		case http.StatusOK:
			var res struct{ XMLName xml.Name }
			if err := xml.Unmarshal(rec.Body.Bytes(), &res); err != nil || res.XMLName.Local != "ListBucketResult" && res.XMLName.Local != "ListMultipartUploadsResult" && res.XMLName.Local != "LocationConstraint" {
				t.Fatalf("200 with %v %q", err, rec.Body.String())
			}
		case http.StatusBadRequest, http.StatusNotImplemented:
		default:
			t.Fatalf("status %d for %q: %s", rec.Code, query, rec.Body.String())
		}

		p, e := parseListParams(q)
		if e != nil {
			return
		}
		p.after = q.Get("start-after")
		sorted, _, _ := srv.sortedKeys("bucket", p.prefix)
		var seen []string
		for page := 0; page <= len(keys); page++ {
			l := list(sorted, p)
			if n := len(l.keys) + len(l.prefixes); n > p.maxKeys || l.truncated && n == 0 {
				t.Fatalf("page of %d entries with max-keys %d, truncated %v", n, p.maxKeys, l.truncated)
			}
			for _, k := range slices.Concat(l.keys, l.prefixes) {
				if k <= p.after || !strings.HasPrefix(k, p.prefix) {
					t.Fatalf("entry %q with start %q and prefix %q", k, p.after, p.prefix)
				}
			}
			if !slices.IsSorted(l.keys) || !slices.IsSorted(l.prefixes) {
				t.Fatalf("unsorted page %q %q", l.keys, l.prefixes)
			}
			seen = append(seen, l.keys...)
			if !l.truncated {
				break
			}
			p.after = l.last
		}
		if p.delimiter == "" && p.maxKeys > 0 {
			var want []string
			for _, k := range sorted {
				if k > q.Get("start-after") {
					want = append(want, k)
				}
			}
			if !slices.Equal(seen, want) {
				t.Fatalf("paging gave %q, want %q", seen, want)
			}
		}
	})
}

// TestChunkedDecoderSeeds checks the fuzzer's fixture: its bodies decode in every mode, and a
// changed byte of a signed chunk is refused.
func TestChunkedDecoderSeeds(t *testing.T) {
	fx := newChunkedFixture()
	for mode := range 3 {
		signed, trailer := mode != 2, mode != 0
		tr := ""
		if trailer {
			tr = "sdDBNQ=="
		}
		body, seed := fx.encode(signed, tr)
		data, sums, e := fx.decoder(signed, trailer, seed, int64(len(fx.payload))).decode(bytes.NewReader(body))
		if e != nil || !bytes.Equal(data, fx.payload) || trailer && sums["Crc32"] != tr {
			t.Errorf("mode %d: %v, %d bytes, trailers %v", mode, e, len(data), sums)
		}
		if signed {
			bad := bytes.Clone(body)
			bad[9000] ^= 1
			if _, _, e := fx.decoder(signed, trailer, seed, int64(len(fx.payload))).decode(bytes.NewReader(bad)); e == nil || e.code != "SignatureDoesNotMatch" {
				t.Errorf("mode %d with a changed byte: %v, want SignatureDoesNotMatch", mode, e)
			}
		}
	}
}
