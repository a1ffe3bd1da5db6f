package privates3test

import (
	"crypto/md5"
	"encoding/base64"
	"encoding/hex"
	"encoding/xml"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Multipart uploads keep their parts in memory: at most maxPutBytes (64 MiB) per part, and at
// most maxPendingUploadBytes (1 GiB) in all the unfinished uploads of a Server, beyond which
// UploadPart answers EntityTooLarge. A completed upload becomes an object that holds the parts
// themselves (no copy is made); aborting or completing an upload frees the parts it does not use.

const (
	// minPartSize is the smallest part S3 accepts in a completed upload, except the last (5 MiB).
	minPartSize = 5 << 20
	// maxPartNumber is the highest part number (S3: 10000).
	maxPartNumber = 10000
	// maxPendingUploadBytes bounds the bytes held by the unfinished uploads of a Server.
	maxPendingUploadBytes = 1 << 30
	// maxXMLBody is the largest request body other than object data the fake reads (1 MiB).
	maxXMLBody = 1 << 20
)

// upload is an unfinished multipart upload.
type upload struct {
	id, key      string
	initiated    time.Time
	initiator    string             // ARN of the caller that created it
	template     *object            // content type, encoding, cache control, metadata
	checksum     *checksumAlgorithm // nil if the upload names none
	checksumType string             // FULL_OBJECT or COMPOSITE, if checksum is set
	parts        map[int]*part
}

// part is one uploaded part.
type part struct {
	data         []byte
	etag         string // quoted hex MD5
	checksum     string // base64, of upload.checksum; "" if none
	lastModified time.Time
}

func noSuchUpload(id string) *apiError {
	return newError(http.StatusNotFound, "NoSuchUpload", "The specified upload does not exist. The upload ID may be invalid, or the upload may have been aborted or completed.").
		with("UploadId", truncate(id, 100))
}

// findUpload checks that the caller may do action on c's object and returns the upload named by
// c's uploadId, which must be for c's key.
func (c *s3Call) findUpload(action string) (*upload, *apiError) {
	if e := c.authorize(action, objectARN(c.bucket, c.key)); e != nil {
		return nil, e
	}
	id := c.query.Get("uploadId")
	c.s.mu.Lock()
	defer c.s.mu.Unlock()
	b := c.s.buckets[c.bucket]
	if b == nil {
		return nil, noSuchBucket(c.bucket)
	}
	u := b.uploads[id]
	if u == nil || u.key != c.key {
		return nil, noSuchUpload(id)
	}
	return u, nil
}

func (c *s3Call) createMultipartUpload() *apiError {
	if e := c.writable(); e != nil {
		return e
	}
	u := &upload{
		id: randomString(64, "0123456789abcdef"), key: c.key, initiated: c.s.Now().UTC(),
		initiator: c.id.arn(), template: &object{}, parts: map[int]*part{},
	}
	headerAttributes(c.r, u.template)
	a, asked, e := requestedChecksum(c.r)
	if e != nil {
		return e
	}
	typ := strings.ToUpper(c.r.Header.Get("X-Amz-Checksum-Type"))
	if asked {
		u.checksum = &a
		switch {
		case typ == "" && a.id == "CRC64NVME":
			typ = "FULL_OBJECT"
		case typ == "":
			typ = "COMPOSITE"
		case typ != "FULL_OBJECT" && typ != "COMPOSITE",
			typ == "COMPOSITE" && a.id == "CRC64NVME",
			typ == "FULL_OBJECT" && strings.HasPrefix(a.id, "SHA"):
			return newError(http.StatusBadRequest, "InvalidRequest", "The "+truncate(typ, 20)+" checksum type cannot be used with the "+a.id+" checksum algorithm.")
		}
		u.checksumType = typ
	} else if typ != "" {
		return newError(http.StatusBadRequest, "InvalidRequest", "x-amz-checksum-type needs x-amz-checksum-algorithm")
	}
	c.s.mu.Lock()
	c.s.bucketLocked(c.bucket).uploads[u.id] = u
	c.s.mu.Unlock()
	h := c.header()
	if u.checksum != nil {
		h.Set("X-Amz-Checksum-Algorithm", u.checksum.id)
		h.Set("X-Amz-Checksum-Type", u.checksumType)
	}
	return c.writeXML(struct {
		XMLName xml.Name `xml:"InitiateMultipartUploadResult"`
		Xmlns   string   `xml:"xmlns,attr"`
		objectName
		UploadID string `xml:"UploadId"`
	}{Xmlns: s3Namespace, objectName: objectName{c.bucket, c.key}, UploadID: u.id})
}

func (c *s3Call) uploadPart() *apiError {
	n, e := parsePartNumber(c.query.Get("partNumber"))
	if e != nil {
		return e
	}
	u, e := c.findUpload("s3:PutObject")
	if e != nil {
		return e
	}
	sum := md5.Sum(c.in.data)
	if e := checkContentMD5(c.r, sum[:]); e != nil {
		return e
	}
	p := &part{data: c.in.data, etag: `"` + hex.EncodeToString(sum[:]) + `"`, lastModified: c.s.Now().UTC().Truncate(time.Second)}
	if p.checksum, e = u.partChecksum(c.in); e != nil {
		return e
	}
	if e := c.s.addPart(c.bucket, u, n, p); e != nil {
		return e
	}
	h := c.header()
	h.Set("ETag", p.etag)
	if u.checksum != nil {
		h.Set("X-Amz-Checksum-"+u.checksum.name, p.checksum)
	}
	h.Set("Content-Length", "0")
	c.w.WriteHeader(http.StatusOK)
	return nil
}

// parsePartNumber parses the partNumber parameter of UploadPart (1 to maxPartNumber).
func parsePartNumber(v string) (int, *apiError) {
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 || n > maxPartNumber || !allDigits(v) {
		return 0, newError(http.StatusBadRequest, "InvalidArgument", "Part number must be an integer between 1 and 10000, inclusive").
			with("ArgumentName", "partNumber").with("ArgumentValue", truncate(v, 20))
	}
	return n, nil
}

// partChecksum returns the checksum of u's algorithm for a part whose body is in: the one sent,
// or else computed; "" if u has no checksum algorithm. A checksum of another algorithm is an
// error.
func (u *upload) partChecksum(in *body) (string, *apiError) {
	if u.checksum == nil {
		return "", nil
	}
	for name := range in.checksums {
		if name != u.checksum.name {
			return "", newError(http.StatusBadRequest, "InvalidRequest", "Checksum Type mismatch occurred, expected checksum Type: "+strings.ToLower(u.checksum.id)+", actual checksum Type: "+strings.ToLower(name))
		}
	}
	if v := in.checksums[u.checksum.name]; v != "" {
		return v, nil
	}
	return base64.StdEncoding.EncodeToString(u.checksum.sum(in.data)), nil
}

// addPart stores p as part n of u, an upload in bucketName, unless u was completed or aborted
// meanwhile or the unfinished uploads would hold more than the server's limit.
func (s *Server) addPart(bucketName string, u *upload, n int, p *part) *apiError {
	s.mu.Lock()
	defer s.mu.Unlock()
	old := int64(0)
	if o := u.parts[n]; o != nil {
		old = int64(len(o.data))
	}
	if s.pendingBytes-old+int64(len(p.data)) > s.maxPending {
		return newError(http.StatusBadRequest, "EntityTooLarge", "The unfinished multipart uploads of this privates3test server would exceed its limit.").
			with("MaxSizeAllowed", strconv.FormatInt(s.maxPending, 10))
	}
	if b := s.buckets[bucketName]; b == nil || b.uploads[u.id] != u {
		return noSuchUpload(u.id) // completed or aborted meanwhile
	}
	s.pendingBytes += int64(len(p.data)) - old
	u.parts[n] = p
	return nil
}

// completedPart is a Part of CompleteMultipartUpload.
type completedPart struct {
	PartNumber        int    `xml:"PartNumber"`
	ETag              string `xml:"ETag"`
	ChecksumCRC32     string `xml:"ChecksumCRC32"`
	ChecksumCRC32C    string `xml:"ChecksumCRC32C"`
	ChecksumCRC64NVME string `xml:"ChecksumCRC64NVME"`
	ChecksumSHA1      string `xml:"ChecksumSHA1"`
	ChecksumSHA256    string `xml:"ChecksumSHA256"`
}

// objectName is the Bucket and Key elements that name the object of a multipart answer.
type objectName struct {
	Bucket string `xml:"Bucket"`
	Key    string `xml:"Key"`
}

// checksumElement is the Checksum<ALGORITHM> element of a multipart answer, for the checksum v of
// algorithm a.
func checksumElement(a *checksumAlgorithm, v string) []xmlElem {
	return []xmlElem{{XMLName: xml.Name{Local: "Checksum" + a.id}, Value: v}}
}

// checksum returns the part's checksum of algorithm id, "" if not given.
func (p completedPart) checksum(id string) string {
	return map[string]string{"CRC32": p.ChecksumCRC32, "CRC32C": p.ChecksumCRC32C, "CRC64NVME": p.ChecksumCRC64NVME,
		"SHA1": p.ChecksumSHA1, "SHA256": p.ChecksumSHA256}[id]
}

func (c *s3Call) completeMultipartUpload() *apiError {
	u, e := c.findUpload("s3:PutObject")
	if e != nil {
		return e
	}
	var doc struct {
		XMLName xml.Name        `xml:"CompleteMultipartUpload"`
		Parts   []completedPart `xml:"Part"`
	}
	if err := xml.Unmarshal(c.in.data, &doc); err != nil || len(doc.Parts) == 0 {
		return newError(http.StatusBadRequest, "MalformedXML", "The XML you provided was not well-formed or did not validate against our published schema")
	}
	c.s.mu.Lock()
	o, e := u.assembleLocked(doc.Parts)
	b := c.s.buckets[c.bucket]
	if e == nil && (b == nil || b.uploads[u.id] != u) {
		e = noSuchUpload(u.id) // completed or aborted meanwhile
	}
	if e != nil {
		c.s.mu.Unlock()
		return e
	}
	c.s.dropUploadLocked(b, u)
	if o.contentType == "" {
		o.contentType = defaultContentType
	}
	o.lastModified = c.s.Now().UTC().Truncate(time.Second)
	b.objects[c.key] = o
	c.s.mu.Unlock()

	res := struct {
		XMLName  xml.Name `xml:"CompleteMultipartUploadResult"`
		Xmlns    string   `xml:"xmlns,attr"`
		Location string   `xml:"Location"`
		objectName
		ETag         string    `xml:"ETag"`
		Checksum     []xmlElem // ChecksumCRC32 etc.
		ChecksumType string    `xml:"ChecksumType,omitempty"`
	}{Xmlns: s3Namespace, Location: c.location(), objectName: objectName{c.bucket, c.key}, ETag: o.etag}
	if u.checksum != nil {
		res.Checksum = checksumElement(u.checksum, o.checksums[u.checksum.name])
		res.ChecksumType = o.checksumType
	}
	return c.writeXML(res)
}

// assembleLocked checks the parts a CompleteMultipartUpload lists against what was uploaded and
// returns the object they make: S3's ETag (the MD5 of the parts' MD5s, "-N") and checksum.
func (u *upload) assembleLocked(list []completedPart) (*object, *apiError) {
	o := &object{}
	*o = *u.template
	md5s := md5.New()
	var sums []byte // the parts' raw checksums, for a composite checksum
	for i := 1; i < len(list); i++ {
		if list[i].PartNumber <= list[i-1].PartNumber {
			return nil, newError(http.StatusBadRequest, "InvalidPartOrder", "The list of parts was not in ascending order. Parts must be ordered by part number.").
				with("UploadId", u.id)
		}
	}
	for i, cp := range list {
		p := u.parts[cp.PartNumber]
		invalidPart := newError(http.StatusBadRequest, "InvalidPart", "One or more of the specified parts could not be found.  The part may not have been uploaded, or the specified entity tag may not match the part's entity tag.").
			with("UploadId", u.id).with("PartNumber", strconv.Itoa(cp.PartNumber)).with("ETag", truncate(cp.ETag, 70))
		if p == nil || strings.Trim(cp.ETag, `"`) != strings.Trim(p.etag, `"`) {
			return nil, invalidPart
		}
		if u.checksum != nil {
			if v := cp.checksum(u.checksum.id); v != "" && v != p.checksum {
				return nil, invalidPart
			}
			raw, _ := base64.StdEncoding.DecodeString(p.checksum)
			sums = append(sums, raw...)
		}
		if i < len(list)-1 && len(p.data) < minPartSize {
			return nil, newError(http.StatusBadRequest, "EntityTooSmall", "Your proposed upload is smaller than the minimum allowed size").
				with("ProposedSize", strconv.Itoa(len(p.data))).with("MinSizeAllowed", strconv.Itoa(minPartSize)).
				with("PartNumber", strconv.Itoa(cp.PartNumber)).with("ETag", p.etag)
		}
		raw, _ := hex.DecodeString(strings.Trim(p.etag, `"`))
		md5s.Write(raw)
		o.parts = append(o.parts, p.data)
		o.size += int64(len(p.data))
	}
	o.etag = `"` + hex.EncodeToString(md5s.Sum(nil)) + "-" + strconv.Itoa(len(list)) + `"`
	a, typ := checksumAlgorithms[2], "FULL_OBJECT" // S3's default: CRC-64/NVME of the whole object
	if u.checksum != nil {
		a, typ = *u.checksum, u.checksumType
	}
	v := base64.StdEncoding.EncodeToString(a.sum(o.parts...))
	if typ == "COMPOSITE" {
		v = base64.StdEncoding.EncodeToString(a.sum(sums)) + "-" + strconv.Itoa(len(list))
	}
	o.checksums, o.checksumType = map[string]string{a.name: v}, typ
	return o, nil
}

// location is the URL of c's object, as the client addressed the server.
func (c *s3Call) location() string {
	if _, vhost := virtualHostBucket(c.r.Host); vhost {
		return "http://" + c.r.Host + "/" + awsEscape(c.key, false)
	}
	return "http://" + c.r.Host + "/" + c.bucket + "/" + awsEscape(c.key, false)
}

// dropUploadLocked removes u from b and gives back the memory its parts held.
func (s *Server) dropUploadLocked(b *bucket, u *upload) {
	delete(b.uploads, u.id)
	for _, p := range u.parts {
		s.pendingBytes -= int64(len(p.data))
	}
}

func (c *s3Call) abortMultipartUpload() *apiError {
	u, e := c.findUpload("s3:AbortMultipartUpload")
	if e != nil {
		return e
	}
	c.s.mu.Lock()
	if b := c.s.buckets[c.bucket]; b != nil && b.uploads[u.id] == u {
		c.s.dropUploadLocked(b, u)
	}
	c.s.mu.Unlock()
	c.header()
	c.w.WriteHeader(http.StatusNoContent)
	return nil
}

// intParam parses the optional non-negative integer parameter name of c (def if absent).
func (c *s3Call) intParam(name string, def, most int) (int, *apiError) {
	v, ok := c.query[name]
	if !ok {
		return def, nil
	}
	n, err := strconv.Atoi(v[0])
	if err != nil || n < 0 || !allDigits(v[0]) {
		return 0, newError(http.StatusBadRequest, "InvalidArgument", "Provided "+name+" not an integer or within integer range").
			with("ArgumentName", name).with("ArgumentValue", truncate(v[0], 40))
	}
	return min(n, most), nil
}

func (c *s3Call) listParts() *apiError {
	u, e := c.findUpload("s3:ListMultipartUploadParts")
	if e != nil {
		return e
	}
	maxParts, e := c.intParam("max-parts", 1000, 1000)
	if e != nil {
		return e
	}
	marker, e := c.intParam("part-number-marker", 0, maxPartNumber)
	if e != nil {
		return e
	}
	type xmlPart struct {
		PartNumber   int    `xml:"PartNumber"`
		LastModified string `xml:"LastModified"`
		ETag         string `xml:"ETag"`
		Size         int    `xml:"Size"`
		Checksum     []xmlElem
	}
	res := struct {
		XMLName xml.Name `xml:"ListPartsResult"`
		Xmlns   string   `xml:"xmlns,attr"`
		objectName
		UploadID             string     `xml:"UploadId"`
		Initiator            initiator  `xml:"Initiator"`
		Owner                *listOwner `xml:"Owner"`
		StorageClass         string     `xml:"StorageClass"`
		PartNumberMarker     int        `xml:"PartNumberMarker"`
		NextPartNumberMarker int        `xml:"NextPartNumberMarker"`
		MaxParts             int        `xml:"MaxParts"`
		IsTruncated          bool       `xml:"IsTruncated"`
		ChecksumAlgorithm    string     `xml:"ChecksumAlgorithm,omitempty"`
		ChecksumType         string     `xml:"ChecksumType,omitempty"`
		Parts                []xmlPart  `xml:"Part"`
	}{Xmlns: s3Namespace, objectName: objectName{c.bucket, c.key}, UploadID: u.id, Initiator: initiator{u.initiator, u.initiator},
		Owner: owner(), StorageClass: "STANDARD", PartNumberMarker: marker, MaxParts: maxParts}
	if u.checksum != nil {
		res.ChecksumAlgorithm, res.ChecksumType = u.checksum.id, u.checksumType
	}
	c.s.mu.Lock()
	var numbers []int
	for n := range u.parts {
		if n > marker {
			numbers = append(numbers, n)
		}
	}
	slices.Sort(numbers)
	if len(numbers) > maxParts {
		numbers, res.IsTruncated = numbers[:maxParts], true
	}
	for _, n := range numbers {
		p := u.parts[n]
		xp := xmlPart{PartNumber: n, LastModified: timeXML(p.lastModified), ETag: p.etag, Size: len(p.data)}
		if u.checksum != nil {
			xp.Checksum = checksumElement(u.checksum, p.checksum)
		}
		res.Parts = append(res.Parts, xp)
		res.NextPartNumberMarker = n
	}
	c.s.mu.Unlock()
	return c.writeXML(res)
}

// initiator is the Initiator of an upload.
type initiator struct {
	ID          string `xml:"ID"`
	DisplayName string `xml:"DisplayName"`
}

func (c *s3Call) listMultipartUploads() *apiError {
	if e := c.authorize("s3:ListBucketMultipartUploads", bucketARN(c.bucket)); e != nil {
		return e
	}
	maxUploads, e := c.intParam("max-uploads", 1000, 1000)
	if e != nil {
		return e
	}
	q := c.query
	prefix, keyMarker, idMarker := q.Get("prefix"), q.Get("key-marker"), q.Get("upload-id-marker")
	type xmlUpload struct {
		Key          string     `xml:"Key"`
		UploadID     string     `xml:"UploadId"`
		Initiator    initiator  `xml:"Initiator"`
		Owner        *listOwner `xml:"Owner"`
		StorageClass string     `xml:"StorageClass"`
		Initiated    string     `xml:"Initiated"`
	}
	res := struct {
		XMLName            xml.Name    `xml:"ListMultipartUploadsResult"`
		Xmlns              string      `xml:"xmlns,attr"`
		Bucket             string      `xml:"Bucket"`
		KeyMarker          string      `xml:"KeyMarker"`
		UploadIDMarker     string      `xml:"UploadIdMarker"`
		NextKeyMarker      string      `xml:"NextKeyMarker"`
		NextUploadIDMarker string      `xml:"NextUploadIdMarker"`
		Prefix             string      `xml:"Prefix"`
		MaxUploads         int         `xml:"MaxUploads"`
		IsTruncated        bool        `xml:"IsTruncated"`
		Uploads            []xmlUpload `xml:"Upload"`
	}{Xmlns: s3Namespace, Bucket: c.bucket, KeyMarker: keyMarker, UploadIDMarker: idMarker, Prefix: prefix, MaxUploads: maxUploads}
	c.s.mu.Lock()
	b := c.s.buckets[c.bucket]
	if b == nil {
		c.s.mu.Unlock()
		return noSuchBucket(c.bucket)
	}
	var ups []*upload
	for _, u := range b.uploads {
		if strings.HasPrefix(u.key, prefix) && (u.key > keyMarker || u.key == keyMarker && idMarker != "" && u.id > idMarker) {
			ups = append(ups, u)
		}
	}
	c.s.mu.Unlock()
	slices.SortFunc(ups, func(a, b *upload) int {
		if a.key != b.key {
			return strings.Compare(a.key, b.key)
		}
		return strings.Compare(a.id, b.id)
	})
	if len(ups) > maxUploads {
		ups, res.IsTruncated = ups[:maxUploads], true
	}
	for _, u := range ups {
		res.Uploads = append(res.Uploads, xmlUpload{Key: u.key, UploadID: u.id, Initiator: initiator{u.initiator, u.initiator},
			Owner: owner(), StorageClass: "STANDARD", Initiated: timeXML(u.initiated)})
		res.NextKeyMarker, res.NextUploadIDMarker = u.key, u.id
	}
	return c.writeXML(res)
}
