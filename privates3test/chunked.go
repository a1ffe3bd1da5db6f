package privates3test

import (
	"bufio"
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"
)

// aws-chunked bodies (x-amz-content-sha256 STREAMING-…), as AWS's "Signature Calculations for
// the Authorization Header: Transferring Payload in Multiple Chunks" describes them: each chunk is
// "hex-size[;chunk-signature=SIG]\r\n" data "\r\n", the last one has size 0 and may be followed by
// trailing headers (x-amz-checksum-*, and x-amz-trailer-signature when signed) and "\r\n".

const (
	// maxChunkLine is the longest chunk header or trailer line the decoder accepts.
	maxChunkLine = 4096
	// maxTrailers is how many trailing header lines the decoder accepts.
	maxTrailers = 16
	// minSignedChunk is the smallest signed chunk S3 accepts, except the last.
	minSignedChunk = 8 << 10
)

// chunkDecoder decodes and verifies one aws-chunked body.
type chunkDecoder struct {
	signed  bool   // chunk signatures to verify
	trailer bool   // trailing headers expected
	key     []byte // SigV4 signing key, if signed
	date    string // X-Amz-Date of the request
	scope   string // credential scope of the request
	prevSig string // the seed signature, then the last chunk's
	length  int64  // x-amz-decoded-content-length
	// trailerNames are the trailing headers announced in x-amz-trailer (lower case).
	trailerNames []string
}

func chunkFormatError(detail string) *apiError {
	return newError(http.StatusBadRequest, "IncompleteBody", "The aws-chunked body is malformed: "+detail)
}

func trailerError() *apiError {
	return newError(http.StatusBadRequest, "MalformedTrailerError", "The request contained trailing data that was not well-formed or did not conform to our published schema.")
}

func chunkSignatureError() *apiError {
	return newError(http.StatusForbidden, "SignatureDoesNotMatch", "The request signature we calculated does not match the signature you provided. Check your key and signing method.")
}

// readChunked decodes r's aws-chunked body, whose x-amz-content-sha256 is mode, verifying every
// chunk and trailer signature with id's key, and returns the payload (at most limit bytes) and
// the trailing checksums by canonical algorithm name.
func readChunked(r *http.Request, mode string, id *identity, limit int64) ([]byte, map[string]string, *apiError) {
	v := r.Header.Get("X-Amz-Decoded-Content-Length")
	if v == "" {
		return nil, nil, newError(http.StatusLengthRequired, "MissingContentLength", "You must provide the Content-Length HTTP header.")
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < 0 || !allDigits(v) {
		return nil, nil, newError(http.StatusBadRequest, "InvalidArgument", "x-amz-decoded-content-length must be a non-negative integer").
			with("ArgumentName", "x-amz-decoded-content-length")
	}
	if n > limit {
		return nil, nil, newError(http.StatusBadRequest, "EntityTooLarge", "Your proposed upload exceeds the maximum allowed size.").
			with("MaxSizeAllowed", strconv.FormatInt(limit, 10))
	}
	d := &chunkDecoder{
		signed:  mode != streamingUnsignedTrailer,
		trailer: mode != streamingSigned,
		length:  n,
	}
	if d.signed {
		p := id.sig
		if p.presigned {
			return nil, nil, newError(http.StatusBadRequest, "InvalidRequest", "aws-chunked bodies need a signature in the Authorization header")
		}
		d.key = signingKey(id.secret, p.scopeDate, p.region, p.service)
		d.date, d.scope, d.prevSig = p.dateRaw, p.scopeDate+"/"+p.region+"/"+p.service+"/aws4_request", p.signature
	}
	for t := range strings.SplitSeq(r.Header.Get("X-Amz-Trailer"), ",") {
		if t = strings.ToLower(strings.TrimSpace(t)); t != "" {
			d.trailerNames = append(d.trailerNames, t)
		}
	}
	if d.trailer != (len(d.trailerNames) > 0) {
		return nil, nil, newError(http.StatusBadRequest, "InvalidRequest", "x-amz-trailer must name the trailing headers of a "+mode+" body, and only of such a body")
	}
	return d.decode(r.Body)
}

// decode reads the whole aws-chunked body from r. Memory is bounded by the decoded length and a
// few lines of at most maxChunkLine bytes.
func (d *chunkDecoder) decode(r io.Reader) ([]byte, map[string]string, *apiError) {
	br := bufio.NewReaderSize(r, 16<<10)
	var data bytes.Buffer
	data.Grow(int(min(d.length, 1<<20)))
	for last := false; !last; {
		var e *apiError
		if last, e = d.readChunk(br, &data); e != nil {
			return nil, nil, e
		}
	}
	if int64(data.Len()) != d.length {
		return nil, nil, newError(http.StatusBadRequest, "IncompleteBody", "You did not provide the number of bytes specified by the x-amz-decoded-content-length header.")
	}
	trailers, e := d.readTrailers(br)
	if e != nil {
		return nil, nil, e
	}
	return data.Bytes(), trailers, nil
}

// readChunk reads the next chunk into data and verifies it; last reports the final, empty chunk.
func (d *chunkDecoder) readChunk(br *bufio.Reader, data *bytes.Buffer) (last bool, e *apiError) {
	size, ext, e := readChunkHeader(br, d.length-int64(data.Len()))
	if e != nil {
		return false, e
	}
	start := data.Len()
	if _, err := io.CopyN(data, br, int64(size)); err != nil {
		return false, chunkFormatError("truncated chunk")
	}
	if e := d.verifyChunk(ext, data.Bytes()[start:]); e != nil {
		return false, e
	}
	if size == 0 {
		return true, nil
	}
	if crlf, err := br.Peek(2); err != nil || string(crlf) != "\r\n" {
		return false, chunkFormatError("chunk data not followed by CRLF")
	}
	_, _ = br.Discard(2)
	if d.signed && size < minSignedChunk && int64(data.Len()) < d.length {
		return false, newError(http.StatusForbidden, "InvalidChunkSizeError", "Only the last chunk is allowed to have a size less than 8192 bytes")
	}
	return false, nil
}

// readChunkHeader reads the line "hex-size[;extensions]" that starts a chunk, which may carry at
// most left bytes.
func readChunkHeader(br *bufio.Reader, left int64) (size uint64, ext string, e *apiError) {
	line, le := readChunkLine(br)
	if le != nil {
		return 0, "", le.apiError
	}
	sizeText, ext, _ := strings.Cut(line, ";")
	size, err := strconv.ParseUint(sizeText, 16, 63)
	if err != nil || sizeText == "" || len(sizeText) > 16 {
		return 0, "", chunkFormatError("invalid chunk size")
	}
	if int64(size) > left {
		return 0, "", newError(http.StatusBadRequest, "IncompleteBody", "The chunks carry more bytes than x-amz-decoded-content-length says.")
	}
	return size, ext, nil
}

// verifyChunk checks, in a signed body, the chunk-signature in ext of the chunk whose data is
// chunk; the signature then chains to the next chunk.
func (d *chunkDecoder) verifyChunk(ext string, chunk []byte) *apiError {
	if !d.signed {
		return nil
	}
	sig, ok := strings.CutPrefix(ext, "chunk-signature=")
	if !ok {
		return chunkFormatError("chunk without chunk-signature")
	}
	want := d.sign("AWS4-HMAC-SHA256-PAYLOAD", emptySHA256+"\n"+hexSHA256(chunk))
	if !hmac.Equal([]byte(want), []byte(sig)) {
		return chunkSignatureError()
	}
	d.prevSig = want
	return nil
}

// readTrailers reads what follows the last chunk: "\r\n", or the trailing headers and "\r\n".
func (d *chunkDecoder) readTrailers(br *bufio.Reader) (map[string]string, *apiError) {
	t, e := d.readTrailerLines(br)
	if e != nil {
		return nil, e
	}
	if d.signed && d.trailer {
		want := d.sign("AWS4-HMAC-SHA256-TRAILER", hexSHA256([]byte(t.text.String())))
		if !hmac.Equal([]byte(want), []byte(t.sig)) {
			return nil, chunkSignatureError()
		}
	}
	return d.trailerChecksums(t.got)
}

// trailerSet is the trailing headers of a body, as read.
type trailerSet struct {
	got  map[string]string // by lower-case name, but for the trailer signature
	text strings.Builder   // the trailing headers as signed: name:value\n each
	sig  string            // x-amz-trailer-signature of a signed body
}

// readTrailerLines reads the trailing header lines up to the empty line that ends them.
func (d *chunkDecoder) readTrailerLines(br *bufio.Reader) (*trailerSet, *apiError) {
	t := &trailerSet{got: map[string]string{}}
	for i := 0; ; i++ {
		line, le := readChunkLine(br)
		if le != nil {
			if errors.Is(le.cause, io.EOF) && d.trailer && i > 0 {
				return t, nil // clients may end the body without the final CRLF
			}
			return nil, trailerError()
		}
		if line == "" {
			return t, nil
		}
		if !d.trailer || i >= maxTrailers {
			return nil, trailerError()
		}
		if e := t.add(line, d.signed); e != nil {
			return nil, e
		}
	}
}

// add records the trailing header line "name:value"; in a signed body, x-amz-trailer-signature
// is the signature of the others.
func (t *trailerSet) add(line string, signed bool) *apiError {
	name, value, ok := strings.Cut(line, ":")
	name, value = strings.ToLower(strings.TrimSpace(name)), strings.TrimSpace(value)
	switch {
	case !ok:
		return trailerError()
	case name == "x-amz-trailer-signature" && signed:
		t.sig = value
	default:
		if _, dup := t.got[name]; dup {
			return trailerError()
		}
		t.got[name] = value
		t.text.WriteString(name + ":" + value + "\n")
	}
	return nil
}

// trailerChecksums returns the checksums of the trailing headers got, by canonical algorithm
// name. got must hold exactly the headers x-amz-trailer announced, each a checksum.
func (d *chunkDecoder) trailerChecksums(got map[string]string) (map[string]string, *apiError) {
	sums := map[string]string{}
	for _, name := range d.trailerNames {
		v, ok := got[name]
		a, known := checksumByName(name)
		if !ok || !known {
			return nil, trailerError()
		}
		sums[a.name] = v
	}
	if len(got) != len(d.trailerNames) {
		return nil, trailerError()
	}
	return sums, nil
}

// sign returns the signature of a chunk or trailer: algorithm, date, scope, the previous
// signature and rest, as the string to sign.
func (d *chunkDecoder) sign(algorithm, rest string) string {
	m := hmac.New(sha256.New, d.key)
	m.Write([]byte(algorithm + "\n" + d.date + "\n" + d.scope + "\n" + d.prevSig + "\n" + rest))
	return hex.EncodeToString(m.Sum(nil))
}

// lineError is a chunk-format error with its cause.
type lineError struct {
	*apiError
	cause error
}

// readChunkLine reads one CRLF-terminated line of at most maxChunkLine bytes, without the CRLF.
func readChunkLine(br *bufio.Reader) (string, *lineError) {
	var line []byte
	for {
		frag, err := br.ReadSlice('\n')
		line = append(line, frag...)
		if len(line) > maxChunkLine {
			return "", &lineError{chunkFormatError("line too long"), nil}
		}
		if err == nil {
			break
		}
		if err != bufio.ErrBufferFull {
			return "", &lineError{chunkFormatError("truncated body"), err}
		}
	}
	s, ok := strings.CutSuffix(string(line), "\r\n")
	if !ok {
		return "", &lineError{chunkFormatError("line not ended by CRLF"), nil}
	}
	return s, nil
}
